//! Many accounts in one run: `plan --accounts FILE`, `apply --accounts
//! FILE` (or `apply DIR` of saved plans), `rollback` of a run's journals,
//! and `accounts --from-organization`.
//!
//! Decisions:
//! - **One target per account and region**, each reached on its own: a
//!   role assumed with the run's credentials (once per target), a profile,
//!   or the run's own credentials; then GetCallerIdentity must name the
//!   account the file lists, before anything is read. Each target has its
//!   own clients, so its own retry partitions, IAM pacing and call
//!   counter: one throttled account never slows another.
//! - **Bounded concurrency** over targets (`--account-concurrency`); the
//!   output is printed in file order whatever order the targets finish in.
//! - **One question** for the whole set. Writes then run per target, each
//!   with its own backup directory (`BACKUP_DIR/ACCOUNT-REGION/`), so each
//!   has its own lock and journal and the newer-journal check of `rollback`
//!   sees every run that touched the account. A target that cannot be
//!   reached, or whose plan or apply fails, is reported and does not stop
//!   the others; the exit code says that some failed.
//! - **A run** is recorded in `BACKUP_DIR/runs/STAMP-PID/run.json` before
//!   the first write (its targets, the process id and the start time), so
//!   that `rollback RUN_DIR --accounts FILE` finds the journals the run
//!   wrote even when it was killed half way.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use futures::StreamExt;

use crate::accounts::{self, Access, Account, AccountsFile, SpecSource, Target};
use crate::apply::{self, Identity};
use crate::aws::{self, AwsOptions, Clients};
use crate::plan::Plan;
use crate::render::Format;
use crate::{journal, saved, spec};

use super::{Connection, Console, Outcome, WriteOptions};

mod out;
pub use out::{RUN_FILE_NAME, organization_file};

/// `--accounts FILE`, `--only`, `--account-concurrency`.
#[derive(Debug, Clone)]
pub struct AccountsOptions {
    pub file: PathBuf,
    /// Account names or tags; empty: every account.
    pub only: Vec<String>,
    /// Targets worked on at once.
    pub concurrency: usize,
}

/// Targets worked on at once unless `--account-concurrency` says otherwise.
pub const ACCOUNT_CONCURRENCY: usize = 64;

/// Reaching the accounts: the run's own clients are made once, when a
/// target first needs them (to assume a role, or as they are).
struct Reach<'a> {
    connection: &'a Connection,
    base: tokio::sync::OnceCell<Clients>,
}

impl<'a> Reach<'a> {
    fn new(connection: &'a Connection) -> Self {
        Reach {
            connection,
            base: tokio::sync::OnceCell::new(),
        }
    }

    async fn base(&self) -> anyhow::Result<&Clients> {
        self.base
            .get_or_try_init(|| self.connection.connect())
            .await
            .context("cannot use the credentials a2i-fix runs with")
    }

    /// Clients for `account` in `region`, checked to reach that account.
    async fn clients(
        &self,
        account: &Account,
        region: &str,
    ) -> anyhow::Result<(Clients, Identity)> {
        let options = AwsOptions {
            region: Some(region.to_string()),
            ..self.connection.aws.clone()
        };
        let clients = match &account.access {
            Access::AssumeRole(role) => {
                aws::assume_role(self.base().await?, &options, role).await?
            }
            Access::Profile(profile) => aws::connect(&AwsOptions {
                profile: Some(profile.clone()),
                ..options
            })
            .await
            .with_context(|| format!("cannot use profile `{profile}`"))?,
            // The run's own credentials, resolved once; another region
            // gets clients of its own with them.
            Access::Ambient => {
                let base = self.base().await?;
                if base.region == region {
                    base.clone()
                } else {
                    aws::in_region(base, &options).await?
                }
            }
        };
        let identity = apply::identify(&clients).await?;
        if identity.account_id != account.account_id {
            bail!(
                "the credentials for `{}` belong to account `{}` ({}), not to `{}`: correct its `account_id`, `role` or `profile` in the accounts file",
                account.name,
                identity.account_id,
                identity.arn,
                account.account_id
            );
        }
        Ok((clients, identity))
    }
}

/// One target's plan, ready to apply.
struct Planned {
    clients: Clients,
    identity: Identity,
    /// `account_id` of the spec, if it names one.
    expected_account: Option<String>,
    plan: Plan,
    /// The saved plan it was loaded from.
    saved: Option<PathBuf>,
    /// For a rollback: the journal it undoes.
    journal: Option<PathBuf>,
}

/// What became of one target.
struct Row {
    target: Target,
    planned: anyhow::Result<Planned>,
}

impl Row {
    /// Planned, with something to write.
    fn has_changes(&self) -> bool {
        self.planned
            .as_ref()
            .is_ok_and(|p| !p.plan.changes.is_empty())
    }
}

/// How many targets could not be reached or planned, and how many have
/// changes.
fn tally(rows: &[Row]) -> (usize, usize) {
    let failed = rows.iter().filter(|r| r.planned.is_err()).count();
    (failed, rows.iter().filter(|r| r.has_changes()).count())
}

/// Plan every target, `concurrency` at a time, in file order.
async fn plan_all(reach: &Reach<'_>, targets: Vec<Target>, concurrency: usize) -> Vec<Row> {
    futures::stream::iter(targets)
        .map(|target| async move {
            let planned = plan_target(reach, &target).await;
            Row { target, planned }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

async fn plan_target(reach: &Reach<'_>, target: &Target) -> anyhow::Result<Planned> {
    let (clients, identity) = reach.clients(&target.account, &target.region).await?;
    let spec = match &target.account.spec {
        SpecSource::File(path) => spec::load(path)?,
        SpecSource::Discover => discovered_spec(&clients).await?,
    };
    let (_, plan) = super::plan_spec(&clients, &spec, false).await?;
    Ok(Planned {
        clients,
        identity,
        expected_account: spec.bound_account(),
        plan,
        saved: None,
        journal: None,
    })
}

#[cfg(feature = "discover")]
async fn discovered_spec(clients: &Clients) -> anyhow::Result<spec::Spec> {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut console = quiet_console(&mut out, &mut err);
    let flags = super::DiscoverFlags::default();
    let found = super::discover::discover_spec(clients, &flags, None, &mut console).await?;
    spec::parse(&found.text, "discovered flow definitions").map_err(|e| {
        anyhow!("the discovered flow definitions do not make a valid spec ({e}): run `a2i-fix discover` in this account and give the account a `spec`")
    })
}

#[cfg(not(feature = "discover"))]
async fn discovered_spec(_clients: &Clients) -> anyhow::Result<spec::Spec> {
    bail!(
        "`discover = true` needs a2i-fix built with the `discover` feature: give the account a `spec` instead"
    )
}

/// A console that prints into buffers and never asks.
fn quiet_console<'a>(out: &'a mut Vec<u8>, err: &'a mut Vec<u8>) -> Console<'a> {
    Console {
        out,
        err,
        color: false,
        stdin_is_terminal: false,
        spinner: false,
        handle_ctrl_c: false,
    }
}

fn load_file(options: &AccountsOptions) -> anyhow::Result<AccountsFile> {
    Ok(accounts::load(&options.file)?)
}

/// `plan --accounts FILE`: plan every selected account and region, print
/// one plan per target and a table; `out` saves one plan per target in a
/// directory.
pub async fn plan(
    connection: &Connection,
    options: &AccountsOptions,
    format: Format,
    detailed_exitcode: bool,
    out_dir: Option<&Path>,
    console: &mut Console<'_>,
) -> anyhow::Result<Outcome> {
    let file = load_file(options)?;
    let targets = file.targets(&options.only)?;
    check_format(format)?;
    let reach = Reach::new(connection);
    let rows = plan_all(&reach, targets, options.concurrency).await;
    out::print_rows(&rows, format, console)?;
    if let Some(dir) = out_dir {
        let saved = out::save_plans(dir, &rows)?;
        writeln!(
            console.err,
            "Saved {saved} plan(s) to `{}`. To perform exactly these actions, run: a2i-fix apply {} --accounts {}",
            dir.display(),
            dir.display(),
            options.file.display()
        )?;
    }
    let (failed, _) = tally(&rows);
    if failed > 0 {
        bail!(
            "{failed} of {} target(s) could not be planned (see the table above); the others were planned",
            rows.len()
        );
    }
    let plans = || rows.iter().filter_map(|r| r.planned.as_ref().ok());
    if detailed_exitcode && plans().any(|p| !p.plan.changes.is_empty()) {
        return Ok(Outcome::ChangesPending);
    }
    if detailed_exitcode && plans().any(|p| !p.plan.warnings.is_empty()) {
        return Ok(Outcome::NeedsUnmet);
    }
    Ok(Outcome::Success)
}

fn check_format(format: Format) -> anyhow::Result<()> {
    match format {
        Format::Text | Format::Json => Ok(()),
        Format::Markdown | Format::Sarif => bail!(
            "`--accounts` prints text or JSON: drop `--format`, or use `--json` (markdown and SARIF are made per account: run `plan --spec` in each)"
        ),
    }
}

/// `apply --accounts FILE [DIR]`: plan every target (or load the saved
/// plans in `plans_dir`), show them, ask once, apply target by target.
pub async fn apply(
    connection: &Connection,
    options: &AccountsOptions,
    plans_dir: Option<&Path>,
    write: &WriteOptions,
    console: &mut Console<'_>,
) -> anyhow::Result<Outcome> {
    let confirmation = super::confirmation(write, console);
    let file = load_file(options)?;
    let reach = Reach::new(connection);
    let rows = match plans_dir {
        None => {
            let targets = file.targets(&options.only)?;
            plan_all(&reach, targets, options.concurrency).await
        }
        Some(dir) => load_saved(&reach, &file, options, dir).await?,
    };
    let interrupt = match confirm_all(&rows, Kind::Apply, write, confirmation, console)? {
        Decision::Write(interrupt) => interrupt,
        Decision::NothingToDo => return Ok(Outcome::Success),
        Decision::Cancelled => return Ok(Outcome::Cancelled),
    };
    let run = if write.dry_run {
        None
    } else {
        Some(out::start_run(&write.backup_dir, &rows)?)
    };
    let results = write_all(&rows, write, options.concurrency, &interrupt, |row, _| {
        write.backup_dir.join(row.target.key())
    })
    .await;
    out::print_applied(&rows, &results, run.as_deref(), &options.file, console)?;
    finish(&rows, &results, Kind::Apply)
}

/// Apply or rollback: the words of the question and the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Apply,
    Rollback,
}

/// Print the plans and the table, then ask once for every target with
/// changes. An error when nothing is to be done and some target failed.
fn confirm_all(
    rows: &[Row],
    kind: Kind,
    write: &WriteOptions,
    confirmation: Option<Result<apply::Confirmation, apply::NoTerminal>>,
    console: &mut Console<'_>,
) -> anyhow::Result<Decision> {
    out::print_rows(rows, Format::Text, console)?;
    let (failed, pending) = tally(rows);
    if pending == 0 {
        let (nothing, verb) = match kind {
            Kind::Apply => ("Nothing to do.", "planned"),
            Kind::Rollback => ("Nothing to roll back.", "read back"),
        };
        writeln!(console.out, "\n{nothing}")?;
        if failed > 0 {
            bail!(
                "{failed} of {} target(s) could not be {verb} (see the table above); nothing was written",
                rows.len()
            );
        }
        return Ok(Decision::NothingToDo);
    }
    if confirmation.transpose()? == Some(apply::Confirmation::Ask) {
        writeln!(console.out)?;
        console.out.flush()?;
        let (question, cancelled) = match kind {
            Kind::Apply => (
                format!(
                    "Do you want to perform these actions in {pending} account(s) and region(s)?"
                ),
                "Apply cancelled. Nothing was written.",
            ),
            Kind::Rollback => (
                format!("Do you want to roll back in {pending} account(s) and region(s)?"),
                "Rollback cancelled. Nothing was written.",
            ),
        };
        if !apply::confirm(&question)? {
            let _ = writeln!(console.out, "{cancelled}");
            return Ok(Decision::Cancelled);
        }
    }
    Ok(Decision::Write(
        if !write.dry_run && console.handle_ctrl_c {
            apply::Interrupt::on_ctrl_c()
        } else {
            apply::Interrupt::new()
        },
    ))
}

/// What [`confirm_all`] decided.
enum Decision {
    /// Write, with the flag Ctrl-C sets.
    Write(apply::Interrupt),
    /// No target has changes, and none failed.
    NothingToDo,
    Cancelled,
}

/// Execute every target's plan, `concurrency` at a time, each into the
/// backup directory `backup_dir` names; per target `None` when it was not
/// planned.
async fn write_all(
    rows: &[Row],
    write: &WriteOptions,
    concurrency: usize,
    interrupt: &apply::Interrupt,
    backup_dir: impl Fn(&Row, &Planned) -> PathBuf,
) -> Vec<Option<out::Applied>> {
    let backup_dir = &backup_dir;
    futures::stream::iter(rows)
        .map(|row| async move {
            let Ok(planned) = &row.planned else {
                return None;
            };
            if planned.plan.changes.is_empty() {
                return Some(out::Applied::nothing());
            }
            let mut options = apply::ApplyOptions::new(planned.identity.clone());
            options.backup_dir = backup_dir(row, planned);
            options.dry_run = write.dry_run;
            options.kms_retry_budget = write.kms_retry_budget;
            options.verify_timeout = write.verify_timeout;
            options.expected_account_id = planned.expected_account.clone();
            options.saved_plan = planned.saved.clone();
            options.interrupt = interrupt.clone();
            let (mut text, mut err) = (Vec::new(), Vec::new());
            let mut console = quiet_console(&mut text, &mut err);
            let (outcome, journal) =
                super::write_and_report(&planned.clients, &planned.plan, options, &mut console)
                    .await;
            Some(out::Applied {
                result: outcome.map(|_| ()),
                journal,
                report: String::from_utf8_lossy(&text).into_owned(),
                changes: planned.plan.changes.len(),
            })
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// The outcome of a run: an error counting the targets that failed.
fn finish(rows: &[Row], results: &[Option<out::Applied>], kind: Kind) -> anyhow::Result<Outcome> {
    let failed = tally(rows).0
        + results
            .iter()
            .filter(|r| r.as_ref().is_some_and(|a| a.result.is_err()))
            .count();
    if failed == 0 {
        return Ok(Outcome::Success);
    }
    match kind {
        Kind::Apply => bail!(
            "{failed} of {} target(s) failed (see the table above); the others were applied",
            rows.len()
        ),
        Kind::Rollback => bail!(
            "{failed} of {} journal(s) were not rolled back (see the table above): fix the cause and run the same rollback again; what is already back counts as done",
            rows.len()
        ),
    }
}

/// The saved plans of `dir` (`*.plan.json`, as `plan --accounts --out`
/// writes them), each matched to its account in the file and reached. A
/// plan that is not valid, or for an account the file does not list, stops
/// the whole run before anything is read.
async fn load_saved(
    reach: &Reach<'_>,
    file: &AccountsFile,
    options: &AccountsOptions,
    dir: &Path,
) -> anyhow::Result<Vec<Row>> {
    let selected: Vec<&Account> = file.select(&options.only)?;
    let paths = out::saved_plan_files(dir)?;
    let mut loaded = Vec::new();
    for path in paths {
        let plan = saved::load_saved_plan(&path)?;
        let account = file.by_id(&plan.account_id).ok_or_else(|| {
            anyhow!(
                "saved plan `{}` is for account `{}`, which `{}` does not list: add the account to the file, or remove the plan from `{}`",
                path.display(),
                plan.account_id,
                file.path.display(),
                dir.display()
            )
        })?;
        if !selected.iter().any(|a| a.account_id == account.account_id) {
            continue;
        }
        let target = Target {
            account: account.clone(),
            region: plan.region.clone(),
        };
        loaded.push((target, plan, path));
    }
    if loaded.is_empty() {
        bail!(
            "`{}` holds no saved plan of the selected accounts: make them with `a2i-fix plan --accounts {} --out {}`",
            dir.display(),
            file.path.display(),
            dir.display()
        );
    }
    Ok(futures::stream::iter(loaded)
        .map(|(target, plan, path)| async move {
            let planned = async {
                let (clients, identity) = reach.clients(&target.account, &target.region).await?;
                saved::check_account(&plan, &identity.account_id, &clients.region)?;
                Ok(Planned {
                    clients,
                    identity,
                    expected_account: None,
                    plan,
                    saved: Some(path),
                    journal: None,
                })
            }
            .await;
            Row { target, planned }
        })
        .buffered(options.concurrency.max(1))
        .collect()
        .await)
}

/// `rollback JOURNAL|RUN_DIR --accounts FILE`: put back what one journal,
/// or every journal of one run, wrote; each account reached as the file
/// says, one question for all.
pub async fn rollback(
    connection: &Connection,
    options: &AccountsOptions,
    path: &Path,
    write: &WriteOptions,
    console: &mut Console<'_>,
) -> anyhow::Result<Outcome> {
    let confirmation = super::confirmation(write, console);
    let file = load_file(options)?;
    let journals = if path.is_dir() {
        out::run_journals(path)?
    } else {
        vec![path.to_path_buf()]
    };
    if journals.is_empty() {
        writeln!(
            console.out,
            "Nothing to roll back: run `{}` wrote no journal.",
            path.display()
        )?;
        return Ok(Outcome::Success);
    }
    let reach = Reach::new(connection);
    let mut rows = Vec::new();
    for journal_path in &journals {
        let contents = journal::read_journal(journal_path)?;
        let account = file.by_id(&contents.header.account_id).ok_or_else(|| {
            anyhow!(
                "journal `{}` is of account `{}`, which `{}` does not list: add the account to the file to reach it",
                journal_path.display(),
                contents.header.account_id,
                file.path.display()
            )
        })?;
        rows.push((
            Target {
                account: account.clone(),
                region: contents.header.region.clone(),
            },
            journal_path.clone(),
        ));
    }
    let rows: Vec<Row> = futures::stream::iter(rows)
        .map(|(target, journal_path)| {
            let reach = &reach;
            async move {
                let planned = async {
                    let (clients, identity) =
                        reach.clients(&target.account, &target.region).await?;
                    if !write.force {
                        apply::rollback::check_newer_journals(&journal_path, &clients).await?;
                    }
                    let plan =
                        apply::rollback::plan_from_journal(&journal_path, &clients, &identity)
                            .await?;
                    Ok(Planned {
                        clients,
                        identity,
                        expected_account: None,
                        plan,
                        saved: None,
                        journal: Some(journal_path),
                    })
                }
                .await;
                Row { target, planned }
            }
        })
        .buffered(options.concurrency.max(1))
        .collect()
        .await;
    let interrupt = match confirm_all(&rows, Kind::Rollback, write, confirmation, console)? {
        Decision::Write(interrupt) => interrupt,
        Decision::NothingToDo => return Ok(Outcome::Success),
        Decision::Cancelled => return Ok(Outcome::Cancelled),
    };
    // Each rollback's own journal goes beside the journal it undoes.
    let results = write_all(
        &rows,
        write,
        options.concurrency,
        &interrupt,
        |_, planned| {
            planned
                .journal
                .as_deref()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
                .unwrap_or_else(|| write.backup_dir.clone())
        },
    )
    .await;
    out::print_applied(&rows, &results, None, &options.file, console)?;
    finish(&rows, &results, Kind::Rollback)
}

/// `accounts --from-organization` options.
#[derive(Debug, Clone)]
pub struct FromOrganization {
    pub role: String,
    pub external_id: Option<String>,
    pub regions: Vec<String>,
    pub spec: String,
    /// The file to write; `-` prints it.
    pub out: PathBuf,
    /// Replace `out` when it exists.
    pub force: bool,
}

/// `accounts --from-organization`: list the organization's accounts and
/// write them as an accounts file for review.
pub async fn from_organization(
    connection: &Connection,
    command: &FromOrganization,
    console: &mut Console<'_>,
) -> anyhow::Result<Outcome> {
    let clients = connection.connect().await?;
    let listed = accounts::organization::list_accounts(&clients.organizations).await?;
    organization_file(command, &listed, console)
}
