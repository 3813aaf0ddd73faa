//! Failures half-way, journals after a kill, and rollback, against moto.

use crate::support::apply::*;
use crate::support::*;
use a2i_fix::apply::{self, ApplyError, ChangeStatus, rollback};
use a2i_fix::journal::{self, EndOutcome, StepOutcome};
use a2i_fix::model::Action;

#[tokio::test]
async fn rollback_restores_the_starting_state_document_by_document() {
    let moto = Moto::start();
    let account = moto.seed().await;
    let s = broken_account(&account).await;
    let clients = moto.clients().await;
    let start = account.read().await;
    let dir = tempfile::tempdir().unwrap();
    let report = apply::execute(
        &clients,
        &fix_plan(&clients, &s).await,
        &options(dir.path()),
    )
    .await
    .unwrap();
    let applied = account.read().await;
    assert_ne!(applied, start);

    let journal_path = report.journal.clone().unwrap();
    let back = rollback::plan_from_journal(&journal_path, &clients, &identity())
        .await
        .unwrap();

    // Restores for what existed, deletes for what the apply created.
    let mut shape: Vec<(String, Action)> = back
        .changes
        .iter()
        .map(|c| (c.address.clone(), c.action))
        .collect();
    shape.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected = vec![
        (
            "aws_s3_bucket_cors_configuration.acme-a2i-input".to_string(),
            Action::Update,
        ),
        (format!("aws_kms_key_policy.{}", s.key_id), Action::Update),
        (
            "aws_iam_user_policy_attachment.ml-app:AmazonAugmentedAIFullAccess".to_string(),
            Action::Delete,
        ),
        (
            "aws_iam_role_policy.A2IFlowRole:a2i-fix-permissions".to_string(),
            Action::Delete,
        ),
        (
            "aws_iam_role_policy.A2IPreviewRole:a2i-fix-permissions".to_string(),
            Action::Delete,
        ),
        ("aws_iam_role.A2IFlowRole".to_string(), Action::Update),
        ("aws_iam_role.A2IPreviewRole".to_string(), Action::Delete),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(shape, expected);
    assert_eq!(
        (back.summary.add, back.summary.change, back.summary.destroy),
        (0, 3, 4)
    );
    let calls: Vec<String> = apply::ordered_calls(&back)
        .unwrap()
        .iter()
        .map(|(_, _, c)| c.to_string())
        .collect();
    assert_eq!(
        calls.last().map(String::as_str),
        Some("iam:DeleteRole role=A2IPreviewRole"),
        "{calls:?}"
    );
    let key_restore = back
        .changes
        .iter()
        .find(|c| c.address.starts_with("aws_kms_key_policy"))
        .unwrap();
    assert_eq!(
        key_restore.replaced_sids,
        vec!["AllowUseOfKmsKey".to_string()]
    );

    let rollback_dir = tempfile::tempdir().unwrap();
    let report = apply::execute(&clients, &back, &options(rollback_dir.path()))
        .await
        .unwrap();
    assert!(report.is_success(), "{report}");
    assert!(
        report
            .to_string()
            .contains("Rollback complete! Resources: 0 added, 3 changed, 4 destroyed."),
        "{report}"
    );
    assert_eq!(account.read().await, start);
}

#[tokio::test]
async fn a_write_failing_half_way_is_reported_exactly_and_rerun_then_rollback_converge() {
    let moto = Moto::start();
    let account = moto.seed().await;
    let s = broken_account(&account).await;
    let clients = moto.clients().await;
    let start = account.read().await;
    let plan = fix_plan(&clients, &s).await;
    // The caller is removed between plan and apply: its attachment fails,
    // after the role changes and before the key and bucket.
    account
        .c
        .iam
        .delete_user()
        .user_name(CALLER)
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();

    let err = apply::execute(&clients, &plan, &options(dir.path()))
        .await
        .unwrap_err();

    let ApplyError::Incomplete(report) = &err else {
        panic!("expected a report, got {err}")
    };
    let statuses: Vec<(String, String)> = report
        .outcomes
        .iter()
        .map(|o| {
            let st = match &o.status {
                ChangeStatus::Applied => "applied".to_string(),
                ChangeStatus::Failed(e) => format!("failed {}", e.code.clone().unwrap_or_default()),
                ChangeStatus::NotAttempted => "not attempted".to_string(),
            };
            (o.address.clone(), st)
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            (
                "aws_iam_role.A2IPreviewRole".to_string(),
                "applied".to_string()
            ),
            (
                "aws_iam_role.A2IFlowRole".to_string(),
                "applied".to_string()
            ),
            (
                "aws_iam_role_policy.A2IFlowRole:a2i-fix-permissions".to_string(),
                "applied".to_string()
            ),
            (
                "aws_iam_role_policy.A2IPreviewRole:a2i-fix-permissions".to_string(),
                "applied".to_string()
            ),
            (
                "aws_iam_user_policy_attachment.ml-app:AmazonAugmentedAIFullAccess".to_string(),
                "failed NoSuchEntity".to_string()
            ),
            (
                format!("aws_kms_key_policy.{}", s.key_id),
                "not attempted".to_string()
            ),
            (
                "aws_s3_bucket_cors_configuration.acme-a2i-input".to_string(),
                "not attempted".to_string()
            ),
        ]
    );
    let text = report.to_string();
    assert!(
        text.contains("failed (iam:AttachUserPolicy user=ml-app"),
        "{text}"
    );
    assert!(text.contains("does not exist (any more)"), "{text}");
    assert!(
        text.contains("Apply failed! Resources: 3 added, 1 changed, 0 destroyed; 1 failed, 2 not attempted, 0 not converged."),
        "{text}"
    );
    // Not attempted means not written.
    assert_eq!(
        json(&account.read_key_policy(&s.key_id).await),
        json(&root_only_key_policy())
    );
    assert_eq!(account.cors(INPUT).await.map(|r| r.len()), Some(1));

    let first_journal = report.journal.clone().unwrap();
    let j = journal::read_journal(&first_journal).unwrap();
    let outcomes: Vec<String> = j.steps.iter().map(|s| s.outcome.to_string()).collect();
    assert_eq!(
        outcomes.len(),
        5,
        "no step recorded for what was not attempted: {outcomes:?}"
    );
    assert!(outcomes[..4].iter().all(|o| o == "applied"), "{outcomes:?}");
    assert!(
        matches!(&j.steps[4].outcome, StepOutcome::Failed(e) if e.code.as_deref() == Some("NoSuchEntity"))
    );
    assert_eq!(j.end, Some(EndOutcome::Failed));

    // Fix the cause and run again: what is left is applied.
    account.user(CALLER).await;
    let rest = plan_of(vec![
        change(
            &clients,
            caller_attachment(),
            &serde_json::Value::String(FULL_ACCESS.into()).to_string(),
        )
        .await,
        change(&clients, key_target(&s), &key_after(&s.role_arn)).await,
        change(&clients, cors_target(), &cors_after()).await,
    ]);
    let second = apply::execute(&clients, &rest, &options(dir.path()))
        .await
        .unwrap();
    assert!(second.is_success(), "{second}");

    // Roll both back, newest first: the starting state, document by document.
    for journal_path in [second.journal.clone().unwrap(), first_journal] {
        let back = rollback::plan_from_journal(&journal_path, &clients, &identity())
            .await
            .unwrap();
        let out = tempfile::tempdir().unwrap();
        let r = apply::execute(&clients, &back, &options(out.path()))
            .await
            .unwrap();
        assert!(r.is_success(), "{r}");
    }
    assert_eq!(account.read().await, start);
}

#[tokio::test]
async fn rollback_refuses_resources_changed_since_the_apply_and_writes_nothing() {
    let moto = Moto::start();
    let account = moto.seed().await;
    let s = broken_account(&account).await;
    let clients = moto.clients().await;
    let dir = tempfile::tempdir().unwrap();
    let report = apply::execute(
        &clients,
        &fix_plan(&clients, &s).await,
        &options(dir.path()),
    )
    .await
    .unwrap();
    // Someone edits the bucket's CORS after the apply.
    account
        .c
        .s3
        .delete_bucket_cors()
        .bucket(INPUT)
        .send()
        .await
        .unwrap();
    account
        .put_cors(INPUT, &[cors_rule(&["HEAD"], &["*"])])
        .await;
    let before = account.read().await;

    let other = a2i_fix::apply::Identity {
        account_id: "111122223333".into(),
        arn: "arn:aws:iam::111122223333:root".into(),
    };
    let err = rollback::plan_from_journal(report.journal.as_deref().unwrap(), &clients, &other)
        .await
        .unwrap_err();
    assert!(
        matches!(err, rollback::RollbackError::WrongAccount { .. }),
        "{err}"
    );

    let err =
        rollback::plan_from_journal(report.journal.as_deref().unwrap(), &clients, &identity())
            .await
            .unwrap_err();

    let message = err.to_string();
    assert!(
        message.contains("`aws_s3_bucket_cors_configuration.acme-a2i-input`"),
        "{message}"
    );
    assert!(
        !message.contains("aws_kms_key_policy"),
        "only changed resources are named: {message}"
    );
    assert_eq!(account.read().await, before);
}

#[tokio::test]
async fn a_journal_cut_by_a_kill_still_rolls_back_by_re_reading() {
    let moto = Moto::start();
    let account = moto.seed().await;
    broken_account(&account).await;
    let clients = moto.clients().await;
    let start = account.read().await;
    let plan = plan_of(vec![
        change(&clients, flow_trust(), &trust_after()).await,
        change(&clients, cors_target(), &cors_after()).await,
    ]);
    let dir = tempfile::tempdir().unwrap();
    let report = apply::execute(&clients, &plan, &options(dir.path()))
        .await
        .unwrap();
    let path = report.journal.clone().unwrap();

    // As if killed during step 2's call: keep the header, step 1 with its
    // outcome, step 2 started, and half of step 2's outcome line.
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let keep: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.contains("\"record\":\"verified\"") && !l.contains("\"record\":\"end\""))
        .collect();
    assert_eq!(keep.len(), 5, "{keep:?}");
    let cut = format!(
        "{}\n{}",
        keep[..4].join("\n"),
        &keep[4][..keep[4].len() / 2]
    );
    std::fs::write(&path, cut).unwrap();

    let j = journal::read_journal(&path).unwrap();
    assert!(j.truncated_tail);
    assert_eq!(j.steps[0].outcome, StepOutcome::Applied);
    assert_eq!(j.steps[1].outcome, StepOutcome::Unknown);
    assert_eq!(j.end, None);
    assert!(j.to_string().contains("started, outcome unknown"), "{j}");

    // The unknown write did land: rollback sees it by re-reading and undoes it.
    let back = rollback::plan_from_journal(&path, &clients, &identity())
        .await
        .unwrap();
    assert_eq!(back.changes.len(), 2);
    let out = tempfile::tempdir().unwrap();
    let r = apply::execute(&clients, &back, &options(out.path()))
        .await
        .unwrap();
    assert!(r.is_success(), "{r}");
    assert_eq!(account.read().await, start);
}

#[tokio::test]
async fn an_interrupt_mid_apply_finishes_the_write_in_flight_and_rollback_restores() {
    let moto = Moto::start();
    let account = moto.seed().await;
    let s = broken_account(&account).await;
    let clients = moto.clients().await;
    let start = account.read().await;
    let plan = fix_plan(&clients, &s).await;
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.concurrency = 1;
    // Press Ctrl-C as soon as the journal shows the first write done.
    let interrupt = opts.interrupt.clone();
    let watched = dir.path().to_path_buf();
    tokio::spawn(async move {
        loop {
            let done = files_in(&watched).iter().any(|p| {
                std::fs::read_to_string(p).is_ok_and(|t| t.contains("\"state\":\"applied\""))
            });
            if done {
                interrupt.trigger();
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    });

    let err = apply::execute(&clients, &plan, &opts).await.unwrap_err();

    let report = err.report().expect("a report");
    assert!(report.interrupted, "{report}");
    let applied = report
        .outcomes
        .iter()
        .filter(|o| o.status == ChangeStatus::Applied)
        .count();
    let skipped = report
        .outcomes
        .iter()
        .filter(|o| o.status == ChangeStatus::NotAttempted)
        .count();
    assert!(applied >= 1 && skipped >= 1, "{report}");
    assert_eq!(
        applied + skipped,
        plan.changes.len(),
        "no write failed: {report}"
    );
    // The journal is consistent: every write that started has its outcome.
    let j = journal::read_journal(report.journal.as_deref().unwrap()).unwrap();
    assert_eq!(j.steps.len(), applied);
    assert!(j.steps.iter().all(|s| s.outcome == StepOutcome::Applied));
    assert_eq!(j.end, Some(EndOutcome::Interrupted));
    assert!(!j.truncated_tail);

    let back =
        rollback::plan_from_journal(report.journal.as_deref().unwrap(), &clients, &identity())
            .await
            .unwrap();
    assert_eq!(back.changes.len(), applied);
    let out = tempfile::tempdir().unwrap();
    let r = apply::execute(&clients, &back, &options(out.path()))
        .await
        .unwrap();
    assert!(r.is_success(), "{r}");
    assert_eq!(account.read().await, start);
}

#[tokio::test]
async fn a_rollback_stopped_half_way_finishes_when_run_again() {
    let moto = Moto::start();
    let account = moto.seed().await;
    let s = broken_account(&account).await;
    let clients = moto.clients().await;
    let start = account.read().await;
    let dir = tempfile::tempdir().unwrap();
    let report = apply::execute(
        &clients,
        &fix_plan(&clients, &s).await,
        &options(dir.path()),
    )
    .await
    .unwrap();
    let journal_path = report.journal.clone().unwrap();
    let back = rollback::plan_from_journal(&journal_path, &clients, &identity())
        .await
        .unwrap();
    // The first run puts back the CORS rules and the key policy, then stops.
    let mut first = back.clone();
    first.changes.retain(|c| {
        c.address.starts_with("aws_s3_bucket_cors_configuration")
            || c.address.starts_with("aws_kms_key_policy")
    });
    assert_eq!(first.changes.len(), 2);
    let rollback_dir = tempfile::tempdir().unwrap();
    let partial = apply::execute(&clients, &first, &options(rollback_dir.path()))
        .await
        .unwrap();
    assert!(partial.is_success(), "{partial}");

    // The same rollback again: what is already back is done, the rest is
    // put back, and the account is as it started.
    let again = rollback::plan_from_journal(&journal_path, &clients, &identity())
        .await
        .expect("a rollback that stopped half-way can be run again");
    assert_eq!(again.changes.len(), back.changes.len() - 2);
    let done: Vec<&str> = again
        .warnings
        .iter()
        .filter(|w| w.message.contains("already as it was before the apply"))
        .map(|w| w.subject.as_str())
        .collect();
    assert_eq!(done.len(), 2, "{:?}", again.warnings);
    let report = apply::execute(&clients, &again, &options(rollback_dir.path()))
        .await
        .unwrap();
    assert!(report.is_success(), "{report}");
    assert_eq!(account.read().await, start);
    // And once more: nothing left to do, nothing refused.
    let third = rollback::plan_from_journal(&journal_path, &clients, &identity())
        .await
        .expect("a finished rollback can be asked again");
    assert!(third.changes.is_empty(), "{:?}", third.changes);
}
