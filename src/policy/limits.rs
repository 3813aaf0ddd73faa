//! Limits (DOMAIN.md section 4) and safety guards checked before any write.

use super::{CorsConfiguration, PolicyDocument};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("{document} is {size} characters, over the limit of {limit} ({what})")]
    TooLarge {
        document: String,
        size: usize,
        limit: usize,
        what: String,
    },
    #[error("{document} would have {count} {what}, over the limit of {limit}")]
    TooMany {
        document: String,
        count: usize,
        limit: usize,
        what: String,
    },
    #[error("{document}: {message}")]
    Unsafe { document: String, message: String },
}

pub const INLINE_POLICIES_LIMIT: usize = 10_240;
pub const TRUST_POLICY_LIMIT: usize = 2_048;
pub const KEY_POLICY_LIMIT: usize = 32_768;
pub const CORS_RULES_LIMIT: usize = 100;
pub const CORS_BYTES_LIMIT: usize = 65_536;
pub const MANAGED_POLICIES_LIMIT: usize = 10;

/// All inline policies of one role together, whitespace not counted.
pub fn check_inline_policies(
    _role: &str,
    _documents: &[&PolicyDocument],
) -> Result<(), LimitError> {
    todo!()
}
pub fn check_trust_policy(_role: &str, _document: &PolicyDocument) -> Result<(), LimitError> {
    todo!()
}
pub fn check_key_policy(_key: &str, _document: &PolicyDocument) -> Result<(), LimitError> {
    todo!()
}
pub fn check_cors(_bucket: &str, _config: &CorsConfiguration) -> Result<(), LimitError> {
    todo!()
}
pub fn check_managed_policy_count(_principal: &str, _count: usize) -> Result<(), LimitError> {
    todo!()
}
/// If `before` let the account root (or `caller_arn`) change the key policy
/// (`kms:PutKeyPolicy`, via `kms:*` or similar), `after` must too.
pub fn check_key_policy_lockout(
    _key: &str,
    _before: &PolicyDocument,
    _after: &PolicyDocument,
    _account_id: &str,
    _caller_arn: Option<&str>,
) -> Result<(), LimitError> {
    todo!()
}
/// Every statement of `before` is still in `after` (equivalent), except those
/// whose Sid is in `replaced`.
pub fn check_nothing_lost(
    _document: &str,
    _before: &PolicyDocument,
    _after: &PolicyDocument,
    _replaced: &[String],
) -> Result<(), LimitError> {
    todo!()
}
/// Every CORS rule of `before` is still in `after`.
pub fn check_cors_nothing_lost(
    _bucket: &str,
    _before: &CorsConfiguration,
    _after: &CorsConfiguration,
) -> Result<(), LimitError> {
    todo!()
}
