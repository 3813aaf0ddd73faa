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

/// (environment, arguments, what the error must name).
type TuningCase<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a str);

#[test]
fn bad_tuning_values_are_usage_errors_that_name_them() {
    let home = tempfile::tempdir().expect("temp dir");
    let spec = example("custom-task.toml");
    let cases: [TuningCase; 6] = [
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
        let mut cmd = a2i_fix_without_aws(home.path());
        cmd.envs(env.iter().copied())
            .arg("plan")
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
