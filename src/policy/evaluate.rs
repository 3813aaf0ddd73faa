//! "Already met": does a set of documents already give what A2I needs?

use super::{CorsConfiguration, PolicyDocument};

/// What must be granted.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Requirement {
    /// An identity-based grant to the role holding the policies: `action` on `resource`.
    Identity { action: String, resource: String },
    /// A trust-policy grant: `service` (e.g. `sagemaker.amazonaws.com`) may call `action`.
    Trust { service: String, action: String },
    /// A key-policy grant of `actions` to the IAM principal `principal_arn` (resource `*`).
    KeyGrant {
        principal_arn: String,
        actions: Vec<String>,
    },
    /// A CORS rule allowing GET from any origin.
    CorsGetAnyOrigin,
}

/// A named document among those evaluated (e.g. `inline policy Foo of role R`).
#[derive(Debug, Clone, Copy)]
pub struct LabeledDocument<'a> {
    pub label: &'a str,
    pub document: &'a PolicyDocument,
}

/// Which statement decided.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatementRef {
    pub document: String,
    pub index: usize,
    pub sid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Verdict {
    Met {
        by: StatementRef,
    },
    NotMet,
    /// An explicit Deny applies (`conditional`: it has a Condition, so it may apply).
    Blocked {
        by: StatementRef,
        conditional: bool,
    },
    /// Met only when the condition of `by` holds; `condition` names the operator/keys.
    Conditional {
        by: StatementRef,
        condition: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    pub requirement: Requirement,
    pub verdict: Verdict,
    /// One short human-readable sentence.
    pub reason: String,
}

/// Evaluate `requirement` against documents. For `KeyGrant`, `account_id` lets
/// `arn:aws:iam::ACCT:root` / `ACCT` principals be recognised (root of the
/// account does NOT by itself grant a role: IAM policies of the role would
/// then be needed, so a root-only key policy does not meet a KeyGrant).
pub fn evaluate(
    _requirement: &Requirement,
    _documents: &[LabeledDocument<'_>],
    _account_id: &str,
) -> Decision {
    todo!()
}

/// Evaluate `CorsGetAnyOrigin` against a CORS configuration.
pub fn evaluate_cors(_config: &CorsConfiguration) -> Decision {
    todo!()
}
