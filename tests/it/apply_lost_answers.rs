//! Lost answers: a write reaches moto and takes effect, but its answer never
//! reaches the client (the connection closes as moto starts answering, or
//! a 503 comes back instead), so the SDK retries the call and the retry
//! meets the first attempt's effect: CreateRole answers
//! `EntityAlreadyExists`, a delete answers `NoSuchEntity`. Apply and
//! rollback count such a write as done, journal it as applied, and say so.
//! What happened is read back with the independent seed client.

use std::io::{Read, Write};
use std::path::Path;

use crate::support::apply::*;
use crate::support::fault_proxy::s3_slow_down;
use crate::support::losing_proxy::{LosingProxy, Loss, query_action, s3_put_cors};
use crate::support::*;
use a2i_fix::apply::{self, ChangeStatus, rollback};
use a2i_fix::journal::{self, EndOutcome, StepOutcome};

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

#[tokio::test]
async fn a_lost_create_role_answer_counts_the_role_as_created_and_rollback_deletes_it() {
    let moto = Moto::start();
    let account = moto.seed().await;
    broken_account(&account).await;
    let start = account.read().await;
    let proxy = LosingProxy::start(moto.port, query_action("CreateRole"), Loss::Close, 1);
    let clients = clients_for(&proxy.endpoint).await;
    let plan = plan_of(vec![
        change(&clients, new_role_owned(), &s3_grants()).await,
        change(&clients, new_role(), &sagemaker_trust()).await,
    ]);
    let dir = tempfile::tempdir().unwrap();

    let report = apply::execute(&clients, &plan, &options(dir.path()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(proxy.lost(), 1, "the CreateRole answer was lost once");
    let text = report.to_string();
    assert!(
        text.contains(
            "aws_iam_role.A2IPreviewRole: role `A2IPreviewRole` already existed exactly as planned: \
             an earlier attempt of this call created it"
        ),
        "{text}"
    );
    assert!(
        text.contains("Apply complete! Resources: 2 added, 0 changed, 0 destroyed."),
        "{text}"
    );
    assert_eq!(
        json(&account.trust(PREVIEW_ROLE).await.unwrap()),
        json(&sagemaker_trust())
    );
    let j = journal::read_journal(report.journal.as_deref().unwrap()).unwrap();
    assert_eq!(j.steps[0].address, "aws_iam_role.A2IPreviewRole");
    assert!(
        j.steps.iter().all(|s| s.outcome == StepOutcome::Applied),
        "{j}"
    );
    assert_eq!(j.end, Some(EndOutcome::Complete));

    // The role counted as created is the apply's: rollback deletes it.
    let back =
        rollback::plan_from_journal(report.journal.as_deref().unwrap(), &clients, &identity())
            .await
            .unwrap();
    let out = tempfile::tempdir().unwrap();
    let undone = apply::execute(&clients, &back, &options(out.path()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(undone.is_success(), "{undone}");
    assert_eq!(account.trust(PREVIEW_ROLE).await, None);
    assert_eq!(account.read().await, start);
}

/// CreateRole with moto's raw query protocol, unsigned (moto does not check
/// signatures): another actor creating the role in the apply's window.
fn create_role_behind_the_apply(port: u16, name: &str, trust: &str) {
    let body = format!(
        "Action=CreateRole&Version=2010-05-08&RoleName={name}&AssumeRolePolicyDocument={}",
        percent_encoding::utf8_percent_encode(trust, percent_encoding::NON_ALPHANUMERIC)
    );
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connecting to moto");
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: iam.amazonaws.com\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/iam/aws4_request, \
         SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("sending CreateRole");
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_role_someone_else_created_in_the_window_still_fails_the_create() {
    let moto = Moto::start();
    let account = moto.seed().await;
    broken_account(&account).await;
    // Just before the apply's CreateRole reaches moto, someone else creates
    // the role, trusting Lambda. Nothing is lost: moto answers
    // EntityAlreadyExists to the apply's own (first) attempt.
    let port = moto.port;
    let proxy = LosingProxy::start(
        port,
        std::sync::Arc::new(move |request: &[u8]| {
            if query_action("CreateRole")(request) {
                create_role_behind_the_apply(port, PREVIEW_ROLE, LAMBDA_TRUST);
            }
            false
        }),
        Loss::Close,
        0,
    );
    let clients = clients_for(&proxy.endpoint).await;
    let plan = plan_of(vec![change(&clients, new_role(), &sagemaker_trust()).await]);
    let dir = tempfile::tempdir().unwrap();

    let err = apply::execute(&clients, &plan, &options(dir.path()))
        .await
        .unwrap_err();

    let report = err.report().expect("a report");
    let ChangeStatus::Failed(e) = &report.outcomes[0].status else {
        panic!("{report}")
    };
    assert_eq!(e.code.as_deref(), Some("EntityAlreadyExists"), "{report}");
    assert!(
        e.meaning.contains("created by someone else")
            && e.meaning
                .contains("its trust policy is not the planned one"),
        "{e}"
    );
    assert!(report.notes.is_empty(), "{report}");
    let j = journal::read_journal(report.journal.as_deref().unwrap()).unwrap();
    assert!(matches!(j.steps[0].outcome, StepOutcome::Failed(_)), "{j}");
    // Someone else's role is left alone, and no rollback would touch it.
    assert_eq!(
        json(&account.trust(PREVIEW_ROLE).await.unwrap()),
        json(LAMBDA_TRUST)
    );
    let back =
        rollback::plan_from_journal(report.journal.as_deref().unwrap(), &clients, &identity())
            .await
            .unwrap();
    assert!(back.changes.is_empty(), "{back:?}");
}

/// Apply the whole fix directly against moto; then roll it back through a
/// proxy that loses the answers `choose` picks, `times` times.
async fn rollback_losing(choose: &str, loss: Loss, times: usize, gone: &[&str]) {
    let moto = Moto::start();
    let account = moto.seed().await;
    let s = broken_account(&account).await;
    let start = account.read().await;
    let direct = moto.clients().await;
    let dir = tempfile::tempdir().unwrap();
    let report = apply::execute(&direct, &fix_plan(&direct, &s).await, &options(dir.path()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let journal_path = report.journal.clone().unwrap();

    let proxy = LosingProxy::start(moto.port, query_action(choose), loss, times);
    let clients = clients_for(&proxy.endpoint).await;
    let back = rollback::plan_from_journal(&journal_path, &clients, &identity())
        .await
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let undone = apply::execute(&clients, &back, &options(out.path()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(proxy.lost(), times, "{choose}: answers lost");
    let text = undone.to_string();
    assert!(undone.is_success(), "{text}");
    assert_eq!(undone.notes.len(), times, "{text}");
    for g in gone {
        assert!(text.contains(g), "{g}\n{text}");
    }
    assert!(
        text.contains("Rollback complete! Resources: 0 added, 3 changed, 4 destroyed."),
        "{text}"
    );
    let j = journal::read_journal(undone.journal.as_deref().unwrap()).unwrap();
    assert!(
        j.steps.iter().all(|s| s.outcome == StepOutcome::Applied),
        "{j}"
    );
    assert_eq!(j.end, Some(EndOutcome::Complete));
    assert_eq!(account.read().await, start, "{choose}: back to the start");
}

#[tokio::test]
async fn a_rollback_whose_delete_role_policy_answers_are_lost_finishes_and_restores_the_start() {
    rollback_losing(
        "DeleteRolePolicy",
        Loss::Close,
        2,
        &[
            "aws_iam_role_policy.A2IFlowRole:a2i-fix-permissions: inline policy `a2i-fix-permissions` of role `A2IFlowRole` was already gone: an earlier attempt of this call removed it",
            "aws_iam_role_policy.A2IPreviewRole:a2i-fix-permissions: inline policy",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_rollback_answered_503_after_delete_role_and_detach_finishes_and_restores_the_start() {
    rollback_losing(
        "DeleteRole",
        Loss::Status(503),
        1,
        &["aws_iam_role.A2IPreviewRole: role `A2IPreviewRole` was already gone"],
    )
    .await;
    rollback_losing(
        "DetachUserPolicy",
        Loss::Status(503),
        1,
        &["was already detached from user `ml-app`"],
    )
    .await;
}

/// Through the binary: `apply` whose CreateRole answer is lost exits 0, and
/// `rollback` of its journal deletes the role.
#[tokio::test]
async fn the_binary_applies_through_a_lost_create_role_answer_and_rolls_back() {
    let moto = Moto::start();
    seed_broken_account(&moto, false).await;
    let reader = moto.clients().await;
    let start = Account::read(&reader).await;
    let proxy = LosingProxy::start(moto.port, query_action("CreateRole"), Loss::Close, 1);
    let cwd = tempfile::tempdir().unwrap();
    let backups = tempfile::tempdir().unwrap();
    let spec = example("custom-task.toml");

    let out = run(a2i_fix_in(&moto, cwd.path())
        .args(["apply", "--yes", "--spec", path(&spec)])
        .args(["--backup-dir", path(backups.path())])
        .env("AWS_ENDPOINT_URL", &proxy.endpoint));

    out.assert_code(0, "apply through a lost CreateRole answer");
    assert_eq!(proxy.lost(), 1, "{}", out.all());
    assert!(
        out.stdout.contains(
            "aws_iam_role.A2IFlowRole: role `A2IFlowRole` already existed exactly as planned"
        ),
        "{}",
        out.all()
    );
    let journal_file = out.journal();
    let j = journal::read_journal(&journal_file).unwrap();
    let create = j
        .steps
        .iter()
        .find(|s| s.address == "aws_iam_role.A2IFlowRole")
        .expect("a step creating the flow role");
    assert_eq!(create.outcome, StepOutcome::Applied, "{j}");

    let undo = tempfile::tempdir().unwrap();
    let back = run(a2i_fix_in(&moto, cwd.path())
        .args(["rollback", path(&journal_file), "--yes"])
        .args(["--backup-dir", path(undo.path())])
        .env("AWS_ENDPOINT_URL", &proxy.endpoint));
    back.assert_code(0, "rollback");
    let now = Account::read(&reader).await;
    assert!(now.trust(FLOW_ROLE).is_none(), "{}", back.all());
    assert_identical(&start, &now, "after rollback");
}

#[tokio::test]
async fn a_write_given_up_after_an_attempt_landed_is_journaled_unknown_and_rolled_back() {
    let moto = Moto::start();
    let account = moto.seed().await;
    broken_account(&account).await;
    let start = account.read().await;
    // The first PutBucketCors reaches moto and takes effect, its answer is
    // lost; every retry is answered `503 SlowDown` until the SDK gives up.
    let proxy = LosingProxy::start_then_refusing(moto.port, s3_put_cors(), 1, s3_slow_down());
    let clients = clients_for(&proxy.endpoint).await;
    let plan = plan_of(vec![change(&clients, cors_target(), &cors_after()).await]);
    let dir = tempfile::tempdir().unwrap();

    let err = apply::execute(&clients, &plan, &options(dir.path()))
        .await
        .unwrap_err();

    assert_eq!(proxy.lost(), 1);
    let report = err.report().expect("a report");
    let ChangeStatus::Failed(e) = &report.outcomes[0].status else {
        panic!("{report}")
    };
    assert_eq!(e.code.as_deref(), Some("SlowDown"), "{report}");
    assert!(e.uncertain, "{e}");
    assert!(
        e.meaning.contains("may have taken effect") && e.meaning.contains("unknown"),
        "{e}"
    );
    // It did take effect: A2I's rule is in the bucket (read by moto's own client).
    let live = account.cors(INPUT).await.expect("a CORS configuration");
    assert!(
        live.contains(&(vec!["GET".to_string()], vec!["*".to_string()])),
        "{live:?}"
    );
    let path = report.journal.clone().unwrap();
    let j = journal::read_journal(&path).unwrap();
    assert!(
        matches!(&j.steps[0].outcome, StepOutcome::Uncertain(r) if r.code.as_deref() == Some("SlowDown")),
        "{j}"
    );
    assert!(j.steps[0].outcome.is_uncertain());
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("\"state\":\"unknown\"")
    );

    // Rollback compares the live document with the journal and undoes it.
    let direct = moto.clients().await;
    let back = rollback::plan_from_journal(&path, &direct, &identity())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.changes.len(), 1, "{back:?}");
    let out = tempfile::tempdir().unwrap();
    let undone = apply::execute(&direct, &back, &options(out.path()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(undone.is_success(), "{undone}");
    assert_eq!(account.read().await, start, "back to the start");
}

#[tokio::test]
async fn a_write_given_up_before_any_attempt_landed_rolls_back_to_nothing() {
    let moto = Moto::start();
    let account = moto.seed().await;
    broken_account(&account).await;
    let start = account.read().await;
    // No attempt ever reaches moto: every PutBucketCors is throttled.
    let proxy = LosingProxy::start_then_refusing(moto.port, s3_put_cors(), 0, s3_slow_down());
    let clients = clients_for(&proxy.endpoint).await;
    let plan = plan_of(vec![change(&clients, cors_target(), &cors_after()).await]);
    let dir = tempfile::tempdir().unwrap();

    let err = apply::execute(&clients, &plan, &options(dir.path()))
        .await
        .unwrap_err();
    let report = err.report().expect("a report");
    let path = report.journal.clone().unwrap();
    let j = journal::read_journal(&path).unwrap();
    assert!(j.steps[0].outcome.is_uncertain(), "{j}");
    assert_eq!(account.read().await, start, "nothing was written");

    let direct = moto.clients().await;
    let back = rollback::plan_from_journal(&path, &direct, &identity())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(back.changes.is_empty(), "{back:?}");
    assert!(
        back.warnings
            .iter()
            .any(|w| w.message.contains("uncertain outcome")
                && w.message.contains("did not take effect")),
        "{:?}",
        back.warnings
    );
}
