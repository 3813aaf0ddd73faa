//! Every error path of `a2i-fix plan` / `validate`, through the
//! real binary: exit code 1, a message that names the thing, and, where AWS
//! is involved, the whole account read back unchanged by a second client.
//! Also the output contract (`--json`, `--detailed-exitcode`, colour) and the
//! options that choose the account (`--profile`, `--region`,
//! `--endpoint-url` and their environment variables).
//!
//! Spec errors run with no AWS environment at all: they must be found before
//! any AWS call. The AWS errors share one moto server (see `support::shared`),
//! seeded once with every resource the specs below name, under names of
//! their own (`err-...`).

use std::net::TcpListener;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::plan_json::*;
use crate::support::*;
use crate::support::{ACCOUNT_ID, SAGEMAKER_TRUST};
use serde_json::Value;

// ---------------------------------------------------------------------------
// Spec errors: file, line and key; no AWS needed
// ---------------------------------------------------------------------------

/// Write `text` as `a2i.toml` in a fresh directory; run `validate` and `plan`
/// there (default spec path) with no AWS environment at all. Both must exit
/// 1 with `a2i.toml:LINE: `KEY`` and every fragment in the message.
fn spec_error(text: &str, line: usize, key: &str, fragments: &[&str]) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("a2i.toml"), text).expect("writing the spec");
    let location = format!("a2i.toml:{line}: `{key}`");
    for command in ["validate", "plan"] {
        let out = run(a2i_fix_without_aws(dir.path()).arg(command)).expect_code(1);
        assert!(
            out.stderr.starts_with("error: "),
            "{command}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&location),
            "{command}: no `{location}` in:\n{}",
            out.stderr
        );
        for fragment in fragments {
            assert!(
                out.stderr.contains(fragment),
                "{command}: no `{fragment}` in:\n{}",
                out.stderr
            );
        }
        assert_eq!(out.stdout, "", "{command} printed on stdout");
    }
}

#[test]
fn unknown_key_names_file_line_and_key() {
    spec_error(
        r#"[[flow_definition]]
name = "invoice-review"
role = "A2IFlowRole"
input_buckets = ["acme-a2i-input"]
output = "s3://acme-a2i-output/reviews/"
kms_kye = "alias/a2i-output"
"#,
        6,
        "flow_definition[0].kms_kye",
        &["unknown key", "kms_key"],
    );
}

#[test]
fn wrong_type_names_file_line_and_key() {
    spec_error(
        r#"[[flow_definition]]
name = "invoice-review"
role = "A2IFlowRole"
input_buckets = "acme-a2i-input"
output = "s3://acme-a2i-output/reviews/"
"#,
        4,
        "flow_definition[0].input_buckets",
        &["expected an array"],
    );
}

#[test]
fn invalid_bucket_name_names_file_line_and_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = r#"[[flow_definition]]
name = "invoice-review"
role = "A2IFlowRole"
input_buckets = ["acme-a2i-input", "Acme_Input"]
output = "s3://acme-a2i-output/reviews/"
"#;
    std::fs::write(dir.path().join("a2i.toml"), text).expect("writing the spec");
    let out = run(a2i_fix_without_aws(dir.path()).arg("validate")).expect_code(1);
    // The key may carry the list index; the line and the name must be there.
    assert!(
        out.stderr
            .contains("a2i.toml:4: `flow_definition[0].input_buckets"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Acme_Input"), "{}", out.stderr);
}

#[test]
fn malformed_arn_names_file_line_and_key() {
    spec_error(
        r#"[[human_loop_caller]]
principal = "arn:aws:iam::12345:role/ml-app"
uses = ["custom"]
"#,
        2,
        "human_loop_caller[0].principal",
        &["12345"],
    );
}

#[test]
fn output_that_is_not_an_s3_url_names_file_line_and_key() {
    spec_error(
        r#"[[flow_definition]]
name = "invoice-review"
role = "A2IFlowRole"
input_buckets = ["acme-a2i-input"]
output = "https://acme-a2i-output.s3.amazonaws.com/reviews/"
"#,
        5,
        "flow_definition[0].output",
        &["s3://"],
    );
}

#[test]
fn contradictory_role_settings_name_file_line_and_key() {
    spec_error(
        r#"[[flow_definition]]
name = "invoice-review"
role = "arn:aws:iam::123456789012:role/A2IFlowRole"
input_buckets = ["acme-a2i-input"]
output = "s3://acme-a2i-output/invoices/"

[[flow_definition]]
name = "receipt-review"
role = "arn:aws:iam::123456789012:role/service-role/A2IFlowRole"
input_buckets = ["acme-a2i-input"]
output = "s3://acme-a2i-output/receipts/"
"#,
        9,
        "flow_definition[1].role",
        &["A2IFlowRole", "/service-role/", "line 3"],
    );
}

#[test]
fn aws_managed_key_is_refused_before_any_aws_call() {
    // moto reports every key, `alias/aws/...` ones included, as customer
    // managed (`KeyManager: CUSTOMER`), so the planner's own check of
    // `KeyManager == AWS` cannot be driven from here; the spec's refusal of
    // `alias/aws/...` can, and needs no AWS at all.
    spec_error(
        r#"[[flow_definition]]
name = "invoice-review"
role = "A2IFlowRole"
input_buckets = ["acme-a2i-input"]
output = "s3://acme-a2i-output/reviews/"
kms_key = "alias/aws/s3"
"#,
        6,
        "flow_definition[0].kms_key",
        &["alias/aws/s3", "AWS managed"],
    );
}

#[test]
fn missing_spec_file_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    for command in ["validate", "plan"] {
        // The default path, `a2i.toml`, in a directory without one.
        let out = run(a2i_fix_without_aws(dir.path()).arg(command)).expect_code(1);
        assert!(out.stderr.contains("a2i.toml"), "{}", out.stderr);
        assert!(out.stderr.contains("--spec"), "{}", out.stderr);
        // A path given with --spec.
        let missing = dir.path().join("nowhere").join("review.toml");
        let out = run(a2i_fix_without_aws(dir.path())
            .arg(command)
            .arg("--spec")
            .arg(&missing))
        .expect_code(1);
        assert!(
            out.stderr.contains(&missing.display().to_string()),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn validate_accepts_every_example_without_aws() {
    let home = tempfile::tempdir().expect("temp dir");
    for name in EXAMPLES {
        let out = run(a2i_fix_without_aws(home.path())
            .arg("validate")
            .arg("--spec")
            .arg(example(name)))
        .expect_code(0);
        assert!(out.stdout.contains("is valid"), "{name}: {}", out.stdout);
        assert_eq!(out.stderr, "", "{name}");
    }
}

// ---------------------------------------------------------------------------
// AWS errors: one shared account, read back after every run
// ---------------------------------------------------------------------------

const BROKEN_KEY_POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "#;

/// `err-input` and `err-output` buckets, a flow role `ErrFlowRole` trusting
/// SageMaker and nothing else, a caller role `err-caller` with
/// AmazonAugmentedAIFullAccess, a key `alias/err-key` (root-only policy) and
/// a key `alias/err-broken-key` whose policy is not JSON (moto accepts it;
/// IAM in moto validates role documents, so a broken key policy is the broken
/// existing document these tests can have).
fn account() -> &'static SeededServer {
    static CELL: OnceLock<SeededServer> = OnceLock::new();
    SeededServer::shared(&CELL, |s| async move {
        s.bucket("err-input").await;
        s.bucket("err-output").await;
        s.role("ErrFlowRole", SAGEMAKER_TRUST).await;
        s.role("err-caller", crate::support::LAMBDA_TRUST).await;
        s.attach_role_policy("err-caller", FULL_ACCESS).await;
        let (key_id, _) = s.key(Some(&crate::support::root_only_key_policy())).await;
        s.alias("alias/err-key", &key_id).await;
        let (broken, _) = s.key(None).await;
        s.key_policy(&broken, BROKEN_KEY_POLICY).await;
        s.alias("alias/err-broken-key", &broken).await;
        key_id
    })
}

/// A spec around one flow definition, with `extra` lines appended and the
/// flow's keys overridden by `flow`.
fn flow_spec(flow: &[(&str, &str)], extra: &str) -> String {
    let mut keys = vec![
        ("name", "\"errors\"".to_string()),
        ("role", "\"ErrFlowRole\"".to_string()),
        ("input_buckets", "[\"err-input\"]".to_string()),
        ("output", "\"s3://err-output/out/\"".to_string()),
    ];
    for (k, v) in flow {
        match keys.iter_mut().find(|(name, _)| name == k) {
            Some(entry) => entry.1 = v.to_string(),
            None => keys.push((k, v.to_string())),
        }
    }
    let mut text = String::from("[[flow_definition]]\n");
    for (k, v) in keys {
        text.push_str(&format!("{k} = {v}\n"));
    }
    text.push_str(extra);
    text
}

/// Output `plan ARGS` on `spec` against the shared account; expect exit 1 with
/// every fragment in the error, and the account unchanged.
fn aws_error(spec: &str, args: &[&str], fragments: &[&str]) -> Output {
    let account = account();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("a2i.toml");
    std::fs::write(&path, spec).expect("writing the spec");
    let out = plan(&account.moto, &path, args).expect_code(1);
    account.assert_unchanged("a failed `plan`");
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    for fragment in fragments {
        assert!(
            out.stderr.contains(fragment),
            "no `{fragment}` in:\n{}",
            out.stderr
        );
    }
    assert_eq!(out.stdout, "", "an error printed a plan");
    out
}

#[test]
fn missing_input_bucket_is_named_and_nothing_is_written() {
    // The role does not exist either: it must not be created.
    aws_error(
        &flow_spec(
            &[
                ("role", "\"ErrNewFlowRole\""),
                ("input_buckets", "[\"err-input\", \"err-no-such-input\"]"),
            ],
            "",
        ),
        &[],
        &["bucket `err-no-such-input`"],
    );
}

#[test]
fn missing_output_bucket_is_named_and_nothing_is_written() {
    aws_error(
        &flow_spec(&[("output", "\"s3://err-no-such-output/out/\"")], ""),
        &[],
        &["bucket `err-no-such-output`"],
    );
}

#[test]
fn missing_caller_role_is_named_and_nothing_is_written() {
    let arn = format!("arn:aws:iam::{ACCOUNT_ID}:role/err-no-such-caller");
    aws_error(
        &flow_spec(
            &[],
            &format!("\n[[human_loop_caller]]\nprincipal = \"{arn}\"\nuses = [\"custom\"]\n"),
        ),
        &[],
        &[&format!("caller `{arn}`"), "does not exist"],
    );
}

#[test]
fn missing_caller_user_is_named_and_nothing_is_written() {
    let arn = format!("arn:aws:iam::{ACCOUNT_ID}:user/err-no-such-bot");
    aws_error(
        &flow_spec(
            &[],
            &format!("\n[[human_loop_caller]]\nprincipal = \"{arn}\"\nuses = [\"textract\"]\n"),
        ),
        &[],
        &[&format!("caller `{arn}`"), "does not exist"],
    );
}

#[test]
fn missing_key_alias_is_named_and_nothing_is_written() {
    aws_error(
        &flow_spec(&[("kms_key", "\"alias/err-no-such-key\"")], ""),
        &[],
        &["KMS key `alias/err-no-such-key`", "kms_key"],
    );
}

#[test]
fn missing_preview_role_is_named_and_nothing_is_written() {
    aws_error(
        &flow_spec(
            &[],
            "\n[[template_preview]]\nrole = \"ErrNoSuchPreviewRole\"\ninput_buckets = [\"err-input\"]\n",
        ),
        &[],
        &["role `ErrNoSuchPreviewRole` does not exist"],
    );
}

#[test]
fn wrong_account_id_is_refused_and_nothing_is_written() {
    let spec = format!(
        "account_id = \"111122223333\"\n\n{}",
        flow_spec(&[("role", "\"ErrNewFlowRole\"")], "")
    );
    aws_error(&spec, &[], &["`111122223333`", &format!("`{ACCOUNT_ID}`")]);
}

#[test]
fn arns_of_another_account_without_account_id_are_refused() {
    // No `account_id`: the ARNs in the spec bind it to their account.
    aws_error(
        &flow_spec(
            &[],
            "\n[[human_loop_caller]]\nprincipal = \"arn:aws:iam::111122223333:role/err-caller\"\nuses = [\"custom\"]\n",
        ),
        &[],
        &["`111122223333`", &format!("`{ACCOUNT_ID}`")],
    );
}

#[test]
fn role_arn_with_another_path_than_the_existing_role_is_refused() {
    // `ErrFlowRole` exists at path `/`.
    let out = aws_error(
        &flow_spec(
            &[(
                "role",
                "\"arn:aws:iam::123456789012:role/other/ErrFlowRole\"",
            )],
            "",
        ),
        &[],
        &["ErrFlowRole", "path"],
    );
    assert!(
        out.stderr
            .contains(&format!("arn:aws:iam::{ACCOUNT_ID}:role/ErrFlowRole")),
        "the real ARN is not named:\n{}",
        out.stderr
    );
}

#[test]
fn broken_existing_key_policy_is_named_and_nothing_is_written() {
    aws_error(
        &flow_spec(&[("kms_key", "\"alias/err-broken-key\"")], ""),
        &[],
        &[
            "the key policy of KMS key `alias/err-broken-key`",
            "not a valid policy document",
        ],
    );
}

#[test]
fn detailed_exitcode_is_1_on_error() {
    aws_error(
        &flow_spec(&[("input_buckets", "[\"err-no-such-input\"]")], ""),
        &["--detailed-exitcode"],
        &["bucket `err-no-such-input`"],
    );
}

fn write_spec(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("a2i.toml");
    std::fs::write(&path, text).expect("writing the spec");
    (dir, path)
}

#[test]
fn detailed_exitcode_is_2_with_changes_and_0_without() {
    let account = account();
    // ErrFlowRole may not read or write yet; err-input has no CORS.
    let (_dir, with_changes) = write_spec(&flow_spec(&[], ""));
    plan(&account.moto, &with_changes, &["--detailed-exitcode"]).expect_code(2);
    // Without the flag, changes are a success.
    plan(&account.moto, &with_changes, &[]).expect_code(0);
    // err-caller already has AmazonAugmentedAIFullAccess.
    let (_dir2, up_to_date) = write_spec(&format!(
        "[[human_loop_caller]]\nprincipal = \"arn:aws:iam::{ACCOUNT_ID}:role/err-caller\"\nuses = [\"custom\"]\n"
    ));
    let out = plan(&account.moto, &up_to_date, &["--detailed-exitcode"]).expect_code(0);
    assert!(
        out.stdout
            .contains("No changes. A2I permissions are up to date."),
        "{}",
        out.stdout
    );
}

#[test]
fn json_plan_has_the_documented_fields() {
    let account = account();
    let (_dir, spec) = write_spec(&flow_spec(&[("kms_key", "\"alias/err-key\"")], ""));
    let json = plan(&account.moto, &spec, &["--json"])
        .expect_code(0)
        .json();
    assert_eq!(json["format_version"], 1, "{json:#}");
    assert_eq!(json["account_id"], ACCOUNT_ID);
    assert_eq!(json["region"], crate::support::REGION);
    let list = changes(&json);
    assert!(!list.is_empty());
    for c in list {
        assert!(c["address"].is_string(), "{c:#}");
        assert!(c["action"] == "create" || c["action"] == "update", "{c:#}");
        let reqs = c["requirements"].as_array().expect("requirements list");
        assert!(!reqs.is_empty(), "{c:#}");
        assert!(
            reqs.iter()
                .all(|r| r.as_str().is_some_and(|r| r.starts_with('R'))),
            "{c:#}"
        );
        assert!(c["reason"].as_str().is_some_and(|r| !r.is_empty()), "{c:#}");
        assert!(c["before"].is_string() || c["before"].is_null(), "{c:#}");
        // `after` is the document to write, itself JSON.
        let _ = after(c);
    }
    // An update has the document it replaces; a create has none.
    let key = change(&json, &account.key_policy_address()).expect("the key policy change");
    assert_eq!(key["action"], "update");
    assert!(key["before"].is_string());
    let cors = change(&json, "aws_s3_bucket_cors_configuration.err-input").expect("CORS");
    assert_eq!(cors["action"], "create");
    assert_eq!(cors["before"], Value::Null);

    let summary = &json["summary"];
    let count = |action: &str| list.iter().filter(|c| c["action"] == action).count();
    assert_eq!(summary["add"], count("create"), "{json:#}");
    assert_eq!(summary["change"], count("update"), "{json:#}");
    assert_eq!(summary["destroy"], 0);
    assert!(json["warnings"].is_array());
    let calls = json["api_calls"].as_object().expect("api_calls object");
    assert!(!calls.is_empty());
    for (operation, n) in calls {
        assert!(operation.contains(':'), "{operation}");
        assert!(n.as_u64().is_some_and(|n| n >= 1), "{operation}: {n}");
    }
    assert_eq!(calls["sts:GetCallerIdentity"], 1);
}

// ---------------------------------------------------------------------------
// Colour
// ---------------------------------------------------------------------------

const ESC: char = '\u{1b}';

#[test]
fn output_to_a_pipe_has_no_escape_codes_with_or_without_no_color() {
    let account = account();
    let (_dir, spec) = write_spec(&flow_spec(&[], ""));
    let runs = [
        plan(&account.moto, &spec, &[]),
        plan(&account.moto, &spec, &["--no-color"]),
        run(a2i_fix(&account.moto)
            .env("NO_COLOR", "1")
            .arg("plan")
            .arg("--spec")
            .arg(&spec)),
    ];
    for out in runs {
        let out = out.expect_code(0);
        assert!(out.stdout.contains("Plan:"), "{}", out.stdout);
        assert!(!out.stdout.contains(ESC), "{:?}", out.stdout);
        // No spinner either: stderr is not a terminal.
        assert_eq!(out.stderr, "");
    }
}

/// The plan's stdout on a pseudo-terminal (stderr, where the spinner goes,
/// discarded), for `extra_env` and `args`.
fn plan_on_a_terminal(spec: &Path, extra_env: &[(&str, &str)], args: &[&str]) -> String {
    let account = account();
    // The binary as `a2i_fix` sets it up, behind a shell that drops stderr.
    let binary = a2i_fix(&account.moto);
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(r#"exec "$0" "$@" 2>/dev/null"#)
        .arg(binary.get_program())
        .arg("plan")
        .arg("--spec")
        .arg(spec)
        .args(args);
    for (k, v) in binary.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut session =
        rexpect::session::spawn_command(cmd, Some(30_000)).expect("spawning on a pty");
    session.exp_eof().expect("the plan ends")
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let (_dir, spec) = write_spec(&flow_spec(&[], ""));
    let coloured = plan_on_a_terminal(&spec, &[], &[]);
    assert!(coloured.contains("Plan:"), "{coloured:?}");
    assert!(
        coloured.contains(ESC),
        "no colour on a terminal: {coloured:?}"
    );
    for (env, args) in [
        (&[("NO_COLOR", "1")][..], &[][..]),
        (&[][..], &["--no-color"][..]),
    ] {
        let plain = plan_on_a_terminal(&spec, env, args);
        assert!(plain.contains("Plan:"), "{plain:?}");
        assert!(!plain.contains(ESC), "{env:?} {args:?}: {plain:?}");
    }
}

// ---------------------------------------------------------------------------
// No credentials
// ---------------------------------------------------------------------------

#[test]
fn no_credentials_fails_with_how_to_configure_them() {
    // Accepts connections (the kernel's backlog) and never answers: the
    // instance-metadata probe can only time out. Never the real address.
    let silent = TcpListener::bind("127.0.0.1:0").expect("binding a silent port");
    let port = silent.local_addr().expect("silent port").port();
    let home = tempfile::tempdir().expect("temp dir");
    let mut cmd = a2i_fix_without_aws(home.path());
    cmd.env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", home.path().join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("no-aws-credentials"),
        )
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        )
        .arg("plan")
        .arg("--spec")
        .arg(example("custom-task.toml"));
    let started = std::time::Instant::now();
    // A hang guard, not a benchmark.
    let out = run_within(&mut cmd, Duration::from_secs(20)).expect_code(1);
    // For the log only: how fast it fails is not asserted here, the machine
    // running the tests may be busy.
    eprintln!("failed after {:?}", started.elapsed());
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    assert!(out.stderr.contains("credentials"), "{}", out.stderr);
    assert!(out.stderr.contains("AWS_ACCESS_KEY_ID"), "{}", out.stderr);
    assert!(out.stderr.contains("aws configure"), "{}", out.stderr);
    assert_eq!(out.stdout, "");
    drop(silent);
}

// ---------------------------------------------------------------------------
// Choosing the account, region and endpoint
// ---------------------------------------------------------------------------

/// A home directory with an AWS config and credentials file holding one
/// profile, `moto`, with the emulator's region and keys.
fn home_with_profile() -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        home.path().join("config"),
        format!("[profile moto]\nregion = {}\n", crate::support::REGION),
    )
    .expect("writing the config file");
    std::fs::write(
        home.path().join("credentials"),
        format!(
            "[moto]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            crate::support::ACCESS_KEY_ID,
            crate::support::SECRET_ACCESS_KEY
        ),
    )
    .expect("writing the credentials file");
    home
}

/// `a2i-fix` with only the files of [`home_with_profile`], no `AWS_*`
/// variable but the file locations, and an instance-metadata endpoint that
/// refuses connections.
fn a2i_fix_with_profile_files(home: &Path) -> std::process::Command {
    let mut cmd = a2i_fix_without_aws(home);
    cmd.env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1");
    cmd
}

#[test]
fn profile_and_endpoint_url_flags_choose_the_account() {
    let account = account();
    let home = home_with_profile();
    let (_dir, spec) = write_spec(&flow_spec(&[], ""));
    let out = run(a2i_fix_with_profile_files(home.path())
        .args(["plan", "--profile", "moto", "--endpoint-url"])
        .arg(&account.moto.endpoint)
        .arg("--spec")
        .arg(&spec))
    .expect_code(0);
    assert!(
        out.stdout.starts_with(&format!(
            "a2i-fix read account {ACCOUNT_ID} in {}.",
            crate::support::REGION
        )),
        "{}",
        out.stdout
    );
    // The same through the environment: `AWS_PROFILE` and `AWS_ENDPOINT_URL`.
    run(a2i_fix_with_profile_files(home.path())
        .env("AWS_PROFILE", "moto")
        .env("AWS_ENDPOINT_URL", &account.moto.endpoint)
        .arg("plan")
        .arg("--spec")
        .arg(&spec))
    .expect_code(0);
}

#[test]
fn region_flag_overrides_the_environment() {
    // `AWS_REGION` (from `Moto::env`) says us-east-1; `alias/err-key` exists
    // there only, and KMS keys are regional.
    let out = aws_error(
        &flow_spec(&[("kms_key", "\"alias/err-key\"")], ""),
        &["--region", "eu-west-1"],
        &["KMS key `alias/err-key`", "`eu-west-1`"],
    );
    assert!(!out.stderr.contains("us-east-1"), "{}", out.stderr);
}

#[test]
fn unknown_profile_is_named() {
    let account = account();
    let home = home_with_profile();
    let (_dir, spec) = write_spec(&flow_spec(&[], ""));
    let out = run(a2i_fix_with_profile_files(home.path())
        .env("AWS_REGION", crate::support::REGION)
        .args(["plan", "--profile", "no-such-profile", "--endpoint-url"])
        .arg(&account.moto.endpoint)
        .arg("--spec")
        .arg(&spec))
    .expect_code(1);
    assert!(out.stderr.contains("no-such-profile"), "{}", out.stderr);
    account.assert_unchanged("a failed `plan`");
}

/// Regression: with no region configured, a mistyped `--profile` used to
/// fail with `no AWS region configured` alone, never naming the profile.
#[test]
fn unknown_profile_is_named_even_without_a_region() {
    let account = account();
    let home = home_with_profile();
    let (_dir, spec) = write_spec(&flow_spec(&[], ""));
    let out = run(a2i_fix_with_profile_files(home.path())
        .args(["plan", "--profile", "no-such-profile", "--endpoint-url"])
        .arg(&account.moto.endpoint)
        .arg("--spec")
        .arg(&spec))
    .expect_code(1);
    assert!(out.stderr.contains("no-such-profile"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------
// A denied read
// ---------------------------------------------------------------------------

/// POST `body` to moto's control API at `path` (no HTTP client in the
/// dev-dependencies; this is one request on loopback).
pub(crate) fn moto_control(moto: &crate::support::Moto, path: &str, body: &str) {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", moto.port)).expect("connecting to moto");
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("writing to moto");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("reading moto's answer");
    assert!(
        response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"),
        "{path}: {response}"
    );
}

#[test]
fn denied_read_and_rejected_credentials_are_named() {
    // moto enforces IAM policies once `/moto-api/reset-auth` says so: a user
    // whose policy denies `s3:GetBucketCORS` runs the plan.
    // The seed returns the reader's access key id and secret, one per line.
    let account = SeededServer::start(|s| async move {
        s.bucket("denied-input").await;
        s.bucket("denied-output").await;
        s.role("DeniedFlowRole", SAGEMAKER_TRUST).await;
        s.user("a2i-reader").await;
        s.c.iam
            .put_user_policy()
            .user_name("a2i-reader")
            .policy_name("read-all-but-cors")
            .policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"s3:GetBucketCORS","Resource":"*"}]}"#,
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("put user policy: {e:?}"));
        let key =
            s.c.iam
                .create_access_key()
                .user_name("a2i-reader")
                .send()
                .await
                .unwrap_or_else(|e| panic!("create access key: {e:?}"));
        let key = key.access_key.expect("an access key");
        format!("{}\n{}", key.access_key_id, key.secret_access_key)
    });
    let (key_id, secret) = account
        .key_id
        .split_once('\n')
        .expect("the reader's key id and secret");
    let baseline = account.read();
    let (_dir, spec) = write_spec(
        "[[flow_definition]]\nname = \"denied\"\nrole = \"DeniedFlowRole\"\ninput_buckets = [\"denied-input\"]\noutput = \"s3://denied-output/out/\"\n",
    );

    moto_control(&account.moto, "/moto-api/reset-auth", "0");
    let out = run(a2i_fix(&account.moto)
        .env("AWS_ACCESS_KEY_ID", key_id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .arg("plan")
        .arg("--spec")
        .arg(&spec));
    // Keys that no user has: AWS rejects the credentials themselves.
    let unknown = run(a2i_fix(&account.moto)
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-secret")
        .arg("plan")
        .arg("--spec")
        .arg(&spec));
    moto_control(&account.moto, "/moto-api/reset-auth", "inf");

    let unknown = unknown.expect_code(1);
    assert!(
        unknown.stderr.contains("AWS rejected the credentials"),
        "{}",
        unknown.stderr
    );
    assert!(
        unknown.stderr.contains("aws configure"),
        "{}",
        unknown.stderr
    );
    let out = out.expect_code(1);
    assert!(
        out.stderr.contains(
            "access denied calling `GetBucketCors` on bucket `denied-input`: a2i-fix needs `s3:GetBucketCORS`"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(account.read(), baseline, "a failed plan wrote");
}
