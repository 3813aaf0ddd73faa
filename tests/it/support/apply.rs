//! The harness of the `apply::execute` tests: a realistically broken
//! account (seeded through the second client), the plan that fixes it built
//! the way the planner builds one, and options with short timings. What
//! apply wrote is read back with [`Seed::read`](crate::support::Seed::read),
//! never through `state`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use a2i_fix::apply::{ApplyOptions, Identity};
use a2i_fix::aws::Clients;
use a2i_fix::model::{Action, PrincipalKind, Target, address, digest, fingerprint};
use a2i_fix::plan::{self, Change, Plan, Summary};

use crate::support::{
    ACCOUNT_ID, CALLER_ROLE, FLOW_ROLE, FULL_ACCESS, INPUT, LAMBDA_TRUST, OWNED, PREVIEW_ROLE,
    REGION, Seed, cors_rule, json, pretty, root_only_key_policy,
};

/// The scenario's caller is a *user* that carries the caller role's name.
pub const CALLER: &str = CALLER_ROLE;
/// An unrelated inline policy of the flow role (must survive every apply).
pub const OTHER_INLINE: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Logs","Effect":"Allow","Action":"logs:*","Resource":"*"}]}"#;

/// moto's caller.
pub fn identity() -> Identity {
    Identity {
        account_id: ACCOUNT_ID.to_string(),
        arn: format!("arn:aws:iam::{ACCOUNT_ID}:user/moto"),
    }
}

/// Options for tests: journal in `dir`, moto's identity, short timings.
pub fn options(dir: &Path) -> ApplyOptions {
    let mut o = ApplyOptions::new(identity());
    o.backup_dir = dir.to_path_buf();
    o.kms_retry_budget = Duration::ZERO;
    o.verify_timeout = Duration::from_secs(5);
    o
}

/// A change as the planner would make it: the current document read now,
/// its fingerprint, the document to write and its digest.
pub async fn change(clients: &Clients, target: Target, after: &str) -> Change {
    let current = a2i_fix::state::read_current(clients, &target)
        .await
        .expect("reading the current document");
    Change {
        address: address(&target),
        action: if current.is_some() {
            Action::Update
        } else {
            Action::Create
        },
        target,
        requirements: vec!["R1".into()],
        reason: "test".into(),
        before_fingerprint: fingerprint(current.as_deref()),
        before: current,
        after_digest: digest(after),
        after: Some(after.to_string()),
        replaced_sids: vec![],
    }
}

pub fn plan_of(changes: Vec<Change>) -> Plan {
    let count = |a| changes.iter().filter(|c: &&Change| c.action == a).count();
    Plan {
        format_version: plan::FORMAT_VERSION,
        account_id: ACCOUNT_ID.to_string(),
        region: REGION.to_string(),
        spec_hash: "sha256:test".into(),
        summary: Summary {
            add: count(Action::Create),
            change: count(Action::Update),
            destroy: 0,
        },
        changes,
        warnings: vec![],
        api_calls: BTreeMap::new(),
    }
}

// ---------------------------------------------------------------------------
// A realistically broken A2I account and the plan that fixes it.

pub struct Scenario {
    pub role_arn: String,
    pub key_id: String,
    pub key_arn: String,
}

/// An unrelated CORS rule on the input bucket, a flow role that trusts only
/// Lambda (with an unrelated inline policy), a caller without A2I access,
/// and a key whose policy has only the root statement.
pub async fn broken_account(account: &Seed) -> Scenario {
    account
        .bucket_with_cors(INPUT, &[cors_rule(&["PUT"], &["https://app.example.com"])])
        .await;
    let role_arn = account.role(FLOW_ROLE, LAMBDA_TRUST).await;
    account
        .inline_policy(FLOW_ROLE, "other", OTHER_INLINE)
        .await;
    account.user(CALLER).await;
    let (key_id, key_arn) = account.key(Some(&root_only_key_policy())).await;
    Scenario {
        role_arn,
        key_id,
        key_arn,
    }
}

pub fn cors_after() -> String {
    pretty(serde_json::json!({"CORSRules": [
        {"AllowedMethods": ["PUT"], "AllowedOrigins": ["https://app.example.com"]},
        {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}
    ]}))
}

pub fn trust_after() -> String {
    pretty(serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"},
        {"Sid": "AllowSageMakerToAssumeRole", "Effect": "Allow",
         "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]}))
}

pub fn sagemaker_trust() -> String {
    pretty(serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "AllowSageMakerToAssumeRole", "Effect": "Allow",
         "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]}))
}

pub fn s3_grants() -> String {
    pretty(serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "AllowA2IReadInput", "Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": [format!("arn:aws:s3:::{INPUT}/*")]},
        {"Sid": "AllowA2IWriteOutput", "Effect": "Allow", "Action": ["s3:PutObject"],
         "Resource": ["arn:aws:s3:::acme-a2i-output/reviews/*"]}
    ]}))
}

pub fn key_after(role_arn: &str) -> String {
    let mut v = json(&root_only_key_policy());
    if let Some(statements) = v["Statement"].as_array_mut() {
        statements.push(serde_json::json!({
            "Sid": "AllowUseOfKmsKey", "Effect": "Allow", "Principal": {"AWS": role_arn},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
            "Resource": "*"
        }));
    }
    pretty(v)
}

pub fn flow_trust() -> Target {
    Target::TrustPolicy {
        role: FLOW_ROLE.into(),
    }
}
pub fn flow_owned() -> Target {
    Target::InlinePolicy {
        role: FLOW_ROLE.into(),
        policy_name: OWNED.into(),
    }
}
pub fn new_role() -> Target {
    Target::Role {
        name: PREVIEW_ROLE.into(),
        path: "/".into(),
    }
}
pub fn new_role_owned() -> Target {
    Target::InlinePolicy {
        role: PREVIEW_ROLE.into(),
        policy_name: OWNED.into(),
    }
}
pub fn caller_attachment() -> Target {
    Target::Attachment {
        kind: PrincipalKind::User,
        name: CALLER.into(),
        policy_arn: FULL_ACCESS.into(),
    }
}
pub fn key_target(s: &Scenario) -> Target {
    Target::KeyPolicy {
        key_id: s.key_id.clone(),
        key_arn: s.key_arn.clone(),
    }
}
pub fn cors_target() -> Target {
    Target::BucketCors {
        bucket: INPUT.into(),
    }
}

/// The plan that fixes [`broken_account`], as the planner would build it
/// (in the planner's order: buckets first, to show apply reorders).
pub async fn fix_plan(clients: &Clients, s: &Scenario) -> Plan {
    plan_of(vec![
        change(clients, cors_target(), &cors_after()).await,
        change(clients, key_target(s), &key_after(&s.role_arn)).await,
        change(
            clients,
            caller_attachment(),
            &serde_json::Value::String(FULL_ACCESS.into()).to_string(),
        )
        .await,
        change(clients, flow_owned(), &s3_grants()).await,
        change(clients, new_role_owned(), &s3_grants()).await,
        change(clients, flow_trust(), &trust_after()).await,
        change(clients, new_role(), &sagemaker_trust()).await,
    ])
}
