//! Through the binary: `apply --yes` killed (SIGKILL, no chance to clean
//! up) at every write point of a plan, once before the write reaches AWS
//! and once after it took effect but before its answer came back. Each
//! time: the journal reads and says exactly that (earlier steps applied,
//! the one in flight unknown); running `apply` again converges; rolling
//! back the killed journal while the rerun's writes to the same resources
//! are in effect is refused, naming the newer journal; rolling back both,
//! newest first, restores the starting account exactly.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::losing_proxy::{LosingProxy, Loss, from_nth_write};
use crate::support::*;
use a2i_fix::journal::{self, StepOutcome};

/// The plan of `shared-role.toml` over the broken account, one write per
/// change; checked against the plan itself below.
const WRITES: usize = 9;

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

/// Every write point, or only `A2I_FIX_KILL_POINT=N` (to replay one).
fn points() -> Vec<usize> {
    match std::env::var("A2I_FIX_KILL_POINT")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(n) => vec![n],
        None => (1..=WRITES).collect(),
    }
}

#[tokio::test]
async fn killed_before_each_write_reaches_aws() {
    let mut refused = 0;
    for point in points() {
        refused += usize::from(killed_at(point, Loss::HoldRequest).await);
    }
    // The write in flight did not land, so the rerun writes it again (unless
    // a broader grant that landed made it unnecessary): older-first is
    // refused at nearly every point.
    assert!(
        refused >= points().len().div_ceil(2),
        "refused {refused} times"
    );
}

#[tokio::test]
async fn killed_after_each_write_took_effect_before_its_answer() {
    for point in points() {
        let _refused = killed_at(point, Loss::HoldAnswer).await;
    }
}

/// Whether rolling back the killed journal first was refused.
async fn killed_at(point: usize, how: Loss) -> bool {
    let what = format!("write {point}, {how:?}");
    let moto = Moto::start();
    seed_broken_account(&moto, true).await;
    let reader = moto.clients().await;
    let start = Account::read(&reader).await;
    let cwd = tempfile::tempdir().expect("temp dir");
    let backups = tempfile::tempdir().expect("temp dir");
    let spec = example("shared-role.toml");
    let planned = run(a2i_fix_in(&moto, cwd.path()).args(["plan", "--spec", path(&spec)]));
    let (add, change, destroy) = planned.plan_summary();
    assert_eq!(add + change + destroy, WRITES, "{}", planned.all());

    // Apply through the proxy, killed once the chosen write is held. Writes
    // of the same rank run concurrently: any write after the chosen one is
    // held before it reaches moto, so exactly `point - 1` writes (plus the
    // chosen one, when its answer is what is held) take effect.
    let proxy = LosingProxy::start_then_holding(moto.port, from_nth_write(point), how);
    let mut child = a2i_fix_in(&moto, cwd.path());
    child
        .args([
            "apply",
            "--yes",
            "--spec",
            path(&spec),
            "--backup-dir",
            path(backups.path()),
        ])
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = Killed(child.spawn().expect("starting a2i-fix apply"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.held() == 0 {
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("{what}: apply ended ({status}) before the write point");
        }
        assert!(Instant::now() < deadline, "{what}: never reached");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The earlier writes were answered: wait until they are journaled.
    let applied = |dir: &Path| {
        files_in(dir)
            .first()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map_or(0, |t| t.matches(r#""state":"applied""#).count())
    };
    while applied(backups.path()) < point - 1 {
        assert!(
            Instant::now() < deadline,
            "{what}: earlier writes not journaled"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.0.kill().expect("SIGKILL");
    child.0.wait().expect("reaping the child");
    drop(proxy);

    let journals = files_in(backups.path());
    assert_eq!(journals.len(), 1, "{what}: {journals:?}");
    let killed: PathBuf = journals[0].clone();
    let j = journal::read_journal(&killed).expect("the journal of a killed apply reads");
    assert_eq!(j.end, None, "{what}: killed, so no end record");
    let count = |o: &StepOutcome| j.steps.iter().filter(|s| s.outcome == *o).count();
    let unknown = count(&StepOutcome::Unknown);
    assert_eq!(count(&StepOutcome::Applied), point - 1, "{what}: {j}");
    assert!(unknown >= 1, "{what}: the write in flight is unknown: {j}");
    assert_eq!(point - 1 + unknown, j.steps.len(), "{what}: {j}");
    let partial = Account::read(&reader).await;
    assert_kept(&start, &partial, &format!("{what}: after the kill"));

    // Running apply again converges: the rerun writes what is left, the
    // write in flight included when it did not take effect.
    let again = run(a2i_fix_in(&moto, cwd.path()).args([
        "apply",
        "--yes",
        "--spec",
        path(&spec),
        "--backup-dir",
        path(backups.path()),
    ]));
    again.assert_code(0, &format!("{what}: rerun"));
    let landed = if how == Loss::HoldAnswer {
        point
    } else {
        point - 1
    };
    // At most what did not land: a need met by a broader grant that did
    // land (an attachment that covers another) is no longer a change.
    let total = |out: &Output| plan_summary(&out.stdout).map_or(0, |(a, c, d)| a + c + d);
    assert!(total(&again) <= WRITES - landed, "{what}: {}", again.all());
    let second = run(a2i_fix_in(&moto, cwd.path()).args([
        "plan",
        "--detailed-exitcode",
        "--spec",
        path(&spec),
    ]));
    second.assert_code(0, &format!("{what}: plan after the rerun"));
    assert_kept(&start, &Account::read(&reader).await, &what);

    let rollback = |journal_file: &Path, dry_run: bool| -> Output {
        let undo = tempfile::tempdir().expect("temp dir");
        let mut cmd = a2i_fix_in(&moto, cwd.path());
        cmd.args([
            "rollback",
            path(journal_file),
            "--yes",
            "--backup-dir",
            path(undo.path()),
        ]);
        if dry_run {
            cmd.arg("--dry-run");
        }
        run(&mut cmd)
    };
    let newer = (total(&again) > 0).then(|| again.journal());
    let rewritten = newer.as_ref().is_some_and(|n| {
        let rerun = journal::read_journal(n).expect("the rerun's journal reads");
        rerun
            .steps
            .iter()
            .any(|s| j.steps.iter().any(|k| k.target == s.target))
    });
    // The killed journal first: refused when the rerun wrote a resource of
    // it again (a write in flight had not landed), since undoing it would
    // silently take back the rerun's write.
    let early = rollback(&killed, true);
    if rewritten {
        early.assert_code(1, &format!("{what}: older journal first"));
        let newer = newer.as_ref().expect("the rerun wrote");
        assert!(
            early.stderr.contains(&newer.display().to_string())
                && early.stderr.contains("newest first"),
            "{what}: {}",
            early.all()
        );
    } else {
        // Nothing of the killed journal was written again: its resources
        // are its own, and rolling it back first takes nothing newer back.
        early.assert_code(0, &format!("{what}: older journal first, disjoint"));
    }

    // Newest first, then the killed one: back to the start, exactly.
    if let Some(newer) = &newer {
        rollback(newer, false).assert_code(0, &format!("{what}: rollback of the rerun"));
    }
    let back = rollback(&killed, false);
    back.assert_code(0, &format!("{what}: rollback of the killed apply"));
    assert_eq!(
        total(&back),
        landed,
        "{what}: exactly the writes that took effect are undone: {}",
        back.all()
    );
    assert_identical(
        &start,
        &Account::read(&reader).await,
        &format!("{what}: after both rollbacks"),
    );
    rewritten
}

/// Never leaves the binary behind when an assertion fails.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
