//! Conditional writes and transactions, built without hand-written attribute placeholders.

use std::borrow::Cow;
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
    /// The number attribute `attribute` still holds `value`, an absent one counting as 0: the
    /// check of an optimistic version (or any counter) read before a write, so the first write
    /// passes with 0.
    pub fn number_is(attribute: &str, value: i64) -> Self {
        let name = placeholder(attribute);
        let value_name = format!(":{}_is", name.trim_start_matches('#'));
        let expression = if value == 0 {
            format!("attribute_not_exists({name}) OR {name} = {value_name}")
        } else {
            format!("{name} = {value_name}")
        };
        Self::Expression {
            expression,
            names: [(name, attribute.to_owned())].into(),
            values: [(value_name, AttributeValue::N(value.to_string()))].into(),
        }
    }

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
    removes: Vec<String>,
    /// Conditions, all of which must hold (joined with AND).
    conditions: Vec<String>,
    condition_names: HashMap<String, String>,
    condition_values: Vec<(String, AttributeValue)>,
    require_exists: bool,
}

pub(crate) struct UpdateParts {
    pub key: Item,
    pub expression: String,
    pub condition: Option<String>,
    pub names: HashMap<String, String>,
    pub values: Item,
}

/// Declares `placeholder` as `attribute`; the same placeholder for two attributes is an error.
fn add_name(
    names: &mut HashMap<String, String>,
    placeholder: String,
    attribute: String,
) -> Result<(), StoreError> {
    match names.get(&placeholder) {
        Some(existing) if *existing != attribute => Err(collision("name", &placeholder)),
        _ => {
            names.insert(placeholder, attribute);
            Ok(())
        }
    }
}

/// The `#name` placeholder of an attribute. Attribute names outside `[A-Za-z0-9_]` (such as an
/// event name `message.sent`) get a hex-encoded placeholder, which DynamoDB accepts.
pub fn placeholder(attribute: &str) -> String {
    if !attribute.is_empty()
        && attribute
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        format!("#{attribute}")
    } else {
        let hex: String = attribute.bytes().map(|b| format!("{b:02x}")).collect();
        format!("#x_{hex}")
    }
}

fn collision(what: &str, placeholder: &str) -> StoreError {
    StoreError::Internal(format!(
        "the {what} placeholder {placeholder} is used twice in one update"
    ))
}

impl Update {
    pub fn new(key: Key) -> Self {
        Self {
            key,
            sets: Vec::new(),
            adds: Vec::new(),
            removes: Vec::new(),
            conditions: Vec::new(),
            condition_names: HashMap::new(),
            condition_values: Vec::new(),
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

    /// Adds `delta` to the number attribute `name` (a counter), atomically.
    pub fn add(mut self, name: &str, delta: i64) -> Self {
        self.adds.push((name.to_owned(), delta));
        self
    }

    /// Removes attribute `name` (for example an index key, taking the item out of the index).
    pub fn remove(mut self, name: &str) -> Self {
        self.removes.push(name.to_owned());
        self
    }

    /// Only update an item that exists (never create one by accident).
    pub fn require_exists(mut self) -> Self {
        self.require_exists = true;
        self
    }

    /// One more condition, in addition to the others. Attributes are referenced as
    /// `#<attribute name>` (`#pk` is the partition key); values as `:<placeholder>`, supplied here.
    pub fn condition(
        mut self,
        expression: &str,
        values: impl IntoIterator<Item = (&'static str, AttributeValue)>,
    ) -> Self {
        self.conditions.push(expression.to_owned());
        self.condition_values
            .extend(values.into_iter().map(|(k, v)| (k.to_owned(), v)));
        self
    }

    /// One more condition given as a [`Condition`], in addition to the others.
    pub fn condition_on(mut self, condition: Condition) -> Self {
        match condition {
            Condition::Always => {}
            Condition::Exists => self.require_exists = true,
            Condition::NotExists => self.conditions.push("attribute_not_exists(#pk)".into()),
            Condition::Expression {
                expression,
                names,
                values,
            } => {
                self.conditions.push(expression);
                self.condition_names.extend(names);
                self.condition_values.extend(values);
            }
        }
        self
    }

    pub(crate) fn into_parts(self) -> Result<UpdateParts, StoreError> {
        if self.sets.is_empty() && self.adds.is_empty() && self.removes.is_empty() {
            return Err(StoreError::Internal(
                "an update must set at least one attribute".into(),
            ));
        }
        // DynamoDB refuses names and values that no expression uses, and a placeholder used for
        // two things would silently change the meaning: every one is added once, where used.
        let mut names: HashMap<String, String> = HashMap::new();
        let mut values = Item::new();
        let mut assignments = Vec::with_capacity(self.sets.len());
        for (i, (attribute, value)) in self.sets.into_iter().enumerate() {
            let value = value
                .map_err(|e| StoreError::Internal(format!("cannot store {attribute}: {e}")))?;
            let name = placeholder(&attribute);
            assignments.push(format!("{name} = :set{i}"));
            add_name(&mut names, name, attribute)?;
            values.insert(format!(":set{i}"), value);
        }
        let mut additions = Vec::with_capacity(self.adds.len());
        for (i, (attribute, delta)) in self.adds.into_iter().enumerate() {
            let name = placeholder(&attribute);
            additions.push(format!("{name} :add{i}"));
            add_name(&mut names, name, attribute)?;
            values.insert(format!(":add{i}"), AttributeValue::N(delta.to_string()));
        }
        let mut expression = Vec::new();
        if !assignments.is_empty() {
            expression.push(format!("SET {}", assignments.join(", ")));
        }
        if !additions.is_empty() {
            expression.push(format!("ADD {}", additions.join(", ")));
        }
        if !self.removes.is_empty() {
            for attribute in &self.removes {
                add_name(&mut names, placeholder(attribute), attribute.clone())?;
            }
            let removed: Vec<String> = self.removes.iter().map(|a| placeholder(a)).collect();
            expression.push(format!("REMOVE {}", removed.join(", ")));
        }
        let mut conditions = Vec::new();
        if self.require_exists {
            conditions.push("attribute_exists(#pk)".to_owned());
        }
        conditions.extend(self.conditions.into_iter().map(|c| format!("({c})")));
        for (placeholder, attribute) in self.condition_names {
            add_name(&mut names, placeholder, attribute)?;
        }
        // Names the conditions use without declaring them map to the attribute of that name.
        let joined = conditions.join(" AND ");
        for token in joined.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '#')) {
            if let Some(attribute) = token.strip_prefix('#') {
                let attribute = match attribute {
                    "pk" => keys::PK,
                    "sk" => keys::SK,
                    other => other,
                };
                if !names.contains_key(token) {
                    add_name(&mut names, token.to_owned(), attribute.to_owned())?;
                }
            }
        }
        for (placeholder, value) in self.condition_values {
            if values.insert(placeholder.clone(), value).is_some() {
                return Err(collision("value", &placeholder));
            }
        }
        Ok(UpdateParts {
            key: key_attributes(&self.key),
            expression: expression.join(" "),
            condition: (!joined.is_empty()).then_some(joined),
            names,
            values,
        })
    }
}

/// The name of a transaction's action: a cancelled transaction reports the labels of the
/// actions whose condition failed, so callers tell which rule was broken by name, never by
/// position.
pub type Label = Cow<'static, str>;

/// All-or-nothing writes of up to 100 actions. [`Transaction::label`] names the action added
/// last; [`StoreError::ConditionFailed`] lists the labels of the conditions that failed.
#[derive(Default, Debug)]
pub struct Transaction {
    actions: Vec<(Action, Option<Label>)>,
    /// A label was given before any action: refused when sent.
    unlabelled_label: bool,
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
        self.actions.push((Action::Put(item, condition), None));
        self
    }

    pub fn update(mut self, update: Update) -> Self {
        self.actions.push((Action::Update(update), None));
        self
    }

    /// A condition on an item the transaction does not write.
    pub fn check(mut self, key: Key, condition: Condition) -> Self {
        self.actions.push((Action::Check(key, condition), None));
        self
    }

    pub fn delete(mut self, key: Key, condition: Condition) -> Self {
        self.actions.push((Action::Delete(key, condition), None));
        self
    }

    /// Names the action added last. Labelling twice keeps the last name; labelling an empty
    /// transaction is a mistake of the caller's and is refused when the transaction is sent.
    pub fn label(mut self, label: impl Into<Label>) -> Self {
        match self.actions.last_mut() {
            Some((_, slot)) => *slot = Some(label.into()),
            None => self.unlabelled_label = true,
        }
        self
    }

    /// The labels of the actions, in the order added (unlabelled actions left out).
    pub fn labels(&self) -> Vec<&str> {
        self.actions
            .iter()
            .filter_map(|(_, label)| label.as_deref())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.actions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// The SDK's items, and the label of each (in the same order).
    pub(crate) fn into_items(
        self,
        table: &str,
    ) -> Result<(Vec<TransactWriteItem>, Vec<Option<Label>>), StoreError> {
        if self.actions.is_empty() || self.actions.len() > 100 {
            return Err(StoreError::Internal(format!(
                "a transaction takes 1 to 100 actions, not {}",
                self.actions.len()
            )));
        }
        if self.unlabelled_label {
            return Err(StoreError::Internal(
                "a label was given before any action".into(),
            ));
        }
        let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Internal(e.to_string());
        let (actions, labels): (Vec<Action>, Vec<Option<Label>>) = self.actions.into_iter().unzip();
        let items = actions
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
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((items, labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_names_every_attribute_and_keeps_conditions() {
        let parts = Update::new(crate::keys::user_profile(keys::UserId("u1")))
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
        let parts = Update::new(crate::keys::org_profile(keys::OrgId("o")))
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
    fn conditions_add_up_and_placeholders_never_collide_silently() {
        let parts = Update::new(crate::keys::org_profile(keys::OrgId("o")))
            .add("tally", -1)
            .condition_on(Condition::Expression {
                expression: "#role = :role".into(),
                names: HashMap::from([("#role".to_owned(), "role".to_owned())]),
                values: HashMap::from([(":role".to_owned(), AttributeValue::S("owner".into()))]),
            })
            .condition("#tally > :one", [(":one", AttributeValue::N("1".into()))])
            .into_parts()
            .unwrap();
        assert_eq!(parts.expression, "ADD #tally :add0");
        assert_eq!(
            parts.condition.as_deref(),
            Some("(#role = :role) AND (#tally > :one)")
        );
        let clash = Update::new(crate::keys::org_profile(keys::OrgId("o")))
            .set("name", &"x")
            .condition("#name <> :set0", [(":set0", AttributeValue::S("y".into()))])
            .into_parts();
        assert!(
            clash.is_err(),
            "a condition value reusing a set placeholder is refused"
        );
        let renamed = Update::new(crate::keys::org_profile(keys::OrgId("o")))
            .set("role", &"x")
            .condition_on(Condition::Expression {
                expression: "#role = :r".into(),
                names: HashMap::from([("#role".to_owned(), "other".to_owned())]),
                values: HashMap::from([(":r".to_owned(), AttributeValue::S("y".into()))]),
            })
            .into_parts();
        assert!(
            renamed.is_err(),
            "one name placeholder cannot stand for two attributes"
        );
    }

    #[test]
    fn empty_updates_and_transactions_are_refused() {
        assert!(
            Update::new(crate::keys::user_profile(keys::UserId("u1")))
                .into_parts()
                .is_err()
        );
        assert!(Transaction::new().into_items("t").is_err());
        assert!(
            Transaction::new()
                .label("early")
                .put(Item::new(), Condition::Always)
                .into_items("t")
                .is_err(),
            "a label before any action names nothing"
        );
    }

    #[test]
    fn labels_name_the_action_added_last() {
        let transaction = Transaction::new()
            .put(Item::new(), Condition::NotExists)
            .label("first")
            .check(
                crate::keys::org_profile(keys::OrgId("o")),
                Condition::Exists,
            )
            .delete(
                crate::keys::org_profile(keys::OrgId("p")),
                Condition::Exists,
            )
            .label(format!("third {}", 3));
        assert_eq!(transaction.labels(), vec!["first", "third 3"]);
        let (items, labels) = transaction.into_items("t").unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(labels[1], None);
    }
}
