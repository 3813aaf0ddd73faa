//! One example's story through the fault proxy, shared by the tests and
//! the benchmark: `plan` and `apply --yes` with faults on, `apply --yes`
//! again until it succeeds (a few times with faults on, then once without),
//! `plan --detailed-exitcode` without faults, and `rollback` of every
//! journal, newest first, without faults. Every check that fails is
//! recorded as a problem naming the seed and the step, never a panic, so
//! the benchmark can count them and a test can print them all.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::fault_proxy::{FaultProxy, Faults};
use crate::support::*;
use a2i_fix::aws::Clients;

/// Applies with faults on before the one without.
pub const APPLIES_WITH_FAULTS: usize = 3;

/// Where a story runs: moto, the proxy in front of it, a reader straight to
/// moto, and what the binary is given besides.
pub struct Bench<'a> {
    pub moto: &'a Moto,
    pub proxy: &'a FaultProxy,
    pub reader: &'a Clients,
    pub cwd: &'a Path,
    /// The faults of the runs with faults on.
    pub faults: Faults,
    /// Extra environment of every run (e.g. `AWS_MAX_ATTEMPTS`).
    pub env: Vec<(&'static str, String)>,
    /// For messages: how to replay.
    pub label: String,
}

/// What one story measured and found.
#[derive(Debug, Default)]
pub struct Story {
    pub plan_ok_first: bool,
    pub apply_ok_first: bool,
    pub plan_time: Duration,
    pub apply_time: Duration,
    /// Something that existed was gone after a run.
    pub lost: bool,
    /// Every check that failed, with the step it failed at.
    pub problems: Vec<String>,
    /// Failure messages seen (exit 1 runs), for the report.
    pub failures: Vec<String>,
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

impl Bench<'_> {
    /// The binary through the proxy.
    fn cmd(&self) -> Command {
        let mut c = a2i_fix_in(self.moto, self.cwd);
        c.env("AWS_ENDPOINT_URL", &self.proxy.endpoint);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Run `name` (a `plans/` example) from `start`, which the account must
    /// hold now; afterwards the account holds `start` again unless a
    /// problem is recorded.
    pub async fn story(&self, name: &str, start: &Account) -> Story {
        let mut s = Story::default();
        let what = format!("{} example {name}", self.label);
        let spec = example(name);
        let backups = tempfile::tempdir().expect("temp dir");
        self.proxy.set(self.faults);

        // 1. plan, faults on: it succeeds or names the call and the fault;
        // it writes nothing.
        let t = Instant::now();
        let out = run(self.cmd().args(["plan", "--spec", path(&spec)]));
        s.plan_time = t.elapsed();
        if std::env::var_os("A2I_FIX_FAULT_TRACE").is_some() {
            eprintln!("{what}: plan exit {:?} in {:?}", out.code, s.plan_time);
        }
        s.plan_ok_first = out.code == Some(0);
        self.judge(&mut s, &out, &format!("{what}: plan (faults on)"));
        let now = Account::read(self.reader).await;
        if let Err(e) = catch(|| assert_untouched(start, &now, "plan")) {
            s.problems.push(format!("{what}: plan wrote: {e}"));
        }

        // 2. apply --yes, faults on, then again until it succeeds.
        let mut journals: Vec<PathBuf> = Vec::new();
        let mut done = false;
        for attempt in 0..=APPLIES_WITH_FAULTS {
            if attempt == APPLIES_WITH_FAULTS {
                self.proxy.set(Faults::Off);
            }
            let step = format!(
                "{what}: apply #{} (faults {})",
                attempt + 1,
                if attempt == APPLIES_WITH_FAULTS {
                    "off"
                } else {
                    "on"
                }
            );
            let t = Instant::now();
            let out = run(self.cmd().args([
                "apply",
                "--yes",
                "--spec",
                path(&spec),
                "--backup-dir",
                path(backups.path()),
            ]));
            if std::env::var_os("A2I_FIX_FAULT_TRACE").is_some() {
                eprintln!("{step}: exit {:?} in {:?}", out.code, t.elapsed());
            }
            if attempt == 0 {
                s.apply_time = t.elapsed();
                s.apply_ok_first = out.code == Some(0);
            }
            self.judge(&mut s, &out, &step);
            if let Some(j) = journal_of(&out) {
                journals.push(j);
            }
            let now = Account::read(self.reader).await;
            if let Err(e) = catch(|| assert_kept(start, &now, &step)) {
                s.lost = true;
                s.problems.push(format!("{step}: something was lost: {e}"));
            }
            if out.code == Some(0) {
                done = true;
                break;
            }
        }
        self.proxy.set(Faults::Off);
        if !done {
            s.problems
                .push(format!("{what}: apply without faults did not succeed"));
        }

        // 3. converged: the next plan has nothing to change.
        let out = run(self
            .cmd()
            .args(["plan", "--detailed-exitcode", "--spec", path(&spec)]));
        if !matches!(out.code, Some(0 | 3)) {
            s.problems.push(format!(
                "{what}: plan after apply (faults off) did not converge:\n{}",
                out.all()
            ));
        }

        // 4. every journal rolled back, newest first, restores the start.
        let mut seen_files = files_in(backups.path());
        seen_files.retain(|f| !journals.contains(f));
        if !seen_files.is_empty() {
            s.problems.push(format!(
                "{what}: journals not named by any apply: {seen_files:?}"
            ));
        }
        for j in journals.iter().rev() {
            let undo = tempfile::tempdir().expect("temp dir");
            let out = run(self.cmd().args([
                "rollback",
                path(j),
                "--yes",
                "--backup-dir",
                path(undo.path()),
            ]));
            if out.code != Some(0) {
                s.problems.push(format!(
                    "{what}: rollback of {} failed:\n{}",
                    j.display(),
                    out.all()
                ));
            }
        }
        let end = Account::read(self.reader).await;
        if let Err(e) = catch(|| assert_identical(start, &end, "after rollback")) {
            s.problems.push(format!(
                "{what}: rolling back {} journal(s) did not restore the start: {e}",
                journals.len()
            ));
        }
        s
    }

    /// A run through faults either succeeds or fails with exit 1 and a
    /// message naming the call and the fault.
    fn judge(&self, s: &mut Story, out: &Output, step: &str) {
        match out.code {
            Some(0) => {}
            Some(1) => {
                s.failures.push(failure_lines(out).join("\n"));
                if let Err(e) = names_call_and_fault(out) {
                    s.problems
                        .push(format!("{step}: exit 1, but {e}:\n{}", out.all()));
                }
            }
            _ => s.problems.push(format!(
                "{step}: neither success nor exit 1:\n{}",
                out.all()
            )),
        }
    }
}

/// `f`'s panic message, if it panics.
pub fn catch(f: impl FnOnce()) -> Result<(), String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".into())
    })
}

/// The journal named by a `Journal: PATH (...)` line, if any.
pub fn journal_of(out: &Output) -> Option<PathBuf> {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("Journal: "))
        .and_then(|rest| rest.split(" (`").next())
        .map(PathBuf::from)
}

/// What a failed run reported: each `error: ...` on stderr with its
/// indented `Caused by:` lines (one message), and each
/// `ADDRESS: failed (CALL): ...` line of an apply report.
pub fn failure_lines(out: &Output) -> Vec<String> {
    let mut messages: Vec<String> = Vec::new();
    for line in out.stderr.lines() {
        if line.starts_with("error: ") {
            messages.push(line.to_string());
        } else if line.starts_with(char::is_whitespace)
            && !line.trim().is_empty()
            && let Some(last) = messages.last_mut()
        {
            last.push(' ');
            last.push_str(line.trim());
        }
    }
    messages.extend(
        out.stdout
            .lines()
            .filter(|l| l.contains(": failed ("))
            .map(str::to_string),
    );
    messages
}

/// The words that name each fault the proxy injects.
const FAULT_WORDS: [&str; 4] = ["throttl", "internal error", "connection", "timed out"];

/// Every line of `out` that reports a failed call names the call and says
/// which fault it was; at least one such line exists.
pub fn names_call_and_fault(out: &Output) -> Result<(), String> {
    let lines = failure_lines(out);
    let naming: Vec<&String> = lines.iter().filter(|l| names_a_call(l)).collect();
    if naming.is_empty() {
        return Err("no error line names the call that failed".into());
    }
    for l in naming {
        let lower = l.to_lowercase();
        if !FAULT_WORDS.iter().any(|w| lower.contains(w)) {
            return Err(format!(
                "the line `{l}` does not say what went wrong (throttled, internal error, connection, timed out)"
            ));
        }
    }
    Ok(())
}

/// Whether `line` names an AWS call: `calling \`...\``, an apply report's
/// `failed (iam:PutRolePolicy ...)`, or a backquoted `service:Operation`.
fn names_a_call(line: &str) -> bool {
    line.contains("calling `")
        || line.contains(": failed (")
        || line.split('`').skip(1).step_by(2).any(|quoted| {
            quoted.split_once(':').is_some_and(|(service, op)| {
                ["iam", "sts", "s3", "kms"].contains(&service)
                    && op.starts_with(|c: char| c.is_ascii_uppercase())
            })
        })
}
