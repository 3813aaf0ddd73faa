//! Executing a [`Plan`]: the only module that writes to AWS.
//!
//! [`execute`] runs the same `Plan` value that `plan` rendered (or that
//! `plan --out` saved, or that [`rollback::plan_from_journal`] built):
//!
//! 1. **Account**: the plan's account and region must be the connected ones,
//!    and the spec's `account_id`, when given, the connected account.
//! 2. **Staleness**: every target is re-read (`state::read_current`) and its
//!    fingerprint compared with the plan's `before_fingerprint`. Any
//!    difference, even an equivalent rewrite, refuses the whole plan, naming
//!    each changed resource. Done for every apply (fresh plans too: it is a
//!    handful of reads and closes the window between plan and apply).
//! 3. **Guards** on every change, all checked before any write and all
//!    reported together: the document parses; it is within its size limit;
//!    nothing of the current document is lost (except Sids the change
//!    declares in `replaced_sids`); a key policy still lets the account root
//!    or the caller change it whenever the current one did. Guards run
//!    against the document *re-read* in step 2, not the plan's `before`.
//! 4. **Journal** (see `journal`): header, then for each write a synced
//!    `started` record before the call and its outcome after.
//! 5. **Writes**, in groups: CreateRole; UpdateAssumeRolePolicy;
//!    PutRolePolicy; AttachRolePolicy/AttachUserPolicy; PutKeyPolicy (after
//!    IAM, retrying KMS's "invalid principals" within a budget); PutBucketCors;
//!    then, in rollback plans, DeleteBucketCors; Detach*Policy;
//!    DeleteRolePolicy; DeleteRole. Within a group up to
//!    `concurrency` writes run at once; after the first failure, or an
//!    interrupt, no new write starts and the ones in flight are finished and
//!    journaled. An error answer that shows the write's effect already holds
//!    (its first attempt took effect but the answer was lost, and the SDK's
//!    retry met that effect) counts as applied, and the report says so
//!    (see `settled`).
//! 6. **Verification**: each applied change is re-read until it is
//!    equivalent to what was written (a new role: its trust policy; an
//!    attachment: attached; a delete: gone), every 500 ms for
//!    `verify_timeout` (IAM is eventually consistent).
//!    The fingerprint of what AWS returns is journaled for rollback.
//!
//! `dry_run` does 1-3 and returns the ordered API calls; no journal, no write.
//!
//! Decisions:
//! - A rollback plan is recognised by its empty `spec_hash` (see
//!   `plan::Plan`). For it, the "nothing lost" guard is not applied: a
//!   rollback *must* remove what the apply added, it writes back the exact
//!   document the journal recorded, and the resource was checked to be as
//!   the apply left it (at rollback planning, then again by staleness).
//! - The size limit of all inline policies of a role together is checked on
//!   the inline documents the plan writes to that role (the planner, which
//!   has every inline policy of the role, checks the full total; apply does
//!   not re-read the other inline policies).
//! - Refusals that happen before any write are errors ([`ApplyError`]);
//!   once a write has started, the outcome is a report: `Ok` when every change
//!   applied and converged, [`ApplyError::Incomplete`] (carrying the report)
//!   otherwise, so the CLI exits 1 either way and still prints the report.
//!
//! The commands that call [`execute`] (`apply [FILE]`, `rollback JOURNAL`:
//! load or build the plan, show it, confirm, then execute) are in
//! `crate::commands`.
//!
//! Files: `order` (the API call of each change and the write order),
//! `guards` (steps 1-3), `write` (the SDK calls of step 5), `settled`
//! (error answers that mean a write already holds), `verify`
//! (step 6), `report` (the report and [`ApplyError`]), `rollback` (the plan
//! that undoes a journal), `confirm` and `interrupt` (the prompt and Ctrl-C).

pub mod confirm;
mod guards;
pub mod interrupt;
mod order;
mod report;
pub mod rollback;
mod settled;
mod verify;
pub mod write;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

pub use confirm::{Confirmation, NoTerminal, confirm, confirm_apply, confirmation, is_approval};
pub use guards::{Refusal, StaleResource};
pub use interrupt::Interrupt;
pub use order::{PlannedCall, ordered_calls};
pub use report::{ApplyError, ApplyReport, ChangeOutcome, ChangeStatus, NotConverged};
pub use write::{WriteError, Written};

use crate::aws::Clients;
use crate::journal::{self, EndOutcome, Header, Journal, JournalError, Record, StepRecord};
use crate::model::fingerprint;
use crate::plan::{Plan, plan_digest};

/// How long PutKeyPolicy's "invalid principals" is retried by default (the
/// CLI's `--kms-retry-seconds`, `A2I_FIX_KMS_RETRY_SECONDS`).
pub const DEFAULT_KMS_RETRY: Duration = Duration::from_secs(120);
/// How long verification waits for writes to be visible by default (the
/// CLI's `--verify-seconds`, `A2I_FIX_VERIFY_SECONDS`).
pub const DEFAULT_VERIFY: Duration = Duration::from_secs(30);
const READ_CONCURRENCY: usize = 8;

/// Who is calling: from STS GetCallerIdentity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub account_id: String,
    /// The caller's ARN (`arn:aws:sts::ACCT:assumed-role/...` or an IAM ARN).
    pub arn: String,
}

/// Ask STS who the credentials belong to.
pub async fn identify(clients: &Clients) -> anyhow::Result<Identity> {
    let (account_id, arn) = crate::state::caller_identity(clients).await?;
    Ok(Identity { account_id, arn })
}

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Where journals go (default `.a2i-fix`).
    pub backup_dir: PathBuf,
    /// Check and list the calls; write nothing.
    pub dry_run: bool,
    /// The connected account and caller (see [`identify`]).
    pub identity: Identity,
    /// `account_id` from the spec, if any.
    pub expected_account_id: Option<String>,
    /// The saved plan file being applied, if any (named in messages).
    pub saved_plan: Option<PathBuf>,
    /// PutKeyPolicy retry budget ([`DEFAULT_KMS_RETRY`] by default).
    pub kms_retry_budget: Duration,
    /// How long verification waits for writes to become visible
    /// ([`DEFAULT_VERIFY`] by default).
    pub verify_timeout: Duration,
    /// Writes of one group running at once.
    pub concurrency: usize,
    /// Set to stop starting new writes (see [`Interrupt::on_ctrl_c`]).
    pub interrupt: Interrupt,
    /// Told of each write as it ends (the CLI's progress bar).
    pub progress: WriteProgress,
}

/// What to call as each write ends, with the writes ended so far, the
/// writes planned and the address written; nothing by default.
#[derive(Clone, Default)]
pub struct WriteProgress(Option<std::sync::Arc<ProgressFn>>);

/// `(writes ended, writes planned, address)`.
type ProgressFn = dyn Fn(usize, usize, &str) + Send + Sync;

impl WriteProgress {
    pub fn new(f: impl Fn(usize, usize, &str) + Send + Sync + 'static) -> Self {
        WriteProgress(Some(std::sync::Arc::new(f)))
    }

    fn tell(&self, done: usize, total: usize, address: &str) {
        if let Some(f) = &self.0 {
            f(done, total, address);
        }
    }
}

impl std::fmt::Debug for WriteProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "WriteProgress(set)"
        } else {
            "WriteProgress(none)"
        })
    }
}

impl ApplyOptions {
    /// Defaults: backup dir `.a2i-fix`, 120 s of KMS retries and 30 s of
    /// verification, 4 writes at once, no interrupt handler (call
    /// `Interrupt::on_ctrl_c` in the CLI). The environment is not read
    /// here: the CLI parses its settings, and reports a bad value.
    pub fn new(identity: Identity) -> Self {
        ApplyOptions {
            backup_dir: PathBuf::from(journal::DEFAULT_BACKUP_DIR),
            dry_run: false,
            identity,
            expected_account_id: None,
            saved_plan: None,
            kms_retry_budget: DEFAULT_KMS_RETRY,
            verify_timeout: DEFAULT_VERIFY,
            concurrency: 4,
            interrupt: Interrupt::new(),
            progress: WriteProgress::default(),
        }
    }
}

/// Execute `plan` (see module docs).
pub async fn execute(
    clients: &Clients,
    plan: &Plan,
    options: &ApplyOptions,
) -> Result<ApplyReport, ApplyError> {
    guards::check_account(plan, clients, options)?;
    let ordered = ordered_calls(plan).map_err(ApplyError::Refused)?;
    if plan.changes.is_empty() {
        return Ok(ApplyReport {
            dry_run: options.dry_run,
            ..ApplyReport::default()
        });
    }

    // Staleness: re-read every target; the guards check against what is there now.
    let currents = guards::read_all(clients, plan).await?;
    guards::check_fresh(plan, &currents, options)?;
    let refusals = guards::guards(plan, &currents, options);
    if !refusals.is_empty() {
        return Err(ApplyError::Refused(refusals));
    }

    let calls: Vec<PlannedCall> = ordered.iter().map(|(_, _, c)| c.clone()).collect();
    if options.dry_run {
        return Ok(ApplyReport {
            dry_run: true,
            calls,
            ..ApplyReport::default()
        });
    }

    let mut journal = Journal::create(
        &options.backup_dir,
        Header {
            format_version: journal::JOURNAL_FORMAT_VERSION,
            account_id: plan.account_id.clone(),
            region: plan.region.clone(),
            plan_digest: plan_digest(plan),
            started_at: journal::now(),
            pid: std::process::id(),
            rollback: plan.spec_hash.is_empty(),
        },
    )?;
    let mut report = ApplyReport {
        rollback: plan.spec_hash.is_empty(),
        calls,
        journal: Some(journal.path().to_path_buf()),
        outcomes: ordered
            .iter()
            .enumerate()
            .map(|(n, (i, _, call))| ChangeOutcome {
                step: n + 1,
                address: plan.changes[*i].address.clone(),
                action: plan.changes[*i].action,
                call: call.clone(),
                status: ChangeStatus::NotAttempted,
            })
            .collect(),
        ..ApplyReport::default()
    };

    let settings = write::WriteSettings {
        kms_retry_budget: options.kms_retry_budget,
        rollback: plan.spec_hash.is_empty(),
    };
    let journal_error = run_writes(
        clients,
        plan,
        &currents,
        &ordered,
        &settings,
        options,
        &mut journal,
        &mut report,
    )
    .await;
    if let Some(e) = journal_error {
        // The journal can no longer record anything: stop here and say what
        // is known. No verification (it would journal too).
        report.journal_error = Some(e.to_string());
        return Err(ApplyError::Incomplete(Box::new(report)));
    }

    let finished =
        match verify::verify(clients, plan, &ordered, options, &mut journal, &mut report).await {
            Ok(()) => {
                let outcome = if report.interrupted {
                    EndOutcome::Interrupted
                } else if report
                    .outcomes
                    .iter()
                    .any(|o| o.status != ChangeStatus::Applied)
                {
                    EndOutcome::Failed
                } else if !report.not_converged.is_empty() {
                    EndOutcome::NotConverged
                } else {
                    EndOutcome::Complete
                };
                journal.append(&Record::End {
                    outcome,
                    at: journal::now(),
                })
            }
            Err(e) => Err(e),
        };
    if let Err(e) = finished {
        report.journal_error = Some(e.to_string());
    }
    if report.is_success() {
        Ok(report)
    } else {
        Err(ApplyError::Incomplete(Box::new(report)))
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_writes(
    clients: &Clients,
    plan: &Plan,
    currents: &[Option<String>],
    ordered: &[(usize, u8, PlannedCall)],
    settings: &write::WriteSettings,
    options: &ApplyOptions,
    journal: &mut Journal,
    report: &mut ApplyReport,
) -> Option<JournalError> {
    let concurrency = options.concurrency.max(1);
    let mut ended = 0;
    let mut stop = false;
    let mut position = 0;
    while position < ordered.len() && !stop {
        let rank = ordered[position].1;
        let group_end = ordered[position..]
            .iter()
            .position(|(_, r, _)| *r != rank)
            .map_or(ordered.len(), |n| position + n);
        let mut next = position;
        let mut in_flight = FuturesUnordered::new();
        loop {
            while !stop && in_flight.len() < concurrency && next < group_end {
                if options.interrupt.is_triggered() {
                    report.interrupted = true;
                    stop = true;
                    break;
                }
                let (i, _, call) = &ordered[next];
                let change = &plan.changes[*i];
                let step = next + 1;
                let started = Record::Step(StepRecord::Started {
                    step,
                    address: change.address.clone(),
                    action: change.action,
                    target: change.target.clone(),
                    previous: currents[*i].clone(),
                    previous_fingerprint: fingerprint(currents[*i].as_deref()),
                    writing: change.after.clone(),
                    at: journal::now(),
                });
                if let Err(e) = journal.append(&started) {
                    // Not journaled, so not written; finish what is in flight.
                    drain(&mut in_flight, journal, report).await;
                    return Some(e);
                }
                let interrupt = options.interrupt.clone();
                in_flight.push(async move {
                    let result = write::perform(clients, change, call, settings, &interrupt).await;
                    (next, result)
                });
                next += 1;
            }
            let Some((index, result)) = in_flight.next().await else {
                break;
            };
            if result.is_err() {
                stop = true;
            }
            if let Err(e) = record_outcome(journal, report, index, result) {
                drain(&mut in_flight, journal, report).await;
                return Some(e);
            }
            ended += 1;
            options
                .progress
                .tell(ended, ordered.len(), &report.outcomes[index].address);
        }
        if options.interrupt.is_triggered() {
            report.interrupted = true;
            stop = true;
        }
        position = group_end;
    }
    None
}

fn record_outcome(
    journal: &mut Journal,
    report: &mut ApplyReport,
    index: usize,
    result: Result<Written, WriteError>,
) -> Result<(), JournalError> {
    let step = index + 1;
    let record = match &result {
        Ok(_) => StepRecord::Applied {
            step,
            at: journal::now(),
        },
        Err(e) if e.uncertain => StepRecord::Unknown {
            step,
            error: e.to_recorded(),
            at: journal::now(),
        },
        Err(e) => StepRecord::Failed {
            step,
            error: e.to_recorded(),
            at: journal::now(),
        },
    };
    report.outcomes[index].status = match result {
        Ok(Written::Done) => ChangeStatus::Applied,
        Ok(Written::AlreadyHeld(note)) => {
            let address = &report.outcomes[index].address;
            report.notes.push(format!("{address}: {note}"));
            ChangeStatus::Applied
        }
        Err(e) => ChangeStatus::Failed(e),
    };
    journal.append(&Record::Step(record))
}

async fn drain<F>(
    in_flight: &mut FuturesUnordered<F>,
    journal: &mut Journal,
    report: &mut ApplyReport,
) where
    F: std::future::Future<Output = (usize, Result<Written, WriteError>)>,
{
    while let Some((index, result)) = in_flight.next().await {
        // Best effort: the journal already failed once.
        let _ = record_outcome(journal, report, index, result);
    }
}
