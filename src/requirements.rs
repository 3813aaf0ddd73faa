//! What A2I needs, derived from a spec (DOMAIN.md section 1). Pure.
//!
//! # Decisions where the issue is silent
//!
//! - **Who needs what.** R1 (CORS) is needed on every input bucket of a flow
//!   definition *and* of a template preview: the worker UI and the preview
//!   both load the objects from the browser. R2/R3/R4 go to the flow role; R9
//!   and R4 to the preview role (SageMaker assumes the `RoleArn` of
//!   RenderUiTemplate, so it must trust `sagemaker.amazonaws.com` too).
//! - **Creating roles.** `create_if_missing` is true for a role used by at
//!   least one flow definition (the issue plans a missing flow role as a
//!   create). A role used only for template previews is never created: a
//!   missing preview role is reported as an error by the planner, since the
//!   user most likely mistyped its name.
//! - **Output grant.** R3 is `arn:aws:s3:::BUCKET/PREFIX*` with the prefix
//!   normalised by the spec to end with `/` ([`crate::spec::S3Url::write_resource`]).
//! - **Public workforce.** `public_workforce = true` needs R8
//!   (`AmazonSageMakerMechanicalTurkAccess`) *and* R6
//!   (`AmazonAugmentedAIFullAccess`), whatever `uses` says: DOMAIN.md lists
//!   R8 as "also", on top of R6, which is what lets the principal manage flow
//!   definitions at all; the Mechanical Turk policy only lifts R6's limit to
//!   private and vendor work teams.
//! - **Keys.** R5 is keyed by the key reference as written; two spellings of
//!   one key (alias and ARN) are two entries here and are resolved to one key
//!   by the state reader / planner. A role needs a key when any flow
//!   definition it serves names that key; a role may need several keys.
//! - **Merging.** Needs of several flow definitions (or previews) that share
//!   a role, a bucket or a key are merged; the `Because` lists accumulate, in
//!   spec order, without duplicates.
//! - **Account.** [`Needs::account_id`] is the account the spec is bound to
//!   ([`crate::spec::Spec::bound_account`]): `account_id`, or else the account
//!   the ARNs in the spec name, so that a spec written with ARNs of one
//!   account is never applied to another.

use std::collections::{BTreeMap, BTreeSet};

use crate::spec::{PrincipalKind, RoleRef, Spec, Use};

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
pub fn derive(spec: &Spec) -> Needs {
    let mut needs = Needs {
        account_id: spec.bound_account(),
        ..Needs::default()
    };

    for flow in &spec.flow_definitions {
        let by = format!("flow definition {}", flow.name);
        let role = role_entry(&mut needs.roles, &flow.role);
        role.create_if_missing = true;
        add(&mut role.trust, "R4", &by);
        for bucket in &flow.input_buckets {
            add(needs.cors.entry(bucket.clone()).or_default(), "R1", &by);
            add(
                role.read.entry(read_resource(bucket)).or_default(),
                "R2",
                &by,
            );
        }
        add(
            role.write.entry(flow.output.write_resource()).or_default(),
            "R3",
            &by,
        );
        needs.output_buckets.insert(flow.output.bucket.clone());
        if let Some(key) = &flow.kms_key {
            let entry = needs.keys.entry(key.clone()).or_insert_with(|| KeyNeeds {
                key_ref: key.clone(),
                roles: BTreeMap::new(),
            });
            add(
                entry.roles.entry(flow.role.name.clone()).or_default(),
                "R5",
                &by,
            );
        }
    }

    for preview in &spec.template_previews {
        let by = format!("template preview {}", preview.role.name);
        let role = role_entry(&mut needs.roles, &preview.role);
        add(&mut role.trust, "R4", &by);
        for bucket in &preview.input_buckets {
            add(needs.cors.entry(bucket.clone()).or_default(), "R1", &by);
            add(
                role.read.entry(read_resource(bucket)).or_default(),
                "R9",
                &by,
            );
        }
    }

    for caller in &spec.human_loop_callers {
        let by = format!("human loop caller {}", caller.arn);
        let entry = needs
            .callers
            .entry(caller.arn.clone())
            .or_insert_with(|| CallerNeeds {
                arn: caller.arn.clone(),
                kind: caller.kind,
                name: caller.name.clone(),
                policies: BTreeMap::new(),
            });
        for u in &caller.uses {
            let (policy, requirement) = match u {
                Use::Custom => (POLICY_FULL_ACCESS, "R6"),
                Use::Textract | Use::Rekognition => (POLICY_INTEGRATED_API, "R7"),
            };
            add(
                entry.policies.entry(policy.to_string()).or_default(),
                requirement,
                &by,
            );
        }
        if caller.public_workforce {
            add(
                entry
                    .policies
                    .entry(POLICY_FULL_ACCESS.to_string())
                    .or_default(),
                "R6",
                &by,
            );
            add(
                entry
                    .policies
                    .entry(POLICY_MECHANICAL_TURK.to_string())
                    .or_default(),
                "R8",
                &by,
            );
        }
    }

    needs
}

/// R2/R9: the objects of an input bucket.
pub fn read_resource(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}/*")
}

fn role_entry<'a>(roles: &'a mut BTreeMap<String, RoleNeeds>, r: &RoleRef) -> &'a mut RoleNeeds {
    roles.entry(r.name.clone()).or_insert_with(|| RoleNeeds {
        name: r.name.clone(),
        path: r.path.clone(),
        ..RoleNeeds::default()
    })
}

fn add(list: &mut Vec<Because>, requirement: &'static str, by: &str) {
    if !list
        .iter()
        .any(|b| b.requirement == requirement && b.by == by)
    {
        list.push(Because {
            requirement,
            by: by.to_string(),
        });
    }
}
