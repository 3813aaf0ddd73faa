//! PutKeyPolicy's retry of "invalid principals" (IAM not yet visible to
//! KMS), against a fake KMS endpoint: moto never returns that error.

use std::time::{Duration, Instant};

use crate::support::apply::*;
use crate::support::fake_kms::FakeKms;
use crate::support::*;
use a2i_fix::apply::{self, ApplyError, ChangeStatus};
use a2i_fix::journal::{self, StepOutcome};
use a2i_fix::model::Target;

const INVALID_PRINCIPALS: &str = "Policy contains a statement with one or more invalid principals.";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/A2IFlowRole";

fn key() -> Target {
    Target::KeyPolicy {
        key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        key_arn: "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
            .into(),
    }
}

#[tokio::test]
async fn put_key_policy_retries_invalid_principals_until_kms_sees_the_role() {
    let fake = FakeKms::start(&root_only_key_policy(), 2, INVALID_PRINCIPALS);
    let clients = clients_for(&fake.endpoint).await;
    let plan = plan_of(vec![change(&clients, key(), &key_after(ROLE_ARN)).await]);
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.kms_retry_budget = Duration::from_secs(20);

    let report = apply::execute(&clients, &plan, &opts).await.unwrap();

    assert!(report.is_success(), "{report}");
    assert_eq!(fake.put_calls(), 3);
    assert_eq!(clients.counter.snapshot().get("kms:PutKeyPolicy"), Some(&3));
    assert_eq!(fake.policy(), key_after(ROLE_ARN));
}

#[tokio::test]
async fn put_key_policy_gives_up_after_its_budget_with_a_clear_error() {
    let fake = FakeKms::start(&root_only_key_policy(), 1000, INVALID_PRINCIPALS);
    let clients = clients_for(&fake.endpoint).await;
    let plan = plan_of(vec![change(&clients, key(), &key_after(ROLE_ARN)).await]);
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    // Attempts at 0 s and 1 s; the next would be at 3 s, past the budget.
    opts.kms_retry_budget = Duration::from_millis(1500);

    let err = apply::execute(&clients, &plan, &opts).await.unwrap_err();

    let report = err.report().expect("a report");
    let ChangeStatus::Failed(e) = &report.outcomes[0].status else {
        panic!("{report}")
    };
    assert_eq!(e.code.as_deref(), Some("MalformedPolicyDocumentException"));
    assert!(
        e.meaning
            .starts_with("KMS still rejects a principal of the key policy after 2 attempts"),
        "{e}"
    );
    assert!(e.meaning.contains("run apply again"), "{e}");
    assert_eq!(fake.put_calls(), 2);
    assert_eq!(fake.policy(), root_only_key_policy(), "nothing written");
    let j = journal::read_journal(report.journal.as_deref().unwrap()).unwrap();
    assert!(matches!(&j.steps[0].outcome, StepOutcome::Failed(r) if r.meaning == e.meaning));
}

#[tokio::test]
async fn other_malformed_key_policies_are_not_retried() {
    let fake = FakeKms::start(
        &root_only_key_policy(),
        1000,
        "Policy contains an invalid action.",
    );
    let clients = clients_for(&fake.endpoint).await;
    let plan = plan_of(vec![change(&clients, key(), &key_after(ROLE_ARN)).await]);
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.kms_retry_budget = Duration::from_secs(60);
    let started = Instant::now();

    let err = apply::execute(&clients, &plan, &opts).await.unwrap_err();

    assert!(
        started.elapsed() < Duration::from_secs(20),
        "no retry: {:?}",
        started.elapsed()
    );
    assert_eq!(fake.put_calls(), 1);
    assert!(matches!(err, ApplyError::Incomplete(_)), "{err}");
}

#[tokio::test]
async fn an_interrupt_stops_the_kms_retry_and_is_reported() {
    let fake = FakeKms::start(&root_only_key_policy(), 1000, INVALID_PRINCIPALS);
    let clients = clients_for(&fake.endpoint).await;
    let plan = plan_of(vec![change(&clients, key(), &key_after(ROLE_ARN)).await]);
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.kms_retry_budget = Duration::from_secs(120);
    let interrupt = opts.interrupt.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        interrupt.trigger();
    });
    let started = Instant::now();

    let err = apply::execute(&clients, &plan, &opts).await.unwrap_err();

    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let report = err.report().expect("a report");
    assert!(report.interrupted);
    let ChangeStatus::Failed(e) = &report.outcomes[0].status else {
        panic!("{report}")
    };
    assert!(
        e.meaning.contains("interrupted while waiting to retry"),
        "{e}"
    );
    assert!(
        report.to_string().contains("Apply interrupted!"),
        "{report}"
    );
    let j = journal::read_journal(report.journal.as_deref().unwrap()).unwrap();
    assert!(matches!(j.steps[0].outcome, StepOutcome::Failed(_)));
    assert_eq!(j.end, Some(journal::EndOutcome::Interrupted));
}

#[tokio::test]
async fn a_key_policy_changed_by_someone_else_during_the_retry_is_not_overwritten() {
    let fake = FakeKms::start(&root_only_key_policy(), 1000, INVALID_PRINCIPALS);
    let clients = clients_for(&fake.endpoint).await;
    let plan = plan_of(vec![change(&clients, key(), &key_after(ROLE_ARN)).await]);
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.kms_retry_budget = Duration::from_secs(60);
    // While a2i-fix waits to retry, someone else changes the key policy.
    let theirs = key_after("arn:aws:iam::123456789012:role/SomeoneElse");
    let editor = {
        let fake = fake.clone();
        let theirs = theirs.clone();
        tokio::spawn(async move {
            while fake.put_calls() == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            fake.set_policy(&theirs);
        })
    };
    let err = apply::execute(&clients, &plan, &opts)
        .await
        .expect_err("the write is refused");
    editor.await.expect("the editor ran");
    let report = err.report().expect("a report").to_string();
    assert!(
        report.contains("changed by someone else while a2i-fix waited to retry"),
        "{report}"
    );
    assert_eq!(fake.policy(), theirs, "their change is kept");
    assert_eq!(fake.put_calls(), 1, "no write after the change was seen");
}
