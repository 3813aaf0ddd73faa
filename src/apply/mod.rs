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
//!    journaled.
//! 6. **Verification**: each applied change is re-read until it is
//!    equivalent to what was written (a new role: its trust policy; an
//!    attachment: attached; a delete: gone), retrying for `verify_timeout`
//!    (IAM is eventually consistent).
//!    The fingerprint of what AWS returns is journaled for rollback.
//!
//! `dry_run` does 1-3 and returns the ordered API calls; no journal, no write.
//!
//! Decisions where the issue was silent:
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
//! Wiring, for the CLI (`apply [FILE]`, `rollback JOURNAL`):
//!
//! ```text
//! clients  = aws::connect(..); identity = apply::identify(&clients)
//! plan     = fresh: plan::build_plan(..)
//!            saved: saved::load_saved_plan(FILE) + saved::check_account(&plan, &identity.account_id, &clients.region)
//!            rollback: apply::rollback::plan_from_journal(JOURNAL, &clients, &identity)
//! render the plan; no changes -> say so, exit 0
//! unless --dry-run: apply::confirmation_for_stdin(yes)? -> Skip | Ask (apply::confirm_apply()? must be true)
//! options  = ApplyOptions::new(identity) + backup_dir, dry_run, expected_account_id (spec), saved_plan (FILE)
//! options.interrupt = Interrupt::on_ctrl_c()   // after the prompt, so Ctrl-C at the prompt still quits
//! apply::execute(&clients, &plan, &options): Ok(report) -> print it, exit 0;
//!   Err(e) -> print e.report() if any (else e), exit 1
//! ```

pub mod confirm;
pub mod interrupt;
pub mod rollback;
pub mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;

pub use confirm::{
    Confirmation, NoTerminal, confirm, confirm_apply, confirmation, confirmation_for_stdin,
    is_approval,
};
pub use interrupt::Interrupt;
pub use write::WriteError;

use crate::aws::Clients;
use crate::journal::{self, EndOutcome, Header, Journal, JournalError, Record, StepRecord};
use crate::model::PrincipalKind;
use crate::plan::{self, Action, Change, Plan, Target};
use crate::policy::{self, CorsConfiguration, PolicyDocument, limits};
use crate::state;

/// Environment variable: seconds to keep retrying PutKeyPolicy (default 120).
pub const KMS_RETRY_ENV: &str = "A2I_FIX_KMS_RETRY_SECONDS";
/// Environment variable: seconds to wait for writes to be visible (default 30).
pub const VERIFY_ENV: &str = "A2I_FIX_VERIFY_SECONDS";

const DEFAULT_KMS_RETRY: Duration = Duration::from_secs(120);
const DEFAULT_VERIFY: Duration = Duration::from_secs(30);
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
    use anyhow::Context;
    let out = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sts::error::DisplayErrorContext(e)))
        .context("asking AWS who the credentials belong to (`sts:GetCallerIdentity`)")?;
    Ok(Identity {
        account_id: out.account().unwrap_or_default().to_string(),
        arn: out.arn().unwrap_or_default().to_string(),
    })
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
    /// PutKeyPolicy retry budget (env [`KMS_RETRY_ENV`]).
    pub kms_retry_budget: Duration,
    /// How long verification waits for writes to become visible (env [`VERIFY_ENV`]).
    pub verify_timeout: Duration,
    /// Writes of one group running at once.
    pub concurrency: usize,
    /// Set to stop starting new writes (see [`Interrupt::on_ctrl_c`]).
    pub interrupt: Interrupt,
}

impl ApplyOptions {
    /// Defaults: backup dir `.a2i-fix`, timings from the environment or
    /// 120 s (KMS) and 30 s (verification), 4 writes at once, no interrupt
    /// handler (call `Interrupt::on_ctrl_c` in the CLI).
    pub fn new(identity: Identity) -> Self {
        ApplyOptions {
            backup_dir: PathBuf::from(journal::DEFAULT_BACKUP_DIR),
            dry_run: false,
            identity,
            expected_account_id: None,
            saved_plan: None,
            kms_retry_budget: env_seconds(KMS_RETRY_ENV).unwrap_or(DEFAULT_KMS_RETRY),
            verify_timeout: env_seconds(VERIFY_ENV).unwrap_or(DEFAULT_VERIFY),
            concurrency: 4,
            interrupt: Interrupt::new(),
        }
    }
}

fn env_seconds(name: &str) -> Option<Duration> {
    parse_seconds(&std::env::var(name).ok()?)
}

fn parse_seconds(v: &str) -> Option<Duration> {
    let secs: f64 = v.trim().parse().ok()?;
    if secs.is_finite() && secs >= 0.0 {
        Some(Duration::from_secs_f64(secs))
    } else {
        None
    }
}

/// One API call apply makes (or, in a dry run, would make).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlannedCall {
    /// `iam:PutRolePolicy`, ...
    pub operation: &'static str,
    /// `role=A2IFlowRole policy=a2i-fix-permissions`, ...
    pub target: String,
    /// The change's address.
    pub address: String,
}

impl std::fmt::Display for PlannedCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.operation, self.target)
    }
}

/// The API call for a change, and its rank in the write order.
fn call_for(change: &Change) -> Result<(u8, PlannedCall), String> {
    use Action::{Create, Delete, Update};
    let call = |rank, operation, target: String| {
        Ok((
            rank,
            PlannedCall {
                operation,
                target,
                address: change.address.clone(),
            },
        ))
    };
    match (&change.target, change.action) {
        (Target::Role { name, path }, Create) => {
            call(0, "iam:CreateRole", format!("role={name} path={path}"))
        }
        (Target::TrustPolicy { role }, Create | Update) => {
            call(1, "iam:UpdateAssumeRolePolicy", format!("role={role}"))
        }
        (Target::InlinePolicy { role, policy_name }, Create | Update) => call(
            2,
            "iam:PutRolePolicy",
            format!("role={role} policy={policy_name}"),
        ),
        (
            Target::Attachment {
                kind: PrincipalKind::Role,
                name,
                policy_arn,
            },
            Create,
        ) => call(
            3,
            "iam:AttachRolePolicy",
            format!("role={name} policy_arn={policy_arn}"),
        ),
        (
            Target::Attachment {
                kind: PrincipalKind::User,
                name,
                policy_arn,
            },
            Create,
        ) => call(
            3,
            "iam:AttachUserPolicy",
            format!("user={name} policy_arn={policy_arn}"),
        ),
        (Target::KeyPolicy { key_id, .. }, Create | Update) => call(
            4,
            "kms:PutKeyPolicy",
            format!("key={key_id} policy=default"),
        ),
        (Target::BucketCors { bucket }, Create | Update) => {
            call(5, "s3:PutBucketCors", format!("bucket={bucket}"))
        }
        (Target::BucketCors { bucket }, Delete) => {
            call(6, "s3:DeleteBucketCors", format!("bucket={bucket}"))
        }
        (
            Target::Attachment {
                kind: PrincipalKind::Role,
                name,
                policy_arn,
            },
            Delete,
        ) => call(
            7,
            "iam:DetachRolePolicy",
            format!("role={name} policy_arn={policy_arn}"),
        ),
        (
            Target::Attachment {
                kind: PrincipalKind::User,
                name,
                policy_arn,
            },
            Delete,
        ) => call(
            7,
            "iam:DetachUserPolicy",
            format!("user={name} policy_arn={policy_arn}"),
        ),
        (Target::InlinePolicy { role, policy_name }, Delete) => call(
            8,
            "iam:DeleteRolePolicy",
            format!("role={role} policy={policy_name}"),
        ),
        (Target::Role { name, .. }, Delete) => call(9, "iam:DeleteRole", format!("role={name}")),
        (Target::Role { .. }, Update) => {
            Err("a role itself cannot be updated; its trust policy is a change of its own".into())
        }
        (Target::Attachment { .. }, Update) => {
            Err("an attachment cannot be updated, only attached or detached".into())
        }
        (Target::TrustPolicy { .. }, Delete) => {
            Err("a trust policy cannot be deleted, only its role".into())
        }
        (Target::KeyPolicy { .. }, Delete) => Err("a key policy cannot be deleted".into()),
    }
}

/// The changes of `plan` in write order, each with its API call: what a
/// dry run prints and what a real run executes.
pub fn ordered_calls(plan: &Plan) -> Result<Vec<(usize, u8, PlannedCall)>, Vec<Refusal>> {
    let mut calls = Vec::new();
    let mut refusals = Vec::new();
    for (i, change) in plan.changes.iter().enumerate() {
        match call_for(change) {
            Ok((rank, call)) => calls.push((i, rank, call)),
            Err(reason) => refusals.push(Refusal {
                address: change.address.clone(),
                reason,
            }),
        }
    }
    if !refusals.is_empty() {
        return Err(refusals);
    }
    // Stable: plan order within a group.
    calls.sort_by_key(|(_, rank, _)| *rank);
    Ok(calls)
}

/// A guard's refusal of one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub address: String,
    pub reason: String,
}

/// A resource that changed since the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleResource {
    pub address: String,
    /// `was absent, now exists` / `document changed` / ...
    pub detail: String,
}

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
    pub interrupted: bool,
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
        for n in &self.not_converged {
            writeln!(
                f,
                "{}: written, but not visible as written: {}",
                n.address, n.detail
            )?;
        }
        let (added, changed, destroyed) = self.counts();
        if self.is_success() {
            writeln!(
                f,
                "\nApply complete! Resources: {added} added, {changed} changed, {destroyed} destroyed."
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
                "Apply interrupted!"
            } else if failed > 0 || self.journal_error.is_some() {
                "Apply failed!"
            } else {
                "Apply did not converge!"
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

/// Execute `plan` (see module docs).
pub async fn execute(
    clients: &Clients,
    plan: &Plan,
    options: &ApplyOptions,
) -> Result<ApplyReport, ApplyError> {
    check_account(plan, clients, options)?;
    let ordered = ordered_calls(plan).map_err(ApplyError::Refused)?;
    if plan.changes.is_empty() {
        return Ok(ApplyReport {
            dry_run: options.dry_run,
            ..ApplyReport::default()
        });
    }

    // Staleness: re-read every target.
    let currents = read_all(clients, plan).await?;
    let stale: Vec<StaleResource> = plan
        .changes
        .iter()
        .zip(&currents)
        .filter(|(c, current)| plan::fingerprint(current.as_deref()) != c.before_fingerprint)
        .map(|(c, current)| StaleResource {
            address: c.address.clone(),
            detail: stale_detail(c, current.as_deref()),
        })
        .collect();
    if !stale.is_empty() {
        return Err(ApplyError::Stale {
            saved_plan: options.saved_plan.clone(),
            resources: stale,
        });
    }

    let refusals = guards(plan, &currents, options);
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
            plan_digest: plan::plan_digest(plan),
            started_at: journal::now(),
            pid: std::process::id(),
        },
    )?;
    let mut report = ApplyReport {
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

    let finished = match verify(clients, plan, &ordered, options, &mut journal, &mut report).await {
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

fn check_account(plan: &Plan, clients: &Clients, options: &ApplyOptions) -> Result<(), ApplyError> {
    let connected = &options.identity.account_id;
    if let Some(expected) = &options.expected_account_id
        && expected != connected
    {
        return Err(ApplyError::AccountMismatch {
            expected: expected.clone(),
            connected: connected.clone(),
        });
    }
    if &plan.account_id != connected || plan.region != clients.region {
        return Err(ApplyError::WrongAccount {
            planned: plan.account_id.clone(),
            planned_region: plan.region.clone(),
            connected: connected.clone(),
            connected_region: clients.region.clone(),
        });
    }
    Ok(())
}

async fn read_all(clients: &Clients, plan: &Plan) -> Result<Vec<Option<String>>, ApplyError> {
    let results: Vec<_> = futures::stream::iter(plan.changes.iter())
        .map(|c| async move { (c, state::read_current(clients, &c.target).await) })
        .buffered(READ_CONCURRENCY)
        .collect()
        .await;
    results
        .into_iter()
        .map(|(c, r)| {
            r.map_err(|e| ApplyError::Read {
                address: c.address.clone(),
                message: e.to_string(),
            })
        })
        .collect()
}

fn stale_detail(change: &Change, current: Option<&str>) -> String {
    match (change.before_fingerprint.as_str(), current) {
        ("absent", Some(_)) => "did not exist when planned, exists now".to_string(),
        (_, None) => "existed when planned, does not exist now".to_string(),
        _ => "its document was changed since the plan (even an equivalent rewrite counts)"
            .to_string(),
    }
}

fn parse_policy(text: &str, what: &str) -> Result<PolicyDocument, String> {
    PolicyDocument::parse(text).map_err(|e| format!("{what} is not a valid policy document: {e}"))
}

fn parse_cors(text: &str, what: &str) -> Result<CorsConfiguration, String> {
    CorsConfiguration::parse(text)
        .map_err(|e| format!("{what} is not a valid CORS configuration: {e}"))
}

/// Every guard on every change; all refusals, not just the first.
fn guards(plan: &Plan, currents: &[Option<String>], options: &ApplyOptions) -> Vec<Refusal> {
    let rollback = plan.spec_hash.is_empty();
    let mut refusals = Vec::new();
    // Role -> (address of its first inline change, the inline documents written).
    let mut inline_by_role: BTreeMap<&str, (&str, Vec<PolicyDocument>)> = BTreeMap::new();
    for (i, (change, current)) in plan.changes.iter().zip(currents).enumerate() {
        let mut inline = None;
        let mut reasons = guard_one(change, current.as_deref(), rollback, options, &mut inline);
        if plan::fingerprint(change.after.as_deref()) != change.after_digest {
            reasons.push(
                "the document to write does not match its digest: the plan was altered; plan again"
                    .to_string(),
            );
        }
        if let Some(first) = plan.changes[..i].iter().find(|c| c.target == change.target) {
            reasons.push(format!(
                "`{}` already writes this resource: a plan writes each resource once",
                first.address
            ));
        }
        if let (Some(doc), Target::InlinePolicy { role, .. }) = (inline, &change.target) {
            inline_by_role
                .entry(role.as_str())
                .or_insert_with(|| (change.address.as_str(), Vec::new()))
                .1
                .push(doc);
        }
        if !reasons.is_empty() {
            refusals.push(Refusal {
                address: change.address.clone(),
                reason: reasons.join("; "),
            });
        }
    }
    for (role, (address, docs)) in &inline_by_role {
        let refs: Vec<&PolicyDocument> = docs.iter().collect();
        if let Err(e) = limits::check_inline_policies(role, &refs) {
            match refusals.iter_mut().find(|r| r.address == *address) {
                Some(r) => r.reason = format!("{}; {e}", r.reason),
                None => refusals.push(Refusal {
                    address: address.to_string(),
                    reason: e.to_string(),
                }),
            }
        }
    }
    refusals
}

/// The guards of one change, every failing one (see module docs). An
/// inline policy's parsed document is handed back for the per-role total.
fn guard_one(
    change: &Change,
    current: Option<&str>,
    rollback: bool,
    options: &ApplyOptions,
    inline: &mut Option<PolicyDocument>,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if change.action == Action::Delete {
        if change.after.is_some() {
            reasons.push("a delete carries no document".to_string());
        }
        return reasons;
    }
    let Some(after) = change.after.as_deref() else {
        return vec!["the change has no document to write".to_string()];
    };
    if serde_json::from_str::<serde_json::Value>(after).is_err() {
        return vec!["the document to write is not valid JSON".to_string()];
    }
    let mut check = |r: Result<(), limits::LimitError>| {
        if let Err(e) = r {
            reasons.push(e.to_string());
        }
    };
    let parsed = match &change.target {
        Target::BucketCors { bucket } => {
            parse_cors(after, "the CORS configuration to write").map(|new| {
                check(limits::check_cors(bucket, &new));
                if !rollback && let Some(cur) = current {
                    match parse_cors(cur, "the current CORS configuration") {
                        Ok(old) => check(limits::check_cors_nothing_lost(bucket, &old, &new)),
                        Err(e) => check(Err(unsafe_doc(&change.address, e))),
                    }
                }
            })
        }
        Target::Role { name, .. } => {
            parse_policy(after, "the trust policy of the new role").map(|new| {
                check(limits::check_trust_policy(name, &new));
            })
        }
        Target::TrustPolicy { role } => {
            parse_policy(after, "the trust policy to write").map(|new| {
                check(limits::check_trust_policy(role, &new));
                if !rollback && let Some(cur) = current {
                    match parse_policy(cur, "the current trust policy") {
                        Ok(old) => check(limits::check_nothing_lost(
                            &change.address,
                            &old,
                            &new,
                            &change.replaced_sids,
                        )),
                        Err(e) => check(Err(unsafe_doc(&change.address, e))),
                    }
                }
            })
        }
        Target::InlinePolicy { .. } => {
            parse_policy(after, "the inline policy to write").map(|new| {
                if !rollback && let Some(cur) = current {
                    match parse_policy(cur, "the current inline policy") {
                        Ok(old) => check(limits::check_nothing_lost(
                            &change.address,
                            &old,
                            &new,
                            &change.replaced_sids,
                        )),
                        Err(e) => check(Err(unsafe_doc(&change.address, e))),
                    }
                }
                *inline = Some(new);
            })
        }
        Target::KeyPolicy { key_id, .. } => {
            parse_policy(after, "the key policy to write").map(|new| {
                check(limits::check_key_policy(key_id, &new));
                if let Some(cur) = current {
                    match parse_policy(cur, "the current key policy") {
                        Ok(old) => {
                            if !rollback {
                                check(limits::check_nothing_lost(
                                    &change.address,
                                    &old,
                                    &new,
                                    &change.replaced_sids,
                                ));
                            }
                            check(limits::check_key_policy_lockout(
                                key_id,
                                &old,
                                &new,
                                &options.identity.account_id,
                                Some(options.identity.arn.as_str()),
                            ));
                        }
                        Err(e) => check(Err(unsafe_doc(&change.address, e))),
                    }
                }
            })
        }
        Target::Attachment { policy_arn, .. } => match serde_json::from_str::<String>(after) {
            Ok(written) if &written == policy_arn => Ok(()),
            Ok(written) => Err(format!(
                "the document `{written}` does not name the policy to attach `{policy_arn}`"
            )),
            Err(_) => Err(
                "the document of an attachment must be the policy ARN as a JSON string".to_string(),
            ),
        },
    };
    if let Err(e) = parsed {
        reasons.push(e);
    }
    reasons
}

/// A current document that does not parse cannot be checked for losses:
/// refuse rather than overwrite what we cannot read.
fn unsafe_doc(address: &str, message: String) -> limits::LimitError {
    limits::LimitError::Unsafe {
        document: address.to_string(),
        message: format!(
            "{message}; a2i-fix cannot tell what the write would lose, so it will not overwrite it"
        ),
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
                    previous_fingerprint: plan::fingerprint(currents[*i].as_deref()),
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
    result: Result<(), WriteError>,
) -> Result<(), JournalError> {
    let step = index + 1;
    let record = match &result {
        Ok(()) => StepRecord::Applied {
            step,
            at: journal::now(),
        },
        Err(e) => StepRecord::Failed {
            step,
            error: e.to_recorded(),
            at: journal::now(),
        },
    };
    report.outcomes[index].status = match result {
        Ok(()) => ChangeStatus::Applied,
        Err(e) => ChangeStatus::Failed(e),
    };
    journal.append(&Record::Step(record))
}

async fn drain<F>(
    in_flight: &mut FuturesUnordered<F>,
    journal: &mut Journal,
    report: &mut ApplyReport,
) where
    F: std::future::Future<Output = (usize, Result<(), WriteError>)>,
{
    while let Some((index, result)) = in_flight.next().await {
        // Best effort: the journal already failed once.
        let _ = record_outcome(journal, report, index, result);
    }
}

/// Whether `current` shows `change` as written; `Err` says how it differs.
fn converged(change: &Change, current: Option<&str>) -> Result<(), String> {
    let after = change.after.as_deref();
    match (&change.target, change.action, current) {
        (_, Action::Delete, None) => Ok(()),
        (_, Action::Delete, Some(_)) => Err("still exists".to_string()),
        (_, _, None) => Err("does not exist".to_string()),
        (Target::Attachment { .. }, _, Some(_)) => Ok(()),
        (Target::BucketCors { .. }, _, Some(cur)) => {
            let want = parse_cors(after.unwrap_or_default(), "the written CORS configuration")?;
            let got = parse_cors(cur, "the CORS configuration AWS returns")?;
            if policy::cors_equivalent(&want, &got) {
                Ok(())
            } else {
                Err(format!(
                    "AWS returns a different CORS configuration: {}",
                    compact(cur)
                ))
            }
        }
        (
            Target::Role { .. }
            | Target::TrustPolicy { .. }
            | Target::InlinePolicy { .. }
            | Target::KeyPolicy { .. },
            _,
            Some(cur),
        ) => {
            let want = parse_policy(after.unwrap_or_default(), "the written document")?;
            let got = parse_policy(cur, "the document AWS returns")?;
            if policy::equivalent(&want, &got) {
                Ok(())
            } else {
                Err(format!(
                    "AWS returns a different document: {}",
                    compact(cur)
                ))
            }
        }
    }
}

fn compact(text: &str) -> String {
    let c = serde_json::from_str::<serde_json::Value>(text)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| text.to_string());
    if c.chars().count() > 300 {
        format!("{}...", c.chars().take(300).collect::<String>())
    } else {
        c
    }
}

async fn verify(
    clients: &Clients,
    plan: &Plan,
    ordered: &[(usize, u8, PlannedCall)],
    options: &ApplyOptions,
    journal: &mut Journal,
    report: &mut ApplyReport,
) -> Result<(), JournalError> {
    let mut pending: Vec<(usize, &Change)> = report
        .outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| o.status == ChangeStatus::Applied)
        .map(|(n, _)| (n, &plan.changes[ordered[n].0]))
        .collect();
    let deadline = Instant::now() + options.verify_timeout;
    let mut last: BTreeMap<usize, (String, String)> = BTreeMap::new();
    loop {
        let reads: Vec<_> = futures::stream::iter(pending.iter().copied())
            .map(|(n, c)| async move { (n, c, state::read_current(clients, &c.target).await) })
            .buffered(READ_CONCURRENCY)
            .collect()
            .await;
        let mut still = Vec::new();
        for (n, change, read) in reads {
            match read {
                Ok(current) => match converged(change, current.as_deref()) {
                    Ok(()) => {
                        last.remove(&n);
                        journal.append(&Record::Verified {
                            step: n + 1,
                            fingerprint: plan::fingerprint(current.as_deref()),
                            converged: true,
                            at: journal::now(),
                        })?;
                    }
                    Err(detail) => {
                        last.insert(n, (plan::fingerprint(current.as_deref()), detail));
                        still.push((n, change));
                    }
                },
                Err(e) => {
                    last.insert(n, ("absent".to_string(), format!("cannot re-read it: {e}")));
                    still.push((n, change));
                }
            }
        }
        pending = still;
        if pending.is_empty() || Instant::now() >= deadline {
            break;
        }
        let pause =
            Duration::from_millis(500).min(deadline.saturating_duration_since(Instant::now()));
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = options.interrupt.triggered() => { report.interrupted = true; break; }
        }
    }
    for (n, change) in pending {
        let (fingerprint, detail) = last
            .remove(&n)
            .unwrap_or_else(|| ("absent".to_string(), "not verified".to_string()));
        journal.append(&Record::Verified {
            step: n + 1,
            fingerprint,
            converged: false,
            at: journal::now(),
        })?;
        let detail = if report.interrupted {
            format!("verification interrupted; last seen: {detail}")
        } else {
            detail
        };
        report.not_converged.push(NotConverged {
            address: change.address.clone(),
            detail,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Summary;

    fn change(target: Target, action: Action, after: Option<&str>) -> Change {
        Change {
            address: plan_address(&target),
            action,
            target,
            requirements: vec![],
            reason: String::new(),
            before: None,
            after: after.map(str::to_string),
            before_fingerprint: "absent".into(),
            after_digest: plan::fingerprint(after),
            replaced_sids: vec![],
        }
    }

    fn plan_address(t: &Target) -> String {
        format!("{t:?}")
    }

    fn plan_of(changes: Vec<Change>) -> Plan {
        Plan {
            format_version: plan::FORMAT_VERSION,
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            spec_hash: "sha256:x".into(),
            changes,
            summary: Summary {
                add: 0,
                change: 0,
                destroy: 0,
            },
            warnings: vec![],
            api_calls: Default::default(),
        }
    }

    #[test]
    fn writes_are_ordered_iam_before_kms_before_s3_and_deletes_last() {
        let role = |n: &str| n.to_string();
        let p = plan_of(vec![
            change(
                Target::BucketCors {
                    bucket: "in".into(),
                },
                Action::Update,
                Some("{}"),
            ),
            change(
                Target::KeyPolicy {
                    key_id: "k".into(),
                    key_arn: "arn".into(),
                },
                Action::Update,
                Some("{}"),
            ),
            change(
                Target::Attachment {
                    kind: PrincipalKind::User,
                    name: "u".into(),
                    policy_arn: "arn:p".into(),
                },
                Action::Create,
                Some("\"arn:p\""),
            ),
            change(
                Target::InlinePolicy {
                    role: role("R"),
                    policy_name: "p".into(),
                },
                Action::Create,
                Some("{}"),
            ),
            change(
                Target::TrustPolicy { role: role("R") },
                Action::Update,
                Some("{}"),
            ),
            change(
                Target::Role {
                    name: role("N"),
                    path: "/".into(),
                },
                Action::Create,
                Some("{}"),
            ),
            change(
                Target::Role {
                    name: role("N"),
                    path: "/".into(),
                },
                Action::Delete,
                None,
            ),
            change(
                Target::InlinePolicy {
                    role: role("N"),
                    policy_name: "p".into(),
                },
                Action::Delete,
                None,
            ),
            change(
                Target::BucketCors {
                    bucket: "in".into(),
                },
                Action::Delete,
                None,
            ),
        ]);
        let calls: Vec<String> = ordered_calls(&p)
            .unwrap()
            .iter()
            .map(|(_, _, c)| c.to_string())
            .collect();
        assert_eq!(
            calls,
            vec![
                "iam:CreateRole role=N path=/",
                "iam:UpdateAssumeRolePolicy role=R",
                "iam:PutRolePolicy role=R policy=p",
                "iam:AttachUserPolicy user=u policy_arn=arn:p",
                "kms:PutKeyPolicy key=k policy=default",
                "s3:PutBucketCors bucket=in",
                "s3:DeleteBucketCors bucket=in",
                "iam:DeleteRolePolicy role=N policy=p",
                "iam:DeleteRole role=N",
            ]
        );
    }

    #[test]
    fn impossible_changes_are_refused_by_name() {
        let p = plan_of(vec![change(
            Target::KeyPolicy {
                key_id: "k".into(),
                key_arn: "a".into(),
            },
            Action::Delete,
            None,
        )]);
        let refusals = ordered_calls(&p).unwrap_err();
        assert_eq!(refusals.len(), 1);
        assert!(refusals[0].reason.contains("cannot be deleted"));
    }

    #[test]
    fn attachment_document_must_name_the_attached_policy() {
        let t = Target::Attachment {
            kind: PrincipalKind::Role,
            name: "r".into(),
            policy_arn: "arn:a".into(),
        };
        let opts = ApplyOptions::new(Identity {
            account_id: "1".into(),
            arn: "a".into(),
        });
        let check = |doc: &str| {
            let c = change(t.clone(), Action::Create, Some(doc));
            guard_one(&c, None, false, &opts, &mut None).join("; ")
        };
        assert_eq!(check("\"arn:a\""), "");
        let err = check("\"arn:b\"");
        assert!(err.contains("arn:b") && err.contains("arn:a"), "{err}");
        let err = check("not json");
        assert_eq!(err, "the document to write is not valid JSON");
    }

    #[test]
    fn an_altered_document_and_a_resource_written_twice_are_refused() {
        let t = Target::Attachment {
            kind: PrincipalKind::User,
            name: "u".into(),
            policy_arn: "arn:a".into(),
        };
        let mut altered = change(t.clone(), Action::Create, Some("\"arn:a\""));
        altered.after_digest = plan::digest("\"arn:b\"");
        let twice = change(t.clone(), Action::Create, Some("\"arn:a\""));
        let p = plan_of(vec![altered, twice]);
        let opts = ApplyOptions::new(Identity {
            account_id: "1".into(),
            arn: "a".into(),
        });
        let refusals = guards(&p, &[None, None], &opts);
        assert_eq!(refusals.len(), 2, "{refusals:?}");
        assert!(
            refusals[0].reason.contains("does not match its digest"),
            "{refusals:?}"
        );
        assert!(
            refusals[1].reason.contains("already writes this resource"),
            "{refusals:?}"
        );
        let ok = plan_of(vec![change(t, Action::Create, Some("\"arn:a\""))]);
        assert!(guards(&ok, &[None], &opts).is_empty());
    }

    #[test]
    fn report_of_a_failure_half_way_names_each_outcome() {
        let call = |op, t: &str| PlannedCall {
            operation: op,
            target: t.into(),
            address: "a".into(),
        };
        let report = ApplyReport {
            outcomes: vec![
                ChangeOutcome {
                    step: 1,
                    address: "aws_iam_role_policy.R:p".into(),
                    action: Action::Create,
                    call: call("iam:PutRolePolicy", "role=R policy=p"),
                    status: ChangeStatus::Applied,
                },
                ChangeOutcome {
                    step: 2,
                    address: "aws_kms_key_policy.k".into(),
                    action: Action::Update,
                    call: call("kms:PutKeyPolicy", "key=k policy=default"),
                    status: ChangeStatus::Failed(WriteError {
                        code: Some("KMSInvalidStateException".into()),
                        message: "pending deletion".into(),
                        meaning: write::meaning("kms:PutKeyPolicy", "KMSInvalidStateException"),
                    }),
                },
                ChangeOutcome {
                    step: 3,
                    address: "aws_s3_bucket_cors_configuration.in".into(),
                    action: Action::Update,
                    call: call("s3:PutBucketCors", "bucket=in"),
                    status: ChangeStatus::NotAttempted,
                },
            ],
            ..ApplyReport::default()
        };
        assert!(!report.is_success());
        let text = report.to_string();
        assert!(
            text.contains("aws_iam_role_policy.R:p: applied (iam:PutRolePolicy role=R policy=p)"),
            "{text}"
        );
        assert!(text.contains("aws_kms_key_policy.k: failed (kms:PutKeyPolicy key=k policy=default): KMSInvalidStateException: pending deletion (the key is pending deletion"), "{text}");
        assert!(
            text.contains("aws_s3_bucket_cors_configuration.in: not attempted"),
            "{text}"
        );
        assert!(text.contains("Apply failed! Resources: 1 added, 0 changed, 0 destroyed; 1 failed, 1 not attempted, 0 not converged."), "{text}");
    }

    #[test]
    fn timing_variables_accept_fractions_and_ignore_garbage() {
        assert_eq!(parse_seconds(" 1.5 "), Some(Duration::from_millis(1500)));
        assert_eq!(parse_seconds("0"), Some(Duration::ZERO));
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds("soon"), None);
    }
}
