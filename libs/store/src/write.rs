//! Conditional writes and transactions, built without hand-written attribute placeholders.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, TransactWriteItem, Update as SdkUpdate,
};
use serde::Serialize;

use crate::{Item, Key, StoreError, key_attributes, keys};

/// When a write may happen.
#[derive(Clone, Debug)]
pub enum Condition {
    Always,
    /// The item must not exist yet (create).
    NotExists,
    /// The item must exist (update of a known record).
    Exists,
    /// A condition expression with its own `#name` and `:value` placeholders.
    Expression {
        expression: String,
        names: HashMap<String, String>,
        values: Item,
    },
}

type Parts = (
    Option<String>,
    Option<HashMap<String, String>>,
    Option<Item>,
);

impl Condition {
    pub(crate) fn into_parts(self) -> Parts {
        let pk_name = || Some(HashMap::from([("#pk".to_owned(), keys::PK.to_owned())]));
        match self {
            Self::Always => (None, None, None),
            Self::NotExists => (Some("attribute_not_exists(#pk)".into()), pk_name(), None),
            Self::Exists => (Some("attribute_exists(#pk)".into()), pk_name(), None),
            Self::Expression {
                expression,
                names,
                values,
            } => (
                Some(expression),
                (!names.is_empty()).then_some(names),
                (!values.is_empty()).then_some(values),
            ),
        }
    }
}

/// An UpdateItem: `SET` of serialized values, under an optional condition.
#[derive(Clone, Debug)]
pub struct Update {
    key: Key,
    sets: Vec<(String, Result<AttributeValue, String>)>,
    adds: Vec<(String, i64)>,
    condition: Option<String>,
    condition_values: Item,
    require_exists: bool,
}

pub(crate) struct UpdateParts {
    pub key: Item,
    pub expression: String,
    pub condition: Option<String>,
    pub names: HashMap<String, String>,
    pub values: Item,
}

impl Update {
    pub fn new(key: Key) -> Self {
        Self {
            key,
            sets: Vec::new(),
            adds: Vec::new(),
            condition: None,
            condition_values: Item::new(),
            require_exists: false,
        }
    }

    /// Sets attribute `name` to `value` (serialized like the record field it replaces).
    pub fn set<T: Serialize>(mut self, name: &str, value: &T) -> Self {
        let value =
            serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(value).map_err(|e| e.to_string());
        self.sets.push((name.to_owned(), value));
        self
    }

    /// A condition given as a [`Condition`] (expression conditions name attributes `#<name>`).
    pub fn condition_on(mut self, condition: Condition) -> Self {
        match condition {
            Condition::Always => {}
            Condition::Exists => self.require_exists = true,
            Condition::NotExists => self.condition = Some("attribute_not_exists(#pk)".into()),
            Condition::Expression {
                expression, values, ..
            } => {
                self.condition = Some(expression);
                self.condition_values.extend(values);
            }
        }
        self
    }

    /// Adds `delta` to the number attribute `name` (a counter), atomically.
    pub fn add(mut self, name: &str, delta: i64) -> Self {
        self.adds.push((name.to_owned(), delta));
        self
    }

    /// Only update an item that exists (never create one by accident).
    pub fn require_exists(mut self) -> Self {
        self.require_exists = true;
        self
    }

    /// An extra condition. Attributes are referenced as `#<attribute name>` (`#pk` is the
    /// partition key); values as `:<placeholder>`, supplied here.
    pub fn condition(
        mut self,
        expression: &str,
        values: impl IntoIterator<Item = (&'static str, AttributeValue)>,
    ) -> Self {
        self.condition = Some(expression.to_owned());
        self.condition_values
            .extend(values.into_iter().map(|(k, v)| (k.to_owned(), v)));
        self
    }

    pub(crate) fn into_parts(self) -> Result<UpdateParts, StoreError> {
        if self.sets.is_empty() && self.adds.is_empty() {
            return Err(StoreError::Internal(
                "an update must set at least one attribute".into(),
            ));
        }
        // DynamoDB refuses names that no expression uses, so `#pk` is added only where used.
        let mut names = HashMap::new();
        let mut values = self.condition_values;
        let mut assignments = Vec::with_capacity(self.sets.len());
        for (i, (name, value)) in self.sets.into_iter().enumerate() {
            let value =
                value.map_err(|e| StoreError::Internal(format!("cannot store {name}: {e}")))?;
            names.insert(format!("#{name}"), name.clone());
            if values.insert(format!(":set{i}"), value).is_some() {
                return Err(StoreError::Internal(format!(
                    "condition value :set{i} collides with a set value"
                )));
            }
            assignments.push(format!("#{name} = :set{i}"));
        }
        let mut additions = Vec::with_capacity(self.adds.len());
        for (i, (name, delta)) in self.adds.into_iter().enumerate() {
            names.insert(format!("#{name}"), name.clone());
            values.insert(format!(":add{i}"), AttributeValue::N(delta.to_string()));
            additions.push(format!("#{name} :add{i}"));
        }
        let mut expression = Vec::new();
        if !assignments.is_empty() {
            expression.push(format!("SET {}", assignments.join(", ")));
        }
        if !additions.is_empty() {
            expression.push(format!("ADD {}", additions.join(", ")));
        }
        let mut conditions = Vec::new();
        if self.require_exists {
            names.insert("#pk".to_owned(), keys::PK.to_owned());
            conditions.push("attribute_exists(#pk)".to_owned());
        }
        if let Some(extra) = self.condition {
            // Condition expressions may reference attributes that are not being set.
            for token in extra.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '#')) {
                if let Some(attr) = token.strip_prefix('#') {
                    let attr = match attr {
                        "pk" => keys::PK,
                        "sk" => keys::SK,
                        other => other,
                    };
                    names
                        .entry(token.to_owned())
                        .or_insert_with(|| attr.to_owned());
                }
            }
            conditions.push(format!("({extra})"));
        }
        Ok(UpdateParts {
            key: key_attributes(&self.key),
            expression: expression.join(" "),
            condition: (!conditions.is_empty()).then(|| conditions.join(" AND ")),
            names,
            values,
        })
    }
}

/// All-or-nothing writes of up to 100 actions. The index of each action (in the order added)
/// is what [`StoreError::ConditionFailed`] reports.
#[derive(Default, Debug)]
pub struct Transaction {
    actions: Vec<Action>,
}

#[derive(Debug)]
enum Action {
    Put(Item, Condition),
    Update(Update),
    Check(Key, Condition),
    Delete(Key, Condition),
}

impl Transaction {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn put(mut self, item: Item, condition: Condition) -> Self {
        self.actions.push(Action::Put(item, condition));
        self
    }

    pub fn update(mut self, update: Update) -> Self {
        self.actions.push(Action::Update(update));
        self
    }

    /// A condition on an item the transaction does not write.
    pub fn check(mut self, key: Key, condition: Condition) -> Self {
        self.actions.push(Action::Check(key, condition));
        self
    }

    pub fn delete(mut self, key: Key, condition: Condition) -> Self {
        self.actions.push(Action::Delete(key, condition));
        self
    }

    pub fn len(&self) -> usize {
        self.actions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    pub(crate) fn into_items(self, table: &str) -> Result<Vec<TransactWriteItem>, StoreError> {
        if self.actions.is_empty() || self.actions.len() > 100 {
            return Err(StoreError::Internal(format!(
                "a transaction takes 1 to 100 actions, not {}",
                self.actions.len()
            )));
        }
        let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Internal(e.to_string());
        self.actions
            .into_iter()
            .map(|action| {
                Ok(match action {
                    Action::Put(item, condition) => {
                        let (expression, names, values) = condition.into_parts();
                        let put = Put::builder()
                            .table_name(table)
                            .set_item(Some(item))
                            .set_condition_expression(expression)
                            .set_expression_attribute_names(names)
                            .set_expression_attribute_values(values)
                            .build()
                            .map_err(built)?;
                        TransactWriteItem::builder().put(put).build()
                    }
                    Action::Update(update) => {
                        let parts = update.into_parts()?;
                        let update = SdkUpdate::builder()
                            .table_name(table)
                            .set_key(Some(parts.key))
                            .update_expression(parts.expression)
                            .set_condition_expression(parts.condition)
                            .set_expression_attribute_names(Some(parts.names))
                            .set_expression_attribute_values(Some(parts.values))
                            .build()
                            .map_err(built)?;
                        TransactWriteItem::builder().update(update).build()
                    }
                    Action::Check(key, condition) => {
                        let (expression, names, values) = condition.into_parts();
                        let expression = expression.ok_or_else(|| {
                            StoreError::Internal("a condition check needs a condition".into())
                        })?;
                        let check = ConditionCheck::builder()
                            .table_name(table)
                            .set_key(Some(key_attributes(&key)))
                            .condition_expression(expression)
                            .set_expression_attribute_names(names)
                            .set_expression_attribute_values(values)
                            .build()
                            .map_err(built)?;
                        TransactWriteItem::builder().condition_check(check).build()
                    }
                    Action::Delete(key, condition) => {
                        let (expression, names, values) = condition.into_parts();
                        let delete = aws_sdk_dynamodb::types::Delete::builder()
                            .table_name(table)
                            .set_key(Some(key_attributes(&key)))
                            .set_condition_expression(expression)
                            .set_expression_attribute_names(names)
                            .set_expression_attribute_values(values)
                            .build()
                            .map_err(built)?;
                        TransactWriteItem::builder().delete(delete).build()
                    }
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_names_every_attribute_and_keeps_conditions() {
        let parts = Update::new(crate::keys::user_profile("u1"))
            .set("name", &"Ada")
            .set("last_active_at", &"2026-01-01T00:00:00Z")
            .require_exists()
            .condition(
                "#last_active_at < :cutoff",
                [(":cutoff", AttributeValue::S("x".into()))],
            )
            .into_parts()
            .unwrap();
        assert_eq!(
            parts.expression,
            "SET #name = :set0, #last_active_at = :set1"
        );
        assert_eq!(
            parts.condition.as_deref(),
            Some("attribute_exists(#pk) AND (#last_active_at < :cutoff)")
        );
        assert_eq!(parts.names["#last_active_at"], "last_active_at");
        assert!(parts.values.contains_key(":cutoff"));
    }

    #[test]
    fn conditions_may_name_attributes_that_are_not_set() {
        let parts = Update::new(crate::keys::org_profile("o"))
            .set("name", &"B")
            .condition(
                "#role IN (:owner, :admin) AND #pk = :pk",
                [
                    (":owner", AttributeValue::S("owner".into())),
                    (":admin", AttributeValue::S("admin".into())),
                    (":pk", AttributeValue::S("ORG#o".into())),
                ],
            )
            .into_parts()
            .unwrap();
        assert_eq!(parts.names["#role"], "role");
        assert_eq!(parts.names["#pk"], "PK");
        assert!(!parts.names.contains_key("#name") || parts.names["#name"] == "name");
    }

    #[test]
    fn empty_updates_and_transactions_are_refused() {
        assert!(
            Update::new(crate::keys::user_profile("u1"))
                .into_parts()
                .is_err()
        );
        assert!(Transaction::new().into_items("t").is_err());
    }
}
