//! The statements and rules A2I needs, least privilege (requirements R1-R9 in
//! `docs/requirements.md#requirements-r1-r9`).
//!
//! Every statement grants exactly the actions the requirements name on exactly
//! the resources it is given; no `*` action is ever written (`kms:ReEncrypt*`
//! and `kms:GenerateDataKey*` are the action names AWS documents for A2I).
//!
//! # Decisions
//!
//! - **One canonical form**: a `Resource` or principal list with one element is
//!   written as a plain string, several as a sorted list without duplicates.
//!   Sorting makes the statement independent of the order in which the spec
//!   names buckets or roles, so a re-run never shows a diff. The five KMS
//!   actions keep the order of the AWS documentation.
//! - The CORS rule has no `ID`: it is exactly the rule A2I documents, and an
//!   `ID` could collide with one already on the bucket. It is recognised by its
//!   content instead.
//! - The trust statement carries no confused-deputy condition
//!   (`aws:SourceAccount` / `aws:SourceArn`): A2I does not document them
//!   for its trust policy, so they would be an opt-in of the planner.

use super::document::Effect;
use super::{CorsRule, Principal, Statement};

pub const SID_TRUST: &str = "AllowSageMakerToAssumeRole";
pub const SID_KMS: &str = "AllowUseOfKmsKey";
pub const SID_READ_INPUT: &str = "AllowA2IReadInput";
pub const SID_WRITE_OUTPUT: &str = "AllowA2IWriteOutput";
pub const SAGEMAKER_SERVICE: &str = "sagemaker.amazonaws.com";
pub const KMS_ACTIONS: [&str; 5] = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
];
/// The action of the trust statement.
pub const ASSUME_ROLE: &str = "sts:AssumeRole";
/// The action of the input grant.
pub const READ_ACTION: &str = "s3:GetObject";
/// The action of the output grant.
pub const WRITE_ACTION: &str = "s3:PutObject";

/// `Allow sts:AssumeRole` to `Service: sagemaker.amazonaws.com`.
pub fn trust_statement() -> Statement {
    build(
        SID_TRUST,
        Some(Principal::Map(vec![(
            "Service".into(),
            vec![SAGEMAKER_SERVICE.into()],
        )])),
        vec![ASSUME_ROLE.into()],
        None,
    )
}
/// `Allow s3:GetObject` on `resources` (e.g. `arn:aws:s3:::bucket/*`).
pub fn read_input_statement(resources: &[String]) -> Statement {
    build(
        SID_READ_INPUT,
        None,
        vec![READ_ACTION.into()],
        Some(canonical(resources)),
    )
}
/// `Allow s3:PutObject` on `resources` (e.g. `arn:aws:s3:::bucket/prefix/*`).
pub fn write_output_statement(resources: &[String]) -> Statement {
    build(
        SID_WRITE_OUTPUT,
        None,
        vec![WRITE_ACTION.into()],
        Some(canonical(resources)),
    )
}
/// `Allow` the five KMS actions to `Principal {"AWS": role_arns}`, `Resource "*"`.
pub fn key_statement(role_arns: &[String]) -> Statement {
    build(
        SID_KMS,
        Some(Principal::Map(vec![("AWS".into(), canonical(role_arns))])),
        KMS_ACTIONS.iter().map(|a| a.to_string()).collect(),
        Some(vec!["*".into()]),
    )
}
/// `AllowedMethods [GET]`, `AllowedOrigins [*]`.
pub fn cors_rule() -> CorsRule {
    CorsRule {
        allowed_methods: vec!["GET".into()],
        allowed_origins: vec!["*".into()],
        ..CorsRule::default()
    }
}

/// Sorted, without duplicates.
fn canonical(values: &[String]) -> Vec<String> {
    let mut v = values.to_vec();
    v.sort();
    v.dedup();
    v
}

fn build(
    sid: &str,
    principal: Option<Principal>,
    action: Vec<String>,
    resource: Option<Vec<String>>,
) -> Statement {
    Statement {
        sid: Some(sid.into()),
        effect: Effect::Allow,
        principal,
        not_principal: None,
        action: Some(action),
        not_action: None,
        resource,
        not_resource: None,
        condition: None,
        raw: serde_json::Value::Null,
    }
    .with_raw()
}
