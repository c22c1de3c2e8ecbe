//! Lambda's partial batch responses (`ReportBatchItemFailures`), the same for every event
//! source: SQS names failed messages by message id, streams name failed records by sequence
//! number.

use std::collections::HashSet;

use serde_json::Value;

/// The ids a partial batch response names, or `None` when the response is invalid (which Lambda
/// treats as a failure of the whole batch).
pub fn failures(answer: &[u8], ids: &HashSet<&str>) -> Option<HashSet<String>> {
    if answer.is_empty() {
        return Some(HashSet::new());
    }
    let value: Value = serde_json::from_slice(answer).ok()?;
    let list = match value.get("batchItemFailures") {
        None | Some(Value::Null) => return Some(HashSet::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return None,
    };
    list.iter()
        .map(
            |item| match item.get("itemIdentifier").and_then(Value::as_str) {
                Some(id) if !id.is_empty() && ids.contains(id) => Some(id.to_owned()),
                _ => None,
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_batch_responses_follow_lambdas_rules() {
        let ids: HashSet<&str> = ["a", "b"].into();
        assert_eq!(failures(b"", &ids), Some(HashSet::new()));
        assert_eq!(failures(b"null", &ids), Some(HashSet::new()));
        assert_eq!(
            failures(br#"{"batchItemFailures":[]}"#, &ids),
            Some(HashSet::new())
        );
        assert_eq!(
            failures(br#"{"batchItemFailures":[{"itemIdentifier":"b"}]}"#, &ids),
            Some(["b".to_owned()].into())
        );
        assert_eq!(
            failures(br#"{"batchItemFailures":[{"itemIdentifier":"zzz"}]}"#, &ids),
            None
        );
        assert_eq!(
            failures(br#"{"batchItemFailures":[{"itemIdentifier":""}]}"#, &ids),
            None
        );
        assert_eq!(
            failures(br#"{"batchItemFailures":[{"id":"a"}]}"#, &ids),
            None
        );
        assert_eq!(failures(b"not json", &ids), None);
    }
}
