//! `plan` through the real binary against moto server, for setups the
//! `plans/` examples do not cover: roles with a path, a flow role that is
//! also a caller, a grant that only holds under a condition, and an A2I
//! statement a person changed by hand.

use crate::support::plan_json::*;
use crate::support::*;
use crate::support::{ACCOUNT_ID, SAGEMAKER_TRUST};
use serde_json::json;

fn spec_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("a2i.toml");
    std::fs::write(&path, text).expect("writing the spec");
    (dir, path)
}

#[test]
fn missing_flow_role_given_by_arn_is_created_at_its_path_and_converges() {
    let account = SeededServer::start(|s| async move { seed_nothing(&s).await });
    let arn = format!("arn:aws:iam::{ACCOUNT_ID}:role/service-role/A2IPathRole");
    let (_dir, spec) = spec_file(&format!(
        r#"[[flow_definition]]
name = "path-review"
role = "{arn}"
input_buckets = ["{INPUT}"]
output = "s3://{OUTPUT}"
kms_key = "{KEY_ALIAS}"
"#
    ));
    let first = plan_json(&account.moto, &spec);
    let role = change(&first, "aws_iam_role.A2IPathRole").expect("the role is created");
    assert_eq!(
        role["target"],
        json!({"type": "role", "name": "A2IPathRole", "path": "/service-role/"})
    );
    // The key grant names the role by its full ARN, path included.
    let key = change(&first, &account.key_policy_address()).expect("the key grant");
    assert_eq!(after(key)["Statement"][1]["Principal"]["AWS"], arn);
    // No prefix: the whole output bucket.
    let policy = change(
        &first,
        "aws_iam_role_policy.A2IPathRole:a2i-fix-permissions",
    )
    .expect("the role's policy");
    assert!(
        allowed(&after(policy)).contains(&(
            "s3:putobject".to_string(),
            format!("arn:aws:s3:::{OUTPUT}/*")
        )),
        "{policy:#}"
    );

    block_on(async {
        let seed = account.moto.seed().await;
        write_after_documents(&seed, &first).await;
        let created = seed
            .c
            .iam
            .get_role()
            .role_name("A2IPathRole")
            .send()
            .await
            .expect("the role was created");
        assert_eq!(created.role().map(|r| r.arn()), Some(arn.as_str()));
    });
    let run = plan(&account.moto, &spec, &["--detailed-exitcode"]).expect_code(0);
    assert!(
        run.stdout
            .contains("No changes. A2I permissions are up to date."),
        "{}",
        run.stdout
    );
}

#[test]
fn missing_flow_role_that_is_also_a_caller_is_created_with_its_attachment() {
    let account = SeededServer::start(|s| async move { seed_nothing(&s).await });
    let (_dir, spec) = spec_file(&format!(
        r#"[[flow_definition]]
name = "self-service"
role = "A2ISelfRole"
input_buckets = ["{INPUT}"]
output = "s3://{OUTPUT}/self/"

[[human_loop_caller]]
principal = "arn:aws:iam::{ACCOUNT_ID}:role/A2ISelfRole"
uses = ["custom"]
"#
    ));
    let json = plan_json(&account.moto, &spec);
    let rows: Vec<(String, String)> = summary_rows(&json)
        .into_iter()
        .map(|(address, action, _)| (address, action))
        .collect();
    let expected: Vec<(String, String)> = [
        ("aws_iam_role.A2ISelfRole", "create"),
        (
            "aws_iam_role_policy.A2ISelfRole:a2i-fix-permissions",
            "create",
        ),
        (
            "aws_iam_role_policy_attachment.A2ISelfRole:AmazonAugmentedAIFullAccess",
            "create",
        ),
        ("aws_s3_bucket_cors_configuration.acme-a2i-input", "create"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(rows, expected, "{json:#}");
}

#[test]
fn trust_met_only_under_a_condition_is_a_warning_not_a_change() {
    // The confused-deputy guard some teams add to every trust policy.
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                       "Action": "sts:AssumeRole",
                       "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}}]
    })
    .to_string();
    let account = SeededServer::start(|s| async move {
        let key_id = seed_nothing(&s).await;
        s.role(FLOW_ROLE, &trust).await;
        key_id
    });
    let json = plan_json(&account.moto, &example("rekognition.toml"));
    assert!(
        change(&json, "aws_iam_role.A2IFlowRole").is_none(),
        "{json:#}"
    );
    let warnings: Vec<String> = json["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter(|w| w["subject"] == "role `A2IFlowRole`" && w["requirement"] == "R4")
        .map(|w| str_of(&w["message"]))
        .collect();
    assert_eq!(warnings.len(), 1, "{json:#}");
    assert!(warnings[0].contains("aws:SourceAccount"), "{}", warnings[0]);
    // Everything else is still planned.
    assert!(change(&json, "aws_iam_role_policy.A2IFlowRole:a2i-fix-permissions").is_some());
}

#[test]
fn a2i_statement_changed_by_hand_is_kept_and_a2i_grants_beside_it() {
    // Someone turned a2i-fix's read grant into a ListBucket grant: that
    // statement is theirs now. It stays as it is, and A2I's read grant goes
    // into a statement of its own under the fallback Sid.
    let hand_edited = json!({"Sid": "AllowA2IReadInput", "Effect": "Allow", "Action": "s3:ListBucket",
             "Resource": format!("arn:aws:s3:::{INPUT}")});
    let edited = json!({
        "Version": "2012-10-17",
        "Statement": [
            hand_edited,
            {"Sid": "AllowA2IWriteOutput", "Effect": "Allow", "Action": "s3:PutObject",
             "Resource": format!("arn:aws:s3:::{OUTPUT}/moderation/*")}
        ]
    })
    .to_string();
    let account = SeededServer::start(|s| async move {
        let key_id = seed_nothing(&s).await;
        s.role(FLOW_ROLE, SAGEMAKER_TRUST).await;
        s.inline_policy(FLOW_ROLE, OWNED, &edited).await;
        key_id
    });
    let spec = example("rekognition.toml");
    let json = plan_json(&account.moto, &spec);
    let policy = change(&json, "aws_iam_role_policy.A2IFlowRole:a2i-fix-permissions")
        .expect("the owned policy is updated");
    assert_eq!(policy["action"], "update");
    assert_eq!(policy["replaced_sids"], json!([]));
    assert_eq!(strings(&policy["requirements"]), ["R2"]);
    let written: serde_json::Value =
        serde_json::from_str(policy["after"].as_str().unwrap()).unwrap();
    let statements = written["Statement"].as_array().unwrap();
    assert_eq!(
        statements[0], hand_edited,
        "the hand-edited statement is kept as it was"
    );
    assert!(
        statements
            .iter()
            .any(|st| st["Sid"] == "AllowA2IReadInputA2IFix"
                && st["Resource"] == format!("arn:aws:s3:::{INPUT}/*")),
        "{written:#}"
    );
    // The write grant, already right, is kept as it was.
    assert!(
        allowed(&after(policy)).contains(&(
            "s3:putobject".to_string(),
            format!("arn:aws:s3:::{OUTPUT}/moderation/*")
        )),
        "{policy:#}"
    );
}

#[test]
fn needs_no_change_can_meet_have_their_own_exit_code() {
    // rekognition.toml fully met, except that a Deny blocks the input read:
    // not a pending change (2), not "all met" (0), but 3.
    let account = SeededServer::start(|s| async move {
        let key_id = seed_nothing(&s).await;
        s.put_cors(INPUT, &[crate::support::cors_rule(&["GET"], &["*"])])
            .await;
        s.role(FLOW_ROLE, SAGEMAKER_TRUST).await;
        let granted = json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "AllowA2IReadInput", "Effect": "Allow", "Action": "s3:GetObject",
                 "Resource": format!("arn:aws:s3:::{INPUT}/*")},
                {"Sid": "AllowA2IWriteOutput", "Effect": "Allow", "Action": "s3:PutObject",
                 "Resource": format!("arn:aws:s3:::{OUTPUT}/moderation/*")}
            ]
        });
        s.inline_policy(FLOW_ROLE, OWNED, &granted.to_string())
            .await;
        let deny = json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": format!("arn:aws:s3:::{INPUT}/*")}]
        });
        s.inline_policy(FLOW_ROLE, "quarantine", &deny.to_string())
            .await;
        s.attach_role_policy(CALLER_ROLE, INTEGRATED_API).await;
        key_id
    });
    let run = plan(
        &account.moto,
        &example("rekognition.toml"),
        &["--detailed-exitcode"],
    )
    .expect_code(3);
    // Without the flag the exit code stays 0.
    plan(&account.moto, &example("rekognition.toml"), &[]).expect_code(0);
    // Not "up to date": a Deny still blocks A2I, and the output must say so.
    assert!(
        run.stdout.contains(
            "No changes that a2i-fix can make. A2I may still fail: see the warnings below."
        ),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("up to date"), "{}", run.stdout);
    assert!(
        run.stdout.contains("Warning: role `A2IFlowRole` (R2)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("quarantine"), "{}", run.stdout);
}
