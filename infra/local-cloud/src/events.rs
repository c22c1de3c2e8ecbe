//! Pieces shared by the API Gateway payloads: ids, times, query strings, percent-decoding.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;

/// An id shaped like API Gateway's request and connection ids (`L0SM9cOFvHcCIhw=`), from the
/// URL-safe alphabet so it can stand in a path unescaped (but for the `=`).
pub fn gateway_id() -> String {
    let bytes = ulid::Ulid::generate().to_bytes();
    // The random half of a ULID, 10 bytes, plus one of its time bytes: 11 bytes, 16 characters.
    URL_SAFE.encode(&bytes[5..16])
}

pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// `23/Nov/2026:10:00:00 +0000`, the `requestContext.time` format.
pub fn request_time() -> String {
    let format = time::macros::format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
    );
    time::OffsetDateTime::now_utc()
        .format(format)
        .unwrap_or_default()
}

pub fn percent_decode(input: &str, plus_is_space: bool) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                // Two hex digits exactly (`from_str_radix` alone would take a sign).
                let pair = &bytes[i + 1..i + 3];
                let hex = pair
                    .iter()
                    .all(u8::is_ascii_hexdigit)
                    .then(|| {
                        std::str::from_utf8(pair)
                            .ok()
                            .and_then(|h| u8::from_str_radix(h, 16).ok())
                    })
                    .flatten();
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query parameters: each name once, repeated values joined with commas (payload 2.0), and
/// every value listed (the WebSocket payload's `multiValueQueryStringParameters`).
pub fn query_parameters(raw: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (percent_decode(name, true), percent_decode(value, true));
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => out.push((name, vec![value])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_escapes_and_plus() {
        assert_eq!(percent_decode("a%20b+c", true), "a b c");
        assert_eq!(percent_decode("a%20b+c", false), "a b+c");
        assert_eq!(percent_decode("100%", false), "100%");
        assert_eq!(percent_decode("%zz", false), "%zz");
        assert_eq!(percent_decode("%+5", false), "%+5");
    }

    #[test]
    fn groups_repeated_query_parameters() {
        let params = query_parameters("a=1&b=x%2By&a=2&flag");
        assert_eq!(
            params,
            vec![
                ("a".into(), vec!["1".into(), "2".into()]),
                ("b".into(), vec!["x+y".into()]),
                ("flag".into(), vec!["".into()]),
            ]
        );
    }

    #[test]
    fn ids_look_like_api_gateways() {
        let id = gateway_id();
        assert_eq!(id.len(), 16);
        assert!(id.ends_with('='));
    }
}
