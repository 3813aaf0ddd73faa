//! The `a2i-fix` command line: clap definitions, wiring and exit codes.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use a2i_fix::aws::{self, AwsOptions};
use a2i_fix::plan::{self, Plan};
use a2i_fix::render::{self, TextOptions};
use a2i_fix::{apply, requirements, saved, spec, state};

/// Find and fix the AWS permissions that Amazon Augmented AI (A2I) needs.
#[derive(Debug, Parser)]
#[command(name = "a2i-fix", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: Global,
}

#[derive(Debug, Args)]
struct Global {
    /// AWS profile to use (default: `AWS_PROFILE` or the default profile).
    #[arg(long, global = true, env = "AWS_PROFILE")]
    profile: Option<String>,
    /// AWS region (default: `AWS_REGION` or the profile's region).
    #[arg(long, global = true)]
    region: Option<String>,
    /// Custom endpoint for every AWS service, e.g. a local emulator
    /// (default: `AWS_ENDPOINT_URL`). S3 then uses path-style addressing.
    #[arg(long, global = true)]
    endpoint_url: Option<String>,
    /// Never colour the output (colour is only used on a terminal, and never
    /// when `NO_COLOR` is set).
    #[arg(long, global = true)]
    no_color: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read the account and print the changes A2I's permissions need.
    Plan(PlanArgs),
    /// Check a spec file without touching AWS.
    Validate(SpecArg),
    /// Apply the plan (computed now, or saved with `plan --out`).
    Apply(ApplyArgs),
    /// Print a saved plan.
    Show(ShowArgs),
    /// Put back every resource an apply changed, from its journal.
    Rollback(RollbackArgs),
}

#[derive(Debug, Args)]
struct WriteArgs {
    /// Do not ask for confirmation (for pipelines).
    #[arg(long)]
    yes: bool,
    /// Check everything and print the API calls that would be made; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Where journals (backups of every replaced document) are written.
    #[arg(long, default_value = a2i_fix::journal::DEFAULT_BACKUP_DIR)]
    backup_dir: PathBuf,
}

#[derive(Debug, Args)]
struct ApplyArgs {
    /// A plan saved with `plan --out`; without it the plan is computed from the spec.
    plan_file: Option<PathBuf>,
    #[command(flatten)]
    spec: SpecArg,
    #[command(flatten)]
    write: WriteArgs,
}

#[derive(Debug, Args)]
struct ShowArgs {
    /// A plan saved with `plan --out`.
    plan_file: PathBuf,
    /// Print it as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct RollbackArgs {
    /// The journal an apply wrote (in `.a2i-fix/` by default).
    journal: PathBuf,
    #[command(flatten)]
    write: WriteArgs,
}

#[derive(Debug, Args)]
struct SpecArg {
    /// The desired-state file.
    #[arg(long, default_value = "a2i.toml")]
    spec: PathBuf,
}

#[derive(Debug, Args)]
struct PlanArgs {
    #[command(flatten)]
    spec: SpecArg,
    /// Print the plan as one versioned JSON document.
    #[arg(long)]
    json: bool,
    /// Exit 2 when there are changes, 0 when there are none, 1 on error.
    #[arg(long)]
    detailed_exitcode: bool,
    /// Also save the plan to FILE, for a later `apply FILE`.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {err}");
            for cause in err.chain().skip(1) {
                let _ = writeln!(stderr, "  Caused by: {cause}");
            }
            ExitCode::from(1)
        }
    }
}

/// `| head` closing stdout is not an error (as in ripgrep).
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn use_color(global: &Global) -> bool {
    !global.no_color
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::stdout().is_terminal()
}

fn aws_options(global: &Global) -> AwsOptions {
    AwsOptions {
        profile: global.profile.clone(),
        region: global.region.clone(),
        endpoint_url: global.endpoint_url.clone(),
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Validate(args) => {
            let spec = spec::load(&args.spec)?;
            let needs = requirements::derive(&spec);
            println!(
                "`{}` is valid: {} flow definition(s), {} human loop caller(s), {} template preview(s); {} role(s), {} bucket(s), {} key(s) to check.",
                args.spec.display(),
                spec.flow_definitions.len(),
                spec.human_loop_callers.len(),
                spec.template_previews.len(),
                needs.roles.len(),
                needs.cors.len()
                    + needs
                        .output_buckets
                        .iter()
                        .filter(|b| !needs.cors.contains_key(*b))
                        .count(),
                needs.keys.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan(args) => {
            let (_, _, plan) = compute_plan(&cli.global, &args.spec.spec).await?;
            print_plan(&plan, args.json, &cli.global)?;
            if let Some(out) = &args.out {
                saved::write_saved_plan(out, &plan)?;
                eprintln!(
                    "Saved the plan to `{}`. To perform exactly these actions, run: a2i-fix apply {}",
                    out.display(),
                    out.display()
                );
            }
            if args.detailed_exitcode && !plan.changes.is_empty() {
                return Ok(ExitCode::from(2));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Show(args) => {
            let plan = saved::load_saved_plan(&args.plan_file)?;
            print_plan(&plan, args.json, &cli.global)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Apply(args) => apply_command(&cli.global, args).await,
        Command::Rollback(args) => rollback_command(&cli.global, args).await,
    }
}

fn print_plan(plan: &Plan, json: bool, global: &Global) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    if json {
        render::render_json(plan, &mut stdout)?;
    } else {
        let opts = TextOptions {
            color: use_color(global),
        };
        render::render_text(plan, &mut stdout, opts)?;
    }
    stdout.flush()?;
    Ok(())
}

async fn apply_command(global: &Global, args: &ApplyArgs) -> anyhow::Result<ExitCode> {
    // Whether someone can confirm is decided now, but refused only when
    // there is something to apply: an account already right exits 0 in a
    // pipeline too.
    let confirmation = (!args.write.dry_run).then(|| apply::confirmation_for_stdin(args.write.yes));
    let (clients, expected_account, plan) = match &args.plan_file {
        Some(file) => {
            let plan = saved::load_saved_plan(file)?;
            let clients = aws::connect(&aws_options(global)).await?;
            (clients, None, plan)
        }
        None => {
            let (clients, spec, plan) = compute_plan(global, &args.spec.spec).await?;
            (clients, spec.bound_account(), plan)
        }
    };
    let identity = apply::identify(&clients).await?;
    if args.plan_file.is_some() {
        saved::check_account(&plan, &identity.account_id, &clients.region)?;
    }
    print_plan(&plan, false, global)?;
    let mut options = apply::ApplyOptions::new(identity);
    options.backup_dir = args.write.backup_dir.clone();
    options.dry_run = args.write.dry_run;
    options.expected_account_id = expected_account;
    options.saved_plan = args.plan_file.clone();
    execute_confirmed(&clients, &plan, options, confirmation).await
}

async fn rollback_command(global: &Global, args: &RollbackArgs) -> anyhow::Result<ExitCode> {
    let confirmation = (!args.write.dry_run).then(|| apply::confirmation_for_stdin(args.write.yes));
    let clients = aws::connect(&aws_options(global)).await?;
    let identity = apply::identify(&clients).await?;
    let plan = apply::rollback::plan_from_journal(&args.journal, &clients, &identity).await?;
    if plan.changes.is_empty() {
        // Not the forward plan's "up to date": nothing in the journal took effect.
        println!(
            "Nothing to roll back: journal `{}` records no write that took effect.",
            args.journal.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    print_plan(&plan, false, global)?;
    let mut options = apply::ApplyOptions::new(identity);
    options.backup_dir = args.write.backup_dir.clone();
    options.dry_run = args.write.dry_run;
    execute_confirmed(&clients, &plan, options, confirmation).await
}

/// The shared tail of `apply` and `rollback`: confirm, execute, report.
async fn execute_confirmed(
    clients: &aws::Clients,
    plan: &Plan,
    mut options: apply::ApplyOptions,
    confirmation: Option<Result<apply::Confirmation, apply::NoTerminal>>,
) -> anyhow::Result<ExitCode> {
    if plan.changes.is_empty() {
        println!("Nothing to do.");
        return Ok(ExitCode::SUCCESS);
    }
    let confirmation = confirmation.transpose()?;
    if confirmation == Some(apply::Confirmation::Ask) {
        println!();
        if !apply::confirm_apply()? {
            println!("Apply cancelled. Nothing was written.");
            return Ok(ExitCode::from(1));
        }
    }
    if !options.dry_run {
        // After the prompt, so that Ctrl-C at the prompt still just quits.
        options.interrupt = apply::Interrupt::on_ctrl_c();
    }
    println!();
    match apply::execute(clients, plan, &options).await {
        Ok(report) => {
            print!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => match err.report() {
            Some(report) => {
                print!("{report}");
                std::io::stdout().flush()?;
                // The report above is the whole story: returning `err` itself
                // would print it a second time, on stderr.
                Err(anyhow::anyhow!(
                    "not every change was applied and verified (see the report above): fix the cause and run the same command again, or put back what was written with the `a2i-fix rollback` command shown above"
                ))
            }
            None => Err(anyhow::Error::new(err)),
        },
    }
}

/// Load the spec, read the account and build the plan: the one path that
/// `plan` and `apply` share.
async fn compute_plan(
    global: &Global,
    spec_path: &std::path::Path,
) -> anyhow::Result<(aws::Clients, spec::Spec, Plan)> {
    let spec = spec::load(spec_path)?;
    let needs = requirements::derive(&spec);
    let clients = aws::connect(&aws_options(global)).await?;
    let spinner = Spinner::start("reading IAM, S3 and KMS state");
    let state = state::read_state(&clients, &needs).await;
    spinner.stop();
    let state = state.context("failed to read the account's current state")?;
    let plan = plan::build_plan(&needs, &state, &spec.hash)?;
    Ok((clients, spec, plan))
}

/// A spinner on stderr, only when stderr is a terminal.
struct Spinner(Option<indicatif::ProgressBar>);

impl Spinner {
    fn start(message: &'static str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Spinner(None);
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(message);
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        Spinner(Some(bar))
    }
    fn stop(self) {
        if let Some(bar) = self.0 {
            bar.finish_and_clear();
        }
    }
}
