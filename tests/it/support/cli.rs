//! The one way the tests run the real `a2i-fix` binary: [`a2i_fix`] (talking
//! to a moto server and nothing else), [`a2i_fix_in`] (the same, in a working
//! directory, set up for commands that write) and [`a2i_fix_without_aws`]
//! (no AWS environment at all), all run by [`run`] into one [`Output`].

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::Moto;

/// How long one run of the binary may take before the test fails (a guard
/// against a hang, not a benchmark).
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The binary, with nothing set yet.
fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_a2i-fix"))
}

/// `a2i-fix` with no arguments yet, talking to `moto` and to nothing else
/// (every inherited `AWS_*` variable removed, `NO_COLOR` unset so that tests
/// of colour control it themselves).
pub fn a2i_fix(moto: &Moto) -> Command {
    let mut cmd = binary();
    moto.configure(&mut cmd);
    cmd.env_remove("NO_COLOR");
    cmd
}

/// [`a2i_fix`] run in `cwd` (so that the default backup directory, if a test
/// forgets `--backup-dir`, is a temp dir too), for commands that write. No
/// colour; verification and the KMS retry budget are short, so that a
/// failing test fails in seconds.
pub fn a2i_fix_in(moto: &Moto, cwd: &Path) -> Command {
    let mut cmd = a2i_fix(moto);
    cmd.current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("A2I_FIX_VERIFY_SECONDS", "10")
        .env("A2I_FIX_KMS_RETRY_SECONDS", "5");
    cmd
}

/// `a2i-fix` with no AWS environment at all: only `PATH` and an empty `HOME`
/// (also the working directory).
pub fn a2i_fix_without_aws(home: &Path) -> Command {
    let mut cmd = binary();
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .current_dir(home);
    cmd
}

/// Run to completion with standard input closed (not a terminal), as a
/// pipeline would; fails the test after [`RUN_TIMEOUT`].
pub fn run(cmd: &mut Command) -> Output {
    run_within(cmd, RUN_TIMEOUT)
}

/// [`run`], failing the test after `timeout`.
pub fn run_within(cmd: &mut Command, timeout: Duration) -> Output {
    cmd.stdin(Stdio::null());
    finish(cmd, None, timeout)
}

/// Run to completion with `input` on a pipe as standard input.
pub fn run_with_stdin(cmd: &mut Command, input: &str) -> Output {
    cmd.stdin(Stdio::piped());
    finish(cmd, Some(input), RUN_TIMEOUT)
}

/// Start `cmd`, feed it `input`, collect both streams, and kill it (failing
/// the test) if it outlives `timeout`.
fn finish(cmd: &mut Command, input: Option<&str>, timeout: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("starting a2i-fix");
    if let (Some(mut stdin), Some(input)) = (child.stdin.take(), input) {
        // The binary may refuse before reading: a closed pipe is fine.
        let _ = stdin.write_all(input.as_bytes());
    }
    let drain = |stream: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut s) = stream {
                let _ = s.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().expect("waiting for a2i-fix") {
            Some(status) => break Some(status),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let output = Output {
        code: status.and_then(|s| s.code()),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    assert!(
        status.is_some(),
        "a2i-fix ran longer than {timeout:?} and was killed:\n{}",
        output.all()
    );
    output
}

/// `a2i-fix plan --spec SPEC ARGS...`
pub fn plan(moto: &Moto, spec: &Path, args: &[&str]) -> Output {
    run(a2i_fix(moto).arg("plan").arg("--spec").arg(spec).args(args))
}

/// `a2i-fix plan --json --spec SPEC`, which must succeed.
pub fn plan_json(moto: &Moto, spec: &Path) -> Value {
    plan(moto, spec, &["--json"]).expect_code(0).json()
}

/// What a finished run printed.
#[derive(Debug)]
pub struct Output {
    /// `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Everything, for assertion messages.
    pub fn all(&self) -> String {
        format!(
            "exit code: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// Panics, showing the output, unless the exit code is `code`.
    pub fn assert_code(&self, code: i32, what: &str) -> &Self {
        assert_eq!(self.code, Some(code), "{what}:\n{}", self.all());
        self
    }

    /// [`Output::assert_code`], keeping the output, for chaining.
    pub fn expect_code(self, code: i32) -> Output {
        self.assert_code(code, &format!("expected exit code {code}"));
        self
    }

    /// Standard output parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", self.all()))
    }

    /// The `Plan: N to add, M to change, D to destroy.` line, as numbers.
    pub fn plan_summary(&self) -> (usize, usize, usize) {
        plan_summary(&self.stdout).unwrap_or_else(|| panic!("no `Plan:` line:\n{}", self.all()))
    }

    /// The journal named by the `Journal: PATH (...)` line.
    pub fn journal(&self) -> PathBuf {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix("Journal: "))
            .and_then(|rest| rest.split(" (`").next())
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("no `Journal:` line:\n{}", self.all()))
    }

    /// The last line that is not the `Journal:` line.
    pub fn last_line_before_journal(&self) -> &str {
        self.stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty() && !l.starts_with("Journal: "))
            .unwrap_or("")
    }

    /// The per-change lines of an apply report: `(address, status)` where
    /// status is `applied`, `failed` or `not attempted`.
    pub fn report_statuses(&self) -> Vec<(String, String)> {
        self.stdout
            .lines()
            .filter_map(|l| {
                let (address, rest) = l.split_once(": ")?;
                if address.contains(' ') || !address.contains('.') {
                    return None;
                }
                let status = ["applied (", "failed (", "not attempted"]
                    .iter()
                    .find(|s| rest.starts_with(**s))?;
                Some((
                    address.to_string(),
                    status.trim_end_matches(" (").to_string(),
                ))
            })
            .collect()
    }
}

/// Parse `Plan: N to add, M to change, D to destroy.` out of a rendered plan.
pub fn plan_summary(text: &str) -> Option<(usize, usize, usize)> {
    let line = text.lines().find(|l| l.starts_with("Plan: "))?;
    let nums: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    match nums.as_slice() {
        [a, c, d] => Some((*a, *c, *d)),
        _ => None,
    }
}
