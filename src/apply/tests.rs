//! Unit tests of the write order, the guards, the report and the timing
//! variables; the tests against AWS (moto) are in `tests/`.

use super::guards::{guard_one, guards};
use super::*;
use crate::model::{Action, PrincipalKind, Target, digest, fingerprint};
use crate::plan::{self, Change, Plan, Summary};

fn change(target: Target, action: Action, after: Option<&str>) -> Change {
    Change {
        address: plan_address(&target),
        action,
        target,
        requirements: vec![],
        reason: String::new(),
        before: None,
        after: after.map(str::to_string),
        before_fingerprint: "absent".into(),
        after_digest: fingerprint(after),
        replaced_sids: vec![],
    }
}

fn plan_address(t: &Target) -> String {
    format!("{t:?}")
}

fn plan_of(changes: Vec<Change>) -> Plan {
    Plan {
        format_version: plan::FORMAT_VERSION,
        account_id: "123456789012".into(),
        region: "us-east-1".into(),
        spec_hash: "sha256:x".into(),
        changes,
        summary: Summary {
            add: 0,
            change: 0,
            destroy: 0,
        },
        warnings: vec![],
        api_calls: Default::default(),
    }
}

#[test]
fn writes_are_ordered_iam_before_kms_before_s3_and_deletes_last() {
    let role = |n: &str| n.to_string();
    let p = plan_of(vec![
        change(
            Target::BucketCors {
                bucket: "in".into(),
            },
            Action::Update,
            Some("{}"),
        ),
        change(
            Target::KeyPolicy {
                key_id: "k".into(),
                key_arn: "arn".into(),
            },
            Action::Update,
            Some("{}"),
        ),
        change(
            Target::Attachment {
                kind: PrincipalKind::User,
                name: "u".into(),
                policy_arn: "arn:p".into(),
            },
            Action::Create,
            Some("\"arn:p\""),
        ),
        change(
            Target::InlinePolicy {
                role: role("R"),
                policy_name: "p".into(),
            },
            Action::Create,
            Some("{}"),
        ),
        change(
            Target::TrustPolicy { role: role("R") },
            Action::Update,
            Some("{}"),
        ),
        change(
            Target::Role {
                name: role("N"),
                path: "/".into(),
            },
            Action::Create,
            Some("{}"),
        ),
        change(
            Target::Role {
                name: role("N"),
                path: "/".into(),
            },
            Action::Delete,
            None,
        ),
        change(
            Target::InlinePolicy {
                role: role("N"),
                policy_name: "p".into(),
            },
            Action::Delete,
            None,
        ),
        change(
            Target::BucketCors {
                bucket: "in".into(),
            },
            Action::Delete,
            None,
        ),
    ]);
    let calls: Vec<String> = ordered_calls(&p)
        .unwrap()
        .iter()
        .map(|(_, _, c)| c.to_string())
        .collect();
    assert_eq!(
        calls,
        vec![
            "iam:CreateRole role=N path=/",
            "iam:UpdateAssumeRolePolicy role=R",
            "iam:PutRolePolicy role=R policy=p",
            "iam:AttachUserPolicy user=u policy_arn=arn:p",
            "kms:PutKeyPolicy key=k policy=default",
            "s3:PutBucketCors bucket=in",
            "s3:DeleteBucketCors bucket=in",
            "iam:DeleteRolePolicy role=N policy=p",
            "iam:DeleteRole role=N",
        ]
    );
}

#[test]
fn impossible_changes_are_refused_by_name() {
    let p = plan_of(vec![change(
        Target::KeyPolicy {
            key_id: "k".into(),
            key_arn: "a".into(),
        },
        Action::Delete,
        None,
    )]);
    let refusals = ordered_calls(&p).unwrap_err();
    assert_eq!(refusals.len(), 1);
    assert!(refusals[0].reason.contains("cannot be deleted"));
}

#[test]
fn attachment_document_must_name_the_attached_policy() {
    let t = Target::Attachment {
        kind: PrincipalKind::Role,
        name: "r".into(),
        policy_arn: "arn:a".into(),
    };
    let opts = ApplyOptions::new(Identity {
        account_id: "1".into(),
        arn: "a".into(),
    });
    let check = |doc: &str| {
        let c = change(t.clone(), Action::Create, Some(doc));
        guard_one(&c, None, false, &opts, &mut None).join("; ")
    };
    assert_eq!(check("\"arn:a\""), "");
    let err = check("\"arn:b\"");
    assert!(err.contains("arn:b") && err.contains("arn:a"), "{err}");
    let err = check("not json");
    assert_eq!(err, "the document to write is not valid JSON");
}

#[test]
fn an_altered_document_and_a_resource_written_twice_are_refused() {
    let t = Target::Attachment {
        kind: PrincipalKind::User,
        name: "u".into(),
        policy_arn: "arn:a".into(),
    };
    let mut altered = change(t.clone(), Action::Create, Some("\"arn:a\""));
    altered.after_digest = digest("\"arn:b\"");
    let twice = change(t.clone(), Action::Create, Some("\"arn:a\""));
    let p = plan_of(vec![altered, twice]);
    let opts = ApplyOptions::new(Identity {
        account_id: "1".into(),
        arn: "a".into(),
    });
    let refusals = guards(&p, &[None, None], &opts);
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    assert!(
        refusals[0].reason.contains("does not match its digest"),
        "{refusals:?}"
    );
    assert!(
        refusals[1].reason.contains("already writes this resource"),
        "{refusals:?}"
    );
    let ok = plan_of(vec![change(t, Action::Create, Some("\"arn:a\""))]);
    assert!(guards(&ok, &[None], &opts).is_empty());
}

#[test]
fn report_of_a_failure_half_way_names_each_outcome() {
    let call = |op, t: &str| PlannedCall {
        operation: op,
        target: t.into(),
        address: "a".into(),
    };
    let report = ApplyReport {
        outcomes: vec![
            ChangeOutcome {
                step: 1,
                address: "aws_iam_role_policy.R:p".into(),
                action: Action::Create,
                call: call("iam:PutRolePolicy", "role=R policy=p"),
                status: ChangeStatus::Applied,
            },
            ChangeOutcome {
                step: 2,
                address: "aws_kms_key_policy.k".into(),
                action: Action::Update,
                call: call("kms:PutKeyPolicy", "key=k policy=default"),
                status: ChangeStatus::Failed(WriteError {
                    code: Some("KMSInvalidStateException".into()),
                    message: "pending deletion".into(),
                    meaning: write::meaning("kms:PutKeyPolicy", "KMSInvalidStateException", false),
                    uncertain: false,
                }),
            },
            ChangeOutcome {
                step: 3,
                address: "aws_s3_bucket_cors_configuration.in".into(),
                action: Action::Update,
                call: call("s3:PutBucketCors", "bucket=in"),
                status: ChangeStatus::NotAttempted,
            },
        ],
        ..ApplyReport::default()
    };
    assert!(!report.is_success());
    let text = report.to_string();
    assert!(
        text.contains("aws_iam_role_policy.R:p: applied (iam:PutRolePolicy role=R policy=p)"),
        "{text}"
    );
    assert!(text.contains("aws_kms_key_policy.k: failed (kms:PutKeyPolicy key=k policy=default): KMSInvalidStateException: pending deletion (the key is pending deletion"), "{text}");
    assert!(
        text.contains("aws_s3_bucket_cors_configuration.in: not attempted"),
        "{text}"
    );
    assert!(text.contains("Apply failed! Resources: 1 added, 0 changed, 0 destroyed; 1 failed, 1 not attempted, 0 not converged."), "{text}");
}

#[test]
fn rollback_errors_give_no_plan_advice_and_name_rollback() {
    let codes = [
        "KMSInvalidStateException",
        "NotFoundException",
        "NoSuchBucket",
        "NoSuchEntity",
        "EntityAlreadyExists",
        "DeleteConflict",
        "LimitExceeded",
        "MalformedPolicyDocument",
        "AccessDenied",
        "UnmodifiableEntity",
        "InvalidInput",
        "ServiceFailure",
        "Throttling",
    ];
    for code in codes {
        let rollback = write::meaning("iam:DeleteRole", code, true);
        for advice in ["plan again", "the spec", "apply"] {
            assert!(!rollback.contains(advice), "{code}: {rollback}");
        }
        let apply = write::meaning("iam:DeleteRole", code, false);
        assert!(!apply.contains("rollback"), "{code}: {apply}");
    }
    assert!(write::meaning("iam:DeleteRole", "AccessDenied", true).ends_with("run rollback again"));
    assert!(write::meaning("iam:CreateRole", "NoSuchEntity", false).contains("plan again"));
}
