//! The fixed write order: each change's API call and its rank.
//!
//! IAM before KMS (a key policy naming a role KMS cannot see yet is
//! rejected), S3 after both; deletes, which only rollback plans contain,
//! last, in the reverse dependency order (a role goes after its policies).

use super::Refusal;
use crate::model::{Action, PrincipalKind, Target};
use crate::plan::{Change, Plan};

/// One API call apply makes (or, in a dry run, would make).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlannedCall {
    /// `iam:PutRolePolicy`, ...
    pub operation: &'static str,
    /// `role=A2IFlowRole policy=a2i-fix-permissions`, ...
    pub target: String,
    /// The change's address.
    pub address: String,
}

impl std::fmt::Display for PlannedCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.operation, self.target)
    }
}

/// The API call for a change, and its rank in the write order.
pub(super) fn call_for(change: &Change) -> Result<(u8, PlannedCall), String> {
    use Action::{Create, Delete, Update};
    let call = |rank, operation, target: String| {
        Ok((
            rank,
            PlannedCall {
                operation,
                target,
                address: change.address.clone(),
            },
        ))
    };
    match (&change.target, change.action) {
        (Target::Role { name, path }, Create) => {
            call(0, "iam:CreateRole", format!("role={name} path={path}"))
        }
        (Target::TrustPolicy { role }, Create | Update) => {
            call(1, "iam:UpdateAssumeRolePolicy", format!("role={role}"))
        }
        (Target::InlinePolicy { role, policy_name }, Create | Update) => call(
            2,
            "iam:PutRolePolicy",
            format!("role={role} policy={policy_name}"),
        ),
        (
            Target::Attachment {
                kind: PrincipalKind::Role,
                name,
                policy_arn,
            },
            Create,
        ) => call(
            3,
            "iam:AttachRolePolicy",
            format!("role={name} policy_arn={policy_arn}"),
        ),
        (
            Target::Attachment {
                kind: PrincipalKind::User,
                name,
                policy_arn,
            },
            Create,
        ) => call(
            3,
            "iam:AttachUserPolicy",
            format!("user={name} policy_arn={policy_arn}"),
        ),
        (Target::KeyPolicy { key_id, .. }, Create | Update) => call(
            4,
            "kms:PutKeyPolicy",
            format!("key={key_id} policy=default"),
        ),
        (Target::BucketCors { bucket }, Create | Update) => {
            call(5, "s3:PutBucketCors", format!("bucket={bucket}"))
        }
        (Target::BucketCors { bucket }, Delete) => {
            call(6, "s3:DeleteBucketCors", format!("bucket={bucket}"))
        }
        (
            Target::Attachment {
                kind: PrincipalKind::Role,
                name,
                policy_arn,
            },
            Delete,
        ) => call(
            7,
            "iam:DetachRolePolicy",
            format!("role={name} policy_arn={policy_arn}"),
        ),
        (
            Target::Attachment {
                kind: PrincipalKind::User,
                name,
                policy_arn,
            },
            Delete,
        ) => call(
            7,
            "iam:DetachUserPolicy",
            format!("user={name} policy_arn={policy_arn}"),
        ),
        (Target::InlinePolicy { role, policy_name }, Delete) => call(
            8,
            "iam:DeleteRolePolicy",
            format!("role={role} policy={policy_name}"),
        ),
        (Target::Role { name, .. }, Delete) => call(9, "iam:DeleteRole", format!("role={name}")),
        (Target::Role { .. }, Update) => {
            Err("a role itself cannot be updated; its trust policy is a change of its own".into())
        }
        (Target::Attachment { .. }, Update) => {
            Err("an attachment cannot be updated, only attached or detached".into())
        }
        (Target::TrustPolicy { .. }, Delete) => {
            Err("a trust policy cannot be deleted, only its role".into())
        }
        (Target::KeyPolicy { .. }, Delete) => Err("a key policy cannot be deleted".into()),
    }
}

/// The changes of `plan` in write order, each with its API call: what a
/// dry run prints and what a real run executes.
pub fn ordered_calls(plan: &Plan) -> Result<Vec<(usize, u8, PlannedCall)>, Vec<Refusal>> {
    let mut calls = Vec::new();
    let mut refusals = Vec::new();
    for (i, change) in plan.changes.iter().enumerate() {
        match call_for(change) {
            Ok((rank, call)) => calls.push((i, rank, call)),
            Err(reason) => refusals.push(Refusal {
                address: change.address.clone(),
                reason,
            }),
        }
    }
    if !refusals.is_empty() {
        return Err(refusals);
    }
    // Stable: plan order within a group.
    calls.sort_by_key(|(_, rank, _)| *rank);
    Ok(calls)
}
