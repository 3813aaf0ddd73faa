//! Seeding an account through a second SDK client (never the clients under
//! test, so seeding calls are not counted), and the seeded accounts the
//! tests share: "nothing set up" and "realistically broken".

use a2i_fix::aws::Clients;
use a2i_fix::policy::CorsRule;

use crate::support::{
    ACCOUNT_ID, CALLER_ROLE, CALLER_USER, FLOW_ROLE, FULL_ACCESS, INPUT, INTEGRATED_API, KEY_ALIAS,
    LAMBDA_TRUST, MECHANICAL_TURK, OUTPUT, PREVIEW_ROLE, RECEIPTS, S3_READ_ONLY,
};

/// Seed helpers: create resources in moto, panicking with context on failure.
pub struct Seed {
    pub c: Clients,
}

fn sdk_cors_rule(rule: &CorsRule) -> aws_sdk_s3::types::CorsRule {
    aws_sdk_s3::types::CorsRule::builder()
        .set_id(rule.id.clone())
        .set_allowed_headers(Some(rule.allowed_headers.clone()).filter(|h| !h.is_empty()))
        .set_allowed_methods(Some(rule.allowed_methods.clone()))
        .set_allowed_origins(Some(rule.allowed_origins.clone()))
        .set_expose_headers(Some(rule.expose_headers.clone()).filter(|h| !h.is_empty()))
        .set_max_age_seconds(rule.max_age_seconds)
        .build()
        .expect("a valid CORS rule")
}

/// A CORS rule with the given methods and origins.
pub fn cors_rule(methods: &[&str], origins: &[&str]) -> CorsRule {
    CorsRule {
        allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
        allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
        ..CorsRule::default()
    }
}

impl Seed {
    pub async fn bucket(&self, name: &str) {
        self.c
            .s3
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create bucket {name}: {e:?}"));
    }

    pub async fn bucket_with_cors(&self, name: &str, rules: &[CorsRule]) {
        self.bucket(name).await;
        self.put_cors(name, rules).await;
    }

    pub async fn put_cors(&self, bucket: &str, rules: &[CorsRule]) {
        let config = aws_sdk_s3::types::CorsConfiguration::builder()
            .set_cors_rules(Some(rules.iter().map(sdk_cors_rule).collect()))
            .build()
            .expect("a valid CORS configuration");
        self.c
            .s3
            .put_bucket_cors()
            .bucket(bucket)
            .cors_configuration(config)
            .send()
            .await
            .unwrap_or_else(|e| panic!("put CORS on {bucket}: {e:?}"));
    }

    /// Default encryption SSE-KMS with `key_id`.
    pub async fn bucket_kms_encryption(&self, bucket: &str, key_id: &str) {
        use aws_sdk_s3::types::{
            ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
            ServerSideEncryptionRule,
        };
        let default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::AwsKms)
            .kms_master_key_id(key_id)
            .build()
            .expect("valid encryption default");
        let config = ServerSideEncryptionConfiguration::builder()
            .rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(default)
                    .build(),
            )
            .build()
            .expect("valid encryption configuration");
        self.c
            .s3
            .put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(config)
            .send()
            .await
            .unwrap_or_else(|e| panic!("put encryption on {bucket}: {e:?}"));
    }

    /// Create a role at path `/`; returns its ARN.
    pub async fn role(&self, name: &str, trust: &str) -> String {
        self.role_at("/", name, trust).await
    }

    pub async fn role_at(&self, path: &str, name: &str, trust: &str) -> String {
        let out = self
            .c
            .iam
            .create_role()
            .path(path)
            .role_name(name)
            .assume_role_policy_document(trust)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create role {name}: {e:?}"));
        out.role
            .map(|r| r.arn)
            .unwrap_or_else(|| panic!("create role {name}: no role in the response"))
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
            .unwrap_or_else(|e| panic!("put inline policy {name} on {role}: {e:?}"));
    }

    pub async fn attach_role_policy(&self, role: &str, policy_arn: &str) {
        self.c
            .iam
            .attach_role_policy()
            .role_name(role)
            .policy_arn(policy_arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("attach {policy_arn} to role {role}: {e:?}"));
    }

    /// Create a customer-managed policy; returns its ARN.
    pub async fn managed_policy(&self, name: &str, document: &str) -> String {
        let out = self
            .c
            .iam
            .create_policy()
            .policy_name(name)
            .policy_document(document)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create policy {name}: {e:?}"));
        out.policy
            .and_then(|p| p.arn)
            .unwrap_or_else(|| panic!("create policy {name}: no ARN in the response"))
    }

    /// Create a user; returns its ARN.
    pub async fn user(&self, name: &str) -> String {
        let out = self
            .c
            .iam
            .create_user()
            .user_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create user {name}: {e:?}"));
        out.user
            .map(|u| u.arn)
            .unwrap_or_else(|| panic!("create user {name}: no user in the response"))
    }

    pub async fn attach_user_policy(&self, user: &str, policy_arn: &str) {
        self.c
            .iam
            .attach_user_policy()
            .user_name(user)
            .policy_arn(policy_arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("attach {policy_arn} to user {user}: {e:?}"));
    }

    /// Create a customer-managed key (with `policy`, or moto's default
    /// root-only policy); returns `(key_id, key_arn)`.
    pub async fn key(&self, policy: Option<&str>) -> (String, String) {
        let out = self
            .c
            .kms
            .create_key()
            .set_policy(policy.map(str::to_string))
            .description("a2i-fix test key")
            .send()
            .await
            .unwrap_or_else(|e| panic!("create key: {e:?}"));
        let meta = out
            .key_metadata
            .unwrap_or_else(|| panic!("create key: no metadata in the response"));
        let arn = meta
            .arn
            .clone()
            .unwrap_or_else(|| panic!("create key: no ARN in the response"));
        (meta.key_id, arn)
    }

    /// `alias` with the `alias/` prefix.
    pub async fn alias(&self, alias: &str, key_id: &str) {
        self.c
            .kms
            .create_alias()
            .alias_name(alias)
            .target_key_id(key_id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create alias {alias}: {e:?}"));
    }

    pub async fn key_policy(&self, key_id: &str, policy: &str) {
        self.c
            .kms
            .put_key_policy()
            .key_id(key_id)
            .policy_name("default")
            .policy(policy)
            .send()
            .await
            .unwrap_or_else(|e| panic!("put key policy on {key_id}: {e:?}"));
    }
}

/// A key policy with only the account-root statement.
pub fn root_only_key_policy() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Id":"key-default-1","Statement":[{{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT_ID}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    )
}

/// A key policy: the root statement plus an unrelated grant to the caller
/// role (which every apply must keep).
pub fn seeded_key_policy() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Id":"key-default-1","Statement":[{{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT_ID}:root"}},"Action":"kms:*","Resource":"*"}},{{"Sid":"AuditorsMayDescribe","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT_ID}:role/{CALLER_ROLE}"}},"Action":["kms:DescribeKey","kms:GetKeyPolicy"],"Resource":"*"}}]}}"#
    )
}

/// An unrelated inline policy of the flow role (must survive every apply).
pub const WRITE_LOGS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["logs:CreateLogStream","logs:PutLogEvents"],"Resource":"arn:aws:logs:us-east-1:123456789012:log-group:/acme/*"}]}"#;

/// What [`seed_broken_account`] created that tests need to name.
pub struct Seeded {
    pub key_id: String,
}

/// One account that every `plans/` example finds broken (the names of
/// `plans/README.md`), with something unrelated on each resource that every
/// apply must keep:
/// - `acme-a2i-input`: a CORS rule for an upload page (ID, headers, max age);
/// - `acme-a2i-receipts`: a CORS rule allowing GET, but not from `*`;
/// - `acme-a2i-output`: exists;
/// - `A2IFlowRole` (unless `with_flow_role` is false) and `A2IPreviewRole`:
///   trust only Lambda; the flow role has an inline policy for its logs;
/// - caller role `ml-app` and caller user `invoice-bot`: an unrelated
///   managed policy each;
/// - the key behind `alias/a2i-output`: root statement and an auditors'
///   statement.
pub async fn seed_broken_account(moto: &crate::support::Moto, with_flow_role: bool) -> Seeded {
    let seed = moto.seed().await;
    let upload = CorsRule {
        id: Some("web-uploads".into()),
        allowed_headers: vec!["*".into()],
        allowed_methods: vec!["PUT".into(), "POST".into()],
        allowed_origins: vec!["https://upload.acme.example".into()],
        expose_headers: vec!["ETag".into()],
        max_age_seconds: Some(3000),
    };
    seed.bucket_with_cors(INPUT, &[upload]).await;
    seed.bucket_with_cors(
        RECEIPTS,
        &[cors_rule(&["GET"], &["https://receipts.acme.example"])],
    )
    .await;
    seed.bucket(OUTPUT).await;
    if with_flow_role {
        seed.role(FLOW_ROLE, LAMBDA_TRUST).await;
        seed.inline_policy(FLOW_ROLE, "write-logs", WRITE_LOGS)
            .await;
    }
    seed.role(PREVIEW_ROLE, LAMBDA_TRUST).await;
    seed.role(CALLER_ROLE, LAMBDA_TRUST).await;
    seed.attach_role_policy(CALLER_ROLE, S3_READ_ONLY).await;
    seed.user(CALLER_USER).await;
    seed.attach_user_policy(CALLER_USER, S3_READ_ONLY).await;
    let (key_id, _) = seed.key(Some(&seeded_key_policy())).await;
    seed.alias(KEY_ALIAS, &key_id).await;
    Seeded { key_id }
}

/// "Nothing set up": the buckets, the callers, the preview role (trusting
/// only Lambda) and the key (root-only policy) exist, with no permission for
/// A2I anywhere; the flow role does not exist. Returns the key id.
pub async fn seed_nothing(s: &Seed) -> String {
    for bucket in [INPUT, RECEIPTS, OUTPUT] {
        s.bucket(bucket).await;
    }
    s.role(PREVIEW_ROLE, LAMBDA_TRUST).await;
    s.role(CALLER_ROLE, LAMBDA_TRUST).await;
    s.user(CALLER_USER).await;
    let (key_id, _) = s.key(Some(&root_only_key_policy())).await;
    s.alias(KEY_ALIAS, &key_id).await;
    key_id
}

/// Attach what every example's callers need (R6, R7, R8 in
/// `docs/requirements.md`).
pub async fn attach_all_caller_policies(s: &Seed) {
    for arn in [FULL_ACCESS, INTEGRATED_API, MECHANICAL_TURK] {
        s.attach_role_policy(CALLER_ROLE, arn).await;
    }
    s.attach_user_policy(CALLER_USER, INTEGRATED_API).await;
}

pub async fn update_trust(s: &Seed, role: &str, document: &str) {
    s.c.iam
        .update_assume_role_policy()
        .role_name(role)
        .policy_document(document)
        .send()
        .await
        .unwrap_or_else(|e| panic!("update trust policy of {role}: {e:?}"));
}
