//! The plan: a pure function of what A2I needs and what the account has.
//! The same `Plan` value is rendered by `plan`, saved by `plan --out`, and
//! executed by `apply` — there is no second code path.

use std::collections::BTreeMap;

use crate::spec::PrincipalKind;

/// Version of the JSON plan format (`--json` and `--out`).
pub const FORMAT_VERSION: u32 = 1;

/// The inline policy a2i-fix owns on each role it grants S3 access to.
pub const OWNED_POLICY_NAME: &str = "a2i-fix-permissions";

/// What a change writes to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Target {
    /// A bucket's CORS configuration.
    BucketCors { bucket: String },
    /// A role itself (create with the trust policy as `after`; delete on rollback).
    Role { name: String, path: String },
    /// A role's trust policy.
    TrustPolicy { role: String },
    /// One inline policy of a role.
    InlinePolicy { role: String, policy_name: String },
    /// The `default` key policy of a KMS key.
    KeyPolicy { key_id: String, key_arn: String },
    /// A managed policy attached to a role or a user.
    Attachment { kind: PrincipalKind, name: String, policy_arn: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    /// Only in rollback plans: delete what did not exist before.
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    /// Terraform-like address, e.g. `aws_s3_bucket_cors_configuration.acme-a2i-input`.
    pub address: String,
    pub action: Action,
    pub target: Target,
    /// Requirement ids served (`R1`..`R9`), sorted, unique.
    pub requirements: Vec<String>,
    /// Why, in one or a few sentences.
    pub reason: String,
    /// The document replaced (pretty JSON), `None` when there was none.
    pub before: Option<String>,
    /// The exact document to write (pretty JSON); `None` only for `Delete`.
    pub after: Option<String>,
    /// Fingerprint of the current document as read (see [`fingerprint`]).
    pub before_fingerprint: String,
    /// Digest of `after` (see [`digest`]), to detect hand edits of saved plans.
    pub after_digest: String,
    /// Sids of existing statements this change replaces (declared, shown).
    pub replaced_sids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Warning {
    /// What it is about, e.g. `role A2IFlowRole`.
    pub subject: String,
    /// Requirement id if any.
    pub requirement: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub account_id: String,
    pub region: String,
    /// `sha256:HEX` of the spec file (empty for rollback plans).
    pub spec_hash: String,
    pub changes: Vec<Change>,
    pub summary: Summary,
    pub warnings: Vec<Warning>,
    pub api_calls: BTreeMap<String, u64>,
}

/// Fingerprint of a current document as read from AWS: `sha256:HEX` of the
/// exact text, or `absent` when there is none.
pub fn fingerprint(current: Option<&str>) -> String {
    match current {
        None => "absent".to_string(),
        Some(text) => digest(text),
    }
}

/// `sha256:HEX` of a text.
pub fn digest(text: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}
