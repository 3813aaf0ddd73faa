//! `aws::connect` reads the process environment, so each case runs in a child
//! process (this test binary again, one `#[ignore]`d test selected by name)
//! with a clean, controlled environment: no variable of the developer's, no
//! `~/.aws` files, and never the real instance-metadata address.

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::Moto;
use a2i_fix::aws::{self, AwsOptions};
use a2i_fix::requirements::Needs;
use a2i_fix::state;

const CHILD: &str = "A2I_FIX_TEST_CHILD";

/// Run the ignored test `name` of this binary in a child with only `env`
/// (plus PATH and a HOME without AWS files). Returns (success, output, time).
fn run_child(
    name: &str,
    home: &std::path::Path,
    env: &[(&str, String)],
) -> (bool, String, Duration) {
    let exe = std::env::current_exe().expect("path of the test binary");
    // Test names are module paths without the crate: `state_connect::NAME`.
    let module = module_path!()
        .split_once("::")
        .map_or(module_path!(), |(_, rest)| rest);
    let full_name = format!("{module}::{name}");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        &full_name,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env_clear()
    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
    .env("HOME", home)
    .env("AWS_CONFIG_FILE", home.join("no-aws-config"))
    .env(
        "AWS_SHARED_CREDENTIALS_FILE",
        home.join("no-aws-credentials"),
    )
    .env(CHILD, "1");
    for (key, value) in env {
        cmd.env(key, value);
    }
    let start = Instant::now();
    let out = cmd.output().expect("running the child test");
    let elapsed = start.elapsed();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text, elapsed)
}

fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

#[test]
fn no_credentials_fails_fast_with_how_to_configure_them() {
    // Accepts connections (the kernel's backlog) but never answers: the
    // metadata probe can only time out.
    let silent = TcpListener::bind("127.0.0.1:0").expect("binding a silent port");
    let port = silent.local_addr().expect("silent port").port();
    let home = tempfile::tempdir().expect("temp dir");
    let env = [
        ("AWS_REGION", "us-east-1".to_string()),
        (
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        ),
    ];
    let (ok, output, elapsed) = run_child("child_connect_without_credentials", home.path(), &env);
    assert!(ok, "child failed:\n{output}");
    eprintln!("connect without credentials failed after {elapsed:?} (child process included)");
    // A guard against a hang, not a benchmark: the child itself checks < 2 s
    // of connect time loosely; here the whole process must end well in time.
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    drop(silent);
}

#[tokio::test]
#[ignore = "run by no_credentials_fails_fast_with_how_to_configure_them in a clean child process"]
async fn child_connect_without_credentials() {
    if !in_child() {
        return;
    }
    let start = Instant::now();
    let result = aws::connect(&AwsOptions::default()).await;
    let elapsed = start.elapsed();
    let error = match result {
        Ok(_) => panic!("connect succeeded without credentials"),
        Err(e) => format!("{e:#}"),
    };
    println!("error after {elapsed:?}: {error}");
    assert!(error.contains("AWS_ACCESS_KEY_ID"), "{error}");
    assert!(error.contains("aws configure"), "{error}");
    assert!(error.contains("--profile"), "{error}");
    // Generous: the deadline is 1.8 s; only a hang would break this.
    assert!(
        elapsed < Duration::from_secs(10),
        "connect took {elapsed:?}"
    );
}

#[test]
fn no_region_is_a_clear_error() {
    let silent = TcpListener::bind("127.0.0.1:0").expect("binding a silent port");
    let port = silent.local_addr().expect("silent port").port();
    let home = tempfile::tempdir().expect("temp dir");
    let env = [
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        (
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        ),
    ];
    let (ok, output, elapsed) = run_child("child_connect_without_region", home.path(), &env);
    assert!(ok, "child failed:\n{output}");
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    drop(silent);
}

#[tokio::test]
#[ignore = "run by no_region_is_a_clear_error in a clean child process"]
async fn child_connect_without_region() {
    if !in_child() {
        return;
    }
    let error = match aws::connect(&AwsOptions::default()).await {
        Ok(_) => panic!("connect succeeded without a region"),
        Err(e) => format!("{e:#}"),
    };
    assert!(error.contains("region"), "{error}");
    assert!(error.contains("--region"), "{error}");
    assert!(error.contains("AWS_REGION"), "{error}");
}

/// The endpoint by host name: at an IP address the SDK picks path-style by
/// itself, at `localhost` only `force_path_style` keeps it from calling
/// `BUCKET.localhost`, which does not resolve.
fn by_name(moto: &Moto) -> String {
    moto.endpoint.replace("127.0.0.1", "localhost")
}

/// Create and read a bucket through `connect(options)`: works only with
/// path-style addressing.
async fn read_a_bucket_through(options: AwsOptions) {
    let clients = aws::connect(&options).await.expect("connect");
    clients
        .s3
        .create_bucket()
        .bucket("path-style-check")
        .send()
        .await
        .expect("create bucket through connect()");
    let mut needs = Needs::default();
    needs.cors.insert("path-style-check".into(), Vec::new());
    let state = state::read_state(&clients, &needs)
        .await
        .expect("read_state through connect()");
    assert_eq!(state.account_id, crate::support::ACCOUNT_ID);
    assert_eq!(state.buckets["path-style-check"].cors, None);
    assert_eq!(clients.counter.snapshot().get("s3:CreateBucket"), Some(&1));
}

#[test]
fn endpoint_from_aws_endpoint_url_env_works_with_path_style_s3() {
    let moto = Moto::start();
    let env = [
        ("AWS_ENDPOINT_URL", by_name(&moto)),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
    ];
    let (ok, output, _) = run_child("child_connect_with_env_endpoint", moto.home(), &env);
    assert!(ok, "child failed:\n{output}");
}

#[tokio::test]
#[ignore = "run by endpoint_from_aws_endpoint_url_env_works_with_path_style_s3 in a clean child process"]
async fn child_connect_with_env_endpoint() {
    if !in_child() {
        return;
    }
    read_a_bucket_through(AwsOptions::default()).await;
}

#[test]
fn endpoint_and_region_options_override_the_environment() {
    let moto = Moto::start();
    // The environment points elsewhere (a closed port, another region): the
    // options must win.
    let env = [
        (
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", crate::support::free_port()),
        ),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_REGION", "eu-west-3".to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ("MOTO_ENDPOINT_FOR_CHILD", by_name(&moto)),
    ];
    let (ok, output, _) = run_child("child_connect_with_endpoint_option", moto.home(), &env);
    assert!(ok, "child failed:\n{output}");
}

#[tokio::test]
#[ignore = "run by endpoint_and_region_options_override_the_environment in a clean child process"]
async fn child_connect_with_endpoint_option() {
    if !in_child() {
        return;
    }
    let endpoint = std::env::var("MOTO_ENDPOINT_FOR_CHILD").expect("endpoint from the parent");
    let options = AwsOptions {
        profile: None,
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint),
        ..AwsOptions::default()
    };
    let clients = aws::connect(&options).await.expect("connect");
    assert_eq!(clients.region, "us-east-1");
    read_a_bucket_through(options).await;
}

#[test]
fn profile_option_reads_credentials_and_region_from_the_config_files() {
    let moto = Moto::start();
    let home = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        home.path().join("no-aws-config"),
        "[profile a2i]\nregion = us-east-1\n",
    )
    .expect("config");
    std::fs::write(
        home.path().join("no-aws-credentials"),
        "[a2i]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    )
    .expect("credentials");
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
    ];
    let (ok, output, _) = run_child("child_connect_with_profile", home.path(), &env);
    assert!(ok, "child failed:\n{output}");
}

#[tokio::test]
#[ignore = "run by profile_option_reads_credentials_and_region_from_the_config_files in a clean child process"]
async fn child_connect_with_profile() {
    if !in_child() {
        return;
    }
    let options = AwsOptions {
        profile: Some("a2i".into()),
        region: None,
        endpoint_url: None,
        ..AwsOptions::default()
    };
    read_a_bucket_through(options).await;
    // And a profile that does not exist is an error naming the fix.
    let missing = AwsOptions {
        profile: Some("nope".into()),
        region: Some("us-east-1".into()),
        endpoint_url: None,
        ..AwsOptions::default()
    };
    let error = match aws::connect(&missing).await {
        Ok(_) => panic!("connect succeeded with a missing profile"),
        Err(e) => format!("{e:#}"),
    };
    assert!(error.contains("--profile"), "{error}");
}
