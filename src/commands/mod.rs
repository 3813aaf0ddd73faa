//! What each command does, from parsed options to an [`Outcome`]: the
//! orchestration that `main.rs` only wires to the command line. Everything
//! here writes to the writers it is given, so a test can run a command in
//! process and read what it printed.
//!
//! | command | reads | writes to AWS |
//! |---|---|---|
//! | [`validate`] | the spec | nothing |
//! | [`plan`] | the spec, the account | nothing (`--out` saves the plan to a file) |
//! | [`plan_discovered`] | the flow definitions (and the spec, if any, for its callers), the account | nothing |
//! | [`discover()`] | the flow definitions (and recent results, when allowed) | nothing (writes `a2i.toml`) |
//! | [`show`] | a saved plan | nothing |
//! | [`apply`] | the spec or a saved plan, the account | the plan's changes, after confirmation |
//! | [`rollback`] | a journal, the account | the journal's writes undone, after confirmation |
//! | [`export`] | the spec or a saved plan, the account | nothing (writes the plan as Terraform configuration) |
//! | [`accounts`] | an accounts file, its specs, every account it selects | as `plan`, `apply` and `rollback`, per account |

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::aws::{self, AwsOptions, Clients};
use crate::plan::{self, Plan};
use crate::render::{self, Format, Locate, TextOptions};
use crate::{apply, requirements, saved, spec, state};

pub mod accounts;
mod anchors;
#[cfg(feature = "discover")]
mod discover;
mod export;
mod lock;
mod progress;

pub use anchors::{SpecAnchors, spec_uri};
#[cfg(feature = "discover")]
pub use discover::{DiscoverCommand, DiscoverFlags, discover};
pub use export::{EXPORT_FILE_NAME, ExportFormat, ExportOptions, export};

pub use lock::LOCK_FILE_NAME;

use progress::{Spinner, WriteBar};

/// How a command that did not fail ended; the binary maps it to an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done (for `plan --detailed-exitcode`: done, and nothing to change).
    Success,
    /// `plan --detailed-exitcode` found changes.
    ChangesPending,
    /// `plan --detailed-exitcode` found nothing to change, but needs are
    /// left unmet that no change a2i-fix makes can meet (the plan's
    /// warnings: a Deny, a boundary, a condition, a disabled key...).
    NeedsUnmet,
    /// The user did not approve; nothing was written.
    Cancelled,
}

impl Outcome {
    /// The process exit code: 0, 2 for pending changes, 3 for needs no
    /// change can meet, 1 when cancelled.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::ChangesPending => 2,
            Outcome::NeedsUnmet => 3,
            Outcome::Cancelled => 1,
        }
    }
}

/// Where a command prints, and what it may assume about the terminal.
pub struct Console<'a> {
    /// The plan, reports and results.
    pub out: &'a mut dyn Write,
    /// Notes for the person (saved-plan hints); the prompt and spinner use
    /// the real stderr, and only on a terminal.
    pub err: &'a mut dyn Write,
    /// Colour the plan text.
    pub color: bool,
    /// Standard input is a terminal someone can answer a question on.
    pub stdin_is_terminal: bool,
    /// Show a spinner on stderr while the account is read.
    pub spinner: bool,
    /// Handle Ctrl-C during writes (finish the writes in flight, start no
    /// new one); off for in-process tests, which have no signal to send.
    pub handle_ctrl_c: bool,
}

/// How a command reaches AWS: the usual profile / region / endpoint
/// options, or clients the caller built (a program embedding a2i-fix, or an
/// in-process test). Given clients are used as they are, their call counter
/// included: give each command fresh ones for exact `api_calls` figures.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    pub aws: AwsOptions,
    pub clients: Option<Clients>,
}

impl Connection {
    /// From options, resolved through the standard credential chain.
    pub fn from_options(aws: AwsOptions) -> Self {
        Connection { aws, clients: None }
    }

    /// With clients the caller built.
    pub fn with_clients(clients: Clients) -> Self {
        Connection {
            aws: AwsOptions::default(),
            clients: Some(clients),
        }
    }

    async fn connect(&self) -> anyhow::Result<Clients> {
        match &self.clients {
            Some(clients) => Ok(clients.clone()),
            None => aws::connect(&self.aws).await,
        }
    }
}

/// `plan` options.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub spec: PathBuf,
    /// How the plan is printed (`--format`; `--json` is `Format::Json`).
    pub format: Format,
    pub detailed_exitcode: bool,
    pub out: Option<PathBuf>,
}

/// The options `apply` and `rollback` share.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Do not ask for confirmation.
    pub yes: bool,
    /// Check everything and print the calls that would be made; write nothing.
    pub dry_run: bool,
    /// Where journals are written.
    pub backup_dir: PathBuf,
    /// How long PutKeyPolicy's "invalid principals" is retried.
    pub kms_retry_budget: std::time::Duration,
    /// How long verification waits for the writes to be visible.
    pub verify_timeout: std::time::Duration,
    /// `rollback` only: roll back even when a newer apply's writes to the
    /// same resources are still in effect (they are then undone too).
    pub force: bool,
}

/// `apply` options.
#[derive(Debug, Clone)]
pub struct ApplyCommand {
    /// A saved plan; without it the plan is computed from `spec`.
    pub plan_file: Option<PathBuf>,
    pub spec: PathBuf,
    pub write: WriteOptions,
}

/// `validate`: check the spec, no AWS call.
pub fn validate(spec_path: &Path, console: &mut Console<'_>) -> anyhow::Result<Outcome> {
    let spec = spec::load(spec_path)?;
    let needs = requirements::derive(&spec);
    let buckets = needs.cors.len()
        + needs
            .output_buckets
            .iter()
            .filter(|b| !needs.cors.contains_key(*b))
            .count();
    writeln!(
        console.out,
        "`{}` is valid: {} flow definition(s), {} human loop caller(s), {} template preview(s); {} role(s), {} bucket(s), {} key(s) to check.",
        spec_path.display(),
        spec.flow_definitions.len(),
        spec.human_loop_callers.len(),
        spec.template_previews.len(),
        needs.roles.len(),
        buckets,
        needs.keys.len()
    )?;
    Ok(Outcome::Success)
}

/// `plan`: read the account, print the plan, optionally save it.
pub async fn plan(
    connection: &Connection,
    options: &PlanOptions,
    console: &mut Console<'_>,
) -> anyhow::Result<Outcome> {
    warn_unknown_inputs_in(&options.spec, console)?;
    let (_, spec, plan) = compute_plan(connection, &options.spec, console.spinner).await?;
    let anchors = SpecAnchors::new(&spec, &options.spec);
    finish_plan(&plan, options, Some(&anchors), console)
}

#[cfg(feature = "discover")]
/// `plan --discover`: discover the flow definitions in memory (keeping the
/// callers and previews of `options.spec` when that file exists), and plan
/// from that, writing no spec file.
pub async fn plan_discovered(
    connection: &Connection,
    options: &PlanOptions,
    flags: &DiscoverFlags,
    console: &mut Console<'_>,
) -> anyhow::Result<Outcome> {
    let clients = connection.connect().await?;
    let merge_into = options.spec.is_file().then_some(options.spec.as_path());
    let found = discover::discover_spec(&clients, flags, merge_into, console).await?;
    let name = "discovered flow definitions";
    let spec = spec::parse(&found.text, name)
        .map_err(|e| anyhow::anyhow!("the discovered flow definitions do not make a valid spec ({e}): run `a2i-fix discover --out FILE` and fix the entry it names"))?;
    discover::report(&found, None, console.err)?;
    discover::warn_unknown_inputs(&found.text, name, console.err)?;
    let (_, plan) = plan_spec(&clients, &spec, console.spinner).await?;
    // No spec file holds these entries: SARIF results point at line 1.
    finish_plan(&plan, options, None, console)
}

/// Print the plan, save it, and decide the outcome: the tail of `plan`.
fn finish_plan(
    plan: &Plan,
    options: &PlanOptions,
    anchors: Option<&SpecAnchors>,
    console: &mut Console<'_>,
) -> anyhow::Result<Outcome> {
    // The outcome is decided by the plan, not by whether its reader kept
    // the pipe open: `plan --detailed-exitcode | head` still exits 2.
    if let Err(e) = print_plan(
        plan,
        options.format,
        anchors.map(|a| a as &dyn Locate),
        console,
    ) && !is_broken_pipe(&e)
    {
        return Err(e);
    }
    if let Some(out) = &options.out {
        saved::write_saved_plan(out, plan)?;
        writeln!(
            console.err,
            "Saved the plan to `{}`. To perform exactly these actions, run: a2i-fix apply {}",
            out.display(),
            out.display()
        )?;
    }
    // Pending changes come first: apply them, and the next plan tells
    // whether needs are still left unmet.
    if options.detailed_exitcode && !plan.changes.is_empty() {
        return Ok(Outcome::ChangesPending);
    }
    if options.detailed_exitcode && !plan.warnings.is_empty() {
        return Ok(Outcome::NeedsUnmet);
    }
    Ok(Outcome::Success)
}

/// `show`: print a saved plan as text, or as JSON.
pub fn show(plan_file: &Path, json: bool, console: &mut Console<'_>) -> anyhow::Result<Outcome> {
    let format = if json { Format::Json } else { Format::Text };
    show_as(plan_file, format, None, console)
}

/// `show --format`: print a saved plan in any format. SARIF points into the
/// spec the plan was made from: `spec` must be that file, unchanged.
pub fn show_as(
    plan_file: &Path,
    format: Format,
    spec_path: Option<&Path>,
    console: &mut Console<'_>,
) -> anyhow::Result<Outcome> {
    let plan = saved::load_saved_plan(plan_file)?;
    let spec = match (format, spec_path) {
        (Format::Sarif, Some(path)) => {
            let spec = spec::load(path)?;
            if spec.hash != plan.spec_hash {
                anyhow::bail!(
                    "spec `{}` is not the one plan `{}` was made from (it changed since, or is another file): SARIF results would point at the wrong lines; pass the spec the plan was made from with `--spec`, or run `a2i-fix plan --format sarif`",
                    path.display(),
                    plan_file.display()
                );
            }
            Some((spec, path))
        }
        _ => None,
    };
    let anchors = spec
        .as_ref()
        .map(|(spec, path)| SpecAnchors::new(spec, path));
    print_plan(
        &plan,
        format,
        anchors.as_ref().map(|a| a as &dyn Locate),
        console,
    )?;
    Ok(Outcome::Success)
}

/// `apply [PLANFILE]`: compute (or load) the plan, show it, confirm, execute.
pub async fn apply(
    connection: &Connection,
    command: &ApplyCommand,
    console: &mut Console<'_>,
) -> anyhow::Result<Outcome> {
    // Whether someone can confirm is decided now, but refused only when
    // there is something to apply: an account already right exits 0 in a
    // pipeline too.
    if let Some(dir) = command.plan_file.as_deref().filter(|p| p.is_dir()) {
        anyhow::bail!(
            "`{}` is a directory: a directory of saved plans (`plan --accounts ... --out DIR`) is applied with `--accounts FILE`",
            dir.display()
        );
    }
    let confirmation = confirmation(&command.write, console);
    let (clients, expected_account, plan) = match &command.plan_file {
        Some(file) => {
            let plan = saved::load_saved_plan(file)?;
            let clients = connection.connect().await?;
            (clients, None, plan)
        }
        None => {
            warn_unknown_inputs_in(&command.spec, console)?;
            let (clients, spec, plan) =
                compute_plan(connection, &command.spec, console.spinner).await?;
            (clients, spec.bound_account(), plan)
        }
    };
    let identity = apply::identify(&clients).await?;
    if command.plan_file.is_some() {
        saved::check_account(&plan, &identity.account_id, &clients.region)?;
    }
    print_plan(&plan, Format::Text, None, console)?;
    let mut options = apply::ApplyOptions::new(identity);
    options.backup_dir = command.write.backup_dir.clone();
    options.dry_run = command.write.dry_run;
    options.kms_retry_budget = command.write.kms_retry_budget;
    options.verify_timeout = command.write.verify_timeout;
    options.expected_account_id = expected_account;
    options.saved_plan = command.plan_file.clone();
    execute_confirmed(&clients, &plan, options, confirmation, console).await
}

/// `rollback JOURNAL`: plan the undoing of an apply's writes, show, confirm, execute.
pub async fn rollback(
    connection: &Connection,
    journal: &Path,
    write: &WriteOptions,
    console: &mut Console<'_>,
) -> anyhow::Result<Outcome> {
    if journal.is_dir() {
        anyhow::bail!(
            "`{}` is a directory: the run directory of a many-account apply is rolled back with `--accounts FILE`; otherwise give one journal file",
            journal.display()
        );
    }
    let confirmation = confirmation(write, console);
    let clients = connection.connect().await?;
    let identity = apply::identify(&clients).await?;
    if !write.force {
        apply::rollback::check_newer_journals(journal, &clients).await?;
    }
    let plan = apply::rollback::plan_from_journal(journal, &clients, &identity).await?;
    if plan.changes.is_empty() {
        // Not the forward plan's "up to date": nothing in the journal took effect.
        writeln!(
            console.out,
            "Nothing to roll back: journal `{}` records no write that took effect.",
            journal.display()
        )?;
        return Ok(Outcome::Success);
    }
    print_plan(&plan, Format::Text, None, console)?;
    let mut options = apply::ApplyOptions::new(identity);
    options.backup_dir = write.backup_dir.clone();
    options.dry_run = write.dry_run;
    options.kms_retry_budget = write.kms_retry_budget;
    options.verify_timeout = write.verify_timeout;
    execute_confirmed(&clients, &plan, options, confirmation, console).await
}

/// `None` for a dry run (nothing to confirm).
pub(super) fn confirmation(
    write: &WriteOptions,
    console: &Console<'_>,
) -> Option<Result<apply::Confirmation, apply::NoTerminal>> {
    (!write.dry_run).then(|| apply::confirmation(write.yes, console.stdin_is_terminal))
}

/// The shared tail of `apply` and `rollback`: confirm, execute, report.
async fn execute_confirmed(
    clients: &Clients,
    plan: &Plan,
    options: apply::ApplyOptions,
    confirmation: Option<Result<apply::Confirmation, apply::NoTerminal>>,
    console: &mut Console<'_>,
) -> anyhow::Result<Outcome> {
    if plan.changes.is_empty() {
        writeln!(console.out, "Nothing to do.")?;
        return Ok(Outcome::Success);
    }
    let confirmation = confirmation.transpose()?;
    if confirmation == Some(apply::Confirmation::Ask) {
        writeln!(console.out)?;
        console.out.flush()?;
        if !apply::confirm_apply()? {
            // The outcome is what counts: a closed stdout must not turn a
            // cancellation into an error that reads as a broken pipe.
            let _ = writeln!(console.out, "Apply cancelled. Nothing was written.");
            return Ok(Outcome::Cancelled);
        }
    }
    let (outcome, _journal) = write_and_report(clients, plan, options, console).await;
    outcome
}

/// Lock the backup directory, execute the plan's writes and print the
/// report: the part of `apply` and `rollback` after confirmation. Also
/// gives the journal written, if any.
pub(super) async fn write_and_report(
    clients: &Clients,
    plan: &Plan,
    mut options: apply::ApplyOptions,
    console: &mut Console<'_>,
) -> (anyhow::Result<Outcome>, Option<PathBuf>) {
    // One writer per backup directory, from here until the report.
    let _lock = if options.dry_run {
        None
    } else {
        let command = if plan.spec_hash.is_empty() {
            "rollback"
        } else {
            "apply"
        };
        match lock::lock_backup_dir(&options.backup_dir, command) {
            Ok(lock) => Some(lock),
            Err(e) => return (Err(e), None),
        }
    };
    if !options.dry_run && console.handle_ctrl_c {
        // After the prompt, so that Ctrl-C at the prompt still just quits.
        options.interrupt = apply::Interrupt::on_ctrl_c();
    }
    if let Err(e) = writeln!(console.out) {
        return (Err(e.into()), None);
    }
    let bar = WriteBar::start(plan.changes.len(), console.spinner && !options.dry_run);
    options.progress = bar.progress();
    let executed = apply::execute(clients, plan, &options).await;
    bar.stop();
    // Once writes may have started, what happened in AWS decides the
    // outcome: a report that cannot be printed (stdout closed) must not turn
    // a failed apply into a success, nor a successful one into a failure.
    match executed {
        Ok(report) => {
            let _ = write!(console.out, "{report}");
            let _ = console.out.flush();
            (Ok(Outcome::Success), report.journal.clone())
        }
        Err(err) => match err.report() {
            Some(report) => {
                let _ = write!(console.out, "{report}");
                let _ = console.out.flush();
                let journal = report.journal.clone();
                // The report above is the whole story: returning `err` itself
                // would print it a second time, on stderr.
                let message = if plan.spec_hash.is_empty() {
                    "not every document was put back and verified (see the report above): fix the cause and run the same `a2i-fix rollback` again; what is already back counts as done"
                } else {
                    "not every change was applied and verified (see the report above): fix the cause and run the same command again, or put back what was written with the `a2i-fix rollback` command shown above"
                };
                (Err(anyhow::anyhow!(message)), journal)
            }
            None => (Err(anyhow::Error::new(err)), None),
        },
    }
}

/// Whether the error is the output closed by its reader.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Print the plan; SARIF needs to know where in the spec its results are.
fn print_plan(
    plan: &Plan,
    format: Format,
    locate: Option<&dyn Locate>,
    console: &mut Console<'_>,
) -> anyhow::Result<()> {
    match format {
        Format::Text => {
            let opts = TextOptions {
                color: console.color,
            };
            render::render_text(plan, &mut console.out, opts)?;
        }
        Format::Json => render::render_json(plan, &mut console.out)?,
        Format::Markdown => render::render_markdown(plan, &mut console.out)?,
        Format::Sarif => match locate {
            Some(locate) => render::render_sarif(plan, locate, &mut console.out)?,
            None => anyhow::bail!(
                "SARIF results point at lines of the spec: give the spec the plan was made from with `--spec`"
            ),
        },
    }
    console.out.flush()?;
    Ok(())
}

/// Load the spec, read the account and build the plan: the one path that
/// `plan` and `apply` share.
pub async fn compute_plan(
    connection: &Connection,
    spec_path: &Path,
    spinner: bool,
) -> anyhow::Result<(Clients, spec::Spec, Plan)> {
    let (clients, spec, _, plan) = read_and_plan(connection, spec_path, spinner).await?;
    Ok((clients, spec, plan))
}

/// [`compute_plan`], keeping the state read as well.
pub(super) async fn read_and_plan(
    connection: &Connection,
    spec_path: &Path,
    spinner: bool,
) -> anyhow::Result<(Clients, spec::Spec, state::AccountState, Plan)> {
    let spec = spec::load(spec_path)?;
    let clients = connection.connect().await?;
    let (state, plan) = plan_spec(&clients, &spec, spinner).await?;
    Ok((clients, spec, state, plan))
}

/// Read what `spec` needs from the account and build the plan.
pub(super) async fn plan_spec(
    clients: &Clients,
    spec: &spec::Spec,
    spinner: bool,
) -> anyhow::Result<(state::AccountState, Plan)> {
    let needs = requirements::derive(spec);
    let spinner = Spinner::start("reading IAM, S3 and KMS state", spinner);
    let state = state::read_state(clients, &needs).await;
    spinner.stop();
    let state = state.context("failed to read the account's current state")?;
    let plan = plan::build_plan(&needs, &state, &spec.hash)?;
    Ok((state, plan))
}

/// Warn about flow definitions of the spec file whose input buckets are
/// marked unknown (a file `discover` wrote); a file that cannot be read is
/// left to the spec loader to report.
fn warn_unknown_inputs_in(spec_path: &Path, console: &mut Console<'_>) -> anyhow::Result<()> {
    #[cfg(feature = "discover")]
    if let Ok(text) = std::fs::read_to_string(spec_path) {
        discover::warn_unknown_inputs(&text, &spec_path.display().to_string(), console.err)?;
    }
    #[cfg(not(feature = "discover"))]
    let _ = (spec_path, console);
    Ok(())
}
