//! The `a2i-fix` command line: clap definitions, and the mapping from a
//! command's outcome to an exit code. What each command does lives in the
//! library (`a2i_fix::commands`), where tests can run it in process.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use a2i_fix::aws::AwsOptions;
use a2i_fix::commands::{self, Console, Outcome};

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
    /// Seconds one attempt of an AWS call may take before it is abandoned
    /// (and retried, within the call's own deadline).
    #[arg(long, global = true, env = "A2I_FIX_ATTEMPT_TIMEOUT", value_name = "SECONDS",
          value_parser = seconds, default_value = "20")]
    attempt_timeout: std::time::Duration,
    /// Seconds an AWS call may take with all its retries before it fails,
    /// naming the call.
    #[arg(long, global = true, env = "A2I_FIX_OPERATION_TIMEOUT", value_name = "SECONDS",
          value_parser = seconds, default_value = "120")]
    operation_timeout: std::time::Duration,
    /// How many IAM reads may be in flight at once (IAM throttles first).
    #[arg(long, global = true, env = "A2I_FIX_IAM_CONCURRENCY", value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=64), default_value = "8")]
    iam_concurrency: u16,
    /// At most this many requests a second per IAM API (GetRole,
    /// ListRolePolicies, ...), so that a large spec is not throttled.
    #[arg(long, global = true, env = "A2I_FIX_IAM_RATE", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1000), default_value = "15")]
    iam_rate: u32,
    /// How `plan` reads roles and customer managed policies (default: auto).
    #[arg(long, global = true, env = "A2I_FIX_IAM_READS", value_enum)]
    iam_reads: Option<a2i_fix::aws::IamReads>,
    /// How many S3 reads may be in flight at once.
    #[arg(long, global = true, env = "A2I_FIX_S3_CONCURRENCY", value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=64), default_value = "16")]
    s3_concurrency: u16,
    /// How many KMS reads may be in flight at once.
    #[arg(long, global = true, env = "A2I_FIX_KMS_CONCURRENCY", value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=64), default_value = "16")]
    kms_concurrency: u16,
    /// When to colour the output: `auto` colours on a terminal unless
    /// `NO_COLOR` is set; `always` and `never` override both.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        conflicts_with = "no_color"
    )]
    color: Option<ColorWhen>,
    /// Never colour the output (the same as `--color never`).
    #[arg(long, global = true)]
    no_color: bool,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// `--format` of `plan` and `show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    /// Terraform-style text.
    Text,
    /// One versioned JSON document (the same as `--json`).
    Json,
    /// A pull-request comment (GitHub-flavoured Markdown).
    Markdown,
    /// SARIF 2.1.0 for code scanning, results on lines of the spec.
    Sarif,
}

impl FormatArg {
    fn to_format(self) -> a2i_fix::render::Format {
        use a2i_fix::render::Format;
        match self {
            FormatArg::Text => Format::Text,
            FormatArg::Json => Format::Json,
            FormatArg::Markdown => Format::Markdown,
            FormatArg::Sarif => Format::Sarif,
        }
    }
}

/// How the plan is printed: `--json` is short for `--format json` (clap
/// refuses the two together).
fn format_of(json: bool, format: Option<FormatArg>) -> a2i_fix::render::Format {
    match (json, format) {
        (_, Some(f)) => f.to_format(),
        (true, None) => a2i_fix::render::Format::Json,
        (false, None) => a2i_fix::render::Format::Text,
    }
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
    /// Write the plan's changes as infrastructure as code (Terraform).
    Export(ExportArgs),
    /// Print a shell completion script (see README "Install").
    Completions(CompletionsArgs),
    /// Print the manual page (roff), made from the same definitions as `--help`.
    Man,
    /// Read the account's flow definitions and write them as a spec file.
    #[cfg(feature = "discover")]
    Discover(DiscoverArgs),
    /// Write an accounts file from AWS Organizations, for review.
    Accounts(OrganizationArgs),
}

#[derive(Debug, Args)]
struct OrganizationArgs {
    /// List the organization's active accounts (ListAccounts; run with
    /// credentials of the management account or a delegated administrator).
    #[arg(long, required = true)]
    from_organization: bool,
    /// The role a2i-fix assumes in each account (a name: the ARN is made
    /// per account).
    #[arg(long, value_name = "NAME")]
    role: String,
    /// The external id the role's trust policy asks for, if any.
    #[arg(long, value_name = "ID")]
    external_id: Option<String>,
    /// The regions to check in every account (repeat, or separate with commas).
    #[arg(
        long = "regions",
        value_name = "REGION",
        value_delimiter = ',',
        required = true
    )]
    regions: Vec<String>,
    /// The spec file every account starts with (relative to the accounts file).
    #[arg(long = "account-spec", value_name = "FILE", default_value = "a2i.toml")]
    account_spec: String,
    /// The accounts file to write; `-` prints it.
    #[arg(long, value_name = "FILE", default_value = "accounts.toml")]
    out: PathBuf,
    /// Replace the file when it exists.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    /// Terraform configuration (HCL) for the AWS provider, with import blocks.
    Terraform,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// A plan saved with `plan --out`; without it the plan is computed from the spec.
    plan_file: Option<PathBuf>,
    #[command(flatten)]
    spec: SpecArg,
    /// The language to write.
    #[arg(long, value_enum)]
    format: ExportFormat,
    /// Write `a2i-fix.tf` into DIR (created if missing) instead of printing it.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[cfg(feature = "discover")]
#[derive(Debug, Args)]
struct DiscoverFlags {
    /// Read up to 3 recent human-loop results of each flow definition (they
    /// hold task data) to find its input buckets, without asking.
    #[arg(long)]
    sample_output: bool,
    /// An input bucket of a flow definition (repeat for more).
    #[arg(long, value_name = "FLOW=BUCKET")]
    input_bucket: Vec<String>,
}

#[cfg(feature = "discover")]
impl DiscoverFlags {
    fn to_flags(&self) -> commands::DiscoverFlags {
        commands::DiscoverFlags {
            sample_output: self.sample_output,
            input_buckets: self.input_bucket.clone(),
        }
    }
}

#[cfg(feature = "discover")]
#[derive(Debug, Args)]
struct DiscoverArgs {
    /// The spec file to write; an existing one is merged into, keeping its
    /// other entries and comments. `-` prints it instead.
    #[arg(long, default_value = "a2i.toml")]
    out: PathBuf,
    #[command(flatten)]
    flags: DiscoverFlags,
}

/// Many accounts in one run.
#[derive(Debug, Args)]
struct AccountsArgs {
    /// An accounts file (see README "Many accounts"): plan or apply every
    /// account and region it lists, instead of one account from `--spec`.
    #[arg(long, value_name = "FILE", conflicts_with = "spec")]
    accounts: Option<PathBuf>,
    /// Only the accounts with this name or tag (repeat for more).
    #[arg(long, value_name = "NAME|TAG", requires = "accounts")]
    only: Vec<String>,
    /// How many accounts and regions are worked on at once.
    #[arg(long, value_name = "N", requires = "accounts", env = "A2I_FIX_ACCOUNT_CONCURRENCY",
          value_parser = clap::value_parser!(u16).range(1..=256),
          default_value_t = a2i_fix::commands::accounts::ACCOUNT_CONCURRENCY as u16)]
    account_concurrency: u16,
}

impl AccountsArgs {
    fn options(&self) -> Option<commands::accounts::AccountsOptions> {
        self.accounts
            .as_ref()
            .map(|file| commands::accounts::AccountsOptions {
                file: file.clone(),
                only: self.only.clone(),
                concurrency: usize::from(self.account_concurrency),
            })
    }
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
    /// Seconds to keep retrying a key policy that names a principal KMS does
    /// not see yet (IAM is eventually consistent).
    #[arg(long, env = "A2I_FIX_KMS_RETRY_SECONDS", value_name = "SECONDS",
          value_parser = seconds_or_zero, default_value = "120")]
    kms_retry_seconds: std::time::Duration,
    /// Seconds to wait, after the writes, for AWS to show them.
    #[arg(long, env = "A2I_FIX_VERIFY_SECONDS", value_name = "SECONDS",
          value_parser = seconds_or_zero, default_value = "30")]
    verify_seconds: std::time::Duration,
}

#[derive(Debug, Args)]
struct ApplyArgs {
    /// A plan saved with `plan --out` (with `--accounts`: the directory
    /// `plan --accounts --out DIR` wrote); without it the plan is computed
    /// from the spec.
    plan_file: Option<PathBuf>,
    #[command(flatten)]
    spec: SpecArg,
    #[command(flatten)]
    accounts: AccountsArgs,
    #[command(flatten)]
    write: WriteArgs,
}

#[derive(Debug, Args)]
struct ShowArgs {
    /// A plan saved with `plan --out`.
    plan_file: PathBuf,
    /// Print it as JSON (the same as `--format json`).
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// How to print it; `sarif` also reads the spec the plan was made from
    /// (`--spec`), whose lines its results point at.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    #[command(flatten)]
    spec: SpecArg,
}

#[derive(Debug, Args)]
struct RollbackArgs {
    /// The journal an apply wrote (in `.a2i-fix/` by default); with
    /// `--accounts`, also the run directory of a many-account apply
    /// (`.a2i-fix/runs/...`).
    journal: PathBuf,
    /// The accounts file that says how to reach the journal's account(s).
    #[arg(long, value_name = "FILE")]
    accounts: Option<PathBuf>,
    /// Roll back even when a newer apply's writes to the same resources are
    /// still in effect (they are undone too). Without it such a rollback is
    /// refused, naming the newer journal.
    #[arg(long)]
    force: bool,
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
    /// Print the plan as one versioned JSON document (the same as
    /// `--format json`).
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// How to print the plan: `text` (the default), `json`, `markdown` (a
    /// pull-request comment) or `sarif` (code scanning).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Exit 0 when every need is met and nothing changes, 2 when there are
    /// changes, 3 when there are none but needs are left unmet that no
    /// change can meet (the plan's warnings), 1 on error.
    #[arg(long)]
    detailed_exitcode: bool,
    /// Also save the plan to FILE, for a later `apply FILE` (with
    /// `--accounts`: one plan per account and region in the directory FILE,
    /// for a later `apply FILE --accounts ...`).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    accounts: AccountsArgs,
    /// Plan from the account's flow definitions, read now (as `discover`
    /// would write them, merged with `--spec` when it exists), writing no
    /// spec file.
    #[cfg(feature = "discover")]
    #[arg(long)]
    discover: bool,
    #[cfg(feature = "discover")]
    #[command(flatten)]
    discover_flags: DiscoverFlags,
}

fn main() -> ExitCode {
    // A usage error (a bad flag or environment value) exits 1 like every
    // other error: clap's own 2 would read as "changes pending" to a
    // pipeline running `plan --detailed-exitcode`.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // Completions and the manual need neither AWS nor the runtime.
    match &cli.command {
        Command::Completions(args) => {
            let mut command = Cli::command();
            let mut out = std::io::stdout().lock();
            clap_complete::generate(args.shell, &mut command, "a2i-fix", &mut out);
            return ExitCode::SUCCESS;
        }
        Command::Man => {
            let page = clap_mangen::Man::new(Cli::command());
            let mut out = std::io::stdout().lock();
            return match page.render(&mut out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: cannot write the manual page: {e}");
                    ExitCode::from(1)
                }
            };
        }
        _ => {}
    }
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
    // `| head` closing stdout is success for the commands that only read
    // (as in ripgrep); for `apply` and `rollback` it is an error, because
    // exit 0 would tell a pipeline that the changes were made.
    let read_only = matches!(
        cli.command,
        Command::Validate(_) | Command::Plan(_) | Command::Show(_) | Command::Export(_)
    );
    match runtime.block_on(run(cli)) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(err) => {
            if read_only && commands::is_broken_pipe(&err) {
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

/// Whether to colour: `--color always|never` (or `--no-color`) wins, then
/// a non-empty `NO_COLOR` turns colour off, then colour only on a terminal.
fn use_color(global: &Global) -> bool {
    let when = if global.no_color {
        ColorWhen::Never
    } else {
        global.color.unwrap_or(ColorWhen::Auto)
    };
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

fn connection(global: &Global) -> commands::Connection {
    commands::Connection::from_options(AwsOptions {
        profile: global.profile.clone(),
        region: global.region.clone(),
        endpoint_url: global.endpoint_url.clone(),
        attempt_timeout: Some(global.attempt_timeout),
        operation_timeout: Some(global.operation_timeout),
        concurrency: Some(a2i_fix::aws::Concurrency {
            iam: usize::from(global.iam_concurrency),
            s3: usize::from(global.s3_concurrency),
            kms: usize::from(global.kms_concurrency),
        }),
        iam_rate: Some(global.iam_rate),
        iam_reads: global.iam_reads,
    })
}

/// A whole number of seconds from 1 to 3600.
fn seconds(text: &str) -> Result<std::time::Duration, String> {
    seconds_in(text, 1)
}

/// A whole number of seconds from 0 to 3600.
fn seconds_or_zero(text: &str) -> Result<std::time::Duration, String> {
    seconds_in(text, 0)
}

fn seconds_in(text: &str, min: u64) -> Result<std::time::Duration, String> {
    let n: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number of seconds"))?;
    if !(min..=3600).contains(&n) {
        return Err(format!("{n} is out of range: give {min} to 3600 seconds"));
    }
    Ok(std::time::Duration::from_secs(n))
}

fn write_options(args: &WriteArgs) -> commands::WriteOptions {
    commands::WriteOptions {
        yes: args.yes,
        dry_run: args.dry_run,
        backup_dir: args.backup_dir.clone(),
        kms_retry_budget: args.kms_retry_seconds,
        verify_timeout: args.verify_seconds,
        force: false,
    }
}

async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    let mut console = Console {
        out: &mut stdout,
        err: &mut stderr,
        color: use_color(&cli.global),
        stdin_is_terminal: std::io::stdin().is_terminal(),
        spinner: true,
        handle_ctrl_c: true,
    };
    let connection = connection(&cli.global);
    match &cli.command {
        Command::Validate(args) => commands::validate(&args.spec, &mut console),
        Command::Plan(args) => {
            if let Some(accounts) = args.accounts.options() {
                #[cfg(feature = "discover")]
                if args.discover {
                    return Err(anyhow::anyhow!(
                        "`--discover` plans one account: with `--accounts`, write `discover = true` for the accounts to discover in the accounts file"
                    ));
                }
                return commands::accounts::plan(
                    &connection,
                    &accounts,
                    format_of(args.json, args.format),
                    args.detailed_exitcode,
                    args.out.as_deref(),
                    &mut console,
                )
                .await;
            }
            let options = commands::PlanOptions {
                spec: args.spec.spec.clone(),
                format: format_of(args.json, args.format),
                detailed_exitcode: args.detailed_exitcode,
                out: args.out.clone(),
            };
            #[cfg(feature = "discover")]
            if args.discover {
                let flags = args.discover_flags.to_flags();
                return commands::plan_discovered(&connection, &options, &flags, &mut console)
                    .await;
            } else if args.discover_flags.sample_output
                || !args.discover_flags.input_bucket.is_empty()
            {
                return Err(anyhow::anyhow!(
                    "`--sample-output` and `--input-bucket` go with `--discover` (or the `discover` command): add `--discover`, or list the buckets in the spec's `input_buckets`"
                ));
            }
            commands::plan(&connection, &options, &mut console).await
        }
        #[cfg(feature = "discover")]
        Command::Discover(args) => {
            let command = commands::DiscoverCommand {
                out: args.out.clone(),
                flags: args.flags.to_flags(),
            };
            commands::discover(&connection, &command, &mut console).await
        }
        Command::Show(args) => commands::show_as(
            &args.plan_file,
            format_of(args.json, args.format),
            Some(&args.spec.spec),
            &mut console,
        ),
        Command::Export(args) => {
            let options = commands::ExportOptions {
                plan_file: args.plan_file.clone(),
                spec: args.spec.spec.clone(),
                format: match args.format {
                    ExportFormat::Terraform => commands::ExportFormat::Terraform,
                },
                out: args.out.clone(),
            };
            commands::export(&connection, &options, &mut console).await
        }
        Command::Apply(args) => {
            if let Some(accounts) = args.accounts.options() {
                return commands::accounts::apply(
                    &connection,
                    &accounts,
                    args.plan_file.as_deref(),
                    &write_options(&args.write),
                    &mut console,
                )
                .await;
            }
            let command = commands::ApplyCommand {
                plan_file: args.plan_file.clone(),
                spec: args.spec.spec.clone(),
                write: write_options(&args.write),
            };
            commands::apply(&connection, &command, &mut console).await
        }
        Command::Rollback(args) => {
            let write = commands::WriteOptions {
                force: args.force,
                ..write_options(&args.write)
            };
            if let Some(file) = &args.accounts {
                let accounts = commands::accounts::AccountsOptions {
                    file: file.clone(),
                    only: Vec::new(),
                    concurrency: commands::accounts::ACCOUNT_CONCURRENCY,
                };
                return commands::accounts::rollback(
                    &connection,
                    &accounts,
                    &args.journal,
                    &write,
                    &mut console,
                )
                .await;
            }
            commands::rollback(&connection, &args.journal, &write, &mut console).await
        }
        Command::Accounts(args) => {
            let command = commands::accounts::FromOrganization {
                role: args.role.clone(),
                external_id: args.external_id.clone(),
                regions: args.regions.clone(),
                spec: args.account_spec.clone(),
                out: args.out.clone(),
                force: args.force,
            };
            commands::accounts::from_organization(&connection, &command, &mut console).await
        }
        // Handled in `main`, before the runtime starts.
        Command::Completions(_) | Command::Man => Ok(Outcome::Success),
    }
}
