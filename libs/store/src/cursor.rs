//! Opaque pagination cursors.
//!
//! A cursor carries DynamoDB's `LastEvaluatedKey` plus a fingerprint of the query it came from
//! (the query's name and partition). Before a cursor reaches DynamoDB it must name this query, and
//! its start key must be a well-formed key inside the queried partition and sort-key range. A
//! client can therefore only move its own position within a list it may already read: never into
//! another organization's partition, and never into a DynamoDB validation error. (The fingerprint
//! is not a secret signature; the start-key checks are what make a forged cursor harmless.)

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::StoreError;

const MAX_CURSOR_LEN: usize = 2048;

#[derive(Serialize, Deserialize)]
struct Payload {
    /// Fingerprint of the query the cursor belongs to.
    q: String,
    /// The last evaluated key; every key attribute of this table is a string.
    k: BTreeMap<String, String>,
}

fn fingerprint(query_name: &str, partition_attr: &str, partition_value: &str) -> String {
    let mut hash = Sha256::new();
    for part in [query_name, partition_attr, partition_value] {
        hash.update(part.as_bytes());
        hash.update([0u8]);
    }
    let digest = hash.finalize();
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// Which query a cursor is for.
pub(crate) struct CursorScope<'a> {
    pub query_name: &'a str,
    pub partition_attr: &'a str,
    pub partition_value: &'a str,
    pub sort_attr: &'a str,
    /// For an index query: the table's key attributes, which DynamoDB needs to resume too.
    pub table_key_attrs: &'a [&'a str],
    pub sort_prefix: &'a str,
    /// The query's sort-key range, when it has one.
    pub sort_range: Option<(&'a str, &'a str)>,
}

/// DynamoDB's limit on a sort key value.
const MAX_SORT_KEY_BYTES: usize = 1024;

impl CursorScope<'_> {
    /// The key a page that ends at `item` resumes after.
    pub(crate) fn start_key_of(
        &self,
        item: &HashMap<String, AttributeValue>,
    ) -> Result<HashMap<String, AttributeValue>, StoreError> {
        [self.partition_attr, self.sort_attr]
            .iter()
            .chain(self.table_key_attrs)
            .map(|name| match item.get(*name) {
                Some(value @ AttributeValue::S(_)) => Ok(((*name).to_owned(), value.clone())),
                _ => Err(StoreError::Malformed(format!("item without string {name}"))),
            })
            .collect()
    }

    pub(crate) fn encode(
        &self,
        last_key: &HashMap<String, AttributeValue>,
    ) -> Result<String, StoreError> {
        let mut k = BTreeMap::new();
        for (name, value) in last_key {
            let AttributeValue::S(s) = value else {
                return Err(StoreError::Internal(format!(
                    "key attribute {name} is not a string"
                )));
            };
            k.insert(name.clone(), s.clone());
        }
        let payload = Payload {
            q: fingerprint(self.query_name, self.partition_attr, self.partition_value),
            k,
        };
        let json = serde_json::to_vec(&payload).expect("a cursor always serializes");
        Ok(URL_SAFE_NO_PAD.encode(json))
    }

    pub(crate) fn decode(
        &self,
        cursor: &str,
    ) -> Result<HashMap<String, AttributeValue>, StoreError> {
        if cursor.len() > MAX_CURSOR_LEN {
            return Err(StoreError::InvalidCursor);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| StoreError::InvalidCursor)?;
        let payload: Payload =
            serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
        let expected = fingerprint(self.query_name, self.partition_attr, self.partition_value);
        if payload.q != expected {
            return Err(StoreError::InvalidCursor);
        }
        // The start key must lie in the partition being queried; DynamoDB would otherwise either
        // reject it or, worse, be asked about a partition the caller may not read.
        if payload.k.len() != 2 + self.table_key_attrs.len()
            || self
                .table_key_attrs
                .iter()
                .any(|name| !payload.k.contains_key(*name))
            || payload.k.get(self.partition_attr).map(String::as_str) != Some(self.partition_value)
        {
            return Err(StoreError::InvalidCursor);
        }
        match payload.k.get(self.sort_attr) {
            Some(sk)
                if sk.starts_with(self.sort_prefix)
                    && sk.len() <= MAX_SORT_KEY_BYTES
                    && self
                        .sort_range
                        .is_none_or(|(from, to)| from <= sk.as_str() && sk.as_str() <= to) => {}
            _ => return Err(StoreError::InvalidCursor),
        }
        Ok(payload
            .k
            .into_iter()
            .map(|(k, v)| (k, AttributeValue::S(v)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope<'a>(name: &'a str, pk: &'a str) -> CursorScope<'a> {
        CursorScope {
            query_name: name,
            partition_attr: "PK",
            partition_value: pk,
            sort_attr: "SK",
            table_key_attrs: &[],
            sort_prefix: "MEMBER#",
            sort_range: None,
        }
    }

    fn last_key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("PK".to_owned(), AttributeValue::S(pk.into())),
            ("SK".to_owned(), AttributeValue::S(sk.into())),
        ])
    }

    #[test]
    fn round_trips_for_the_same_query() {
        let s = scope("members", "ORG#a");
        let cursor = s.encode(&last_key("ORG#a", "MEMBER#u1")).unwrap();
        assert_eq!(s.decode(&cursor).unwrap(), last_key("ORG#a", "MEMBER#u1"));
    }

    #[test]
    fn rejects_a_cursor_of_another_organization_or_query() {
        let cursor = scope("members", "ORG#a")
            .encode(&last_key("ORG#a", "MEMBER#u1"))
            .unwrap();
        assert!(matches!(
            scope("members", "ORG#b").decode(&cursor),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            scope("activity", "ORG#a").decode(&cursor),
            Err(StoreError::InvalidCursor)
        ));
    }

    #[test]
    fn rejects_tampering() {
        let s = scope("members", "ORG#a");
        let cursor = s.encode(&last_key("ORG#a", "MEMBER#u1")).unwrap();

        // Rewriting the start key to another partition, keeping the fingerprint.
        let mut payload: Payload =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&cursor).unwrap()).unwrap();
        payload.k.insert("PK".into(), "ORG#b".into());
        let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap());
        assert!(matches!(s.decode(&forged), Err(StoreError::InvalidCursor)));

        // Start keys outside the list's sort-key range, oversized, or with extra attributes.
        for k in [
            BTreeMap::from([("PK".to_owned(), "ORG#a".to_owned())]),
            BTreeMap::from([
                ("PK".to_owned(), "ORG#a".to_owned()),
                ("SK".to_owned(), "ZZZ".to_owned()),
            ]),
            BTreeMap::from([
                ("PK".to_owned(), "ORG#a".to_owned()),
                ("SK".to_owned(), format!("MEMBER#{}", "x".repeat(1100))),
            ]),
            BTreeMap::from([
                ("PK".to_owned(), "ORG#a".to_owned()),
                ("SK".to_owned(), "MEMBER#u".to_owned()),
                ("GSI1PK".to_owned(), "x".to_owned()),
            ]),
        ] {
            let forged = URL_SAFE_NO_PAD.encode(
                serde_json::to_vec(&Payload {
                    q: payload.q.clone(),
                    k,
                })
                .unwrap(),
            );
            assert!(matches!(s.decode(&forged), Err(StoreError::InvalidCursor)));
        }

        for garbage in [
            "",
            "%%%",
            "bm90IGpzb24",
            &"A".repeat(5000),
            &cursor[..cursor.len() - 3],
        ] {
            assert!(
                matches!(s.decode(garbage), Err(StoreError::InvalidCursor)),
                "{garbage:?}"
            );
        }
    }
}
