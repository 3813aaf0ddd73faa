//! Through the binary: the settings that keep a run from hanging or
//! failing on a flaky API. A stalled endpoint ends within the timeouts with
//! an error naming the call; bad values of the tuning flags and their
//! environment variables are usage errors (exit 1, never 2, which means
//! "changes pending"), never panics or silence.

use std::net::TcpListener;
use std::time::Duration;

use crate::support::*;

#[test]
fn a_stalled_endpoint_ends_within_the_timeouts_naming_the_call() {
    // Accepts connections (the kernel's backlog) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("binding a silent port");
    let endpoint = format!("http://{}", silent.local_addr().expect("address"));
    let home = tempfile::tempdir().expect("temp dir");
    let mut cmd = a2i_fix_without_aws(home.path());
    cmd.env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .env("AWS_CONFIG_FILE", home.path().join("no-aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("no-creds"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("A2I_FIX_OPERATION_TIMEOUT", "3")
        .args(["plan", "--attempt-timeout", "1", "--spec"])
        .arg(example("custom-task.toml"));
    // A hang guard, not a benchmark.
    let out = run_within(&mut cmd, Duration::from_secs(60)).expect_code(1);
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    assert!(out.stderr.contains("calling `"), "{}", out.stderr);
    assert!(
        out.stderr.to_lowercase().contains("timeout"),
        "{}",
        out.stderr
    );
    drop(silent);
}

#[test]
fn bad_tuning_values_are_usage_errors_that_name_them() {
    let home = tempfile::tempdir().expect("temp dir");
    let spec = example("custom-task.toml");
    // (environment, flags, what the error must name)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a str);
    let cases: [Case<'_>; 8] = [
        (&[("A2I_FIX_VERIFY_SECONDS", "1e20")], &[], "1e20"),
        (&[("A2I_FIX_KMS_RETRY_SECONDS", "soon")], &[], "soon"),
        (&[("A2I_FIX_ATTEMPT_TIMEOUT", "soon")], &[], "soon"),
        (&[("A2I_FIX_OPERATION_TIMEOUT", "1e20")], &[], "1e20"),
        (&[], &["--attempt-timeout", "0"], "out of range"),
        (&[], &["--operation-timeout", "99999"], "out of range"),
        (
            &[("A2I_FIX_IAM_CONCURRENCY", "0")],
            &[],
            "--iam-concurrency",
        ),
        (&[], &["--s3-concurrency", "many"], "many"),
    ];
    for (env, args, named) in cases {
        // The write settings belong to apply (and rollback).
        let command = if env
            .iter()
            .any(|(k, _)| k.contains("VERIFY") || k.contains("KMS_RETRY"))
        {
            "apply"
        } else {
            "plan"
        };
        let mut cmd = a2i_fix_without_aws(home.path());
        cmd.envs(env.iter().copied())
            .arg(command)
            .args(args)
            .arg("--spec")
            .arg(&spec);
        let out = run(&mut cmd).expect_code(1);
        assert!(
            out.stderr.contains(named),
            "{env:?} {args:?}: {}",
            out.stderr
        );
        assert_eq!(out.stdout, "");
    }
    // And a usage error of any kind is 1, not clap's 2.
    let mut cmd = a2i_fix_without_aws(home.path());
    cmd.args(["plan", "--no-such-flag"]);
    run(&mut cmd).expect_code(1);
}

#[test]
fn retries_keep_the_users_settings_and_default_to_more_attempts_for_iam() {
    use a2i_fix::aws::Retries;
    use aws_config::retry::{RetryConfig, RetryMode};
    let defaults = Retries::defaults();
    assert_eq!(defaults.iam.mode(), RetryMode::Adaptive);
    assert!(defaults.iam.max_attempts() > 3);
    assert!(defaults.other.max_attempts() > 3);
    // Nothing configured (the SDK's standard settings): a2i-fix's own.
    let sdk_default = aws_config::SdkConfig::builder()
        .retry_config(RetryConfig::standard())
        .build();
    if std::env::var_os("AWS_RETRY_MODE").is_none()
        && std::env::var_os("AWS_MAX_ATTEMPTS").is_none()
    {
        assert_eq!(Retries::for_config(&sdk_default), defaults);
    }
    // A user's setting (from a profile or the environment) is kept.
    let users = RetryConfig::standard().with_max_attempts(2);
    let configured = aws_config::SdkConfig::builder()
        .retry_config(users.clone())
        .build();
    let kept = Retries::for_config(&configured);
    assert_eq!((kept.iam, kept.other), (users.clone(), users));
}

#[tokio::test]
async fn a_closed_pipe_does_not_change_the_exit_code_of_plan() {
    let moto = Moto::start();
    seed_broken_account(&moto, true).await;
    for (args, code) in [
        (&["plan", "--detailed-exitcode"][..], 2),
        (&["plan", "--detailed-exitcode", "--json"][..], 2),
        (&["plan"][..], 0),
    ] {
        let mut cmd = a2i_fix(&moto);
        cmd.args(args)
            .arg("--spec")
            .arg(example("custom-task.toml"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("starting a2i-fix");
        // The reader goes away before anything is written: like `| head -0`.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("waiting for a2i-fix");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[tokio::test]
async fn slow_credentials_are_waited_for_named_and_resolved_once() {
    let moto = Moto::start();
    seed_broken_account(&moto, true).await;
    let home = tempfile::tempdir().expect("temp dir");
    let counter = home.path().join("calls");
    // A credential_process that takes longer than a few seconds (as SSO or
    // an MFA prompt would) and counts how often it runs.
    let script = home.path().join("creds.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho run >> '{}'\nsleep 4\necho '{{\"Version\": 1, \"AccessKeyId\": \"{ACCESS_KEY_ID}\", \"SecretAccessKey\": \"{SECRET_ACCESS_KEY}\"}}'\n",
            counter.display()
        ),
    )
    .expect("writing the script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("making it executable");
    std::fs::write(
        home.path().join("config"),
        format!(
            "[profile slow]\nregion = {REGION}\ncredential_process = {}\n",
            script.display()
        ),
    )
    .expect("writing the config file");
    let mut cmd = a2i_fix_without_aws(home.path());
    cmd.env("AWS_CONFIG_FILE", home.path().join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .args(["plan", "--profile", "slow", "--spec"])
        .arg(example("custom-task.toml"));
    let out = run_within(&mut cmd, Duration::from_secs(90)).expect_code(0);
    assert!(
        out.stderr
            .contains("still waiting for AWS credentials from profile `slow`"),
        "{}",
        out.stderr
    );
    let runs = std::fs::read_to_string(&counter).expect("the counter file");
    assert_eq!(runs.lines().count(), 1, "the provider ran more than once");
}

#[tokio::test]
async fn two_writers_never_share_a_backup_directory() {
    let moto = Moto::start();
    seed_broken_account(&moto, true).await;
    let reader = moto.clients().await;
    let before = Account::read(&reader).await;
    let cwd = tempfile::tempdir().expect("temp dir");
    let backups = cwd.path().join("backups");
    std::fs::create_dir_all(&backups).expect("the backup dir");
    // Another run holds the directory.
    let mut held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(backups.join(a2i_fix::commands::LOCK_FILE_NAME))
        .expect("the lock file");
    held.lock().expect("taking the lock");
    std::io::Write::write_all(
        &mut held,
        b"`a2i-fix apply` (process 4242, started earlier)",
    )
    .expect("naming the holder");
    let apply = |cwd: &std::path::Path| {
        run(a2i_fix_in(&moto, cwd).args([
            "apply",
            "--yes",
            "--spec",
            example("custom-task.toml").to_str().expect("UTF-8"),
            "--backup-dir",
            backups.to_str().expect("UTF-8"),
        ]))
    };
    let out = apply(cwd.path()).expect_code(1);
    assert!(out.stderr.contains("process 4242"), "{}", out.stderr);
    assert!(out.stderr.contains("Nothing was written"), "{}", out.stderr);
    assert_untouched(
        &before,
        &Account::read(&reader).await,
        "a locked backup dir",
    );
    assert!(files_in(&backups).is_empty());
    // Once it is released, the same command runs.
    drop(held);
    apply(cwd.path()).expect_code(0);
    assert_eq!(files_in(&backups).len(), 1, "one journal");
}

#[tokio::test]
async fn a_rollback_that_could_not_finish_does_not_start() {
    let moto = Moto::start();
    // No flow role: the apply creates it.
    seed_broken_account(&moto, false).await;
    let reader = moto.clients().await;
    let cwd = tempfile::tempdir().expect("temp dir");
    let backups = cwd.path().join("backups");
    let backups_arg = backups.to_str().expect("UTF-8").to_string();
    let applied = run(a2i_fix_in(&moto, cwd.path()).args([
        "apply",
        "--yes",
        "--spec",
        example("custom-task.toml").to_str().expect("UTF-8"),
        "--backup-dir",
        &backups_arg,
    ]))
    .expect_code(0);
    let journal = applied.journal();
    // Someone gives the new role an inline policy of their own.
    let seed = moto.seed().await;
    seed.inline_policy(FLOW_ROLE, "their-logs", crate::support::seed::WRITE_LOGS)
        .await;
    let before = Account::read(&reader).await;
    let out = run(a2i_fix_in(&moto, cwd.path()).args([
        "rollback",
        journal.to_str().expect("UTF-8"),
        "--yes",
        "--backup-dir",
        &backups_arg,
    ]))
    .expect_code(1);
    assert!(
        out.stderr.contains("inline policy `their-logs`"),
        "{}",
        out.all()
    );
    assert!(out.stderr.contains("DeleteConflict"), "{}", out.all());
    assert!(out.stderr.contains("nothing was written"), "{}", out.all());
    assert_untouched(
        &before,
        &Account::read(&reader).await,
        "a rollback that cannot finish",
    );
}

#[tokio::test]
async fn an_older_journal_is_not_rolled_back_over_a_newer_apply() {
    let moto = Moto::start();
    seed_broken_account(&moto, true).await;
    let reader = moto.clients().await;
    let start = Account::read(&reader).await;
    let cwd = tempfile::tempdir().expect("temp dir");
    let backups = cwd.path().join("backups");
    let backups_arg = backups.to_str().expect("UTF-8").to_string();
    let spec = example("custom-task.toml");
    let apply = || {
        run(a2i_fix_in(&moto, cwd.path()).args([
            "apply",
            "--yes",
            "--spec",
            spec.to_str().expect("UTF-8"),
            "--backup-dir",
            &backups_arg,
        ]))
        .expect_code(0)
        .journal()
    };
    let rollback = |journal: &std::path::Path, extra: &[&str]| {
        run(a2i_fix_in(&moto, cwd.path())
            .args(["rollback", journal.to_str().expect("UTF-8"), "--yes"])
            .args(extra)
            .args(["--backup-dir", &backups_arg]))
    };
    let older = apply();
    // Someone puts the trust policy back; the next apply writes it again,
    // exactly as the first one did.
    let seed = moto.seed().await;
    update_trust(&seed, FLOW_ROLE, LAMBDA_TRUST).await;
    let newer = apply();
    let before = Account::read(&reader).await;
    let out = rollback(&older, &[]).expect_code(1);
    assert!(
        out.stderr.contains(
            &newer
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .to_string()
        ),
        "{}",
        out.all()
    );
    assert!(out.stderr.contains("--force"), "{}", out.all());
    assert_untouched(&before, &Account::read(&reader).await, "a refused rollback");
    // Newest first: both roll back, and the account is as it started.
    rollback(&newer, &[]).expect_code(0);
    rollback(&older, &[]).expect_code(0);
    assert_eq!(Account::read(&reader).await, start);
}
