//! IAM policy documents (identity policies, trust policies, key policies).
//!
//! # What the parser accepts
//!
//! The grammar AWS accepts for IAM identity policies, role trust policies and
//! KMS key policies (key policies use the same grammar):
//!
//! - top level: `Version` (optional; `2012-10-17` or `2008-10-17`), `Id`
//!   (optional string), `Statement` (required; one object or a list, which may
//!   be empty). Any other key is an error.
//! - statement: `Sid` (optional string), `Effect` (required, `Allow` or `Deny`
//!   in any case), exactly one of `Action` / `NotAction`, at most one of
//!   `Resource` / `NotResource` (trust policies have neither), at most one of
//!   `Principal` / `NotPrincipal`, `Condition` (optional). Any other key is an
//!   error.
//! - `Action`, `NotAction`, `Resource`, `NotResource`: a non-empty string or a
//!   non-empty list of non-empty strings.
//! - `Principal`, `NotPrincipal`: `"*"` or a non-empty map of `AWS`,
//!   `Service`, `Federated`, `CanonicalUser` to a string or a non-empty list of
//!   strings.
//! - `Condition`: a map of operator (any name, e.g. `StringEquals`,
//!   `ForAnyValue:StringLike`, `Null`) to a map of condition key to a string,
//!   boolean or number, or a list of those.
//!
//! Every error names where it is (`Statement[2].Principal.AWS`) and what is
//! wrong.
//!
//! # Decisions
//!
//! - **Duplicate JSON keys are an error.** `{"Effect": "Allow", "Effect":
//!   "Deny"}` means different things to different parsers (serde keeps the
//!   last, others the first); a security tool must not pick one silently.
//! - **`Effect` is accepted in any case** (equivalence treats it so, see
//!   `docs/requirements.md#when-two-documents-mean-the-same-thing`); it is
//!   written back exactly as read.
//! - **Empty lists are errors** for actions, resources and principal values:
//!   AWS refuses them (`MalformedPolicyDocument`), so a document that contains
//!   one did not come from AWS and cannot be written back.
//! - **An unknown `Version` is an error**: AWS accepts only the two dates.
//! - Existing statements keep their exact JSON (`raw`, key order as read), so a
//!   statement the tool did not change is written back exactly as read.
//!   Statements built by the tool ([`Statement::to_value`]) use the key order
//!   `Sid, Effect, Principal, NotPrincipal, Action, NotAction, Resource,
//!   NotResource, Condition`, and write a one-element list as a plain string.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// An error in a policy document: what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// `location` is like `Statement[2].Principal` or `(document)`.
    #[error("invalid policy document at {location}: {message}")]
    Invalid { location: String, message: String },
}

impl PolicyError {
    pub(crate) fn at(location: impl Into<String>, message: impl Into<String>) -> Self {
        PolicyError::Invalid {
            location: location.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Effect {
    Allow,
    Deny,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// A principal block. `Any` is `"*"` (and `{"AWS": "*"}` after normalisation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Any,
    /// Key (`AWS`, `Service`, `Federated`, `CanonicalUser`) to values, as written.
    Map(Vec<(String, Vec<String>)>),
}

/// The principal keys AWS accepts.
pub const PRINCIPAL_KEYS: [&str; 4] = ["AWS", "Service", "Federated", "CanonicalUser"];

/// One statement. `raw` is the statement exactly as it was parsed, so that an
/// existing statement is written back exactly as it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Option<Principal>,
    pub not_principal: Option<Principal>,
    pub action: Option<Vec<String>>,
    pub not_action: Option<Vec<String>>,
    pub resource: Option<Vec<String>>,
    pub not_resource: Option<Vec<String>>,
    /// operator -> key -> values
    pub condition: Option<serde_json::Map<String, Value>>,
    pub raw: Value,
}

/// A policy document. Statements keep their order.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    pub version: Option<String>,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
    /// The document as parsed (or as built); used for serialisation.
    pub raw: Value,
}

/// The current policy language version.
pub const VERSION_2012: &str = "2012-10-17";
/// The old policy language version (no policy variables); also what a
/// document without `Version` means.
pub const VERSION_2008: &str = "2008-10-17";

impl PolicyDocument {
    /// Parse a document as AWS accepts it (see module docs).
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let value = parse_json_strict(text)?;
        Self::from_value(value)
    }

    /// Parse an already decoded JSON value (same rules as [`PolicyDocument::parse`],
    /// except that duplicate keys can no longer be detected).
    pub fn from_value(value: Value) -> Result<Self, PolicyError> {
        let Value::Object(map) = &value else {
            return Err(PolicyError::at(
                "(document)",
                format!("expected a JSON object, found {}", kind(&value)),
            ));
        };
        let mut version = None;
        let mut id = None;
        let mut statements = None;
        for (key, v) in map {
            match key.as_str() {
                "Version" => {
                    let s = v.as_str().ok_or_else(|| {
                        PolicyError::at("Version", format!("expected a string, found {}", kind(v)))
                    })?;
                    if s != VERSION_2012 && s != VERSION_2008 {
                        return Err(PolicyError::at(
                            "Version",
                            format!(
                                "unknown version `{s}`: AWS accepts `{VERSION_2012}` or `{VERSION_2008}`"
                            ),
                        ));
                    }
                    version = Some(s.to_string());
                }
                "Id" => {
                    let s = v.as_str().ok_or_else(|| {
                        PolicyError::at("Id", format!("expected a string, found {}", kind(v)))
                    })?;
                    id = Some(s.to_string());
                }
                "Statement" => {
                    statements = Some(match v {
                        Value::Array(items) => items
                            .iter()
                            .enumerate()
                            .map(|(i, s)| Statement::from_value(s, &format!("Statement[{i}]")))
                            .collect::<Result<Vec<_>, _>>()?,
                        Value::Object(_) => vec![Statement::from_value(v, "Statement")?],
                        other => {
                            return Err(PolicyError::at(
                                "Statement",
                                format!(
                                    "expected an object or a list of objects, found {}",
                                    kind(other)
                                ),
                            ));
                        }
                    });
                }
                other => {
                    return Err(PolicyError::at(
                        other,
                        "unknown top-level key: a policy has only `Version`, `Id` and `Statement`",
                    ));
                }
            }
        }
        let statements =
            statements.ok_or_else(|| PolicyError::at("(document)", "missing `Statement`"))?;
        Ok(PolicyDocument {
            version,
            id,
            statements,
            raw: value,
        })
    }

    /// A document with `Version: 2012-10-17` and no statements.
    pub fn empty() -> Self {
        Self::from_statements(Vec::new())
    }

    /// A document with `Version: 2012-10-17` and the given statements (each
    /// written as its `raw` when that is an object, else as built).
    pub fn from_statements(statements: Vec<Statement>) -> Self {
        let statements: Vec<Statement> = statements
            .into_iter()
            .map(|mut s| {
                s.raw = s.raw_or_built();
                s
            })
            .collect();
        let list: Vec<Value> = statements.iter().map(|s| s.raw.clone()).collect();
        let mut raw = Map::new();
        raw.insert("Version".into(), Value::String(VERSION_2012.into()));
        raw.insert("Statement".into(), Value::Array(list));
        PolicyDocument {
            version: Some(VERSION_2012.into()),
            id: None,
            statements,
            raw: Value::Object(raw),
        }
    }

    /// Pretty-printed JSON (2-space indent, keys in a stable order), used for plans and writes.
    pub fn to_pretty_json(&self) -> String {
        format!("{:#}", self.raw)
    }

    /// Compact JSON.
    pub fn to_compact_json(&self) -> String {
        self.raw.to_string()
    }
}

impl Statement {
    /// Build a statement from its parts, filling `raw`.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        if let Some(sid) = &self.sid {
            m.insert("Sid".into(), Value::String(sid.clone()));
        }
        m.insert("Effect".into(), Value::String(self.effect.as_str().into()));
        if let Some(p) = &self.principal {
            m.insert("Principal".into(), principal_value(p));
        }
        if let Some(p) = &self.not_principal {
            m.insert("NotPrincipal".into(), principal_value(p));
        }
        for (key, list) in [
            ("Action", &self.action),
            ("NotAction", &self.not_action),
            ("Resource", &self.resource),
            ("NotResource", &self.not_resource),
        ] {
            if let Some(list) = list {
                m.insert(key.into(), string_or_list(list));
            }
        }
        if let Some(c) = &self.condition {
            m.insert("Condition".into(), Value::Object(c.clone()));
        }
        Value::Object(m)
    }

    /// A statement built from parts, with `raw` filled by [`Statement::to_value`].
    pub fn with_raw(mut self) -> Self {
        self.raw = self.to_value();
        self
    }

    /// `raw` when it is a JSON object (a parsed or built statement), else the
    /// statement rebuilt from its parts.
    pub(crate) fn raw_or_built(&self) -> Value {
        if self.raw.is_object() {
            self.raw.clone()
        } else {
            self.to_value()
        }
    }

    /// Parse one statement; `at` is its location (`Statement[3]`).
    pub fn from_value(value: &Value, at: &str) -> Result<Self, PolicyError> {
        let Value::Object(map) = value else {
            return Err(PolicyError::at(
                at,
                format!("a statement must be an object, found {}", kind(value)),
            ));
        };
        let mut st = Statement {
            sid: None,
            effect: Effect::Allow,
            principal: None,
            not_principal: None,
            action: None,
            not_action: None,
            resource: None,
            not_resource: None,
            condition: None,
            raw: value.clone(),
        };
        let mut effect = None;
        for (key, v) in map {
            let here = format!("{at}.{key}");
            match key.as_str() {
                "Sid" => {
                    let s = v.as_str().ok_or_else(|| {
                        PolicyError::at(&here, format!("expected a string, found {}", kind(v)))
                    })?;
                    st.sid = Some(s.to_string());
                }
                "Effect" => {
                    let s = v.as_str().ok_or_else(|| {
                        PolicyError::at(&here, format!("expected a string, found {}", kind(v)))
                    })?;
                    effect = Some(if s.eq_ignore_ascii_case("allow") {
                        Effect::Allow
                    } else if s.eq_ignore_ascii_case("deny") {
                        Effect::Deny
                    } else {
                        return Err(PolicyError::at(
                            &here,
                            format!("unknown effect `{s}`: use `Allow` or `Deny`"),
                        ));
                    });
                }
                "Action" => st.action = Some(string_list(v, &here)?),
                "NotAction" => st.not_action = Some(string_list(v, &here)?),
                "Resource" => st.resource = Some(string_list(v, &here)?),
                "NotResource" => st.not_resource = Some(string_list(v, &here)?),
                "Principal" => st.principal = Some(parse_principal(v, &here)?),
                "NotPrincipal" => st.not_principal = Some(parse_principal(v, &here)?),
                "Condition" => st.condition = Some(parse_condition(v, &here)?),
                other => {
                    return Err(PolicyError::at(
                        &here,
                        format!(
                            "unknown statement key `{other}`: a statement has only `Sid`, `Effect`, `Principal`, `NotPrincipal`, `Action`, `NotAction`, `Resource`, `NotResource` and `Condition`"
                        ),
                    ));
                }
            }
        }
        st.effect = effect.ok_or_else(|| PolicyError::at(at, "missing `Effect`"))?;
        match (&st.action, &st.not_action) {
            (Some(_), Some(_)) => {
                return Err(PolicyError::at(
                    at,
                    "has both `Action` and `NotAction`: keep one",
                ));
            }
            (None, None) => return Err(PolicyError::at(at, "missing `Action` (or `NotAction`)")),
            _ => {}
        }
        if st.resource.is_some() && st.not_resource.is_some() {
            return Err(PolicyError::at(
                at,
                "has both `Resource` and `NotResource`: keep one",
            ));
        }
        if st.principal.is_some() && st.not_principal.is_some() {
            return Err(PolicyError::at(
                at,
                "has both `Principal` and `NotPrincipal`: keep one",
            ));
        }
        Ok(st)
    }
}

fn principal_value(p: &Principal) -> Value {
    match p {
        Principal::Any => Value::String("*".into()),
        Principal::Map(entries) => {
            let mut m = Map::new();
            for (k, vs) in entries {
                m.insert(k.clone(), string_or_list(vs));
            }
            Value::Object(m)
        }
    }
}

/// One element: a plain string; several: a list, in the given order.
pub(crate) fn string_or_list(list: &[String]) -> Value {
    if list.len() == 1 {
        Value::String(list[0].clone())
    } else {
        Value::Array(list.iter().cloned().map(Value::String).collect())
    }
}

fn string_list(v: &Value, at: &str) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::String(s) if s.is_empty() => Err(PolicyError::at(at, "empty string")),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if items.is_empty() => Err(PolicyError::at(
            at,
            "empty list: AWS requires at least one value",
        )),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) if !s.is_empty() => Ok(s.clone()),
                Value::String(_) => Err(PolicyError::at(format!("{at}[{i}]"), "empty string")),
                other => Err(PolicyError::at(
                    format!("{at}[{i}]"),
                    format!("expected a string, found {}", kind(other)),
                )),
            })
            .collect(),
        other => Err(PolicyError::at(
            at,
            format!(
                "expected a string or a list of strings, found {}",
                kind(other)
            ),
        )),
    }
}

fn parse_principal(v: &Value, at: &str) -> Result<Principal, PolicyError> {
    match v {
        Value::String(s) if s == "*" => Ok(Principal::Any),
        Value::String(s) => Err(PolicyError::at(
            at,
            format!(
                "`{s}` is not a principal: use `\"*\"` or a map such as `{{\"AWS\": \"{s}\"}}`"
            ),
        )),
        Value::Object(m) if m.is_empty() => Err(PolicyError::at(at, "empty principal map")),
        Value::Object(m) => {
            let mut entries = Vec::with_capacity(m.len());
            for (k, vs) in m {
                let here = format!("{at}.{k}");
                if !PRINCIPAL_KEYS.contains(&k.as_str()) {
                    return Err(PolicyError::at(
                        &here,
                        format!(
                            "unknown principal type `{k}`: use `AWS`, `Service`, `Federated` or `CanonicalUser`"
                        ),
                    ));
                }
                entries.push((k.clone(), string_list(vs, &here)?));
            }
            Ok(Principal::Map(entries))
        }
        other => Err(PolicyError::at(
            at,
            format!("expected `\"*\"` or a map, found {}", kind(other)),
        )),
    }
}

fn parse_condition(v: &Value, at: &str) -> Result<Map<String, Value>, PolicyError> {
    let Value::Object(ops) = v else {
        return Err(PolicyError::at(
            at,
            format!("expected a map of operators, found {}", kind(v)),
        ));
    };
    for (op, keys) in ops {
        let here = format!("{at}.{op}");
        if op.is_empty() {
            return Err(PolicyError::at(&here, "empty condition operator"));
        }
        let Value::Object(keys) = keys else {
            return Err(PolicyError::at(
                &here,
                format!("expected a map of condition keys, found {}", kind(keys)),
            ));
        };
        for (key, values) in keys {
            let here = format!("{here}.{key}");
            if key.is_empty() {
                return Err(PolicyError::at(&here, "empty condition key"));
            }
            match values {
                Value::String(_) | Value::Bool(_) | Value::Number(_) => {}
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if !matches!(item, Value::String(_) | Value::Bool(_) | Value::Number(_)) {
                            return Err(PolicyError::at(
                                format!("{here}[{i}]"),
                                format!(
                                    "expected a string, boolean or number, found {}",
                                    kind(item)
                                ),
                            ));
                        }
                    }
                }
                other => {
                    return Err(PolicyError::at(
                        &here,
                        format!(
                            "expected a string, boolean, number or a list of them, found {}",
                            kind(other)
                        ),
                    ));
                }
            }
        }
    }
    Ok(ops.clone())
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Parse JSON into a [`Value`], refusing duplicate object keys (see module docs).
pub(crate) fn parse_json_strict(text: &str) -> Result<Value, PolicyError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = StrictValue::deserialize(&mut de).and_then(|v| de.end().map(|()| v.0));
    value.map_err(|e| {
        let msg = e.to_string();
        PolicyError::at(
            format!("line {}, column {}", e.line(), e.column()),
            format!("not valid JSON: {msg}"),
        )
    })
}

struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = StrictValue;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<StrictValue, E> {
        Ok(StrictValue(
            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }
    fn visit_str<E>(self, v: &str) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::String(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Null))
    }
    fn visit_none<E>(self) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrictValue, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(StrictValue(Value::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictValue, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let StrictValue(v) = access.next_value()?;
            if map.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            map.insert(key, v);
        }
        Ok(StrictValue(Value::Object(map)))
    }
}
