//! IAM policy documents (identity policies, trust policies, key policies).

use serde_json::Value;

/// An error in a policy document: what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// `location` is like `Statement[2].Principal` or `(document)`.
    #[error("invalid policy document at {location}: {message}")]
    Invalid { location: String, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Effect {
    Allow,
    Deny,
}

/// A principal block. `Any` is `"*"` (and `{"AWS": "*"}` after normalisation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Any,
    /// Key (`AWS`, `Service`, `Federated`, `CanonicalUser`) to values, as written.
    Map(Vec<(String, Vec<String>)>),
}

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

impl PolicyDocument {
    /// Parse a document as AWS accepts it (see module docs).
    pub fn parse(_text: &str) -> Result<Self, PolicyError> {
        todo!()
    }
    /// A document with `Version: 2012-10-17` and no statements.
    pub fn empty() -> Self {
        todo!()
    }
    /// Pretty-printed JSON (2-space indent, keys in a stable order), used for plans and writes.
    pub fn to_pretty_json(&self) -> String {
        todo!()
    }
    /// Compact JSON.
    pub fn to_compact_json(&self) -> String {
        todo!()
    }
}

impl Statement {
    /// Build a statement from its parts, filling `raw`.
    pub fn to_value(&self) -> Value {
        todo!()
    }
}
