//! `a2i-fix apply`, `show` and `rollback` through the real binary, against
//! moto server. Effects are read back
//! with an independent SDK client (`support::Account`), never through the
//! binary's own state reader: what was there must still be there (by the
//! policy module's equivalence), and a rollback must restore every document
//! byte for byte.
//!
//! One moto server per test (about two seconds each); each test tells one
//! story on its account, in a temp working directory with the journals in
//! temp backup directories.
//!
//! | what must be shown | test |
//! |---|---|
//! | every `plans/` example converges, keeps what was there | `every_example_applies_...` (then rolls each back) |
//! | `yes` / `no` on a pseudo-terminal | `apply_on_a_terminal_...` |
//! | no terminal, no `--yes` | `apply_without_a_terminal_...` |
//! | `--dry-run` prints the calls in order | `apply_dry_run_...` |
//! | stale, edited, other account / region saved plans | `saved_plans_that_are_...` |
//! | `show`, apply exactly what was saved | `show_prints_a_saved_plan_...` |
//! | a write failing half-way, rerun, rollback | `a_write_failing_half_way_...` |
//! | rollback refuses changed resources | `rollback_refuses_...` |
//! | lockout, size, nothing-lost guards; spec account | `guards_refuse_...` |
//! | killed after its first write | `apply_killed_after_...` |
//! | Ctrl-C once / twice | `ctrl_c_during_apply_...` |

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::Moto;
use crate::support::*;
use a2i_fix::journal::{self, EndOutcome, StepOutcome};
use a2i_fix::model::Target;
use a2i_fix::saved;

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("creating a temp dir")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

/// `Apply complete! Resources: A added, C changed, D destroyed.` must be the
/// last line of the report (before the journal line), with the plan's counts.
fn assert_complete(out: &Output, expected: (usize, usize, usize), what: &str) {
    let (a, c, d) = expected;
    assert_eq!(
        out.last_line_before_journal(),
        format!(
            "{} complete! Resources: {a} added, {c} changed, {d} destroyed.",
            if what.contains("rollback") {
                "Rollback"
            } else {
                "Apply"
            }
        ),
        "{what}:\n{}",
        out.all()
    );
}

/// A second plan is empty: `plan --detailed-exitcode` exits 0 saying so.
fn assert_no_changes(moto: &Moto, spec: &Path, cwd: &Path, what: &str) {
    let out =
        run(a2i_fix_in(moto, cwd).args(["plan", "--detailed-exitcode", "--spec", path(spec)]));
    out.assert_code(0, what);
    assert!(out.stdout.contains("No changes."), "{what}: {}", out.all());
}

#[tokio::test]
async fn every_example_applies_through_the_binary_keeps_what_was_there_and_rolls_back_exactly() {
    let moto = Moto::start();
    seed_broken_account(&moto, true).await;
    let reader = moto.clients().await;
    let mut start = Account::read(&reader).await;
    let cwd = tempdir();

    // The last run starts without the flow role: that plan creates it and
    // its rollback deletes it.
    let mut runs: Vec<(&str, bool)> = EXAMPLES.iter().map(|e| (*e, true)).collect();
    runs.push(("custom-task.toml", false));
    for (name, with_flow_role) in runs {
        if !with_flow_role {
            let iam = &reader.iam;
            iam.delete_role_policy()
                .role_name(FLOW_ROLE)
                .policy_name("write-logs")
                .send()
                .await
                .expect("delete the flow role's inline policy");
            iam.delete_role()
                .role_name(FLOW_ROLE)
                .send()
                .await
                .expect("delete the flow role");
            start = Account::read(&reader).await;
        }
        let what = format!("{name} (flow role present: {with_flow_role})");
        let spec = example(name);
        let backups = tempdir();

        let out = run(a2i_fix_in(&moto, cwd.path()).args([
            "apply",
            "--yes",
            "--spec",
            path(&spec),
            "--backup-dir",
            path(backups.path()),
        ]));
        out.assert_code(0, &what);
        let (add, change, destroy) = out.plan_summary();
        assert!(add + change > 0, "{what}: a broken account needs changes");
        assert_eq!(destroy, 0, "{what}");
        if !with_flow_role {
            assert!(
                out.stdout.contains("iam:CreateRole role=A2IFlowRole"),
                "{what}: {}",
                out.all()
            );
        }
        assert_complete(&out, (add, change, 0), &what);
        let journal_file = out.journal();
        assert_eq!(files_in(backups.path()), vec![journal_file.clone()]);

        assert_no_changes(&moto, &spec, cwd.path(), &what);
        let applied = Account::read(&reader).await;
        assert_kept(&start, &applied, &what);
        assert_ne!(applied, start, "{what}: the apply wrote nothing");

        let undo = tempdir();
        let back = run(a2i_fix_in(&moto, cwd.path()).args([
            "rollback",
            path(&journal_file),
            "--yes",
            "--backup-dir",
            path(undo.path()),
        ]));
        back.assert_code(0, &format!("{what}: rollback"));
        assert_complete(&back, (0, change, add), &format!("{what}: rollback"));
        assert_identical(
            &start,
            &Account::read(&reader).await,
            &format!("{what}: after rollback"),
        );
    }
}

#[tokio::test]
async fn apply_on_a_terminal_writes_only_when_the_answer_is_yes() {
    let moto = Moto::start();
    seed_broken_account(&moto, true).await;
    let reader = moto.clients().await;
    let start = Account::read(&reader).await;
    let cwd = tempdir();
    let backups = tempdir();
    let spec = example("kms-output.toml");

    let answer = |text: &str| -> (i32, String) {
        let mut cmd = a2i_fix_in(&moto, cwd.path());
        cmd.args([
            "apply",
            "--spec",
            path(&spec),
            "--backup-dir",
            path(backups.path()),
        ]);
        let mut session =
            rexpect::session::spawn_command(cmd, Some(60_000)).expect("spawning on a pty");
        session
            .exp_string("Do you want to perform these actions?")
            .expect("the question");
        session
            .exp_string("Only 'yes' will be accepted to approve.")
            .expect("the explanation");
        session.exp_string("Enter a value").expect("the prompt");
        session.send_line(text).expect("answering");
        let rest = session.exp_eof().expect("the end of the output");
        let status = session.process().wait().expect("the exit status");
        let code = match status {
            rexpect::process::WaitStatus::Exited(_, code) => code,
            other => panic!("answer {text:?}: not a normal exit: {other:?}\n{rest}"),
        };
        (code, rest)
    };

    for refusal in ["no", "y"] {
        let (code, rest) = answer(refusal);
        assert_eq!(code, 1, "answer {refusal:?}:\n{rest}");
        assert!(
            rest.contains("Apply cancelled. Nothing was written."),
            "answer {refusal:?}:\n{rest}"
        );
        assert_untouched(
            &start,
            &Account::read(&reader).await,
            &format!("answer {refusal:?}"),
        );
        assert!(
            files_in(backups.path()).is_empty(),
            "answer {refusal:?}: no journal without a write"
        );
    }

    let (code, rest) = answer("yes");
    assert_eq!(code, 0, "answer \"yes\":\n{rest}");
    assert!(
        rest.contains("Apply complete! Resources: 2 added, 3 changed, 0 destroyed."),
        "{rest}"
    );
    assert_eq!(files_in(backups.path()).len(), 1);
    assert_kept(&start, &Account::read(&reader).await, "answer \"yes\"");
    assert_no_changes(&moto, &spec, cwd.path(), "after answering yes");
}

#[tokio::test]
async fn apply_without_a_terminal_and_without_yes_refuses_and_writes_nothing() {
    let moto = Moto::start();
    seed_broken_account(&moto, true).await;
    let reader = moto.clients().await;
    let start = Account::read(&reader).await;
    let cwd = tempdir();
    let backups = tempdir();
    let spec = example("kms-output.toml");
    let args = [
        "apply",
        "--spec",
        path(&spec),
        "--backup-dir",
        path(backups.path()),
    ];

    // Closed stdin, as in CI; then a pipe that says `yes`: a stray line of
    // a pipe is not consent either.
    let closed = run(a2i_fix_in(&moto, cwd.path()).args(args));
    let piped = run_with_stdin(a2i_fix_in(&moto, cwd.path()).args(args), "yes\n");
    for (what, out) in [("stdin closed", closed), ("stdin a pipe saying yes", piped)] {
        out.assert_code(1, what);
        assert!(
            out.stderr.contains("standard input is not a terminal")
                && out.stderr.contains("`--yes`")
                && out.stderr.contains("nothing was written"),
            "{what}: {}",
            out.all()
        );
        assert!(
            !out.stdout.contains("Apply complete"),
            "{what}: {}",
            out.all()
        );
    }
    assert_untouched(&start, &Account::read(&reader).await, "no terminal");
    assert!(files_in(backups.path()).is_empty());
    assert!(
        files_in(cwd.path()).is_empty(),
        "nothing in the working directory either"
    );

    // Once the account is right there is nothing to confirm: a pipeline
    // step without `--yes` succeeds.
    run(a2i_fix_in(&moto, cwd.path()).args(args).arg("--yes")).assert_code(0, "apply --yes");
    let done = run(a2i_fix_in(&moto, cwd.path()).args(args));
    done.assert_code(0, "no terminal, nothing to change");
    assert!(
        done.stdout.contains("No changes") && !done.stderr.contains("not a terminal"),
        "{}",
        done.all()
    );
}

/// Rank of an API call in the order apply writes in (roles, trust, inline
/// policies, attachments, key policies, CORS).
fn rank(operation: &str) -> usize {
    [
        "iam:CreateRole",
        "iam:UpdateAssumeRolePolicy",
        "iam:PutRolePolicy",
        "iam:AttachRolePolicy|iam:AttachUserPolicy",
        "kms:PutKeyPolicy",
        "s3:PutBucketCors",
    ]
    .iter()
    .position(|ops| ops.split('|').any(|op| op == operation))
    .unwrap_or_else(|| panic!("unexpected call `{operation}`"))
}

#[tokio::test]
async fn apply_dry_run_prints_the_calls_in_order_and_writes_nothing() {
    let moto = Moto::start();
    // Without the flow role, shared-role.toml needs every kind of call.
    let seeded = seed_broken_account(&moto, false).await;
    let reader = moto.clients().await;
    let start = Account::read(&reader).await;
    let cwd = tempdir();
    let backups = tempdir();
    let spec = example("shared-role.toml");

    // No `--yes` and no terminal: a dry run asks nothing.
    let out = run(a2i_fix_in(&moto, cwd.path()).args([
        "apply",
        "--dry-run",
        "--spec",
        path(&spec),
        "--backup-dir",
        path(backups.path()),
    ]));
    out.assert_code(0, "dry run");

    let (add, change, _) = out.plan_summary();
    let listing = out
        .stdout
        .split_once(
            "Dry run: a2i-fix would make these API calls, in this order (nothing was written):\n",
        )
        .unwrap_or_else(|| panic!("no dry-run listing:\n{}", out.all()))
        .1;
    let calls: Vec<&str> = listing
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            l.strip_prefix(&format!("  {}. ", i + 1))
                .unwrap_or_else(|| panic!("call {} is not numbered: {l:?}", i + 1))
        })
        .collect();
    let expected: Vec<String> = vec![
        "iam:CreateRole role=A2IFlowRole path=/".to_string(),
        "iam:UpdateAssumeRolePolicy role=A2IPreviewRole".to_string(),
        "iam:PutRolePolicy role=A2IFlowRole policy=a2i-fix-permissions".to_string(),
        "iam:PutRolePolicy role=A2IPreviewRole policy=a2i-fix-permissions".to_string(),
        "iam:AttachRolePolicy role=ml-app policy_arn=arn:aws:iam::aws:policy/AmazonAugmentedAIFullAccess".to_string(),
        "iam:AttachRolePolicy role=ml-app policy_arn=arn:aws:iam::aws:policy/AmazonAugmentedAIIntegratedAPIAccess".to_string(),
        format!("kms:PutKeyPolicy key={} policy=default", seeded.key_id),
        "s3:PutBucketCors bucket=acme-a2i-input".to_string(),
        "s3:PutBucketCors bucket=acme-a2i-receipts".to_string(),
    ];
    let mut sorted_calls = calls.clone();
    sorted_calls.sort();
    let mut sorted_expected = expected.clone();
    sorted_expected.sort();
    assert_eq!(sorted_calls, sorted_expected, "{}", out.all());
    assert_eq!(calls.len(), add + change, "one call per change");
    let ranks: Vec<usize> = calls
        .iter()
        .map(|c| rank(c.split(' ').next().unwrap_or_default()))
        .collect();
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "calls out of order: {calls:#?}"
    );

    assert_untouched(&start, &Account::read(&reader).await, "dry run");
    assert!(
        files_in(backups.path()).is_empty(),
        "a dry run writes no journal"
    );
}

/// Rewrite `file`'s JSON with `edit` into `to`.
fn edit_saved_plan(file: &Path, to: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let text = std::fs::read_to_string(file).expect("reading the saved plan");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("a JSON saved plan");
    edit(&mut v);
    std::fs::write(
        to,
        serde_json::to_string_pretty(&v).expect("serialising the plan"),
    )
    .expect("writing the edited plan");
}

/// The index of the first change of the saved plan whose address starts
/// with `prefix`.
fn change_index(v: &serde_json::Value, prefix: &str) -> usize {
    v["changes"]
        .as_array()
        .and_then(|cs| {
            cs.iter()
                .position(|c| c["address"].as_str().is_some_and(|a| a.starts_with(prefix)))
        })
        .unwrap_or_else(|| panic!("no change `{prefix}...` in {v:#}"))
}

#[tokio::test]
async fn saved_plans_that_are_edited_stale_or_for_another_account_or_region_are_refused() {
    let moto = Moto::start();
    seed_broken_account(&moto, true).await;
    let reader = moto.clients().await;
    let cwd = tempdir();
    let backups = tempdir();
    let spec = example("kms-output.toml");
    let file = cwd.path().join("a2i.plan.json");
    run(a2i_fix_in(&moto, cwd.path()).args(["plan", "--spec", path(&spec), "--out", path(&file)]))
        .assert_code(0, "plan --out");
    let start = Account::read(&reader).await;
    let apply = |plan_file: &Path, extra: &[&str]| -> Output {
        let mut cmd = a2i_fix_in(&moto, cwd.path());
        cmd.args([
            "apply",
            path(plan_file),
            "--yes",
            "--backup-dir",
            path(backups.path()),
        ])
        .args(extra);
        run(&mut cmd)
    };
    let refused = |out: &Output, what: &str, expected: &[&str]| {
        out.assert_code(1, what);
        for e in expected {
            assert!(
                out.stderr.contains(e),
                "{what}: no {e:?} in:\n{}",
                out.all()
            );
        }
        assert!(!out.stdout.contains("applied ("), "{what}: {}", out.all());
    };

    // A document inside the file edited by hand.
    let edited = cwd.path().join("edited-document.json");
    edit_saved_plan(&file, &edited, |v| {
        let i = change_index(v, "aws_iam_role.");
        let after = v["changes"][i]["after"].as_str().unwrap_or_default();
        assert!(after.contains("sagemaker.amazonaws.com"), "{after}");
        v["changes"][i]["after"] = after.replace("sagemaker", "ec2").into();
    });
    refused(
        &apply(&edited, &[]),
        "edited document",
        &[
            "was edited after it was written",
            "`aws_iam_role.A2IFlowRole`",
        ],
    );
    // Anything else edited: the target of the CORS change.
    let retargeted = cwd.path().join("edited-target.json");
    edit_saved_plan(&file, &retargeted, |v| {
        let i = change_index(v, "aws_s3_bucket_cors_configuration.");
        v["changes"][i]["target"]["bucket"] = "acme-a2i-output".into();
    });
    refused(
        &apply(&retargeted, &[]),
        "edited target",
        &["was edited after it was written", "plan digest"],
    );

    // Another region.
    refused(
        &apply(&file, &["--region", "us-west-2"]),
        "another region",
        &["made for region `us-east-1`", "`us-west-2`"],
    );

    // Another account: moto hands out credentials of account 111122223333
    // for a role of that account.
    let creds = reader
        .sts
        .assume_role()
        .role_arn("arn:aws:iam::111122223333:role/deployer")
        .role_session_name("cli-test")
        .send()
        .await
        .expect("assume a role of another account")
        .credentials
        .expect("credentials");
    let mut cmd = a2i_fix_in(&moto, cwd.path());
    cmd.args([
        "apply",
        path(&file),
        "--yes",
        "--backup-dir",
        path(backups.path()),
    ])
    .env("AWS_ACCESS_KEY_ID", creds.access_key_id())
    .env("AWS_SECRET_ACCESS_KEY", creds.secret_access_key())
    .env("AWS_SESSION_TOKEN", creds.session_token());
    refused(
        &run(&mut cmd),
        "another account",
        &["made for account 123456789012", "account 111122223333"],
    );

    assert_untouched(
        &start,
        &Account::read(&reader).await,
        "edited, other region, other account",
    );
    assert!(files_in(backups.path()).is_empty());

    // The trust policy rewritten by someone else, meaning the same thing.
    let trust = match start.get("role A2IFlowRole trust") {
        Some(Doc::Policy(t)) => t.clone(),
        other => panic!("the flow role's trust policy: {other:?}"),
    };
    let rewritten = r#"{"Statement":[{"Action":["sts:AssumeRole"],"Principal":{"Service":["lambda.amazonaws.com"]},"Effect":"Allow"}],"Version":"2012-10-17"}"#;
    assert!(
        a2i_fix::policy::equivalent(
            &a2i_fix::policy::PolicyDocument::parse(&trust).expect("trust parses"),
            &a2i_fix::policy::PolicyDocument::parse(rewritten).expect("rewrite parses"),
        ),
        "the rewrite must be equivalent, to show that even that is caught"
    );
    reader
        .iam
        .update_assume_role_policy()
        .role_name(FLOW_ROLE)
        .policy_document(rewritten)
        .send()
        .await
        .expect("rewrite the trust policy");
    let rewritten_state = Account::read(&reader).await;
    let out = apply(&file, &[]);
    refused(
        &out,
        "stale",
        &[
            "saved plan is stale",
            "`aws_iam_role.A2IFlowRole`",
            "nothing was written",
        ],
    );
    insta::assert_snapshot!(
        "stale_saved_plan_refusal",
        out.stderr.replace(path(&file), "[PLAN]")
    );
    assert_untouched(&rewritten_state, &Account::read(&reader).await, "stale");
    assert!(files_in(backups.path()).is_empty());
}

#[tokio::test]
async fn show_prints_a_saved_plan_and_apply_writes_exactly_its_documents() {
    let moto = Moto::start();
    seed_broken_account(&moto, true).await;
    let reader = moto.clients().await;
    let cwd = tempdir();
    let backups = tempdir();
    let spec = example("shared-role.toml");
    let file = cwd.path().join("reviewed.json");
    let planned = run(a2i_fix_in(&moto, cwd.path()).args([
        "plan",
        "--detailed-exitcode",
        "--spec",
        path(&spec),
        "--out",
        path(&file),
    ]));
    planned.assert_code(2, "plan --out with changes");
    assert!(
        planned.stderr.contains("Saved the plan to"),
        "{}",
        planned.all()
    );

    // `show` needs no AWS at all.
    let shown = run(a2i_fix_without_aws(cwd.path())
        .env("NO_COLOR", "1")
        .env("AWS_CONFIG_FILE", cwd.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", cwd.path().join("none"))
        .args(["show", path(&file)]));
    shown.assert_code(0, "show");
    assert_eq!(
        shown.stdout, planned.stdout,
        "show prints the plan as plan did"
    );

    let saved = saved::load_saved_plan(&file).expect("the saved plan loads");
    let start = Account::read(&reader).await;
    let out = run(a2i_fix_in(&moto, cwd.path()).args([
        "apply",
        path(&file),
        "--yes",
        "--backup-dir",
        path(backups.path()),
    ]));
    out.assert_code(0, "apply FILE");
    assert_complete(
        &out,
        (saved.summary.add, saved.summary.change, 0),
        "apply FILE",
    );
    let applied = Account::read(&reader).await;
    for change in &saved.changes {
        assert_written(&applied, change);
    }
    // And nothing else: every other document is as it was.
    let touched: Vec<String> = saved.changes.iter().map(|c| key_of(&c.target)).collect();
    let mut others_before = start.clone();
    let mut others_after = applied.clone();
    for k in &touched {
        others_before.0.remove(k);
        others_after.0.remove(k);
    }
    assert_untouched(&others_before, &others_after, "resources outside the plan");
    assert_kept(&start, &applied, "apply FILE");
    assert_no_changes(&moto, &spec, cwd.path(), "after apply FILE");
}

#[tokio::test]
async fn a_write_failing_half_way_is_reported_exactly_then_rerun_converges_and_rollbacks_restore_the_start()
 {
    let moto = Moto::start();
    seed_broken_account(&moto, true).await;
    let reader = moto.clients().await;
    let start = Account::read(&reader).await;
    let cwd = tempdir();
    let backups = tempdir();
    let spec = example("textract.toml");
    let file = cwd.path().join("textract.plan.json");
    run(a2i_fix_in(&moto, cwd.path()).args(["plan", "--spec", path(&spec), "--out", path(&file)]))
        .assert_code(0, "plan --out");
    let saved = saved::load_saved_plan(&file).expect("the saved plan loads");
    let address_of = |pick: fn(&Target) -> bool| -> String {
        saved
            .changes
            .iter()
            .find(|c| pick(&c.target))
            .map(|c| c.address.clone())
            .unwrap_or_else(|| panic!("no such change in {:#?}", saved.changes))
    };
    let trust = address_of(|t| matches!(t, Target::TrustPolicy { .. }));
    let inline = address_of(|t| matches!(t, Target::InlinePolicy { .. }));
    let attach = address_of(|t| matches!(t, Target::Attachment { .. }));
    let cors = address_of(|t| matches!(t, Target::BucketCors { .. }));
    assert_eq!(saved.changes.len(), 4, "{:#?}", saved.changes);

    // The caller user disappears between plan and apply: its attachment
    // fails after the role's writes, before the bucket's.
    reader
        .iam
        .detach_user_policy()
        .user_name(CALLER_USER)
        .policy_arn(S3_READ_ONLY)
        .send()
        .await
        .expect("detach");
    reader
        .iam
        .delete_user()
        .user_name(CALLER_USER)
        .send()
        .await
        .expect("delete the caller user");

    let out = run(a2i_fix_in(&moto, cwd.path()).args([
        "apply",
        path(&file),
        "--yes",
        "--backup-dir",
        path(backups.path()),
    ]));
    out.assert_code(1, "apply with a failing write");
    let s = |a: &str, st: &str| (a.to_string(), st.to_string());
    assert_eq!(
        out.report_statuses(),
        vec![
            s(&trust, "applied"),
            s(&inline, "applied"),
            s(&attach, "failed"),
            s(&cors, "not attempted"),
        ],
        "{}",
        out.all()
    );
    assert!(
        out.stdout.contains(&format!(
            "{attach}: failed (iam:AttachUserPolicy user=invoice-bot policy_arn=arn:aws:iam::aws:policy/AmazonAugmentedAIIntegratedAPIAccess)"
        )),
        "{}",
        out.all()
    );
    assert!(
        out.last_line_before_journal()
            == "Apply failed! Resources: 1 added, 1 changed, 0 destroyed; 1 failed, 1 not attempted, 0 not converged.",
        "{}",
        out.all()
    );
    let first_journal = out.journal();
    let report = out
        .stdout
        .split_once("\nPlan: ")
        .and_then(|(_, rest)| rest.split_once('\n'))
        .unwrap_or_else(|| panic!("no plan summary:\n{}", out.all()))
        .1
        .replace(path(&first_journal), "[JOURNAL]");
    insta::assert_snapshot!("half_way_failure_report", report);
    assert_eq!(
        out.stderr.lines().collect::<Vec<_>>(),
        vec![
            "error: not every change was applied and verified (see the report above): fix the cause and run the same command again, or put back what was written with the `a2i-fix rollback` command shown above"
        ],
        "the report is printed once, on stdout"
    );
    let j = journal::read_journal(&first_journal).expect("the journal reads");
    let outcomes: Vec<(String, String)> = j
        .steps
        .iter()
        .map(|st| {
            let o = match &st.outcome {
                StepOutcome::Failed(e) => format!("failed {}", e.code.clone().unwrap_or_default()),
                other => other.to_string(),
            };
            (st.address.clone(), o)
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            s(&trust, "applied"),
            s(&inline, "applied"),
            s(&attach, "failed NoSuchEntity"),
        ],
        "the journal has no step for what was not attempted"
    );
    assert_eq!(j.end, Some(EndOutcome::Failed));
    assert_eq!(
        Account::read(&reader)
            .await
            .get("bucket acme-a2i-input cors"),
        start.get("bucket acme-a2i-input cors"),
        "not attempted means not written"
    );

    // Fix the cause (the user is back, as it was) and run apply again.
    let seed = moto.seed().await;
    seed.user(CALLER_USER).await;
    seed.attach_user_policy(CALLER_USER, S3_READ_ONLY).await;
    let again = run(a2i_fix_in(&moto, cwd.path()).args([
        "apply",
        "--yes",
        "--spec",
        path(&spec),
        "--backup-dir",
        path(backups.path()),
    ]));
    again.assert_code(0, "rerun after the fix");
    assert_eq!(
        again.report_statuses(),
        vec![s(&attach, "applied"), s(&cors, "applied")],
        "only what is left"
    );
    assert_complete(&again, (1, 1, 0), "rerun");
    assert_no_changes(&moto, &spec, cwd.path(), "after the rerun");
    assert_kept(&start, &Account::read(&reader).await, "after the rerun");

    // Roll back both, newest first.
    let second_journal = again.journal();
    assert_eq!(files_in(backups.path()), {
        let mut v = vec![first_journal.clone(), second_journal.clone()];
        v.sort();
        v
    });
    for j in [&second_journal, &first_journal] {
        let undo = tempdir();
        let back = run(a2i_fix_in(&moto, cwd.path()).args([
            "rollback",
            path(j),
            "--yes",
            "--backup-dir",
            path(undo.path()),
        ]));
        back.assert_code(0, &format!("rollback {}", j.display()));
    }
    assert_identical(
        &start,
        &Account::read(&reader).await,
        "after both rollbacks",
    );
}

#[tokio::test]
async fn rollback_refuses_a_resource_changed_since_the_apply_and_names_it() {
    let moto = Moto::start();
    seed_broken_account(&moto, true).await;
    let reader = moto.clients().await;
    let cwd = tempdir();
    let backups = tempdir();
    let spec = example("kms-output.toml");
    let out = run(a2i_fix_in(&moto, cwd.path()).args([
        "apply",
        "--yes",
        "--spec",
        path(&spec),
        "--backup-dir",
        path(backups.path()),
    ]));
    out.assert_code(0, "apply");
    let journal_file = out.journal();

    // Someone edits the input bucket's CORS after the apply.
    moto.seed()
        .await
        .put_cors(INPUT, &[crate::support::cors_rule(&["HEAD"], &["*"])])
        .await;
    let changed = Account::read(&reader).await;

    let undo = tempdir();
    let back = run(a2i_fix_in(&moto, cwd.path()).args([
        "rollback",
        path(&journal_file),
        "--yes",
        "--backup-dir",
        path(undo.path()),
    ]));
    back.assert_code(1, "rollback of a changed account");
    assert!(
        back.stderr
            .contains("`aws_s3_bucket_cors_configuration.acme-a2i-input`"),
        "{}",
        back.all()
    );
    for untouched in [
        "aws_iam_role.",
        "aws_kms_key_policy.",
        "aws_iam_role_policy.",
    ] {
        assert!(
            !back.stderr.contains(untouched),
            "only the changed resource is named: {}",
            back.all()
        );
    }
    assert_untouched(&changed, &Account::read(&reader).await, "refused rollback");
    assert!(files_in(undo.path()).is_empty());
}

/// `a2i-fix apply --yes` running through a [`HoldingProxy`] that lets
/// requests pass until the journal in `backups` records the first applied
/// write and holds every request after it: the binary is frozen between
/// writes, deterministically, until the test acts (kill, Ctrl-C, release).
struct Frozen {
    child: std::process::Child,
    proxy: HoldingProxy,
    log: tempfile::TempDir,
}

impl Frozen {
    fn apply(moto: &Moto, cwd: &Path, spec: &Path, backups: &Path) -> Frozen {
        let watched = backups.to_path_buf();
        let proxy = HoldingProxy::start(
            moto.port,
            Arc::new(move || {
                files_in(&watched).iter().any(|p| {
                    std::fs::read_to_string(p).is_ok_and(|t| t.contains(r#""state":"applied""#))
                })
            }),
        );
        let log = tempdir();
        let stdout = std::fs::File::create(log.path().join("stdout")).expect("log file");
        let stderr = std::fs::File::create(log.path().join("stderr")).expect("log file");
        let mut cmd = a2i_fix_in(moto, cwd);
        cmd.args([
            "apply",
            "--yes",
            "--spec",
            path(spec),
            "--backup-dir",
            path(backups),
        ])
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .stdin(std::process::Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
        let mut frozen = Frozen {
            child: cmd.spawn().expect("starting a2i-fix apply"),
            proxy,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while frozen.proxy.held() == 0 {
            if let Ok(Some(status)) = frozen.child.try_wait() {
                panic!(
                    "apply ended ({status}) before it was frozen:\n{}\n{}",
                    frozen.stdout(),
                    frozen.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "apply never made its first write"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        frozen
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(self.log.path().join("stdout")).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.log.path().join("stderr")).unwrap_or_default()
    }

    /// Send SIGINT (what Ctrl-C sends) and wait until the binary says
    /// `expect`. With `repeat`, send it again every half second until then:
    /// the binary listens for the second Ctrl-C only after it has printed
    /// that it got the first one, and a signal sent in between is not seen.
    fn ctrl_c(&self, expect: &str, repeat: bool) {
        let pid = self.child.id().to_string();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = std::process::Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .expect("running kill");
            assert!(status.success(), "kill -INT {pid}");
            let resend = Instant::now() + Duration::from_millis(500);
            while Instant::now() < resend || !repeat {
                if self.stderr().contains(expect) {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "no {expect:?} after SIGINT:\n{}",
                    self.stderr()
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    /// Wait for the exit code (`None`: killed by a signal).
    fn wait(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the child") {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("apply did not end:\n{}\n{}", self.stdout(), self.stderr());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        // Never leave the binary behind, even when an assertion failed.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[tokio::test]
async fn apply_killed_after_its_first_write_leaves_a_readable_journal_and_rerun_and_rollback_work()
{
    let moto = Moto::start();
    seed_broken_account(&moto, true).await;
    let reader = moto.clients().await;
    let start = Account::read(&reader).await;
    let cwd = tempdir();
    let backups = tempdir();
    let spec = example("shared-role.toml");

    let mut frozen = Frozen::apply(&moto, cwd.path(), &spec, backups.path());
    frozen.child.kill().expect("SIGKILL");
    let status = frozen.child.wait().expect("reaping the child");
    assert_eq!(status.code(), None, "killed by a signal");
    let printed = frozen.stdout();
    drop(frozen);
    let (add, change, _) = plan_summary(&printed).expect("the plan was printed");

    let journals = files_in(backups.path());
    assert_eq!(journals.len(), 1, "{journals:?}");
    let killed_journal = journals[0].clone();
    let j = journal::read_journal(&killed_journal).expect("the journal of a killed apply reads");
    assert_eq!(j.end, None, "killed: no end record");
    assert!(!j.truncated_tail, "records are whole lines");
    let applied = j
        .steps
        .iter()
        .filter(|s| s.outcome == StepOutcome::Applied)
        .count();
    let unknown = j
        .steps
        .iter()
        .filter(|s| s.outcome == StepOutcome::Unknown)
        .count();
    assert!(
        applied >= 1 && unknown >= 1 && applied + unknown == j.steps.len(),
        "some writes applied, the one in flight unknown: {j}"
    );
    assert!(
        j.steps.len() < add + change,
        "killed before the last write: {j}"
    );
    assert_eq!(
        j.steps
            .iter()
            .position(|s| s.outcome == StepOutcome::Unknown),
        Some(applied),
        "applied steps come first: {j}"
    );
    let partial = Account::read(&reader).await;
    assert_ne!(partial, start, "the first write landed");
    assert_kept(&start, &partial, "after the kill");

    // Running apply again converges.
    let again = run(a2i_fix_in(&moto, cwd.path()).args([
        "apply",
        "--yes",
        "--spec",
        path(&spec),
        "--backup-dir",
        path(backups.path()),
    ]));
    again.assert_code(0, "rerun after the kill");
    let (add2, change2, _) = again.plan_summary();
    assert_eq!(
        add2 + change2,
        add + change - applied,
        "what was left: {}",
        again.all()
    );
    assert_no_changes(&moto, &spec, cwd.path(), "after the rerun");
    assert_kept(&start, &Account::read(&reader).await, "after the rerun");

    // And both roll back, newest first, to the starting state.
    let rollback = |journal_file: &Path| -> Output {
        let undo = tempdir();
        let back = run(a2i_fix_in(&moto, cwd.path()).args([
            "rollback",
            path(journal_file),
            "--yes",
            "--backup-dir",
            path(undo.path()),
        ]));
        back.assert_code(0, &format!("rollback {}", journal_file.display()));
        back
    };
    rollback(&again.journal());
    let back = rollback(&killed_journal);
    assert_eq!(
        back.plan_summary(),
        (0, applied, 0),
        "only the applied steps are undone: {}",
        back.all()
    );
    for step in j.steps.iter().filter(|s| s.outcome == StepOutcome::Unknown) {
        assert!(
            back.stdout.contains(&format!(
                "step {} was interrupted during its call and did not take effect: nothing to put back",
                step.step
            )),
            "step {} is explained: {}",
            step.step,
            back.all()
        );
    }
    assert_identical(&start, &Account::read(&reader).await, "after the rollbacks");
}

/// A saved plan changed with its digests recomputed (they catch careless
/// edits, they are not a signature), so that only the guards stand between
/// it and the account.
fn craft(plan: &mut a2i_fix::plan::Plan, prefix: &str, after: String, replaced_sids: &[&str]) {
    let change = plan
        .changes
        .iter_mut()
        .find(|c| c.address.starts_with(prefix))
        .unwrap_or_else(|| panic!("no change `{prefix}...`"));
    change.after_digest = a2i_fix::model::fingerprint(Some(&after));
    change.after = Some(after);
    change.replaced_sids = replaced_sids.iter().map(|s| s.to_string()).collect();
}

#[tokio::test]
async fn guards_refuse_a_crafted_plan_naming_each_resource_and_nothing_is_written() {
    let moto = Moto::start();
    let seeded = seed_broken_account(&moto, true).await;
    let reader = moto.clients().await;
    let cwd = tempdir();
    let backups = tempdir();
    let spec = example("kms-output.toml");
    let file = cwd.path().join("plan.json");
    run(a2i_fix_in(&moto, cwd.path()).args(["plan", "--spec", path(&spec), "--out", path(&file)]))
        .assert_code(0, "plan --out");
    let start = Account::read(&reader).await;
    let mut plan = saved::load_saved_plan(&file).expect("the saved plan loads");

    // Size: an inline policy over IAM's 10,240 characters.
    let statements: Vec<serde_json::Value> = (0..120)
        .map(|i| {
            serde_json::json!({
                "Sid": format!("Read{i}"),
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": format!("arn:aws:s3:::acme-a2i-input/a/rather/long/prefix/for/review/batch/{i}/*"),
            })
        })
        .collect();
    craft(
        &mut plan,
        "aws_iam_role_policy.A2IFlowRole:",
        serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string(),
        &[],
    );
    // Lockout: the root statement "replaced" (declared, so not a loss) by
    // one that no longer allows `kms:PutKeyPolicy`.
    let key_address = format!("aws_kms_key_policy.{}", seeded.key_id);
    let key_after = {
        let change = plan
            .changes
            .iter()
            .find(|c| c.address == key_address)
            .expect("a key change");
        let mut v: serde_json::Value =
            serde_json::from_str(change.after.as_deref().unwrap_or_default()).expect("JSON");
        for st in v["Statement"].as_array_mut().expect("statements") {
            if st["Sid"] == "Enable IAM User Permissions" {
                st["Action"] = "kms:DescribeKey".into();
            }
        }
        v.to_string()
    };
    craft(
        &mut plan,
        &key_address,
        key_after,
        &["Enable IAM User Permissions"],
    );
    // Nothing lost: the upload page's CORS rule dropped.
    craft(
        &mut plan,
        "aws_s3_bucket_cors_configuration.acme-a2i-input",
        r#"{"CORSRules":[{"AllowedMethods":["GET"],"AllowedOrigins":["*"]}]}"#.to_string(),
        &[],
    );
    let crafted = cwd.path().join("crafted.json");
    saved::write_saved_plan(&crafted, &plan).expect("writing the crafted plan");

    let out = run(a2i_fix_in(&moto, cwd.path()).args([
        "apply",
        path(&crafted),
        "--yes",
        "--backup-dir",
        path(backups.path()),
    ]));
    out.assert_code(1, "crafted plan");
    let refusal = out
        .stderr
        .split_once("apply refused before any write:")
        .unwrap_or_else(|| panic!("not refused by the guards:\n{}", out.all()))
        .1;
    let reason_of = |address: &str| -> &str {
        refusal
            .lines()
            .find_map(|l| l.strip_prefix(&format!("  - `{address}`: ")))
            .unwrap_or_else(|| panic!("`{address}` is not named:\n{}", out.all()))
    };
    let size = reason_of("aws_iam_role_policy.A2IFlowRole:a2i-fix-permissions");
    assert!(
        size.contains("the inline policies of role `A2IFlowRole` together")
            && size.contains("over the limit of 10240"),
        "{size}"
    );
    let lockout = reason_of(&key_address);
    assert!(
        lockout.contains("would no longer let") && lockout.contains("`kms:PutKeyPolicy`"),
        "{lockout}"
    );
    let lost = reason_of("aws_s3_bucket_cors_configuration.acme-a2i-input");
    assert!(
        lost.contains("`web-uploads`") && lost.contains("would be lost"),
        "{lost}"
    );
    assert_eq!(
        refusal.lines().filter(|l| l.starts_with("  - `")).count(),
        3,
        "the sound changes are not named: {}",
        out.all()
    );
    assert!(out.stderr.contains("nothing was written"), "{}", out.all());
    assert_untouched(&start, &Account::read(&reader).await, "guards");
    assert!(files_in(backups.path()).is_empty());

    // The spec's `account_id` is not the connected account.
    let other = cwd.path().join("other-account.toml");
    std::fs::write(
        &other,
        r#"account_id = "111122223333"

[[flow_definition]]
name = "product-review"
role = "A2IFlowRole"
input_buckets = ["acme-a2i-input"]
output = "s3://acme-a2i-output/reviews/"
"#,
    )
    .expect("writing the spec");
    let out = run(a2i_fix_in(&moto, cwd.path()).args([
        "apply",
        "--yes",
        "--spec",
        path(&other),
        "--backup-dir",
        path(backups.path()),
    ]));
    out.assert_code(1, "spec for another account");
    assert!(
        out.stderr.contains("`123456789012`")
            && out.stderr.contains(r#"`account_id = "111122223333"`"#),
        "{}",
        out.all()
    );
    assert_untouched(&start, &Account::read(&reader).await, "spec account");
    assert!(files_in(backups.path()).is_empty());
}

#[tokio::test]
async fn ctrl_c_during_apply_finishes_the_write_in_flight_and_a_second_one_stops_at_once() {
    let moto = Moto::start();
    seed_broken_account(&moto, true).await;
    let reader = moto.clients().await;
    let start = Account::read(&reader).await;
    let cwd = tempdir();
    let spec = example("shared-role.toml");

    // Ctrl-C twice: stops at once, exit 130, the write in flight unknown.
    let first = tempdir();
    let mut frozen = Frozen::apply(&moto, cwd.path(), &spec, first.path());
    frozen.ctrl_c("interrupt received: finishing the write in flight", false);
    frozen.ctrl_c("stopped at once", true);
    assert_eq!(frozen.wait(), Some(130), "{}", frozen.stderr());
    drop(frozen);
    let first_journal = files_in(first.path());
    assert_eq!(first_journal.len(), 1);
    let j = journal::read_journal(&first_journal[0]).expect("the journal reads");
    assert_eq!(j.end, None, "{j}");
    assert!(
        j.steps.iter().any(|s| s.outcome == StepOutcome::Applied)
            && j.steps.iter().any(|s| s.outcome == StepOutcome::Unknown),
        "{j}"
    );

    // Ctrl-C once: the writes in flight finish and are journaled, no new
    // write starts, the report says so, exit 1.
    let second = tempdir();
    let mut frozen = Frozen::apply(&moto, cwd.path(), &spec, second.path());
    frozen.ctrl_c("interrupt received: finishing the write in flight", false);
    frozen.proxy.release();
    assert_eq!(frozen.wait(), Some(1), "{}", frozen.stderr());
    let printed = frozen.stdout();
    drop(frozen);
    let (add, change, _) = plan_summary(&printed).expect("the plan was printed");
    let report = printed
        .split_once("\nPlan: ")
        .map(|(_, r)| r)
        .unwrap_or_default();
    assert!(
        report.contains("\nApply interrupted! Resources: ") && report.contains(": not attempted"),
        "{report}"
    );
    let second_journal = files_in(second.path());
    assert_eq!(second_journal.len(), 1);
    let j = journal::read_journal(&second_journal[0]).expect("the journal reads");
    assert_eq!(j.end, Some(EndOutcome::Interrupted), "{j}");
    assert!(!j.truncated_tail);
    assert!(
        !j.steps.is_empty() && j.steps.iter().all(|s| s.outcome == StepOutcome::Applied),
        "every write that started has its outcome: {j}"
    );
    assert!(j.steps.len() < add + change, "no new write started: {j}");

    // Apply again converges; the three journals roll back to the start.
    let third = tempdir();
    let out = run(a2i_fix_in(&moto, cwd.path()).args([
        "apply",
        "--yes",
        "--spec",
        path(&spec),
        "--backup-dir",
        path(third.path()),
    ]));
    out.assert_code(0, "apply after the interrupts");
    assert_no_changes(&moto, &spec, cwd.path(), "after the interrupts");
    for journal_file in [
        out.journal(),
        second_journal[0].clone(),
        first_journal[0].clone(),
    ] {
        let undo = tempdir();
        run(a2i_fix_in(&moto, cwd.path()).args([
            "rollback",
            path(&journal_file),
            "--yes",
            "--backup-dir",
            path(undo.path()),
        ]))
        .assert_code(0, &format!("rollback {}", journal_file.display()));
    }
    assert_identical(&start, &Account::read(&reader).await, "after the rollbacks");
}

/// A journal whose apply stopped before its first write (interrupted at
/// once): rollback has nothing to put back and must not print the forward
/// plan's "permissions are up to date".
#[test]
fn rollback_of_a_journal_without_writes_says_there_is_nothing_to_roll_back() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let header = journal::Header {
        format_version: journal::JOURNAL_FORMAT_VERSION,
        account_id: crate::support::ACCOUNT_ID.into(),
        region: crate::support::REGION.into(),
        plan_digest: "sha256:0".into(),
        started_at: "2026-11-28T00:00:00Z".into(),
        pid: 1,
        rollback: false,
    };
    let written = journal::Journal::create(dir.path(), header).expect("journal");
    let path = written.path().to_path_buf();
    drop(written);

    let out = run(a2i_fix_in(&moto, dir.path())
        .arg("rollback")
        .arg(&path)
        .arg("--yes"));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains("Nothing to roll back"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("up to date"), "{}", out.stdout);
}
