//! The apply journal: one append-only JSON-lines file per apply, so that a
//! failure, a Ctrl-C or a killed process always leaves a record of exactly
//! what was written, and `rollback` can put it back.
//!
//! File: `BACKUP_DIR/journal-<UTC yyyymmddThhmmssZ>-<pid>.jsonl`, created
//! with `create_new` (never overwrites), mode 0600 on Unix (the documents
//! are policies: not secret, but not for everyone either).
//!
//! Records, one JSON object per line, each line `fsync`ed before the next
//! step goes on:
//!
//! ```text
//! {"record":"header","format_version":1,"account_id":..,"region":..,"plan_digest":..,"started_at":..,"pid":..}
//! {"record":"step","step":1,"state":"started","address":..,"action":..,"target":{..},
//!  "previous":"<document text>"|null,"previous_fingerprint":..,"writing":"<document>"|null,"at":..}
//! {"record":"step","step":1,"state":"applied","at":..}
//! {"record":"step","step":2,"state":"failed","error":{"code":..,"message":..,"meaning":..},"at":..}
//! {"record":"step","step":3,"state":"unknown","error":{..},"at":..}
//! {"record":"verified","step":1,"fingerprint":"sha256:..","converged":true,"at":..}
//! {"record":"end","outcome":"complete"|"failed"|"interrupted"|"not_converged","at":..}
//! ```
//!
//! Decisions:
//! - The `started` record is written and synced *before* the API call, the
//!   outcome after it. A step with only `started` is "started, outcome
//!   unknown": the process died during the call; the write may or may not
//!   have landed, and `rollback` decides by re-reading the resource.
//! - `unknown` is a write the SDK gave up on after a fault that leaves its
//!   effect uncertain (throttled, AWS internal error, connection lost,
//!   timed out): an earlier attempt may have landed before its answer was
//!   lost. It is not `failed` (which means nothing was written), so
//!   `rollback` re-reads the resource and compares it with `previous` and
//!   `writing`, exactly as for a step the process died in. A reader that
//!   does not know `unknown` fails on it instead of skipping the step.
//! - `previous` is the exact text `state::read_current` returned (URL-decoded,
//!   as AWS sent it), so a restore writes back what was there, not a
//!   re-serialisation of it.
//! - `verified.fingerprint` is the fingerprint of the document as re-read
//!   after the write (AWS re-serialises what it is given). Rollback compares
//!   the current document with it exactly; without it (apply stopped before
//!   verification) rollback falls back to equivalence with `writing`.
//! - The reader tolerates a truncated *last* line (the process was killed
//!   in the middle of writing it) and reports it; a malformed line anywhere
//!   else means the file was damaged or edited, and reading fails.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::model::{Action, Target};

/// Version of the journal format.
pub const JOURNAL_FORMAT_VERSION: u32 = 1;

/// The default backup directory, relative to the working directory.
pub const DEFAULT_BACKUP_DIR: &str = ".a2i-fix";

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot write journal `{path}`: {source}; nothing further will be written to AWS")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read journal `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "journal `{path}` is damaged at line {line}: {message}; it was edited or its disk failed, restore it from a copy"
    )]
    Damaged {
        path: String,
        line: usize,
        message: String,
    },
    #[error("journal `{path}` has no header: it is empty or not an a2i-fix journal")]
    NoHeader { path: String },
    #[error(
        "journal `{path}` has format version {found}, this a2i-fix reads version {JOURNAL_FORMAT_VERSION}: use the a2i-fix that wrote it"
    )]
    UnknownVersion { path: String, found: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Header {
    pub format_version: u32,
    pub account_id: String,
    pub region: String,
    /// `model::digest` of the compact JSON of the plan applied.
    pub plan_digest: String,
    pub started_at: String,
    pub pid: u32,
    /// The journal of a rollback (it puts documents back), not of an apply.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rollback: bool,
}

/// An AWS error as recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordedError {
    /// The AWS error code (`NoSuchBucket`, `KMSInvalidStateException`, ...), if any.
    pub code: Option<String>,
    pub message: String,
    /// What it means and what to do, in words.
    pub meaning: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StepRecord {
    Started {
        step: usize,
        address: String,
        action: Action,
        target: Target,
        previous: Option<String>,
        previous_fingerprint: String,
        writing: Option<String>,
        at: String,
    },
    Applied {
        step: usize,
        at: String,
    },
    Failed {
        step: usize,
        error: RecordedError,
        at: String,
    },
    /// The call failed, but an attempt may have taken effect first.
    Unknown {
        step: usize,
        error: RecordedError,
        at: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndOutcome {
    Complete,
    Failed,
    Interrupted,
    NotConverged,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    Header(Header),
    Step(StepRecord),
    Verified {
        step: usize,
        fingerprint: String,
        converged: bool,
        at: String,
    },
    End {
        outcome: EndOutcome,
        at: String,
    },
}

/// An open journal, appending and syncing one record at a time.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
}

impl Journal {
    /// Create a new journal file under `dir` (created if needed) and write
    /// its header.
    pub fn create(dir: &Path, header: Header) -> Result<Journal, JournalError> {
        let werr = |path: &Path, source| JournalError::Write {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| werr(dir, e))?;
        let stem = format!(
            "journal-{}-{}",
            compact_timestamp(SystemTime::now()),
            std::process::id()
        );
        // Two applies in one second from one process (a library caller)
        // get `-2`, `-3`, ...: a journal is never reused or overwritten.
        let mut n = 1;
        let (file, path) = loop {
            let name = if n == 1 {
                format!("{stem}.jsonl")
            } else {
                format!("{stem}-{n}.jsonl")
            };
            let path = dir.join(name);
            let mut options = OpenOptions::new();
            options.append(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            match options.open(&path) {
                Ok(file) => break (file, path),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(werr(&path, e)),
            }
        };
        // Make the new directory entry durable too, so a crash right after
        // the first write still leaves the file in place.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        let mut journal = Journal { file, path };
        journal.append(&Record::Header(header))?;
        Ok(journal)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one record as one line and `fsync` it.
    pub fn append(&mut self, record: &Record) -> Result<(), JournalError> {
        let werr = |source| JournalError::Write {
            path: self.path.display().to_string(),
            source,
        };
        let mut line = serde_json::to_string(record).map_err(|e| werr(std::io::Error::other(e)))?;
        line.push('\n');
        self.file.write_all(line.as_bytes()).map_err(werr)?;
        self.file.sync_data().map_err(werr)
    }
}

/// What is known about one step after reading a journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    Applied,
    Failed(RecordedError),
    /// Started, but no outcome was recorded: the process stopped during the call.
    Unknown,
    /// The call failed with a fault that leaves its effect uncertain (an
    /// attempt may have landed before its answer was lost).
    Uncertain(RecordedError),
}

impl StepOutcome {
    /// Whether the write may have taken effect without the journal knowing:
    /// only a re-read of the resource can tell.
    pub fn is_uncertain(&self) -> bool {
        matches!(self, StepOutcome::Unknown | StepOutcome::Uncertain(_))
    }
}

impl std::fmt::Display for StepOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepOutcome::Applied => write!(f, "applied"),
            StepOutcome::Failed(e) => write!(f, "failed: {}", e.message),
            StepOutcome::Unknown => write!(f, "started, outcome unknown"),
            StepOutcome::Uncertain(e) => write!(f, "outcome unknown: {}", e.message),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalStep {
    pub step: usize,
    pub address: String,
    pub action: Action,
    pub target: Target,
    pub previous: Option<String>,
    pub previous_fingerprint: String,
    pub writing: Option<String>,
    pub outcome: StepOutcome,
    /// Fingerprint of the document re-read after the write, when verified.
    pub verified_fingerprint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalContents {
    pub path: PathBuf,
    pub header: Header,
    /// In step order.
    pub steps: Vec<JournalStep>,
    pub end: Option<EndOutcome>,
    /// The last line was cut short (process killed while writing it); it was ignored.
    pub truncated_tail: bool,
}

/// Read a journal. A truncated last line is tolerated (see module docs).
pub fn read_journal(path: &Path) -> Result<JournalContents, JournalError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| JournalError::Read {
        path: p.clone(),
        source,
    })?;
    parse_journal(path, &text)
}

/// Parse journal text (see [`read_journal`]).
pub fn parse_journal(path: &Path, text: &str) -> Result<JournalContents, JournalError> {
    let p = path.display().to_string();
    let ends_with_newline = text.ends_with('\n');
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    let mut header: Option<Header> = None;
    let mut steps: Vec<JournalStep> = Vec::new();
    let mut end = None;
    let mut truncated_tail = false;
    for (i, line) in lines.iter().enumerate() {
        let is_last = i + 1 == lines.len();
        if line.trim().is_empty() {
            continue;
        }
        // The newline is written together with its record: a last line
        // without one was cut short, whatever it holds.
        if is_last && !ends_with_newline {
            truncated_tail = true;
            break;
        }
        let record: Record = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(_) if is_last => {
                truncated_tail = true;
                break;
            }
            Err(e) => {
                return Err(JournalError::Damaged {
                    path: p,
                    line: i + 1,
                    message: e.to_string(),
                });
            }
        };
        let damaged = |message: String| JournalError::Damaged {
            path: p.clone(),
            line: i + 1,
            message,
        };
        match record {
            Record::Header(h) => {
                if header.is_some() {
                    return Err(damaged("a second header".to_string()));
                }
                if h.format_version != JOURNAL_FORMAT_VERSION {
                    return Err(JournalError::UnknownVersion {
                        path: p,
                        found: h.format_version,
                    });
                }
                header = Some(h);
            }
            _ if header.is_none() => return Err(damaged("a record before the header".to_string())),
            Record::Step(StepRecord::Started {
                step,
                address,
                action,
                target,
                previous,
                previous_fingerprint,
                writing,
                ..
            }) => {
                if steps.iter().any(|s| s.step == step) {
                    return Err(damaged(format!("step {step} started twice")));
                }
                steps.push(JournalStep {
                    step,
                    address,
                    action,
                    target,
                    previous,
                    previous_fingerprint,
                    writing,
                    outcome: StepOutcome::Unknown,
                    verified_fingerprint: None,
                });
            }
            Record::Step(StepRecord::Applied { step, .. }) => {
                let s = steps.iter_mut().find(|s| s.step == step).ok_or_else(|| {
                    damaged(format!("outcome of step {step}, which never started"))
                })?;
                s.outcome = StepOutcome::Applied;
            }
            Record::Step(StepRecord::Failed { step, error, .. }) => {
                let s = steps.iter_mut().find(|s| s.step == step).ok_or_else(|| {
                    damaged(format!("outcome of step {step}, which never started"))
                })?;
                s.outcome = StepOutcome::Failed(error);
            }
            Record::Step(StepRecord::Unknown { step, error, .. }) => {
                let s = steps.iter_mut().find(|s| s.step == step).ok_or_else(|| {
                    damaged(format!("outcome of step {step}, which never started"))
                })?;
                s.outcome = StepOutcome::Uncertain(error);
            }
            Record::Verified {
                step,
                fingerprint,
                converged,
                ..
            } => {
                let s = steps.iter_mut().find(|s| s.step == step).ok_or_else(|| {
                    damaged(format!("verification of step {step}, which never started"))
                })?;
                if converged {
                    s.verified_fingerprint = Some(fingerprint);
                }
            }
            Record::End { outcome, .. } => end = Some(outcome),
        }
    }
    let header = header.ok_or(JournalError::NoHeader { path: p })?;
    steps.sort_by_key(|s| s.step);
    Ok(JournalContents {
        path: path.to_path_buf(),
        header,
        steps,
        end,
        truncated_tail,
    })
}

impl std::fmt::Display for JournalContents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "journal `{}`: account {} region {}, started {}",
            self.path.display(),
            self.header.account_id,
            self.header.region,
            self.header.started_at
        )?;
        for s in &self.steps {
            writeln!(f, "  step {}: {} {}", s.step, s.address, s.outcome)?;
        }
        if self.truncated_tail {
            writeln!(
                f,
                "  (the last line was cut short: the process stopped while writing it)"
            )?;
        }
        match self.end {
            None => writeln!(f, "  apply did not finish"),
            Some(o) => writeln!(
                f,
                "  apply ended: {}",
                serde_json::to_value(o)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ),
        }
    }
}

/// `2026-11-28T02:50:07Z`
pub fn utc_timestamp(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `20261128T025007Z`, for file names.
pub fn compact_timestamp(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// Now, as [`utc_timestamp`].
pub fn now() -> String {
    utc_timestamp(SystemTime::now())
}

fn civil(t: SystemTime) -> (i64, u32, u32, u32, u32, u32) {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

#[cfg(test)]
mod tests;
