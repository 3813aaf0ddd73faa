//! The plan: a pure function of what A2I needs and what the account has.
//! The same `Plan` value is rendered by `plan`, saved by `plan --out`, and
//! executed by `apply` — there is no second code path.
//!
//! [`build_plan`] walks the needs one kind of document at a time (the
//! requirements R1-R9 are described in `docs/requirements.md`):
//! - `role`: a missing role, the trust policy (R4), and the S3 grants (R2,
//!   R3, R9) in the inline policy a2i-fix owns;
//! - `caller`: the managed policies a human loop caller needs (R6-R8);
//! - `key`: the KMS key policies (R5), one change per key;
//! - `cors`: the CORS configuration of the input buckets (R1);
//! - `sids`: where A2I's statement goes when a statement with its Sid exists;
//! - `boundary`: what a role's permissions boundary lets through;
//! - `bucket_policy`: Denies in the policies of the buckets A2I uses;
//! - `ownership`: a warning on each change to a resource that
//!   infrastructure as code manages (its tags say so);
//! - `builder`: what every step shares: the collected changes and warnings,
//!   and how a verdict becomes a change or a warning.
//!
//! Decisions:
//! - A requirement met only under a condition, or blocked by a Deny (in the
//!   role's policies, its permissions boundary or the bucket's policy), or
//!   not allowed by the role's boundary, becomes a *warning*, not a change:
//!   adding an unconditional Allow next to a deliberate condition would
//!   widen access the owner restricted on purpose, and an Allow cannot beat
//!   a Deny anyway. Every warning is a need left unmet that no change a2i-fix
//!   makes can meet (`plan --detailed-exitcode` exits 3 on them).
//! - A2I's S3 grants go into one inline policy per role,
//!   [`OWNED_POLICY_NAME`]; other inline policies are never changed.
//! - A2I's statement is built from every need it serves plus everything it
//!   granted before, so a later plan never narrows a grant an earlier apply
//!   made (only `rollback` takes one back). A statement under A2I's Sid that
//!   is not of A2I's shape (someone else's, or A2I's own edited by hand, in
//!   any document) is left exactly as it is, and A2I's goes under the next
//!   free fallback Sid (`sids`). Needs held back by a Deny or a condition
//!   are never added to A2I's statement.
//! - A KMS key grant is also met when the key policy delegates to IAM (an
//!   unconditional Allow of the actions to the account root) and the role's
//!   own policies allow the actions on the key.

use std::collections::BTreeMap;

use crate::model::{Action, Target, digest};
use crate::requirements::Needs;
use crate::state::AccountState;
use builder::Builder;
pub use ownership::{Owner, owner};

mod boundary;
mod bucket_policy;
mod builder;
mod caller;
mod cors;
mod key;
mod ownership;
mod role;
mod sids;

/// Version of the JSON plan format (`--json` and `--out`).
pub const FORMAT_VERSION: u32 = 1;

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
    /// The address of the change this warning is about, when it is about
    /// one (ownership warnings); absent from the JSON otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Ownership warnings only: the infrastructure-as-code tool that manages
    /// the resource (`CloudFormation`, `Terraform`, `CDK`, `Pulumi`), or
    /// `unknown` when its tags could not be read; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
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

/// Why a plan cannot be built: the account holds something a2i-fix must not
/// or cannot change, or a document it cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "the credentials in use belong to account `{actual}`, but the spec says `account_id = \"{expected}\"`: use credentials for account `{expected}` (`--profile`) or correct the spec"
    )]
    WrongAccount { expected: String, actual: String },
    #[error(
        "{what} is not a valid policy document: {message}; fix or remove it in the account, then run a2i-fix again"
    )]
    BrokenDocument { what: String, message: String },
    #[error(
        "the credentials in use are for the `{partition}` partition (`{caller}`): a2i-fix supports the `aws` partition only, since the grants it writes and the AWS managed policies it attaches are named in `aws`; use credentials for an account in `aws`"
    )]
    Partition { partition: String, caller: String },
    #[error("{0}")]
    Missing(String),
    #[error("{0}")]
    Limit(String),
}

/// Build the plan: what must change in the account so that every need is
/// met (the decisions it takes are in the module documentation).
pub fn build_plan(needs: &Needs, state: &AccountState, spec_hash: &str) -> Result<Plan, PlanError> {
    if let Some(expected) = &needs.account_id
        && expected != &state.account_id
    {
        return Err(PlanError::WrongAccount {
            expected: expected.clone(),
            actual: state.account_id.clone(),
        });
    }
    if let Some(partition) = state.caller_arn.split(':').nth(1)
        && state.caller_arn.starts_with("arn:")
        && partition != "aws"
    {
        return Err(PlanError::Partition {
            partition: partition.to_string(),
            caller: state.caller_arn.clone(),
        });
    }
    let mut b = Builder::new(state);
    for role in needs.roles.values() {
        b.plan_role(role)?;
    }
    for caller in needs.callers.values() {
        b.plan_caller(caller)?;
    }
    b.plan_keys(needs)?;
    for (bucket, because) in &needs.cors {
        b.plan_cors(bucket, because)?;
    }
    b.warn_bucket_encryption(needs);

    let mut changes = Vec::new();
    changes.extend(b.role_creates);
    changes.extend(b.trust);
    changes.extend(b.inline);
    changes.extend(b.attachments);
    changes.extend(b.keys);
    changes.extend(b.cors);
    let summary = summarize(&changes);
    let mut warnings = b.warnings;
    warnings.extend(ownership::ownership_warnings(state, &changes));
    Ok(Plan {
        format_version: FORMAT_VERSION,
        account_id: state.account_id.clone(),
        region: state.region.clone(),
        spec_hash: spec_hash.to_string(),
        changes,
        summary,
        warnings,
        api_calls: state.api_calls.clone(),
    })
}

/// The digest of a plan, over its compact JSON (struct field order, maps in
/// insertion order): used by saved plans and the journal header.
pub fn plan_digest(plan: &Plan) -> String {
    digest(&serde_json::to_string(plan).unwrap_or_default())
}

/// Count the changes by action.
pub fn summarize(changes: &[Change]) -> Summary {
    let count = |a: Action| changes.iter().filter(|c| c.action == a).count();
    Summary {
        add: count(Action::Create),
        change: count(Action::Update),
        destroy: count(Action::Delete),
    }
}
