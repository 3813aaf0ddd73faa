//! The `a2i-fix` command line: clap definitions, wiring and exit codes.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use a2i_fix::aws::{self, AwsOptions};
use a2i_fix::plan::{self, Plan};
use a2i_fix::render::{self, TextOptions};
use a2i_fix::{requirements, spec, state};

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
            let plan = compute_plan(&cli.global, &args.spec.spec).await?;
            let mut stdout = std::io::stdout().lock();
            if args.json {
                render::render_json(&plan, &mut stdout)?;
            } else {
                let opts = TextOptions {
                    color: use_color(&cli.global),
                };
                render::render_text(&plan, &mut stdout, opts)?;
            }
            stdout.flush()?;
            if args.detailed_exitcode && !plan.changes.is_empty() {
                return Ok(ExitCode::from(2));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Load the spec, read the account and build the plan: the one path that
/// `plan` and `apply` share.
async fn compute_plan(global: &Global, spec_path: &std::path::Path) -> anyhow::Result<Plan> {
    let spec = spec::load(spec_path)?;
    let needs = requirements::derive(&spec);
    let clients = aws::connect(&aws_options(global)).await?;
    let spinner = Spinner::start("reading IAM, S3 and KMS state");
    let state = state::read_state(&clients, &needs).await;
    spinner.stop();
    let state = state.context("failed to read the account's current state")?;
    let plan = plan::build_plan(&needs, &state, &spec.hash)?;
    Ok(plan)
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
