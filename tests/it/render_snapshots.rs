//! Snapshots of the rendered plan (text and JSON) for representative cases.
//! A change here is a user-visible change: CHANGELOG it.

use std::collections::BTreeMap;

use a2i_fix::model::{Action, PrincipalKind, Target, digest, fingerprint};
use a2i_fix::plan::{Change, Plan, Summary, Warning, summarize};
use a2i_fix::render::{TextOptions, render_json, render_text};

fn change(
    target: Target,
    address: &str,
    action: Action,
    before: Option<&str>,
    after: &str,
    reqs: &[&str],
    reason: &str,
) -> Change {
    Change {
        address: address.into(),
        action,
        target,
        requirements: reqs.iter().map(|s| s.to_string()).collect(),
        reason: reason.into(),
        before: before.map(str::to_string),
        after: Some(after.into()),
        before_fingerprint: fingerprint(before),
        after_digest: digest(after),
        replaced_sids: vec![],
    }
}

fn sample_plan() -> Plan {
    let trust_before = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\n      \"Effect\": \"Allow\",\n      \"Principal\": {\n        \"Service\": \"lambda.amazonaws.com\"\n      },\n      \"Action\": \"sts:AssumeRole\"\n    }\n  ]\n}";
    let trust_after = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\n      \"Effect\": \"Allow\",\n      \"Principal\": {\n        \"Service\": \"lambda.amazonaws.com\"\n      },\n      \"Action\": \"sts:AssumeRole\"\n    },\n    {\n      \"Sid\": \"AllowSageMakerToAssumeRole\",\n      \"Effect\": \"Allow\",\n      \"Principal\": {\n        \"Service\": \"sagemaker.amazonaws.com\"\n      },\n      \"Action\": \"sts:AssumeRole\"\n    }\n  ]\n}";
    let changes = vec![
        change(
            Target::TrustPolicy {
                role: "A2IFlowRole".into(),
            },
            "aws_iam_role.A2IFlowRole",
            Action::Update,
            Some(trust_before),
            trust_after,
            &["R4"],
            "flow definition `invoice-review` need SageMaker to assume role `A2IFlowRole`: no statement trusts sagemaker.amazonaws.com",
        ),
        change(
            Target::Attachment {
                kind: PrincipalKind::Role,
                name: "ml-app".into(),
                policy_arn: "arn:aws:iam::aws:policy/AmazonAugmentedAIFullAccess".into(),
            },
            "aws_iam_role_policy_attachment.ml-app:AmazonAugmentedAIFullAccess",
            Action::Create,
            None,
            "\"arn:aws:iam::aws:policy/AmazonAugmentedAIFullAccess\"",
            &["R6"],
            "human loop caller `arn:aws:iam::123456789012:role/ml-app` needs the managed policy",
        ),
    ];
    Plan {
        format_version: 1,
        account_id: "123456789012".into(),
        region: "us-east-1".into(),
        spec_hash: "sha256:0000".into(),
        summary: summarize(&changes),
        changes,
        warnings: vec![Warning {
            subject: "role `A2IFlowRole`".into(),
            requirement: Some("R2".into()),
            message: "R2 is blocked by an explicit Deny: statement 0 (Sid `NoInput`) of inline policy `guardrail`.".into(),
            address: None,
            managed_by: None,
        }],
        api_calls: BTreeMap::from([("iam:GetRole".to_string(), 1), ("s3:GetBucketCors".to_string(), 1)]),
    }
}

fn text(plan: &Plan, color: bool) -> String {
    let mut out = Vec::new();
    render_text(plan, &mut out, TextOptions { color }).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn text_plan_shows_header_diff_and_summary() {
    insta::assert_snapshot!(text(&sample_plan(), false));
}

#[test]
fn empty_plan_says_up_to_date() {
    let mut plan = sample_plan();
    plan.changes.clear();
    plan.warnings.clear();
    plan.summary = Summary {
        add: 0,
        change: 0,
        destroy: 0,
    };
    let out = text(&plan, false);
    assert!(out.contains("No changes. A2I permissions are up to date."));
    assert!(!out.contains("Plan:"));
}

#[test]
fn no_escape_codes_without_color_and_some_with_it() {
    let plan = sample_plan();
    assert!(!text(&plan, false).contains('\u{1b}'));
    let coloured = text(&plan, true);
    assert!(coloured.contains("\u{1b}[32m"), "additions are green");
}

#[test]
fn json_plan_is_versioned_and_complete() {
    let mut out = Vec::new();
    render_json(&sample_plan(), &mut out).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(value["format_version"], 1);
    assert_eq!(value["summary"]["add"], 1);
    assert_eq!(value["summary"]["change"], 1);
    insta::assert_json_snapshot!(value);
}
