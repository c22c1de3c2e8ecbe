//! The caller's profile: created on first sight, patched, kept active.

use super::*;

#[tokio::test]
async fn profile_is_created_on_first_sight_and_patched() {
    let api = api().await;
    let me = api
        .call(Method::GET, "/v1/me", Some("carol"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["id"], "carol");
    assert_eq!(me["email"], "carol@example.com");
    assert_eq!(me["name"], "User carol");
    assert_eq!(me["avatar_url"], Value::Null);
    assert_eq!(me["preferences"], json!({}));
    assert_eq!(me["created_at"], me["last_active_at"]);

    let patch = json!({
        "name": "Carol", "avatar_url": "https://cdn.example.com/c.png", "job_title": "CTO",
        "preferences": {"theme": "dark", "locale": "en"}
    });
    let updated = api
        .call(
            Method::PATCH,
            "/v1/me",
            Some("carol"),
            Some(&patch.to_string()),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(updated["name"], "Carol");
    assert_eq!(updated["job_title"], "CTO");
    assert_eq!(
        updated["preferences"],
        json!({"theme": "dark", "locale": "en"})
    );

    // null clears; preferences merge key by key.
    let patch = json!({"avatar_url": null, "preferences": {"theme": null, "density": "compact"}});
    let updated = api
        .call(
            Method::PATCH,
            "/v1/me",
            Some("carol"),
            Some(&patch.to_string()),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(updated["avatar_url"], Value::Null);
    assert_eq!(updated["job_title"], "CTO");
    assert_eq!(
        updated["preferences"],
        json!({"locale": "en", "density": "compact"})
    );
    let me = api
        .call(Method::GET, "/v1/me", Some("carol"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(me, updated);
}

#[tokio::test]
async fn last_active_at_is_written_at_most_once_a_minute() {
    let api = api().await;
    let first = api
        .call(Method::GET, "/v1/me", Some("dave"), None)
        .await
        .expect(StatusCode::OK);
    let before = api.store.round_trips();
    api.clock.advance(Duration::seconds(30));
    let same = api
        .call(Method::GET, "/v1/me", Some("dave"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(same["last_active_at"], first["last_active_at"]);
    assert_eq!(
        api.store.round_trips() - before,
        1,
        "a fresh user costs one read and no write"
    );

    api.clock.advance(Duration::seconds(31));
    let later = api
        .call(Method::GET, "/v1/me", Some("dave"), None)
        .await
        .expect(StatusCode::OK);
    let expected = clock::rfc3339(api.clock.now());
    assert_eq!(later["last_active_at"], expected.as_str());
    assert_eq!(later["created_at"], first["created_at"]);
}

#[tokio::test]
async fn merged_preferences_stay_bounded() {
    let api = api().await;
    let chunk = "p".repeat(6 * 1024);
    for i in 0..2 {
        let body = json!({ "preferences": { format!("k{i}"): chunk } }).to_string();
        api.call(Method::PATCH, "/v1/me", Some("hank"), Some(&body))
            .await
            .expect(StatusCode::OK);
    }
    let body = json!({ "preferences": { "k2": chunk } }).to_string();
    let problem = api
        .call(Method::PATCH, "/v1/me", Some("hank"), Some(&body))
        .await;
    let problem = problem.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(problem["errors"][0]["field"], "preferences");
    let me = api
        .call(Method::GET, "/v1/me", Some("hank"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["preferences"].as_object().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_requests_create_one_user() {
    // A running clock: were the creation not conditional, the racers would store different times.
    let api = std::sync::Arc::new(api_with(Clock::system()).await);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let api = api.clone();
        tasks.spawn(async move {
            api.call(Method::GET, "/v1/me", Some("frank"), None)
                .await
                .expect(StatusCode::OK)
        });
    }
    let created: Vec<_> = tasks
        .join_all()
        .await
        .into_iter()
        .map(|me| me["created_at"].clone())
        .collect();
    assert!(created.windows(2).all(|w| w[0] == w[1]), "{created:?}");
}

#[tokio::test]
async fn claims_feed_the_profile_only_through_its_rules_and_keep_the_email_current() {
    let api = api().await;
    let me = |jwt: String| {
        let client = &api.client;
        async move {
            let (status, body) = client
                .with_token(Method::GET, "/v1/me", &jwt, None, None)
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }
    };
    let stored = |user: &'static str| {
        let store = api.store.clone();
        async move {
            store
                .get::<auth::records::UserRecord>(&store::keys::user_profile(store::keys::UserId(
                    user,
                )))
                .await
                .unwrap()
                .unwrap()
        }
    };
    // A name claim of 10,000 characters with a NUL, and a malformed email: neither is stored.
    let junk = format!("{}\u{0}", "n".repeat(10_000));
    let first = me(test_support::token(
        "dora",
        json!({ "name": junk, "email": "not an address", "email_verified": true }),
    ))
    .await;
    assert_eq!(first["name"], Value::Null);
    assert_eq!(first["email"], Value::Null);
    let record = stored("dora").await;
    assert_eq!(
        (record.name, record.email, record.email_verified),
        (None, None, false)
    );
    // A name claim is trimmed; invisible or bidi-laden ones are refused like any name.
    let trimmed = me(test_support::token("eli", json!({ "name": "  Eli  " }))).await;
    assert_eq!(trimmed["name"], "Eli");
    let invisible = me(test_support::token(
        "fay",
        json!({ "name": "\u{200B}\u{FEFF}" }),
    ))
    .await;
    assert_eq!(invisible["name"], Value::Null);

    // The email and its verification follow the claims, within the once-a-minute write.
    me(test_support::token(
        "gus",
        json!({ "email": "gus@example.com", "email_verified": false }),
    ))
    .await;
    let record = stored("gus").await;
    assert_eq!(
        (record.email.as_deref(), record.email_verified),
        (Some("gus@example.com"), false)
    );
    api.clock.advance(Duration::minutes(2));
    let changed = me(test_support::token(
        "gus",
        json!({ "email": "gus@new.example", "email_verified": true }),
    ))
    .await;
    assert_eq!(changed["email"], "gus@new.example");
    let record = stored("gus").await;
    assert_eq!(
        (record.email.as_deref(), record.email_verified),
        (Some("gus@new.example"), true)
    );
    // A malformed claim later leaves them as they are.
    api.clock.advance(Duration::minutes(2));
    me(test_support::token("gus", json!({ "email": "broken@" }))).await;
    let record = stored("gus").await;
    assert_eq!(
        (record.email.as_deref(), record.email_verified),
        (Some("gus@new.example"), true)
    );
}
