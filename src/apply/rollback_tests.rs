//! Unit tests of the rollback plan (the pure part of `rollback`).

use super::*;
use crate::journal::{Header, JOURNAL_FORMAT_VERSION, RecordedError};
use crate::model::{PrincipalKind, digest};

fn step(
    n: usize,
    target: Target,
    action: Action,
    previous: Option<&str>,
    writing: Option<&str>,
) -> JournalStep {
    JournalStep {
        step: n,
        address: format!("addr{n}"),
        action,
        target,
        previous: previous.map(str::to_string),
        previous_fingerprint: fingerprint(previous),
        writing: writing.map(str::to_string),
        outcome: StepOutcome::Applied,
        verified_fingerprint: None,
    }
}

fn contents(steps: Vec<JournalStep>) -> JournalContents {
    JournalContents {
        path: PathBuf::from("j.jsonl"),
        header: Header {
            format_version: JOURNAL_FORMAT_VERSION,
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            plan_digest: "d".into(),
            started_at: "t".into(),
            pid: 1,
            rollback: false,
        },
        steps,
        end: None,
        truncated_tail: false,
    }
}

const WRITTEN: &str = "{\"written\":1}";
const READ_BACK: &str = "{\"read back\":1}";

// These cases use journaled (verified) fingerprints, so they compare
// exactly and need no policy parsing.
fn verified(mut s: JournalStep, text: &str) -> JournalStep {
    s.verified_fingerprint = Some(digest(text));
    s
}

#[test]
fn a_created_role_is_deleted_after_its_policy_and_attachment() {
    let role = Target::Role {
        name: "R".into(),
        path: "/".into(),
    };
    let inline = Target::InlinePolicy {
        role: "R".into(),
        policy_name: "p".into(),
    };
    let attach = Target::Attachment {
        kind: PrincipalKind::Role,
        name: "R".into(),
        policy_arn: "arn:x".into(),
    };
    let c = contents(vec![
        verified(
            step(1, role.clone(), Action::Create, None, Some(WRITTEN)),
            READ_BACK,
        ),
        verified(
            step(2, inline.clone(), Action::Create, None, Some(WRITTEN)),
            READ_BACK,
        ),
        verified(
            step(3, attach.clone(), Action::Create, None, Some("\"arn:x\"")),
            READ_BACK,
        ),
    ]);
    let currents = (1..=3).map(|n| (n, Some(READ_BACK.to_string()))).collect();
    let plan = rollback_plan(&c, &currents).unwrap();
    assert!(
        plan.changes
            .iter()
            .all(|c| c.action == Action::Delete && c.after.is_none())
    );
    assert!(
        plan.changes
            .iter()
            .all(|c| c.before_fingerprint == digest(READ_BACK))
    );
    assert_eq!(
        plan.summary,
        Summary {
            add: 0,
            change: 0,
            destroy: 3
        }
    );
    assert!(plan.spec_hash.is_empty());
    let calls: Vec<String> = crate::apply::ordered_calls(&plan)
        .unwrap()
        .iter()
        .map(|(_, _, c)| c.to_string())
        .collect();
    assert_eq!(
        calls,
        vec![
            "iam:DetachRolePolicy role=R policy_arn=arn:x",
            "iam:DeleteRolePolicy role=R policy=p",
            "iam:DeleteRole role=R"
        ]
    );
}

#[test]
fn a_replaced_document_is_restored_exactly() {
    let cors = Target::BucketCors {
        bucket: "in".into(),
    };
    let previous =
        "{\"CORSRules\":[{\"AllowedMethods\":[\"PUT\"],\"AllowedOrigins\":[\"https://x\"]}]}";
    let c = contents(vec![verified(
        step(1, cors, Action::Update, Some(previous), Some(WRITTEN)),
        READ_BACK,
    )]);
    let currents = [(1, Some(READ_BACK.to_string()))].into_iter().collect();
    let plan = rollback_plan(&c, &currents).unwrap();
    assert_eq!(plan.changes.len(), 1);
    let ch = &plan.changes[0];
    assert_eq!(ch.action, Action::Update);
    assert_eq!(ch.after.as_deref(), Some(previous));
    assert_eq!(ch.after_digest, digest(previous));
    assert_eq!(ch.before.as_deref(), Some(READ_BACK));
}

#[test]
fn a_resource_changed_since_the_apply_refuses_the_rollback_naming_it() {
    let cors = Target::BucketCors {
        bucket: "in".into(),
    };
    let key = Target::KeyPolicy {
        key_id: "k".into(),
        key_arn: "a".into(),
    };
    let c = contents(vec![
        verified(
            step(1, cors, Action::Update, Some("{}"), Some(WRITTEN)),
            READ_BACK,
        ),
        verified(
            step(2, key, Action::Update, Some("{}"), Some(WRITTEN)),
            READ_BACK,
        ),
    ]);
    let currents = [
        (1, Some(READ_BACK.to_string())),
        (2, Some("{\"someone\":\"else\"}".to_string())),
    ]
    .into_iter()
    .collect();
    match rollback_plan(&c, &currents) {
        Err(RollbackError::Changed { resources, .. }) => {
            assert_eq!(resources.len(), 1);
            assert_eq!(resources[0].0, "addr2");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn failed_steps_are_skipped_and_unlanded_unknown_steps_warned() {
    let cors = Target::BucketCors {
        bucket: "in".into(),
    };
    let inline = Target::InlinePolicy {
        role: "R".into(),
        policy_name: "p".into(),
    };
    let mut failed = step(1, cors, Action::Update, Some("{}"), Some(WRITTEN));
    failed.outcome = StepOutcome::Failed(RecordedError {
        code: Some("NoSuchBucket".into()),
        message: "gone".into(),
        meaning: String::new(),
    });
    let mut unknown = step(2, inline, Action::Create, None, Some(WRITTEN));
    unknown.outcome = StepOutcome::Unknown;
    let c = contents(vec![failed, unknown]);
    // The inline policy is still absent: the interrupted write did not land.
    let currents = [(2, None)].into_iter().collect();
    let plan = rollback_plan(&c, &currents).unwrap();
    assert!(plan.changes.is_empty());
    assert_eq!(plan.warnings.len(), 2);
    assert!(plan.warnings[0].message.contains("failed"));
    assert!(plan.warnings[1].message.contains("did not take effect"));
}

#[test]
fn a_deleted_resource_that_exists_again_is_a_change() {
    let inline = Target::InlinePolicy {
        role: "R".into(),
        policy_name: "p".into(),
    };
    let c = contents(vec![step(1, inline, Action::Delete, Some("{}"), None)]);
    let other = r#"{"Version":"2012-10-17","Statement":[]}"#;
    let currents = [(1, Some(other.to_string()))].into_iter().collect();
    assert!(matches!(
        rollback_plan(&c, &currents),
        Err(RollbackError::Changed { .. })
    ));
    // Back exactly as it was before the apply (an earlier run of this
    // rollback put it back): done, nothing to write.
    let currents = [(1, Some("{}".to_string()))].into_iter().collect();
    let plan = rollback_plan(&c, &currents).unwrap();
    assert!(plan.changes.is_empty());
    assert!(
        plan.warnings[0]
            .message
            .contains("already as it was before the apply")
    );
    // ...and one still deleted is re-created with its previous document.
    let currents = [(1, None)].into_iter().collect();
    let plan = rollback_plan(&c, &currents).unwrap();
    assert_eq!(plan.changes[0].action, Action::Create);
    assert_eq!(plan.changes[0].after.as_deref(), Some("{}"));
}
