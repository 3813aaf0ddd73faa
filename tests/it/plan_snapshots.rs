//! Snapshots of the whole text and JSON output of `a2i-fix plan`, run as a
//! user runs it (the real binary against moto server), for representative
//! cases. A change here is a user-visible change: CHANGELOG it.
//!
//! Filtered: KMS key ids (random UUIDs chosen by moto) and `sha256:` digests
//! (they cover documents that name the key id, and the spec file's bytes).

use crate::support::*;
use crate::support::{LAMBDA_TRUST, cors_rule};

/// Replace what changes from run to run.
fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[KEY_ID]",
        ),
        (r"sha256:[0-9a-f]{64}", "sha256:[DIGEST]"),
    ]
}

fn snapshot_text_and_json(name: &str, account: &SeededServer, example_file: &str) {
    let spec = example(example_file);
    let text = plan(&account.moto, &spec, &[]).expect_code(0);
    let json = plan(&account.moto, &spec, &["--json"]).expect_code(0);
    // Pretty JSON as printed, after checking that it is JSON at all.
    let _ = json.json();
    insta::with_settings!({
        filters => filters(),
        description => format!("a2i-fix plan --spec plans/{example_file}"),
        omit_expression => true,
    }, {
        insta::assert_snapshot!(format!("{name}_text"), text.stdout);
        insta::assert_snapshot!(format!("{name}_json"), json.stdout);
    });
}

/// Every kind of change on an account where nothing is set up: a role to
/// create, inline policies, an attachment, a key policy and CORS.
#[test]
fn kms_output_on_an_account_where_nothing_is_set_up() {
    let account = SeededServer::start(|s| async move { seed_nothing(&s).await });
    snapshot_text_and_json("kms_output_nothing_set_up", &account, "kms-output.toml");
}

/// The README demo's broken account: an unrelated CORS rule already on the
/// input bucket, a flow role that trusts only Lambda (with an unrelated
/// inline policy), a key whose policy has only the root statement, and a
/// caller that already has one of its two managed policies. Updates show
/// their diffs against what is there.
#[test]
fn shared_role_on_a_realistically_broken_account() {
    let account = SeededServer::start(|s| async move {
        let key_id = seed_nothing(&s).await;
        s.put_cors(INPUT, &[cors_rule(&["PUT"], &["https://app.example.com"])])
            .await;
        s.role(FLOW_ROLE, LAMBDA_TRUST).await;
        s.inline_policy(
            FLOW_ROLE,
            "write-logs",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["logs:CreateLogStream","logs:PutLogEvents"],"Resource":"*"}]}"#,
        )
        .await;
        s.attach_role_policy(CALLER_ROLE, FULL_ACCESS).await;
        key_id
    });
    snapshot_text_and_json("shared_role_broken", &account, "shared-role.toml");
}

/// A Deny that blocks a requirement is a warning with what to do, not a
/// change.
#[test]
fn rekognition_with_a_deny_on_the_input() {
    let account = SeededServer::start(|s| async move {
        let key_id = seed_nothing(&s).await;
        s.role(FLOW_ROLE, crate::support::SAGEMAKER_TRUST).await;
        s.inline_policy(
            FLOW_ROLE,
            "deny-input-reads",
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"NoReadsOfInput","Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::acme-a2i-input/*"}]}"#,
        )
        .await;
        s.put_cors(INPUT, &[cors_rule(&["GET"], &["*"])]).await;
        s.attach_role_policy(CALLER_ROLE, INTEGRATED_API).await;
        key_id
    });
    snapshot_text_and_json("rekognition_deny", &account, "rekognition.toml");
}
