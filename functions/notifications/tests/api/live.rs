//! Real-time notifications through the local cloud with the real binaries: tickets, `$connect`,
//! pushes from the dispatcher, read state on every device, subscriptions, resume with `sync`,
//! bad frames, a 410 removing only the gone connection, removed members' sockets closed, and
//! API Gateway's two-hour limit (shortened).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::Method as M;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::*;

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One client connection.
struct Socket {
    stream: Stream,
}

impl Socket {
    async fn send(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::Text(text.to_owned().into()))
            .await
            .expect("the frame is sent");
    }

    /// The next text frame within `within`, parsed (`None`: none came, or the socket closed).
    async fn next_within(&mut self, within: Duration) -> Option<Value> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.stream.next()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => return None,
                Ok(Some(Ok(Message::Text(text)))) => {
                    return Some(serde_json::from_str(&text).expect("frames are JSON"));
                }
                Ok(Some(Ok(Message::Close(_)))) => return None,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    async fn next(&mut self) -> Value {
        self.next_within(Duration::from_secs(15))
            .await
            .expect("a frame arrives")
    }

    /// Frames until one of type `kind` (the others are returned too, in order).
    async fn until(&mut self, kind: &str) -> (Value, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            let frame = self.next().await;
            if frame["type"] == kind {
                return (frame, before);
            }
            before.push(frame);
        }
    }

    /// Whether the server closed the socket within `within` (frames before are skipped).
    async fn closed_within(&mut self, within: Duration) -> Option<u16> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.stream.next()).await {
                Err(_) => return None,
                Ok(None) => return Some(1006),
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return Some(frame.map_or(1005, |f| u16::from(f.code)));
                }
                Ok(Some(Err(_))) => return Some(1006),
                Ok(Some(Ok(_))) => continue,
            }
        }
    }
}

/// Connects with `ticket` (and `origin`); `Err(status)` when the upgrade is refused.
async fn connect(
    cloud: &local_cloud::Cloud,
    ticket: &str,
    origin: Option<&str>,
) -> Result<Socket, u16> {
    let mut request = format!("ws://{}/?ticket={ticket}", cloud.websocket)
        .into_client_request()
        .unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((stream, _)) => Ok(Socket { stream }),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("connect failed: {other}"),
    }
}

async fn ticket(api: &test_support::Gateway, token: &str, org: &str) -> String {
    let (status, body) = api
        .call(M::POST, "/v1/ws/ticket", token, Some(org), None)
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["expires_in"], 60);
    body["ticket"].as_str().unwrap().to_owned()
}

async fn open(
    api: &test_support::Gateway,
    cloud: &local_cloud::Cloud,
    token: &str,
    org: &str,
) -> Socket {
    let ticket = ticket(api, token, org).await;
    connect(cloud, &ticket, None)
        .await
        .expect("the ticket connects")
}

async fn send(
    api: &test_support::Gateway,
    token: &str,
    org: &str,
    user: &str,
    kind: &str,
    title: &str,
) {
    let (status, body) = api
        .call(
            M::POST,
            "/v1/notifications",
            token,
            Some(org),
            Some(json!({"user_ids": [user], "type": kind, "severity": "info", "title": title, "body": ""})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
}

async fn org_of(api: &test_support::Gateway, owner: &str) -> String {
    let (status, org) = api
        .call(
            M::POST,
            "/v1/orgs",
            owner,
            None,
            Some(json!({"name": "Acme"})),
        )
        .await;
    assert_eq!(status, 201, "{org}");
    org["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_get_pushes_follow_read_state_resume_and_close_when_the_member_is_removed() {
    let local = test_support::cloud::start("rt").await;
    let (api, cloud) = (&local.api, &local.cloud);
    let store = store::Store::new(test_support::dynamodb_client(), local.table.as_str());
    let fixtures = Fixtures::new(store.clone(), Clock::system());
    let owner = test_support::token("rt-owner", json!({}));
    let ann = test_support::token("rt-ann", json!({}));
    let org = org_of(api, &owner).await;
    fixtures.add_member(&org, "rt-ann", Role::Member).await;
    let other_owner = test_support::token("rt-other-owner", json!({}));
    let other_org = org_of(api, &other_owner).await;
    fixtures
        .add_member(&other_org, "rt-ann", Role::Viewer)
        .await;

    // Tickets: refused without one, when unknown, when used, and from a disallowed origin.
    assert_eq!(connect(cloud, "", None).await.err(), Some(401));
    let (status, _) = api.call(M::POST, "/v1/ws/ticket", &ann, None, None).await;
    assert_eq!(status, 400, "the ticket names an organization");
    let stranger = test_support::token("rt-stranger", json!({}));
    let (status, _) = api
        .call(M::POST, "/v1/ws/ticket", &stranger, Some(&org), None)
        .await;
    assert_eq!(status, 403, "a non-member gets no ticket");
    assert_eq!(
        connect(
            cloud,
            "wst_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            None
        )
        .await
        .err(),
        Some(401)
    );
    // A ticket issued two minutes ago has expired (they live 60 s).
    let earlier = realtime::Connections::new(
        store.clone(),
        Clock::manual(Clock::system().now() - time::Duration::minutes(2)),
    );
    let expired = earlier.issue_ticket(&org, "rt-ann").await.unwrap();
    assert_eq!(connect(cloud, &expired.ticket, None).await.err(), Some(401));
    let disallowed = ticket(api, &ann, &org).await;
    assert_eq!(
        connect(cloud, &disallowed, Some("https://evil.example"))
            .await
            .err(),
        Some(403)
    );
    // Two connects racing on one ticket: exactly one connection.
    let raced = ticket(api, &ann, &org).await;
    let (a, b) = tokio::join!(connect(cloud, &raced, None), connect(cloud, &raced, None));
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "one of two racing connects wins"
    );
    let mut first = a.or(b).unwrap();
    assert_eq!(connect(cloud, &raced, None).await.err(), Some(401), "used");
    // A browser of an allowed origin connects; so does a client sending none (above).
    let allowed = ticket(api, &ann, &org).await;
    let mut second = connect(cloud, &allowed, Some("https://app.example.com"))
        .await
        .expect("an allowed origin connects");

    // A first count on the first ping.
    first.send(json!({"action": "ping"})).await;
    assert_eq!(first.next().await["type"], "pong");
    let count = first.next().await;
    assert_eq!(count["type"], "unread_count");
    assert_eq!(count["data"], json!({"count": 0, "version": 0}));

    // A sent notification reaches both of Ann's connections, with the count after it.
    send(api, &owner, &org, "rt-ann", "agent", "Run finished").await;
    for socket in [&mut first, &mut second] {
        let frame = socket.next().await;
        assert_eq!(frame["type"], "notification", "{frame}");
        assert_eq!(frame["data"]["title"], "Run finished");
        assert_eq!(frame["data"]["version"], 1);
        let count = socket.next().await;
        assert_eq!(count["data"], json!({"count": 1, "version": 1}));
    }
    let (_, list) = api
        .call(M::GET, "/v1/notifications", &ann, Some(&org), None)
        .await;
    let id = list["items"][0]["id"].as_str().unwrap().to_owned();

    // markAsRead on one socket: its answer, the REST count agrees, the other socket follows.
    first.send(json!({"action": "markAsRead", "id": id})).await;
    let read = first.next().await;
    assert_eq!(read["type"], "read", "{read}");
    assert_eq!(read["data"]["id"], id.as_str());
    assert_eq!(
        first.next().await["data"],
        json!({"count": 0, "version": 2})
    );
    let (_, rest) = api
        .call(
            M::GET,
            "/v1/notifications/unread-count",
            &ann,
            Some(&org),
            None,
        )
        .await;
    assert_eq!(rest, json!({"count": 0, "version": 2}));
    let (read, _) = second.until("read").await;
    assert_eq!(read["data"]["id"], id.as_str());
    assert_eq!(read["data"]["version"], 2);
    assert_eq!(
        second.next().await["data"],
        json!({"count": 0, "version": 2})
    );

    // Unsubscribed from billing: stored, not pushed there; the other socket still gets it.
    second
        .send(json!({"action": "unsubscribe", "types": ["billing"]}))
        .await;
    let subscribed = second.next().await;
    assert_eq!(subscribed["type"], "subscribed");
    assert_eq!(
        subscribed["data"]["types"],
        json!(["system", "agent", "workflow", "team", "kb"])
    );
    send(api, &owner, &org, "rt-ann", "billing", "Invoice paid").await;
    let (billing, _) = first.until("notification").await;
    assert_eq!(billing["data"]["title"], "Invoice paid");
    send(api, &owner, &org, "rt-ann", "team", "Bo joined").await;
    let (team, skipped) = second.until("notification").await;
    assert_eq!(
        team["data"]["title"], "Bo joined",
        "billing was not pushed here"
    );
    assert!(
        skipped.iter().all(|f| f["type"] == "unread_count"),
        "{skipped:?}"
    );
    assert_eq!(
        second.next().await["data"],
        json!({"count": 2, "version": 4})
    );
    let (team, _) = first.until("notification").await;
    assert_eq!(team["data"]["title"], "Bo joined");
    assert_eq!(
        first.next().await["data"],
        json!({"count": 2, "version": 4})
    );
    let (_, list) = api
        .call(M::GET, "/v1/notifications", &ann, Some(&org), None)
        .await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        3,
        "every one stored"
    );

    // Bad frames: an error frame each, nothing changed, the socket stays open.
    for (frame, code) in [
        ("not json".to_owned(), "invalid_frame"),
        (json!({"action": "launch"}).to_string(), "unknown_action"),
        (json!({"action": 7}).to_string(), "invalid_frame"),
        (json!({"action": "markAsRead"}).to_string(), "invalid_frame"),
        (
            format!("{{\"action\":\"markAsRead\",\"id\":\"{id}\",\"id\":\"{id}\"}}"),
            "invalid_frame",
        ),
        ("{\"action\":\"ping\"} trailing".to_owned(), "invalid_frame"),
        (
            json!({"action": "markAsRead", "id": "01JXXXXXXXXXXXXXXXXXXXXXXX"}).to_string(),
            "not_found",
        ),
        (
            json!({"action": "subscribe", "types": ["billing", "spam"]}).to_string(),
            "unknown_type",
        ),
        (
            json!({"action": "subscribe", "types": []}).to_string(),
            "invalid_frame",
        ),
        (
            json!({"action": "sync", "after": "not-an-id"}).to_string(),
            "invalid_frame",
        ),
        (
            json!({"action": "sync", "after": -1}).to_string(),
            "invalid_frame",
        ),
        (
            json!({"action": "ping", "extra": 1}).to_string(),
            "invalid_frame",
        ),
        (
            format!("{{\"action\":\"ping\",\"pad\":\"{}\"}}", "x".repeat(5000)),
            "frame_too_large",
        ),
    ] {
        second.send_text(&frame).await;
        let answer = second.next().await;
        assert_eq!(answer["type"], "error", "{frame}: {answer}");
        assert_eq!(answer["data"]["code"], code, "{frame}: {answer}");
    }
    second.send(json!({"action": "ping"})).await;
    assert_eq!(second.next().await["type"], "pong", "still open");
    assert_eq!(second.next().await["data"]["count"], 2, "nothing changed");

    // Another organization's notifications never reach these sockets.
    send(
        api,
        &other_owner,
        &other_org,
        "rt-ann",
        "agent",
        "Elsewhere",
    )
    .await;
    let (status, elsewhere) = api
        .call(M::GET, "/v1/notifications", &ann, Some(&other_org), None)
        .await;
    assert_eq!(status, 200);
    let _ = elsewhere;
    assert_eq!(first.next_within(Duration::from_millis(1500)).await, None);

    // A connection API Gateway no longer has: the push meets a 410, which removes that
    // record only.
    let connections = realtime::Connections::new(store.clone(), Clock::system());
    // Recorded a minute ago: a 410 right after `$connect` is the upgrade still under way.
    let a_minute_ago = realtime::Connections::new(
        store.clone(),
        Clock::manual(Clock::system().now() - time::Duration::minutes(1)),
    );
    let stale = a_minute_ago.issue_ticket(&org, "rt-ann").await.unwrap();
    a_minute_ago
        .connect(&stale.ticket, "gone-connection")
        .await
        .unwrap();
    let gateway = realtime::Gateway::at(
        &test_support::local_sdk_config(&format!("http://{}/live", cloud.admin)),
        &format!("http://{}/live", cloud.admin),
    );
    assert_eq!(
        gateway.post("gone-connection", b"{}").await,
        realtime::Posted::Gone,
        "the SDK decodes the local cloud's 410 as GoneException"
    );
    send(api, &owner, &org, "rt-ann", "kb", "Article updated").await;
    let (pushed, _) = first.until("notification").await;
    assert_eq!(pushed["data"]["title"], "Article updated");
    let (also, _) = second.until("notification").await;
    assert_eq!(also["data"]["title"], "Article updated");
    let seen_id = pushed["data"]["id"].as_str().unwrap().to_owned();
    let seen_version = pushed["data"]["version"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while connections.get("gone-connection").await.unwrap().is_some() {
        assert!(
            Instant::now() < deadline,
            "the gone connection's record is removed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let live = connections.of_user(&org, "rt-ann").await.unwrap();
    assert_eq!(live.len(), 2, "the live connections are kept: {live:?}");

    // Resume: what was sent while disconnected, exactly, by id and by version.
    drop(first);
    send(api, &owner, &org, "rt-ann", "agent", "Missed one").await;
    let (missed, _) = second.until("notification").await;
    assert_eq!(missed["data"]["title"], "Missed one");
    send(api, &owner, &org, "rt-ann", "agent", "Missed two").await;
    let (missed, _) = second.until("notification").await;
    assert_eq!(missed["data"]["title"], "Missed two");
    // One stored late (its request an hour old, so its id sorts before the others'): resumed
    // by store order, not id order.
    let inbox = notifications::Inbox::new(store.clone(), Clock::system());
    let an_hour_ago = clock::Clock::system().now() - time::Duration::hours(1);
    inbox
        .deliver(
            &org,
            "rt-ann",
            NewNotification {
                id: notification_id("late", "rt-ann", an_hour_ago),
                kind: NotificationType::Agent,
                severity: Severity::Info,
                title: "Late one".into(),
                body: String::new(),
                data: json!({}),
                request_id: "late".into(),
            },
        )
        .await
        .unwrap();
    let mut back = open(api, cloud, &ann, &org).await;
    back.send(json!({"action": "sync", "after": seen_id})).await;
    let synced = back.next().await;
    assert_eq!(synced["type"], "sync", "{synced}");
    let titles: Vec<&str> = synced["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Missed one", "Missed two", "Late one"]);
    assert_eq!(synced["data"]["unread_count"]["count"], 6);
    back.send(json!({"action": "sync", "after": seen_id.to_lowercase()}))
        .await;
    assert_eq!(
        back.next().await["data"]["items"],
        synced["data"]["items"],
        "any case"
    );
    back.send(json!({"action": "sync", "after": seen_version}))
        .await;
    let by_version = back.next().await;
    assert_eq!(by_version["data"]["items"], synced["data"]["items"]);
    assert_eq!(by_version["data"]["read_state_changed"], false);
    back.send(json!({"action": "sync"})).await;
    let now = back.next().await;
    assert_eq!(now["data"]["items"], json!([]));
    assert_eq!(now["data"]["unread_count"], synced["data"]["unread_count"]);
    // A long gap: more than a page.
    for i in 0..(notifications::live::SYNC_PAGE + 1) {
        inbox
            .deliver(
                &org,
                "rt-ann",
                NewNotification {
                    id: notification_id(
                        &format!("gap-{i}"),
                        "rt-ann",
                        clock::Clock::system().now(),
                    ),
                    kind: NotificationType::Agent,
                    severity: Severity::Info,
                    title: format!("gap {i}"),
                    body: String::new(),
                    data: json!({}),
                    request_id: format!("gap-{i}"),
                },
            )
            .await
            .unwrap();
    }
    back.send(json!({"action": "sync", "after": seen_id})).await;
    let (resync, _) = back.until("resync_required").await;
    assert_eq!(
        resync["data"]["unread_count"]["count"],
        6 + i64::from(notifications::live::SYNC_PAGE) + 1
    );

    // Ann removed from the organization: her sockets close, and nothing more reaches them.
    let (status, body) = api
        .call(
            M::DELETE,
            "/v1/team/members/rt-ann",
            &owner,
            Some(&org),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert!(back.closed_within(Duration::from_secs(15)).await.is_some());
    assert!(
        second
            .closed_within(Duration::from_secs(15))
            .await
            .is_some()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !connections
        .of_user(&org, "rt-ann")
        .await
        .unwrap()
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the removed member's records are gone"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    local.cloud.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_cloud_closes_a_connection_at_its_maximum_duration() {
    let local = test_support::cloud::start_with("rtmax", &test_support::cloud::table_name(), |c| {
        c.websocket_max_connection = Duration::from_secs(2);
    })
    .await;
    let owner = test_support::token("rt-max-owner", json!({}));
    let org = org_of(&local.api, &owner).await;
    let mut socket = open(&local.api, &local.cloud, &owner, &org).await;
    let started = Instant::now();
    assert_eq!(
        socket.closed_within(Duration::from_secs(10)).await,
        Some(1001),
        "closed as going away"
    );
    assert!(started.elapsed() >= Duration::from_millis(1500));
    local.cloud.shutdown();
}

/// Every WebSocket sample of `events/` through the websocket function's handler: the
/// `$connect` sample's ticket was never issued (401); its frames' connection is not connected
/// (each answers an error frame nobody receives: 200).
#[tokio::test]
async fn the_websocket_samples_reach_their_routes() {
    let (client, settings) = test_support::fresh_function().await;
    let store = store::Store::new(client, settings.table_name.as_str());
    let clock = Clock::system();
    let live = notifications::Live::new(
        store.clone(),
        test_support::pusher(&store, &clock),
        clock,
        vec!["https://app.example.com".into()],
    );
    for (file, status) in [
        ("websocket-connect.json", 401),
        ("websocket-disconnect.json", 200),
        ("websocket-subscribe.json", 200),
        ("websocket-unsubscribe.json", 200),
        ("websocket-mark-as-read.json", 200),
        ("websocket-sync.json", 200),
        ("websocket-ping.json", 200),
        ("websocket-default.json", 200),
    ] {
        let raw = std::fs::read_to_string(test_support::samples::dir().join(file)).unwrap();
        let event: Value = serde_json::from_str(&raw).unwrap();
        let answer = websocket_function::handle(&live, event).await;
        assert_eq!(answer["statusCode"], status, "{file}");
    }
    // The connect sample with a real ticket connects; its frames then act.
    let connections = realtime::Connections::new(store.clone(), Clock::system());
    let fixtures = Fixtures::new(store.clone(), Clock::system());
    let org = fixtures.org("sample-owner").await;
    let issued = connections
        .issue_ticket(&org, "sample-owner")
        .await
        .unwrap();
    let raw = std::fs::read_to_string(test_support::samples::dir().join("websocket-connect.json"))
        .unwrap()
        .replace(
            "wst_c2FtcGxlLXRpY2tldC1ub3QtaXNzdWVkLWJ5LWFueW9uZQ",
            &issued.ticket,
        );
    let answer = websocket_function::handle(&live, serde_json::from_str(&raw).unwrap()).await;
    assert_eq!(answer["statusCode"], 200);
    let record = connections
        .get("SampleConnId=")
        .await
        .unwrap()
        .expect("recorded");
    assert_eq!(record.org_id, org);
    let frames = live
        .message(
            "SampleConnId=",
            "unsubscribe",
            r#"{"action":"unsubscribe","types":["billing"]}"#,
        )
        .await
        .unwrap();
    assert!(
        matches!(&frames[..], [notifications::ServerFrame::Subscribed { types }] if types.len() == 5),
        "{frames:?}"
    );
}
