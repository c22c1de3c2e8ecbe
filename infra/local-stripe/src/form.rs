//! Stripe's request encoding: `application/x-www-form-urlencoded` bodies and query strings whose
//! keys nest with brackets (`items[0][price]=…`, `metadata[org_id]=…`, `expand[]=…`), read into a
//! JSON tree so handlers look parameters up by name.

use serde_json::{Map, Value};

use crate::error::StripeError;

/// Parses `a=1&b[c]=2&d[]=x&d[]=y&e[0][f]=3` into `{"a":"1","b":{"c":"2"},"d":["x","y"],
/// "e":[{"f":"3"}]}`. Every leaf is a string, as Stripe receives it; an empty value is kept as
/// `""` (Stripe reads it as "unset" for some parameters).
pub fn parse(encoded: &str) -> Result<Value, StripeError> {
    let mut root = Map::new();
    for pair in encoded.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(raw_key)?;
        let value = decode(raw_value)?;
        let path = key_path(&key)?;
        insert(&mut root, &path, value, &key)?;
    }
    let mut tree = Value::Object(root);
    arrays_from_indexes(&mut tree);
    Ok(tree)
}

fn decode(raw: &str) -> Result<String, StripeError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        StripeError::invalid_request(
                            "Invalid percent-encoding in the request.",
                            None,
                        )
                    })?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out)
        .map_err(|_| StripeError::invalid_request("The request is not valid UTF-8.", None))
}

/// One step into the tree: a named field, or `[]` (append).
#[derive(Debug, PartialEq)]
enum Segment {
    Field(String),
    Append,
}

fn key_path(key: &str) -> Result<Vec<Segment>, StripeError> {
    let malformed = || {
        StripeError::invalid_request(
            format!("Invalid parameter name: {key}"),
            Some(key.to_owned()),
        )
    };
    let (head, mut rest) = match key.find('[') {
        Some(at) => (&key[..at], &key[at..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return Err(malformed());
    }
    let mut path = vec![Segment::Field(head.to_owned())];
    while !rest.is_empty() {
        let inner_end = rest.find(']').ok_or_else(malformed)?;
        if !rest.starts_with('[') {
            return Err(malformed());
        }
        let inner = &rest[1..inner_end];
        if inner.contains('[') {
            return Err(malformed());
        }
        path.push(if inner.is_empty() {
            Segment::Append
        } else {
            Segment::Field(inner.to_owned())
        });
        rest = &rest[inner_end + 1..];
    }
    Ok(path)
}

fn insert(
    map: &mut Map<String, Value>,
    path: &[Segment],
    value: String,
    key: &str,
) -> Result<(), StripeError> {
    let conflict = || {
        StripeError::invalid_request(
            format!("Invalid parameter name: {key} conflicts with another parameter"),
            Some(key.to_owned()),
        )
    };
    let name = match &path[0] {
        Segment::Field(name) => name.clone(),
        // `a[]` appends: the next free numeric index.
        Segment::Append => map.len().to_string(),
    };
    if path.len() == 1 {
        if map.contains_key(&name) && !matches!(path[0], Segment::Append) {
            // A repeated scalar key: the last one wins, as Stripe's own parser does.
            if !map[&name].is_string() {
                return Err(conflict());
            }
        }
        map.insert(name, Value::String(value));
        return Ok(());
    }
    let child = map.entry(name).or_insert_with(|| Value::Object(Map::new()));
    match child {
        Value::Object(child) => insert(child, &path[1..], value, key),
        _ => Err(conflict()),
    }
}

/// Objects whose keys are all indexes (`0`, `1`, …) become arrays in index order.
fn arrays_from_indexes(value: &mut Value) {
    if let Value::Object(map) = value {
        for child in map.values_mut() {
            arrays_from_indexes(child);
        }
        if !map.is_empty() && map.keys().all(|k| k.parse::<usize>().is_ok()) {
            let mut items: Vec<(usize, Value)> = std::mem::take(map)
                .into_iter()
                .map(|(k, v)| (k.parse().unwrap_or(0), v))
                .collect();
            items.sort_by_key(|(index, _)| *index);
            *value = Value::Array(items.into_iter().map(|(_, v)| v).collect());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nests_brackets_arrays_and_appends() {
        let tree = parse("customer=cus_1&items[0][price]=price_a&items[1][price]=price_b&metadata[org_id]=01AB&expand[]=latest_invoice&expand[]=customer&name=Ada+L%C3%B6we").unwrap();
        assert_eq!(
            tree,
            json!({
                "customer": "cus_1",
                "items": [{"price": "price_a"}, {"price": "price_b"}],
                "metadata": {"org_id": "01AB"},
                "expand": ["latest_invoice", "customer"],
                "name": "Ada Löwe",
            })
        );
    }

    #[test]
    fn indexes_order_arrays_numerically() {
        let tree = parse("expand[10]=k&expand[2]=c&expand[0]=a").unwrap();
        assert_eq!(tree, json!({"expand": ["a", "c", "k"]}));
    }

    #[test]
    fn refuses_malformed_keys_and_conflicts() {
        for bad in [
            "a[b=1",
            "[a]=1",
            "a]b[=1",
            "a[b[c]]=1",
            "a=1&a[b]=2",
            "a[b]=1&a=2",
            "a=%zz",
            "a=%ff",
        ] {
            let error = parse(bad).unwrap_err();
            assert_eq!(error.status, 400, "{bad}");
        }
    }

    #[test]
    fn empty_values_stay_empty_strings() {
        assert_eq!(
            parse("description=&a").unwrap(),
            json!({"description": "", "a": ""})
        );
    }
}
