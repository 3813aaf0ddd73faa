//! Every `plans/` example, through the real binary against moto server, in
//! five starting states:
//!
//! - (a) nothing set up: every requirement is planned, the missing flow role
//!   as a create;
//! - (b) everything already right (the account as the plan's own `after`
//!   documents leave it): no changes, exit 0 with `--detailed-exitcode`;
//! - (c) already right but written differently (string vs list, other case,
//!   other order, broader grants inline or in a managed policy, account id
//!   for the root, wider CORS rules): still no changes;
//! - (d) partially right: only the missing changes, exit 2;
//! - (e) blocked by a Deny: a warning, not a change.
//!
//! `plan` only reads, so each state except (b) is built once on a server
//! shared by the six examples (see `support::shared`); every test of a shared
//! state also checks that the run wrote nothing. (b) writes, so each example
//! gets a server of its own.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use crate::support::plan_json::*;
use crate::support::*;
use crate::support::{ACCOUNT_ID, SAGEMAKER_TRUST, cors_rule};
use a2i_fix::policy::CorsRule;
use serde_json::{Value, json};

/// One test per example for a check `fn(&str)`, in a module named after the
/// behaviour.
macro_rules! for_each_example {
    ($check:ident) => {
        #[test]
        fn custom_task() {
            super::$check("custom-task.toml")
        }
        #[test]
        fn kms_output() {
            super::$check("kms-output.toml")
        }
        #[test]
        fn public_workforce() {
            super::$check("public-workforce.toml")
        }
        #[test]
        fn rekognition() {
            super::$check("rekognition.toml")
        }
        #[test]
        fn shared_role() {
            super::$check("shared-role.toml")
        }
        #[test]
        fn textract() {
            super::$check("textract.toml")
        }
    };
}

#[test]
fn every_example_in_plans_is_tested() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plans");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .expect("reading plans/")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    found.sort();
    assert_eq!(
        found, EXAMPLES,
        "add the new example to EXAMPLES and to for_each_example!"
    );
}

/// What each example asks of the account (from its comments and
/// `plans/README.md`): the S3 grants by role, as `(action, resource)`.
struct Asks {
    flow_reads: &'static [&'static str],
    /// Prefixes under `acme-a2i-output/`.
    flow_writes: &'static [&'static str],
    preview_reads: &'static [&'static str],
}

fn asks(example: &str) -> Asks {
    let (flow_reads, flow_writes, preview_reads): (&[&str], &[&str], &[&str]) = match example {
        "custom-task.toml" => (&[INPUT], &["reviews"], &[INPUT]),
        "kms-output.toml" => (&[INPUT], &["claims"], &[]),
        "public-workforce.toml" => (&[INPUT], &["sentiment"], &[]),
        "rekognition.toml" => (&[INPUT], &["moderation"], &[]),
        "shared-role.toml" => (
            &[INPUT, RECEIPTS],
            &["id-checks", "invoices", "receipts"],
            &[RECEIPTS],
        ),
        "textract.toml" => (&[INPUT], &["textract"], &[]),
        other => panic!("no expectations for example `{other}`"),
    };
    Asks {
        flow_reads,
        flow_writes,
        preview_reads,
    }
}

fn reads(buckets: &[&str]) -> Vec<(String, String)> {
    buckets
        .iter()
        .map(|b| ("s3:getobject".to_string(), format!("arn:aws:s3:::{b}/*")))
        .collect()
}

fn writes(prefixes: &[&str]) -> Vec<(String, String)> {
    prefixes
        .iter()
        .map(|p| {
            (
                "s3:putobject".to_string(),
                format!("arn:aws:s3:::{OUTPUT}/{p}/*"),
            )
        })
        .collect()
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

fn row(address: &str, action: &str, reqs: &[&str]) -> (String, String, Vec<String>) {
    (
        address.to_string(),
        action.to_string(),
        reqs.iter().map(|r| r.to_string()).collect(),
    )
}

const FLOW_ROLE_ADDR: &str = "aws_iam_role.A2IFlowRole";
const PREVIEW_ROLE_ADDR: &str = "aws_iam_role.A2IPreviewRole";
const FLOW_POLICY_ADDR: &str = "aws_iam_role_policy.A2IFlowRole:a2i-fix-permissions";
const PREVIEW_POLICY_ADDR: &str = "aws_iam_role_policy.A2IPreviewRole:a2i-fix-permissions";
const ML_APP_FULL: &str = "aws_iam_role_policy_attachment.ml-app:AmazonAugmentedAIFullAccess";
const ML_APP_INTEGRATED: &str =
    "aws_iam_role_policy_attachment.ml-app:AmazonAugmentedAIIntegratedAPIAccess";
const ML_APP_TURK: &str =
    "aws_iam_role_policy_attachment.ml-app:AmazonSageMakerMechanicalTurkAccess";
const BOT_INTEGRATED: &str =
    "aws_iam_user_policy_attachment.invoice-bot:AmazonAugmentedAIIntegratedAPIAccess";
const CORS_INPUT: &str = "aws_s3_bucket_cors_configuration.acme-a2i-input";
const CORS_RECEIPTS: &str = "aws_s3_bucket_cors_configuration.acme-a2i-receipts";

/// Output `plan` on a shared (read-only) account: text with
/// `--detailed-exitcode` and JSON, checking that neither wrote anything.
fn plan_read_only(account: &SeededServer, example_file: &str, text_code: i32) -> (Output, Value) {
    let spec = example(example_file);
    let text = plan(&account.moto, &spec, &["--detailed-exitcode"]).expect_code(text_code);
    let json = plan_json(&account.moto, &spec);
    account.assert_unchanged("`plan`");
    (text, json)
}

fn assert_no_changes(text: &Output, json: &Value) {
    assert!(
        text.stdout
            .contains("No changes. A2I permissions are up to date."),
        "expected no changes:\n{}",
        text.stdout
    );
    assert!(!text.stdout.contains("Plan:"), "{}", text.stdout);
    assert_eq!(json["changes"], json!([]), "{json:#}");
    assert_eq!(
        json["summary"],
        json!({"add": 0, "change": 0, "destroy": 0}),
        "{json:#}"
    );
}

fn assert_summary_line(text: &Output, json: &Value) {
    let add = json["summary"]["add"].as_u64().unwrap_or(u64::MAX);
    let change = json["summary"]["change"].as_u64().unwrap_or(u64::MAX);
    let line = format!("Plan: {add} to add, {change} to change, 0 to destroy.");
    assert!(
        text.stdout.contains(&line),
        "no `{line}` in:\n{}",
        text.stdout
    );
    let rows = summary_rows(json);
    let creates = rows.iter().filter(|r| r.1 == "create").count() as u64;
    let updates = rows.iter().filter(|r| r.1 == "update").count() as u64;
    assert_eq!((add, change), (creates, updates), "summary vs changes");
    for (address, _, _) in &rows {
        assert!(
            text.stdout.contains(&format!("# {address} will be")),
            "text plan lacks `{address}`:\n{}",
            text.stdout
        );
    }
}

// ---------------------------------------------------------------------------
// (a) nothing set up
// ---------------------------------------------------------------------------

fn expected_from_nothing(example: &str, key: &str) -> Vec<(String, String, Vec<String>)> {
    match example {
        "custom-task.toml" => vec![
            row(FLOW_ROLE_ADDR, "create", &["R4"]),
            row(PREVIEW_ROLE_ADDR, "update", &["R4"]),
            row(FLOW_POLICY_ADDR, "create", &["R2", "R3"]),
            row(PREVIEW_POLICY_ADDR, "create", &["R9"]),
            row(ML_APP_FULL, "create", &["R6"]),
            row(CORS_INPUT, "create", &["R1"]),
        ],
        "kms-output.toml" => vec![
            row(FLOW_ROLE_ADDR, "create", &["R4"]),
            row(FLOW_POLICY_ADDR, "create", &["R2", "R3"]),
            row(ML_APP_FULL, "create", &["R6"]),
            row(key, "update", &["R5"]),
            row(CORS_INPUT, "create", &["R1"]),
        ],
        "public-workforce.toml" => vec![
            row(FLOW_ROLE_ADDR, "create", &["R4"]),
            row(FLOW_POLICY_ADDR, "create", &["R2", "R3"]),
            row(ML_APP_FULL, "create", &["R6"]),
            row(ML_APP_TURK, "create", &["R8"]),
            row(CORS_INPUT, "create", &["R1"]),
        ],
        "rekognition.toml" => vec![
            row(FLOW_ROLE_ADDR, "create", &["R4"]),
            row(FLOW_POLICY_ADDR, "create", &["R2", "R3"]),
            row(ML_APP_INTEGRATED, "create", &["R7"]),
            row(CORS_INPUT, "create", &["R1"]),
        ],
        "shared-role.toml" => vec![
            row(FLOW_ROLE_ADDR, "create", &["R4"]),
            row(PREVIEW_ROLE_ADDR, "update", &["R4"]),
            row(FLOW_POLICY_ADDR, "create", &["R2", "R3"]),
            row(PREVIEW_POLICY_ADDR, "create", &["R9"]),
            row(ML_APP_FULL, "create", &["R6"]),
            row(ML_APP_INTEGRATED, "create", &["R7"]),
            row(key, "update", &["R5"]),
            row(CORS_INPUT, "create", &["R1"]),
            row(CORS_RECEIPTS, "create", &["R1"]),
        ],
        "textract.toml" => vec![
            row(FLOW_ROLE_ADDR, "create", &["R4"]),
            row(FLOW_POLICY_ADDR, "create", &["R2", "R3"]),
            row(BOT_INTEGRATED, "create", &["R7"]),
            row(CORS_INPUT, "create", &["R1"]),
        ],
        other => panic!("no expectations for example `{other}`"),
    }
}

fn nothing_set_up_plans_every_requirement(example_file: &str) {
    let account = nothing_set_up();
    let (text, json) = plan_read_only(account, example_file, 2);
    let key = account.key_policy_address();
    assert_eq!(
        summary_rows(&json),
        expected_from_nothing(example_file, &key),
        "{json:#}"
    );
    assert_summary_line(&text, &json);
    assert_eq!(json["warnings"], json!([]), "{json:#}");

    // The documents grant exactly what the example asks, nothing wider.
    let asks = asks(example_file);
    let flow = change(&json, FLOW_POLICY_ADDR).expect("the flow role's policy");
    assert_eq!(
        allowed(&after(flow)),
        sorted([reads(asks.flow_reads), writes(asks.flow_writes)].concat()),
        "{flow:#}"
    );
    match change(&json, PREVIEW_POLICY_ADDR) {
        Some(preview) => assert_eq!(
            allowed(&after(preview)),
            sorted(reads(asks.preview_reads)),
            "{preview:#}"
        ),
        None => assert!(asks.preview_reads.is_empty()),
    }
    // The new role is created where the spec says, assumable by SageMaker.
    let role = change(&json, FLOW_ROLE_ADDR).expect("the flow role");
    assert_eq!(
        role["target"],
        json!({"type": "role", "name": FLOW_ROLE, "path": "/"})
    );
    let trust = after(role);
    assert_eq!(
        trust["Statement"][0]["Principal"]["Service"],
        "sagemaker.amazonaws.com"
    );
    assert_eq!(trust["Statement"][0]["Action"], "sts:AssumeRole");
    // The key policy keeps the root statement and adds the flow role.
    if let Some(key_change) = change(&json, &key) {
        let doc = after(key_change);
        let statements = doc["Statement"].as_array().expect("a statement list");
        assert_eq!(statements.len(), 2, "{doc:#}");
        assert_eq!(statements[0]["Sid"], "Enable IAM User Permissions");
        assert_eq!(statements[1]["Principal"]["AWS"], flow_role_arn());
        assert!(key_change["before"].is_string(), "{key_change:#}");
    }
    // The CORS rule is exactly A2I's.
    for c in changes(&json) {
        if c["target"]["type"] == "bucket_cors" {
            assert_eq!(
                after(c),
                json!({"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]})
            );
            assert_eq!(c["before"], Value::Null);
        }
    }
}

mod nothing_set_up_plans_every_requirement {
    for_each_example!(nothing_set_up_plans_every_requirement);
}

// ---------------------------------------------------------------------------
// (b) everything already right: the plan's own documents, written
// ---------------------------------------------------------------------------

fn account_as_the_plan_leaves_it_has_no_changes(example_file: &str) {
    let account = SeededServer::start(|s| async move { seed_nothing(&s).await });
    let spec = example(example_file);
    let first = plan(&account.moto, &spec, &["--json", "--detailed-exitcode"])
        .expect_code(2)
        .json();
    assert!(!changes(&first).is_empty());
    block_on(async {
        let seed = account.moto.seed().await;
        write_after_documents(&seed, &first).await;
    });

    let text = plan(&account.moto, &spec, &["--detailed-exitcode"]).expect_code(0);
    let json = plan_json(&account.moto, &spec);
    assert_no_changes(&text, &json);
    assert_eq!(json["warnings"], json!([]), "{json:#}");
}

mod account_as_the_plan_leaves_it_has_no_changes {
    for_each_example!(account_as_the_plan_leaves_it_has_no_changes);
}

// ---------------------------------------------------------------------------
// (c) already right, written differently
// ---------------------------------------------------------------------------

/// The output grant of every example, for the union accounts below.
fn all_output_resources() -> Vec<String> {
    ALL_OUTPUT_PREFIXES
        .iter()
        .map(|p| format!("arn:aws:s3:::{OUTPUT}/{p}/*"))
        .collect()
}

/// Every example's needs met, each document written the way a person or AWS
/// might have written it: single strings for one-element lists, upper-case
/// actions, keys and statements in another order, a `Statement` object
/// instead of a list, the account id for the root, CORS with more methods
/// and origins than A2I needs.
async fn seed_right_but_rewritten(s: crate::support::Seed) -> String {
    let key_id = seed_nothing(&s).await;
    s.put_cors(
        INPUT,
        &[
            cors_rule(&["PUT"], &["https://app.example.com"]),
            CorsRule {
                allowed_methods: vec!["HEAD".into(), "GET".into()],
                allowed_origins: vec!["https://review.example.com".into(), "*".into()],
                max_age_seconds: Some(3000),
                ..CorsRule::default()
            },
        ],
    )
    .await;
    s.put_cors(
        RECEIPTS,
        &[CorsRule {
            id: Some("images".into()),
            allowed_methods: vec!["GET".into(), "HEAD".into()],
            allowed_origins: vec!["*".into(), "https://a.example.com".into()],
            ..CorsRule::default()
        }],
    )
    .await;

    let trust = json!({
        "Statement": [
            {"Principal": {"Service": "lambda.amazonaws.com"}, "Effect": "Allow", "Action": "sts:AssumeRole"},
            {"Action": ["STS:AssumeRole"], "Principal": {"Service": ["sagemaker.amazonaws.com"]}, "Effect": "Allow"}
        ],
        "Version": "2012-10-17"
    });
    s.role(FLOW_ROLE, &trust.to_string()).await;
    let mut outputs = all_output_resources();
    outputs.reverse();
    let s3 = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Resource": outputs, "Action": ["s3:putobject"], "Effect": "Allow"},
            {"Effect": "Allow", "Action": "S3:GETOBJECT",
             "Resource": [format!("arn:aws:s3:::{RECEIPTS}/*"), format!("arn:aws:s3:::{INPUT}/*")]}
        ]
    });
    s.inline_policy(FLOW_ROLE, "s3-access", &s3.to_string())
        .await;

    let preview_trust = json!({
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Action": "sts:AssumeRole",
                      "Principal": {"Service": "sagemaker.amazonaws.com"}}
    });
    update_trust(&s, PREVIEW_ROLE, &preview_trust.to_string()).await;
    let preview_read = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{INPUT}/*"), "Effect": "Allow", "Sid": "Input"},
            {"Action": ["s3:getObject"], "Resource": [format!("arn:aws:s3:::{RECEIPTS}/*")], "Effect": "Allow"}
        ]
    });
    s.inline_policy(PREVIEW_ROLE, "preview-read", &preview_read.to_string())
        .await;

    let key_policy = json!({
        "Statement": [
            {"Resource": "*",
             "Action": ["kms:DescribeKey", "KMS:GenerateDataKey*", "kms:reencrypt*", "kms:Decrypt", "kms:Encrypt"],
             "Principal": {"AWS": [flow_role_arn()]}, "Effect": "Allow"},
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
             "Principal": {"AWS": ACCOUNT_ID}, "Action": "kms:*", "Resource": "*"}
        ],
        "Version": "2012-10-17"
    });
    s.key_policy(&key_id, &key_policy.to_string()).await;
    attach_all_caller_policies(&s).await;
    key_id
}

fn right_but_rewritten() -> &'static SeededServer {
    static CELL: OnceLock<SeededServer> = OnceLock::new();
    SeededServer::shared(&CELL, seed_right_but_rewritten)
}

/// Every example's needs met by grants broader than A2I's: `s3:*` on
/// `arn:aws:s3:::*` in a customer managed policy attached to the flow role,
/// `s3:Get*` on `arn:aws:s3:::acme-a2i-*` in an inline policy of the preview
/// role, the key used through IAM (a root-only key policy naming the root by
/// account id, and `kms:*` in the role's own policy), a trust policy that
/// also trusts Lambda, CORS rules allowing more than GET.
async fn seed_right_by_broader_grants(s: crate::support::Seed) -> String {
    let key_id = seed_nothing(&s).await;
    s.put_cors(
        INPUT,
        &[CorsRule {
            allowed_headers: vec!["*".into()],
            allowed_methods: vec!["GET".into(), "PUT".into(), "HEAD".into()],
            allowed_origins: vec!["*".into()],
            expose_headers: vec!["ETag".into()],
            ..CorsRule::default()
        }],
    )
    .await;
    s.put_cors(
        RECEIPTS,
        &[
            cors_rule(&["PUT", "POST"], &["*"]),
            cors_rule(
                &["GET", "HEAD"],
                &["https://review.example.com", "https://*.example.org", "*"],
            ),
        ],
    )
    .await;

    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow",
                       "Principal": {"Service": ["lambda.amazonaws.com", "sagemaker.amazonaws.com"]},
                       "Action": "sts:AssumeRole"}]
    });
    s.role(FLOW_ROLE, &trust.to_string()).await;
    let broad = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::*"}]
    });
    let broad_arn = s.managed_policy("BroadS3", &broad.to_string()).await;
    s.attach_role_policy(FLOW_ROLE, &broad_arn).await;
    let kms = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]
    });
    s.inline_policy(FLOW_ROLE, "use-keys", &kms.to_string())
        .await;

    update_trust(&s, PREVIEW_ROLE, SAGEMAKER_TRUST).await;
    let read = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"],
                       "Resource": "arn:aws:s3:::acme-a2i-*"}]
    });
    s.inline_policy(PREVIEW_ROLE, "broad-read", &read.to_string())
        .await;

    let key_policy = json!({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                       "Principal": {"AWS": ACCOUNT_ID}, "Action": "kms:*", "Resource": "*"}]
    });
    s.key_policy(&key_id, &key_policy.to_string()).await;
    attach_all_caller_policies(&s).await;
    key_id
}

fn right_by_broader_grants() -> &'static SeededServer {
    static CELL: OnceLock<SeededServer> = OnceLock::new();
    SeededServer::shared(&CELL, seed_right_by_broader_grants)
}

fn rewritten_documents_have_no_changes(example_file: &str) {
    let (text, json) = plan_read_only(right_but_rewritten(), example_file, 0);
    assert_no_changes(&text, &json);
    assert_eq!(json["warnings"], json!([]), "{json:#}");
}

mod rewritten_documents_have_no_changes {
    for_each_example!(rewritten_documents_have_no_changes);
}

fn broader_grants_have_no_changes(example_file: &str) {
    let (text, json) = plan_read_only(right_by_broader_grants(), example_file, 0);
    assert_no_changes(&text, &json);
    assert_eq!(json["warnings"], json!([]), "{json:#}");
}

mod broader_grants_have_no_changes {
    for_each_example!(broader_grants_have_no_changes);
}

// ---------------------------------------------------------------------------
// (d) partially right
// ---------------------------------------------------------------------------

/// The flow role exists and trusts SageMaker, and a2i-fix's own policy on it
/// already lets it read `acme-a2i-input` (nothing else); the preview role
/// may read `acme-a2i-input` but trusts only Lambda; `acme-a2i-input` has
/// A2I's CORS rule, `acme-a2i-receipts` none; `ml-app` has
/// AmazonAugmentedAIFullAccess only, `invoice-bot` nothing; the key policy
/// already grants the flow role.
async fn seed_partially_right(s: crate::support::Seed) -> String {
    let key_id = seed_nothing(&s).await;
    s.put_cors(INPUT, &[cors_rule(&["GET"], &["*"])]).await;
    s.role(FLOW_ROLE, SAGEMAKER_TRUST).await;
    let read_input = json!({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "AllowA2IReadInput", "Effect": "Allow", "Action": "s3:GetObject",
                       "Resource": format!("arn:aws:s3:::{INPUT}/*")}]
    })
    .to_string();
    s.inline_policy(FLOW_ROLE, OWNED, &read_input).await;
    s.inline_policy(PREVIEW_ROLE, OWNED, &read_input).await;
    s.attach_role_policy(CALLER_ROLE, FULL_ACCESS).await;
    let key_policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
             "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT_ID}:root")}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "AllowUseOfKmsKey", "Effect": "Allow", "Principal": {"AWS": flow_role_arn()},
             "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
             "Resource": "*"}
        ]
    });
    s.key_policy(&key_id, &key_policy.to_string()).await;
    key_id
}

fn partially_right() -> &'static SeededServer {
    static CELL: OnceLock<SeededServer> = OnceLock::new();
    SeededServer::shared(&CELL, seed_partially_right)
}

fn expected_when_partially_right(example: &str) -> Vec<(String, String, Vec<String>)> {
    match example {
        "custom-task.toml" => vec![
            row(PREVIEW_ROLE_ADDR, "update", &["R4"]),
            row(FLOW_POLICY_ADDR, "update", &["R3"]),
        ],
        "kms-output.toml" => vec![row(FLOW_POLICY_ADDR, "update", &["R3"])],
        "public-workforce.toml" => vec![
            row(FLOW_POLICY_ADDR, "update", &["R3"]),
            row(ML_APP_TURK, "create", &["R8"]),
        ],
        "rekognition.toml" => vec![
            row(FLOW_POLICY_ADDR, "update", &["R3"]),
            row(ML_APP_INTEGRATED, "create", &["R7"]),
        ],
        "shared-role.toml" => vec![
            row(PREVIEW_ROLE_ADDR, "update", &["R4"]),
            row(FLOW_POLICY_ADDR, "update", &["R2", "R3"]),
            row(PREVIEW_POLICY_ADDR, "update", &["R9"]),
            row(ML_APP_INTEGRATED, "create", &["R7"]),
            row(CORS_RECEIPTS, "create", &["R1"]),
        ],
        "textract.toml" => vec![
            row(FLOW_POLICY_ADDR, "update", &["R3"]),
            row(BOT_INTEGRATED, "create", &["R7"]),
        ],
        other => panic!("no expectations for example `{other}`"),
    }
}

fn partially_right_plans_only_what_is_missing(example_file: &str) {
    let (text, json) = plan_read_only(partially_right(), example_file, 2);
    assert_eq!(
        summary_rows(&json),
        expected_when_partially_right(example_file),
        "{json:#}"
    );
    assert_summary_line(&text, &json);
    assert_eq!(json["warnings"], json!([]), "{json:#}");

    // The owned policy grows: what it granted stays, the missing grants join.
    let asks = asks(example_file);
    let flow = change(&json, FLOW_POLICY_ADDR).expect("the flow role's policy");
    let before: Value =
        serde_json::from_str(&str_of(&flow["before"])).expect("`before` is the owned policy");
    assert_eq!(allowed(&before), reads(&[INPUT]));
    let mut wanted = [reads(asks.flow_reads), writes(asks.flow_writes)].concat();
    wanted.extend(reads(&[INPUT]));
    let wanted: BTreeSet<_> = wanted.into_iter().collect();
    assert_eq!(
        allowed(&after(flow)),
        wanted.into_iter().collect::<Vec<_>>(),
        "{flow:#}"
    );
    if let Some(preview) = change(&json, PREVIEW_POLICY_ADDR) {
        assert_eq!(
            allowed(&after(preview)),
            sorted(reads(&[INPUT, RECEIPTS])),
            "{preview:#}"
        );
    }
}

mod partially_right_plans_only_what_is_missing {
    for_each_example!(partially_right_plans_only_what_is_missing);
}

// ---------------------------------------------------------------------------
// (e) blocked by a Deny
// ---------------------------------------------------------------------------

/// Nothing set up, except that the flow role exists (trusting Lambda) with an
/// explicit Deny of `s3:GetObject` on the input, and the preview role has a
/// Deny of `s3:GetObject` on every `acme-a2i-*` bucket under a condition.
/// The other problems a plan cannot fix are there too: the flow role has a
/// permissions boundary that allows S3 but denies every KMS action, the
/// output bucket encrypts with a KMS key no example names, and
/// `acme-a2i-receipts` with the examples' own key (covered for the flow
/// role that uses that key, not for the preview role that reads the bucket).
async fn seed_blocked_by_deny(s: crate::support::Seed) -> String {
    let key_id = seed_nothing(&s).await;
    s.role(FLOW_ROLE, crate::support::LAMBDA_TRUST).await;
    let boundary = s
        .managed_policy(
            "A2IBoundary",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"NoKeys","Effect":"Deny","Action":"kms:*","Resource":"*"}]}"#,
        )
        .await;
    s.c.iam
        .put_role_permissions_boundary()
        .role_name(FLOW_ROLE)
        .permissions_boundary(&boundary)
        .send()
        .await
        .unwrap_or_else(|e| panic!("put permissions boundary: {e:?}"));
    let (_, other_key_arn) = s.key(None).await;
    s.bucket_kms_encryption(OUTPUT, &other_key_arn).await;
    s.bucket_kms_encryption(RECEIPTS, KEY_ALIAS).await;
    let deny = json!({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "NoReadsOfInput", "Effect": "Deny", "Action": "s3:GetObject",
                       "Resource": format!("arn:aws:s3:::{INPUT}/*")}]
    });
    s.inline_policy(FLOW_ROLE, "deny-input-reads", &deny.to_string())
        .await;
    let conditional = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::acme-a2i-*/*",
                       "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]
    });
    s.inline_policy(
        PREVIEW_ROLE,
        "deny-insecure-reads",
        &conditional.to_string(),
    )
    .await;
    key_id
}

fn blocked_by_deny() -> &'static SeededServer {
    static CELL: OnceLock<SeededServer> = OnceLock::new();
    SeededServer::shared(&CELL, seed_blocked_by_deny)
}

fn warnings_about(json: &Value, subject: &str, requirement: &str) -> Vec<String> {
    json["warnings"]
        .as_array()
        .expect("a warnings list")
        .iter()
        .filter(|w| w["subject"] == subject && w["requirement"] == requirement)
        .map(|w| str_of(&w["message"]))
        .collect()
}

fn a_deny_is_a_warning_not_a_change(example_file: &str) {
    let (text, json) = plan_read_only(blocked_by_deny(), example_file, 2);
    let asks = asks(example_file);

    let flow_warnings = warnings_about(&json, "role `A2IFlowRole`", "R2");
    assert_eq!(flow_warnings.len(), 1, "{json:#}");
    assert!(
        flow_warnings[0].contains("explicit Deny"),
        "{}",
        flow_warnings[0]
    );
    // What to do is said once (it was said twice: the engine's reason and
    // the planner's own sentence both told the user to narrow the Deny).
    assert_eq!(
        flow_warnings[0].matches("remove or narrow").count(),
        1,
        "{}",
        flow_warnings[0]
    );
    assert!(
        text.stdout.contains("Warning: role `A2IFlowRole` (R2)"),
        "{}",
        text.stdout
    );

    // The flow role's policy still gets everything else, but no read of the
    // denied input.
    let flow = change(&json, FLOW_POLICY_ADDR).expect("the flow role's policy");
    let denied = (
        "s3:getobject".to_string(),
        format!("arn:aws:s3:::{INPUT}/*"),
    );
    let granted = allowed(&after(flow));
    assert!(!granted.contains(&denied), "{flow:#}");
    let other_reads: Vec<&str> = asks
        .flow_reads
        .iter()
        .copied()
        .filter(|b| *b != INPUT)
        .collect();
    assert_eq!(
        granted,
        sorted([reads(&other_reads), writes(asks.flow_writes)].concat())
    );
    let expected_reqs: &[&str] = if other_reads.is_empty() {
        &["R3"]
    } else {
        &["R2", "R3"]
    };
    assert_eq!(strings(&flow["requirements"]), expected_reqs);
    // The Deny itself is left alone.
    assert!(change(&json, "aws_iam_role_policy.A2IFlowRole:deny-input-reads").is_none());

    // The conditional Deny on the preview role: a warning, no grant.
    let preview_warnings = warnings_about(&json, "role `A2IPreviewRole`", "R9");
    if asks.preview_reads.is_empty() {
        assert!(preview_warnings.is_empty(), "{json:#}");
    } else {
        assert_eq!(preview_warnings.len(), 1, "{json:#}");
        assert!(
            preview_warnings[0].contains("conditional Deny"),
            "{}",
            preview_warnings[0]
        );
        assert!(change(&json, PREVIEW_POLICY_ADDR).is_none(), "{json:#}");
    }
    for c in changes(&json) {
        assert!(
            !strings(&c["requirements"]).contains(&"R9".to_string()),
            "{c:#}"
        );
    }

    // The boundary allows S3, so no S3 need is blocked by it; its Deny on
    // KMS blocks R5 for every example that names a key, and is said there.
    let all = json["warnings"].as_array().expect("a warnings list");
    assert!(
        all.iter()
            .all(|w| !(str_of(&w["message"]).contains("A2IBoundary") && w["requirement"] != "R5")),
        "{json:#}"
    );
    let key_subject = format!("KMS key `{KEY_ALIAS}`");
    let boundary = warnings_about(&json, &key_subject, "R5");
    if matches!(example_file, "kms-output.toml" | "shared-role.toml") {
        assert_eq!(boundary.len(), 1, "{json:#}");
        assert!(boundary[0].contains("A2IBoundary"), "{}", boundary[0]);
        assert!(boundary[0].contains("explicit Deny"), "{}", boundary[0]);
        assert!(
            changes(&json).iter().all(|c| !c["address"]
                .as_str()
                .unwrap_or("")
                .starts_with("aws_kms_key_policy")),
            "{json:#}"
        );
    } else {
        assert!(boundary.is_empty(), "{json:#}");
    }
    // The uncovered default encryption: one warning, with what to do.
    let encryption = warnings_about(&json, "bucket `acme-a2i-output`", "R5");
    assert_eq!(encryption.len(), 1, "{json:#}");
    assert!(encryption[0].contains("SSE-KMS"), "{}", encryption[0]);
    assert!(encryption[0].contains("kms_key"), "{}", encryption[0]);
    // acme-a2i-receipts: its key is the flow role's own, so only the preview
    // role that reads it is not covered.
    let receipts = warnings_about(&json, "bucket `acme-a2i-receipts`", "R5");
    if example_file == "shared-role.toml" {
        assert_eq!(receipts.len(), 1, "{json:#}");
        assert!(receipts[0].contains("`A2IPreviewRole`"), "{}", receipts[0]);
        assert!(!receipts[0].contains("`A2IFlowRole`"), "{}", receipts[0]);
    } else {
        assert!(receipts.is_empty(), "{json:#}");
    }
    // Every warning is printed in the text plan too.
    let printed = text.stdout.matches("Warning: ").count();
    assert_eq!(printed, all.len(), "{}", text.stdout);
}

mod a_deny_is_a_warning_not_a_change {
    for_each_example!(a_deny_is_a_warning_not_a_change);
}

// ---------------------------------------------------------------------------
// The "nothing was written" check itself
// ---------------------------------------------------------------------------

/// `SeededServer::assert_unchanged` is only as good as `read_account`: every kind
/// of write a plan can describe must show up in it.
#[test]
fn account_reader_sees_every_kind_of_write_a_plan_describes() {
    let account = SeededServer::start(|s| async move { seed_nothing(&s).await });
    let mut kinds = BTreeSet::new();
    // shared-role has every kind of change but a user attachment; textract,
    // planned afterwards, adds that one.
    for example_file in ["shared-role.toml", "textract.toml"] {
        let json = plan_json(&account.moto, &example(example_file));
        block_on(async {
            let seed = account.moto.seed().await;
            let mut before = Account::read(&seed.c).await;
            for c in changes(&json) {
                let single = json!({ "changes": [c] });
                write_after_documents(&seed, &single).await;
                let after = Account::read(&seed.c).await;
                assert_ne!(before, after, "writing {} went unseen", c["address"]);
                before = after;
                let kind = c["target"]["type"].as_str().unwrap_or_default().to_string();
                kinds.insert(format!("{kind} {}", c["target"]["kind"]));
            }
        });
    }
    let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
    assert_eq!(
        kinds,
        [
            "attachment \"Role\"",
            "attachment \"User\"",
            "bucket_cors null",
            "inline_policy null",
            "key_policy null",
            "role null",
            "trust_policy null",
        ]
    );
}
