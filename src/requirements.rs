//! What A2I needs, derived from a spec (DOMAIN.md section 1). Pure.

use std::collections::{BTreeMap, BTreeSet};

use crate::spec::{PrincipalKind, Spec};

pub const POLICY_FULL_ACCESS: &str = "arn:aws:iam::aws:policy/AmazonAugmentedAIFullAccess";
pub const POLICY_INTEGRATED_API: &str =
    "arn:aws:iam::aws:policy/AmazonAugmentedAIIntegratedAPIAccess";
pub const POLICY_MECHANICAL_TURK: &str =
    "arn:aws:iam::aws:policy/AmazonSageMakerMechanicalTurkAccess";

/// Why something is needed: the requirement id (`R1`..`R9`) and who needs it
/// (e.g. `flow definition invoice-review`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Because {
    pub requirement: &'static str,
    pub by: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleNeeds {
    pub name: String,
    pub path: String,
    /// R4 (flow roles; preview roles too, since SageMaker assumes them).
    pub trust: Vec<Because>,
    /// R2/R9: `arn:aws:s3:::BUCKET/*` -> why.
    pub read: BTreeMap<String, Vec<Because>>,
    /// R3: `arn:aws:s3:::BUCKET/PREFIX*` -> why.
    pub write: BTreeMap<String, Vec<Because>>,
    /// Whether this role may be created when missing (flow roles only).
    pub create_if_missing: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyNeeds {
    /// The key as written in the spec.
    pub key_ref: String,
    /// Role names that must be able to use the key (R5) -> why.
    pub roles: BTreeMap<String, Vec<Because>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerNeeds {
    pub arn: String,
    pub kind: PrincipalKind,
    pub name: String,
    /// Managed policy ARN (R6/R7/R8) -> why.
    pub policies: BTreeMap<String, Vec<Because>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    pub account_id: Option<String>,
    /// Input buckets (R1) -> why.
    pub cors: BTreeMap<String, Vec<Because>>,
    /// Output buckets (existence and default-encryption warning).
    pub output_buckets: BTreeSet<String>,
    /// By role name.
    pub roles: BTreeMap<String, RoleNeeds>,
    /// By key ref as written.
    pub keys: BTreeMap<String, KeyNeeds>,
    /// By principal ARN.
    pub callers: BTreeMap<String, CallerNeeds>,
}

/// Derive what A2I needs from a validated spec.
pub fn derive(_spec: &Spec) -> Needs {
    todo!()
}
