//! Reading the current IAM, S3 and KMS state. The only module with SDK read
//! calls. Documents are kept as the raw (URL-decoded) text AWS returned, so
//! fingerprints see every byte; parsing is the planner's job.

use std::collections::BTreeMap;

use crate::policy::CorsConfiguration;
use crate::spec::PrincipalKind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketEncryption {
    /// `AES256`, `aws:kms`, `aws:kms:dsse`.
    pub algorithm: String,
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketState {
    pub name: String,
    /// `None`: the bucket has no CORS configuration (`NoSuchCORSConfiguration`).
    pub cors: Option<CorsConfiguration>,
    /// `None`: no default encryption configured (or not read).
    pub encryption: Option<BucketEncryption>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedPolicy {
    pub name: String,
    pub arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleState {
    pub name: String,
    pub arn: String,
    pub path: String,
    /// URL-decoded trust policy text.
    pub trust_policy: String,
    /// Inline policy name -> URL-decoded document text, in ListRolePolicies order.
    pub inline_policies: Vec<(String, String)>,
    pub attached_policies: Vec<AttachedPolicy>,
    pub permissions_boundary: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedPolicy {
    pub arn: String,
    pub version_id: String,
    /// URL-decoded document text of the default version.
    pub document: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    /// As written in the spec.
    pub key_ref: String,
    pub key_id: String,
    pub arn: String,
    /// `KeyManager == AWS`.
    pub aws_managed: bool,
    /// `Enabled`, `Disabled`, `PendingDeletion`, ...
    pub key_state: String,
    /// The `default` key policy text.
    pub policy: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerState {
    pub arn: String,
    pub kind: PrincipalKind,
    pub name: String,
    pub attached_policies: Vec<AttachedPolicy>,
}

/// Everything `plan` needs to know about the account, as plain data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountState {
    pub account_id: String,
    pub region: String,
    /// The caller's identity ARN (GetCallerIdentity), for the lockout check.
    pub caller_arn: String,
    pub buckets: BTreeMap<String, BucketState>,
    /// By role name; `None`: the role does not exist.
    pub roles: BTreeMap<String, Option<RoleState>>,
    /// Default versions of managed policies attached to the roles, by ARN.
    pub managed_policies: BTreeMap<String, ManagedPolicy>,
    /// By key ref as written in the spec.
    pub keys: BTreeMap<String, KeyState>,
    /// By principal ARN.
    pub callers: BTreeMap<String, CallerState>,
    /// Number of API calls made, by operation (`iam:GetRole`, ...).
    pub api_calls: BTreeMap<String, u64>,
}

/// Why reading the state failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{0}")]
    Other(String),
}

/// Read exactly what `needs` requires (stub: the state branch implements it).
pub async fn read_state(
    _clients: &crate::aws::Clients,
    _needs: &crate::requirements::Needs,
) -> Result<AccountState, StateError> {
    todo!()
}

/// Re-read one target's current document, in the form `read_state` stores.
pub async fn read_current(
    _clients: &crate::aws::Clients,
    _target: &crate::plan::Target,
) -> Result<Option<String>, StateError> {
    todo!()
}

/// The same form as `read_current`, from an `AccountState`.
pub fn current_from_state(_state: &AccountState, _target: &crate::plan::Target) -> Option<String> {
    todo!()
}
