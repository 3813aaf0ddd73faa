//! What apply did: the report printed at the end, and the errors that stop
//! an apply before (or, with [`ApplyError::Incomplete`], after) its writes.

use std::path::{Path, PathBuf};

use super::{PlannedCall, Refusal, StaleResource, WriteError};
use crate::journal::JournalError;
use crate::model::Action;

/// Why apply did not (fully) happen.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(
        "the spec is for account {expected}, but the credentials in use are for account {connected}: use the profile for account {expected}"
    )]
    AccountMismatch { expected: String, connected: String },
    #[error(
        "the plan was made for account {planned} in `{planned_region}`, but the credentials in use are for account {connected} in `{connected_region}`: use the matching profile and `--region`, or plan again"
    )]
    WrongAccount {
        planned: String,
        planned_region: String,
        connected: String,
        connected_region: String,
    },
    #[error("{}", stale_message(.saved_plan.as_deref(), .resources))]
    Stale {
        saved_plan: Option<PathBuf>,
        resources: Vec<StaleResource>,
    },
    #[error("{}", refused_message(.0))]
    Refused(Vec<Refusal>),
    #[error("cannot re-read `{address}` before writing: {message}; nothing was written")]
    Read { address: String, message: String },
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{0}")]
    Incomplete(Box<ApplyReport>),
}

impl ApplyError {
    /// The report, when writes were attempted.
    pub fn report(&self) -> Option<&ApplyReport> {
        match self {
            ApplyError::Incomplete(r) => Some(r),
            _ => None,
        }
    }
}

fn stale_message(saved: Option<&Path>, resources: &[StaleResource]) -> String {
    let mut s = match saved {
        Some(p) => format!(
            "saved plan is stale: `{}` was made before these resources changed:",
            p.display()
        ),
        None => "saved plan is stale: these resources changed since the plan was made:".to_string(),
    };
    for r in resources {
        s.push_str(&format!("\n  - `{}`: {}", r.address, r.detail));
    }
    s.push_str("\nnothing was written; run `a2i-fix plan` again and review the new plan");
    s
}

fn refused_message(refusals: &[Refusal]) -> String {
    let mut s = "apply refused before any write:".to_string();
    for r in refusals {
        s.push_str(&format!("\n  - `{}`: {}", r.address, r.reason));
    }
    s.push_str("\nnothing was written");
    s
}

/// What happened to one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeStatus {
    Applied,
    Failed(WriteError),
    NotAttempted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeOutcome {
    /// Journal step number (1-based, write order).
    pub step: usize,
    pub address: String,
    pub action: Action,
    pub call: PlannedCall,
    pub status: ChangeStatus,
}

/// A change that was applied but that AWS does not show as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotConverged {
    pub address: String,
    pub detail: String,
}

/// What apply did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApplyReport {
    pub dry_run: bool,
    /// In write order. In a dry run: the calls it would make.
    pub calls: Vec<PlannedCall>,
    /// Per change, in write order (empty in a dry run).
    pub outcomes: Vec<ChangeOutcome>,
    pub not_converged: Vec<NotConverged>,
    /// One line each, `address: why`: changes counted as applied although
    /// AWS's last answer was an error, because it shows the change's effect
    /// already holds (an earlier attempt took effect, its answer was lost).
    pub notes: Vec<String>,
    pub interrupted: bool,
    /// The plan was a rollback: the report says "Rollback", not "Apply".
    pub rollback: bool,
    pub journal: Option<PathBuf>,
    /// The journal could not be written: no write was started after that.
    pub journal_error: Option<String>,
}

impl ApplyReport {
    /// Every change applied and converged (a dry run always succeeds).
    pub fn is_success(&self) -> bool {
        self.dry_run
            || (!self.interrupted
                && self.journal_error.is_none()
                && self.not_converged.is_empty()
                && self
                    .outcomes
                    .iter()
                    .all(|o| o.status == ChangeStatus::Applied))
    }

    /// (added, changed, destroyed) among applied changes.
    pub fn counts(&self) -> (usize, usize, usize) {
        let applied = |a| {
            self.outcomes
                .iter()
                .filter(|o| o.status == ChangeStatus::Applied && o.action == a)
                .count()
        };
        (
            applied(Action::Create),
            applied(Action::Update),
            applied(Action::Delete),
        )
    }
}

impl std::fmt::Display for ApplyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.dry_run {
            if self.calls.is_empty() {
                return writeln!(f, "Dry run: no changes, no API call would be made.");
            }
            writeln!(
                f,
                "Dry run: a2i-fix would make these API calls, in this order (nothing was written):"
            )?;
            for (i, c) in self.calls.iter().enumerate() {
                writeln!(f, "  {}. {c}", i + 1)?;
            }
            return Ok(());
        }
        for o in &self.outcomes {
            match &o.status {
                ChangeStatus::Applied => writeln!(f, "{}: applied ({})", o.address, o.call)?,
                ChangeStatus::Failed(e) => writeln!(f, "{}: failed ({}): {e}", o.address, o.call)?,
                ChangeStatus::NotAttempted => writeln!(f, "{}: not attempted", o.address)?,
            }
        }
        for n in &self.notes {
            writeln!(f, "{n}")?;
        }
        for n in &self.not_converged {
            writeln!(
                f,
                "{}: written, but not visible as written: {}",
                n.address, n.detail
            )?;
        }
        let (added, changed, destroyed) = self.counts();
        let what = if self.rollback { "Rollback" } else { "Apply" };
        if self.is_success() {
            writeln!(
                f,
                "\n{what} complete! Resources: {added} added, {changed} changed, {destroyed} destroyed."
            )?;
        } else {
            let failed = self
                .outcomes
                .iter()
                .filter(|o| matches!(o.status, ChangeStatus::Failed(_)))
                .count();
            let skipped = self
                .outcomes
                .iter()
                .filter(|o| o.status == ChangeStatus::NotAttempted)
                .count();
            let why = if self.interrupted {
                format!("{what} interrupted!")
            } else if failed > 0 || self.journal_error.is_some() {
                format!("{what} failed!")
            } else {
                format!("{what} did not converge!")
            };
            writeln!(
                f,
                "\n{why} Resources: {added} added, {changed} changed, {destroyed} destroyed; {failed} failed, {skipped} not attempted, {} not converged.",
                self.not_converged.len()
            )?;
        }
        if let Some(e) = &self.journal_error {
            writeln!(f, "{e}; what is listed above is all that is known")?;
        }
        if let Some(j) = &self.journal {
            writeln!(
                f,
                "Journal: {} (`a2i-fix rollback {}` puts back what was written)",
                j.display(),
                j.display()
            )?;
        }
        Ok(())
    }
}
