//! The commands run in process, through `a2i_fix::commands`, against moto
//! server: the orchestration the binary wires up is a library call that
//! prints to the writers it is given and returns an outcome.

use std::path::PathBuf;

use a2i_fix::commands::{
    self, ApplyCommand, Connection, Console, Outcome, PlanOptions, WriteOptions,
};

use crate::support::{
    Account, CALLER_USER, FLOW_ROLE, INPUT, INTEGRATED_API, Moto, OUTPUT, example,
};

/// What a command printed, and how it ended.
struct Ran {
    outcome: anyhow::Result<Outcome>,
    out: String,
    err: String,
}

/// A console with no terminal: no prompt, no spinner, no colour, no signal
/// handling.
async fn run<F>(f: F) -> Ran
where
    F: AsyncFnOnce(&mut Console<'_>) -> anyhow::Result<Outcome>,
{
    let mut out = Vec::new();
    let mut err = Vec::new();
    let outcome = {
        let mut console = Console {
            out: &mut out,
            err: &mut err,
            color: false,
            stdin_is_terminal: false,
            spinner: false,
            handle_ctrl_c: false,
        };
        f(&mut console).await
    };
    Ran {
        outcome,
        out: String::from_utf8(out).expect("utf-8 output"),
        err: String::from_utf8(err).expect("utf-8 output"),
    }
}

/// Fresh clients for each command, so each plan counts only its own calls.
async fn connection(moto: &Moto) -> Connection {
    Connection::with_clients(moto.clients().await)
}

async fn seed_textract_account(moto: &Moto) {
    let seed = moto.seed().await;
    seed.bucket(INPUT).await;
    seed.bucket(OUTPUT).await;
    seed.user(CALLER_USER).await;
}

fn write_options(dir: &std::path::Path, yes: bool) -> WriteOptions {
    WriteOptions {
        yes,
        dry_run: false,
        backup_dir: dir.join("backups"),
        kms_retry_budget: std::time::Duration::from_secs(5),
        verify_timeout: std::time::Duration::from_secs(10),
        force: false,
    }
}

#[tokio::test]
async fn validate_prints_what_the_spec_asks_for_without_touching_aws() {
    let spec = example("textract.toml");
    let ran = run(async |console| commands::validate(&spec, console)).await;
    assert_eq!(ran.outcome.expect("valid"), Outcome::Success);
    assert!(
        ran.out.contains(
            "is valid: 1 flow definition(s), 1 human loop caller(s), 0 template preview(s); 1 role(s), 2 bucket(s), 0 key(s) to check."
        ),
        "{}",
        ran.out
    );
}

#[tokio::test]
async fn plan_save_show_and_apply_in_process_converge() {
    let moto = Moto::start();
    seed_textract_account(&moto).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let saved = dir.path().join("review.plan.json");
    let spec = example("textract.toml");

    // plan --detailed-exitcode --out: changes pending, the plan saved.
    let options = PlanOptions {
        spec: spec.clone(),
        format: a2i_fix::render::Format::Text,
        detailed_exitcode: true,
        out: Some(saved.clone()),
    };
    let conn = connection(&moto).await;
    let planned = run(async |console| commands::plan(&conn, &options, console).await).await;
    assert_eq!(planned.outcome.expect("plan"), Outcome::ChangesPending);
    assert!(
        planned.out.contains("aws_iam_role.A2IFlowRole"),
        "{}",
        planned.out
    );
    assert!(planned.err.contains("Saved the plan to"), "{}", planned.err);
    let before = Account::read(&moto.clients().await).await;

    // show prints the very plan that was shown.
    let shown = run(async |console| commands::show(&saved, false, console)).await;
    assert_eq!(shown.outcome.expect("show"), Outcome::Success);
    assert_eq!(shown.out, planned.out, "show prints what plan printed");

    // apply without a terminal and without --yes refuses and writes nothing.
    let refused = ApplyCommand {
        plan_file: Some(saved.clone()),
        spec: spec.clone(),
        write: write_options(dir.path(), false),
    };
    let conn = connection(&moto).await;
    let ran = run(async |console| commands::apply(&conn, &refused, console).await).await;
    let err = ran.outcome.expect_err("no terminal, no --yes");
    assert!(format!("{err}").contains("`--yes`"), "{err}");
    let after_refusal = Account::read(&moto.clients().await).await;
    assert_eq!(after_refusal.0, before.0, "a refused apply writes nothing");

    // apply --yes of the saved plan writes it; read back through other clients.
    let approved = ApplyCommand {
        write: write_options(dir.path(), true),
        ..refused
    };
    let conn = connection(&moto).await;
    let applied = run(async |console| commands::apply(&conn, &approved, console).await).await;
    assert_eq!(applied.outcome.expect("apply"), Outcome::Success);
    assert!(applied.out.contains("Apply complete!"), "{}", applied.out);
    let account = Account::read(&moto.clients().await).await;
    assert!(account.trust(FLOW_ROLE).is_some(), "the flow role exists");
    assert!(
        account
            .cors(INPUT)
            .is_some_and(|rules| rules.iter().any(|(methods, origins)| {
                methods.iter().any(|m| m == "GET") && origins.iter().any(|o| o == "*")
            })),
        "the input bucket has A2I's CORS rule"
    );
    assert!(
        account
            .user_policies(CALLER_USER)
            .iter()
            .any(|arn| arn == INTEGRATED_API),
        "the caller has R7's managed policy"
    );

    // A second plan has nothing to do: exit 0 with --detailed-exitcode.
    let options = PlanOptions {
        out: None,
        ..options
    };
    let conn = connection(&moto).await;
    let again = run(async |console| commands::plan(&conn, &options, console).await).await;
    assert_eq!(again.outcome.expect("plan again"), Outcome::Success);
    let journals: Vec<PathBuf> = crate::support::files_in(&dir.path().join("backups"));
    assert_eq!(journals.len(), 1, "one journal per apply: {journals:?}");
}

#[test]
fn outcomes_map_to_the_documented_exit_codes() {
    assert_eq!(Outcome::Success.exit_code(), 0);
    assert_eq!(Outcome::ChangesPending.exit_code(), 2);
    assert_eq!(Outcome::Cancelled.exit_code(), 1);
}

/// stdout closed by its reader before anything is printed (`| head`): a
/// command that only reads exits 0, as ripgrep does; `apply --yes` neither
/// writes nor claims success, since exit 0 would tell a pipeline the changes
/// were made.
#[tokio::test]
async fn a_closed_stdout_is_success_for_plan_but_an_error_for_apply() {
    use std::process::Stdio;

    let moto = Moto::start();
    seed_textract_account(&moto).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = example("textract.toml");
    let before = Account::read(&moto.clients().await).await;
    let spec_arg = spec.to_str().expect("utf-8 path");
    let backups = dir.path().join("backups");
    let backups_arg = backups.to_str().expect("utf-8 path");
    for (args, code) in [
        (vec!["plan", "--spec", spec_arg], 0),
        (
            vec![
                "apply",
                "--yes",
                "--spec",
                spec_arg,
                "--backup-dir",
                backups_arg,
            ],
            1,
        ),
    ] {
        let mut cmd = crate::support::a2i_fix_in(&moto, dir.path());
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the binary starts");
        // The reader goes away at once; the binary reads the account first.
        drop(child.stdout.take());
        let out = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .expect("join")
            .expect("the binary ends");
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let after = Account::read(&moto.clients().await).await;
    assert_eq!(after.0, before.0, "nothing was written");
    assert!(!backups.exists(), "no journal: no write was started");
}
