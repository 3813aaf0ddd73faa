//! A small harness for the apply tests: one moto server per test, clients
//! for the code under test, and an *independent* client set that seeds the
//! account and reads it back with plain SDK calls (not through
//! `state::read_current`, so a bug there cannot hide a bug in apply).
//!
//! The moto server itself is the shared harness's (`tests/common`).

#![allow(dead_code)]

pub mod fake_kms;

#[path = "../common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use a2i_fix::apply::{ApplyOptions, Identity};
use a2i_fix::aws::Clients;
use a2i_fix::plan::{self, Action, Change, Plan, Summary, Target};

pub const ACCOUNT_ID: &str = "123456789012";
pub const REGION: &str = "us-east-1";

pub const LAMBDA_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

pub fn root_only_key_policy() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Id":"key-default-1","Statement":[{{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT_ID}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    )
}

/// The moto server of the shared harness (`tests/common`): one per test.
pub use common::Moto;

/// Clients pointed at `endpoint` with fixed test credentials, built the way
/// the CLI builds them (so API calls are counted by the SDK interceptor).
pub async fn clients_for(endpoint: &str) -> Clients {
    let options = a2i_fix::aws::AwsOptions {
        profile: None,
        region: Some(REGION.to_string()),
        endpoint_url: Some(endpoint.to_string()),
    };
    a2i_fix::aws::connect_with_credentials(&options, "testing", "testing")
        .await
        .expect("building clients")
}

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

/// Addresses as the planner writes them.
pub use a2i_fix::plan::address;

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
        before_fingerprint: plan::fingerprint(current.as_deref()),
        before: current,
        after_digest: plan::digest(after),
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

/// Seeding and reading back, with plain SDK calls.
pub struct Account {
    pub c: Clients,
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

impl Account {
    pub async fn new(moto: &Moto) -> Account {
        Account {
            c: moto.clients().await,
        }
    }

    pub async fn bucket_with_cors(&self, name: &str, rules: &[(&[&str], &[&str])]) {
        self.c
            .s3
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .expect("create bucket");
        if !rules.is_empty() {
            self.bucket_cors_only(name, rules).await;
        }
    }

    /// Replace the CORS configuration of an existing bucket.
    pub async fn bucket_cors_only(&self, name: &str, rules: &[(&[&str], &[&str])]) {
        let rules = rules
            .iter()
            .map(|(methods, origins)| {
                aws_sdk_s3::types::CorsRule::builder()
                    .set_allowed_methods(Some(methods.iter().map(|s| s.to_string()).collect()))
                    .set_allowed_origins(Some(origins.iter().map(|s| s.to_string()).collect()))
                    .build()
                    .expect("cors rule")
            })
            .collect();
        let config = aws_sdk_s3::types::CorsConfiguration::builder()
            .set_cors_rules(Some(rules))
            .build()
            .expect("cors configuration");
        self.c
            .s3
            .put_bucket_cors()
            .bucket(name)
            .cors_configuration(config)
            .send()
            .await
            .expect("put cors");
    }

    pub async fn role(&self, name: &str, trust: &str) -> String {
        let out = self
            .c
            .iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust)
            .send()
            .await
            .expect("create role");
        out.role.map(|r| r.arn).expect("role arn")
    }

    pub async fn inline_policy(&self, role: &str, name: &str, document: &str) {
        self.c
            .iam
            .put_role_policy()
            .role_name(role)
            .policy_name(name)
            .policy_document(document)
            .send()
            .await
            .expect("put role policy");
    }

    pub async fn user(&self, name: &str) {
        self.c
            .iam
            .create_user()
            .user_name(name)
            .send()
            .await
            .expect("create user");
    }

    pub async fn key(&self, policy: &str) -> (String, String) {
        let out = self
            .c
            .kms
            .create_key()
            .policy(policy)
            .send()
            .await
            .expect("create key");
        let meta = out.key_metadata.expect("key metadata");
        (meta.key_id.clone(), meta.arn.clone().expect("key arn"))
    }

    /// CORS rules as `(methods, origins)`; `None` without a configuration.
    pub async fn cors(&self, bucket: &str) -> Option<Vec<(Vec<String>, Vec<String>)>> {
        match self.c.s3.get_bucket_cors().bucket(bucket).send().await {
            Ok(out) => Some(
                out.cors_rules()
                    .iter()
                    .map(|r| (r.allowed_methods().to_vec(), r.allowed_origins().to_vec()))
                    .collect(),
            ),
            Err(e) => {
                let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&e).map(str::to_string);
                assert_eq!(
                    code.as_deref(),
                    Some("NoSuchCORSConfiguration"),
                    "get bucket cors: {e:?}"
                );
                None
            }
        }
    }

    /// The decoded trust policy, `None` when the role does not exist.
    pub async fn trust(&self, role: &str) -> Option<String> {
        match self.c.iam.get_role().role_name(role).send().await {
            Ok(out) => out
                .role
                .and_then(|r| r.assume_role_policy_document)
                .map(|d| decode(&d)),
            Err(_) => None,
        }
    }

    pub async fn inline_policies(&self, role: &str) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        let Ok(list) = self.c.iam.list_role_policies().role_name(role).send().await else {
            return map;
        };
        for name in list.policy_names() {
            let out = self
                .c
                .iam
                .get_role_policy()
                .role_name(role)
                .policy_name(name)
                .send()
                .await
                .expect("get role policy");
            map.insert(name.clone(), decode(&out.policy_document));
        }
        map
    }

    pub async fn user_policies(&self, user: &str) -> Vec<String> {
        match self
            .c
            .iam
            .list_attached_user_policies()
            .user_name(user)
            .send()
            .await
        {
            Ok(out) => out
                .attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn.clone())
                .collect(),
            Err(_) => vec![],
        }
    }

    pub async fn role_policies(&self, role: &str) -> Vec<String> {
        match self
            .c
            .iam
            .list_attached_role_policies()
            .role_name(role)
            .send()
            .await
        {
            Ok(out) => out
                .attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn.clone())
                .collect(),
            Err(_) => vec![],
        }
    }

    pub async fn key_policy(&self, key_id: &str) -> String {
        let out = self
            .c
            .kms
            .get_key_policy()
            .key_id(key_id)
            .policy_name("default")
            .send()
            .await
            .expect("get key policy");
        out.policy.expect("policy text")
    }
}

/// Parse JSON text for comparisons in tests.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The journal files in `dir`.
pub fn journals(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut v: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------
// A realistically broken A2I account and the plan that fixes it.

pub const INPUT: &str = "acme-a2i-input";
pub const FLOW_ROLE: &str = "A2IFlowRole";
pub const NEW_ROLE: &str = "A2IPreviewRole";
pub const CALLER: &str = "ml-app";
pub const OWNED: &str = "a2i-fix-permissions";
pub const FULL_ACCESS: &str = "arn:aws:iam::aws:policy/AmazonAugmentedAIFullAccess";
pub const OTHER_INLINE: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Logs","Effect":"Allow","Action":"logs:*","Resource":"*"}]}"#;

pub struct Scenario {
    pub role_arn: String,
    pub key_id: String,
    pub key_arn: String,
}

/// An unrelated CORS rule on the input bucket, a flow role that trusts only
/// Lambda (with an unrelated inline policy), a caller without A2I access,
/// and a key whose policy has only the root statement.
pub async fn broken_account(account: &Account) -> Scenario {
    account
        .bucket_with_cors(INPUT, &[(&["PUT"], &["https://app.example.com"])])
        .await;
    let role_arn = account.role(FLOW_ROLE, LAMBDA_TRUST).await;
    account
        .inline_policy(FLOW_ROLE, "other", OTHER_INLINE)
        .await;
    account.user(CALLER).await;
    let (key_id, key_arn) = account.key(&root_only_key_policy()).await;
    Scenario {
        role_arn,
        key_id,
        key_arn,
    }
}

pub fn pretty(v: serde_json::Value) -> String {
    serde_json::to_string_pretty(&v).unwrap_or_default()
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
        name: NEW_ROLE.into(),
        path: "/".into(),
    }
}
pub fn new_role_owned() -> Target {
    Target::InlinePolicy {
        role: NEW_ROLE.into(),
        policy_name: OWNED.into(),
    }
}
pub fn caller_attachment() -> Target {
    Target::Attachment {
        kind: a2i_fix::spec::PrincipalKind::User,
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

/// Every document the scenario touches, read with the independent client.
pub async fn snapshot(account: &Account, s: &Scenario) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("cors".into(), format!("{:?}", account.cors(INPUT).await));
    m.insert(
        "trust flow".into(),
        format!("{:?}", account.trust(FLOW_ROLE).await),
    );
    m.insert(
        "inline flow".into(),
        format!("{:?}", account.inline_policies(FLOW_ROLE).await),
    );
    m.insert(
        "trust new".into(),
        format!("{:?}", account.trust(NEW_ROLE).await),
    );
    m.insert(
        "inline new".into(),
        format!("{:?}", account.inline_policies(NEW_ROLE).await),
    );
    m.insert(
        "attached caller".into(),
        format!("{:?}", account.user_policies(CALLER).await),
    );
    m.insert("key".into(), account.key_policy(&s.key_id).await);
    m
}
