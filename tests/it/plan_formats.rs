//! The formats for code review, CI and the shell, through the binary:
//! `plan --format markdown|sarif|json`, `show --format`, `--color`,
//! `completions`, `man`, and the example CI files in `docs/ci/`.

use std::path::{Path, PathBuf};

use a2i_fix::model::{Action, Target, digest, fingerprint};
use a2i_fix::plan::{Change, Plan, Warning, summarize};
use a2i_fix::render::COMMENT_LIMIT;
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use crate::support::*;

/// Replace what changes from run to run (as in `plan_snapshots`).
fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[KEY_ID]",
        ),
        (r"sha256:[0-9a-f]{64}", "sha256:[DIGEST]"),
        (
            r#""name": "a2i-fix",(\s+)"version": "[^"]+""#,
            r#""name": "a2i-fix",$1"version": "[VERSION]""#,
        ),
    ]
}

/// `a2i-fix plan --spec NAME ARGS...` run in `plans/`, so that the spec is
/// named as a repository-relative path.
fn plan_in_plans(moto: &Moto, name: &str, args: &[&str]) -> Output {
    run(a2i_fix(moto)
        .current_dir(plans_dir())
        .arg("plan")
        .arg("--spec")
        .arg(name)
        .args(args))
}

/// The 1-based line of the first line of `file` starting with `prefix`.
fn line_of(file: &Path, prefix: &str) -> u64 {
    let text = std::fs::read_to_string(file).expect("reading the spec");
    let n = text
        .lines()
        .position(|l| l.trim_start().starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with `{prefix}` in {}", file.display()));
    n as u64 + 1
}

/// Panics unless `log` is valid against the SARIF 2.1.0 schema and meets
/// what GitHub's code scanning also requires: every result has a location
/// in a file with a line.
fn assert_valid_sarif(log: &Value) {
    let text = std::fs::read_to_string(fixture("sarif-schema-2.1.0.json")).expect("the schema");
    let mut schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    // The schema as Microsoft's SARIF packages ship it (2.1.0-rtm.5) writes
    // the `language` pattern with a stray `]` that a strict validator
    // refuses to compile; the standard's errata give it as below. Only that
    // string is changed, here, so that the file stays exactly as shipped.
    let fixed = fix_language_patterns(&mut schema);
    assert!(fixed > 0, "the schema's known typo is where it was");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "not valid SARIF 2.1.0: {errors:#?}\n{log:#}"
    );
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r["id"].as_str().expect("rule id"))
        .collect();
    for result in run["results"].as_array().expect("results") {
        let rule = result["ruleId"].as_str().expect("ruleId");
        let index = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(
            rules.get(index),
            Some(&rule),
            "ruleIndex points at its rule: {result:#}"
        );
        let locations = result["locations"].as_array().expect("locations");
        assert!(
            !locations.is_empty(),
            "a result without a location: {result:#}"
        );
        for l in locations {
            let physical = &l["physicalLocation"];
            assert!(
                physical["artifactLocation"]["uri"]
                    .as_str()
                    .is_some_and(|u| !u.is_empty())
            );
            assert!(
                physical["region"]["startLine"]
                    .as_u64()
                    .is_some_and(|n| n >= 1)
            );
        }
    }
}

/// Replace the misprinted `language` pattern wherever it is; how many.
fn fix_language_patterns(value: &mut Value) -> usize {
    const MISPRINT: &str = "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$";
    match value {
        Value::String(s) if s == MISPRINT => {
            *s = "^[a-zA-Z]{2}(-[a-zA-Z]{2})?$".to_string();
            1
        }
        Value::Array(items) => items.iter_mut().map(fix_language_patterns).sum(),
        Value::Object(map) => map.values_mut().map(fix_language_patterns).sum(),
        _ => 0,
    }
}

/// The lines a result of `rule` at `level` points at.
fn result_lines(log: &Value, rule: &str, level: &str) -> Vec<u64> {
    let mut lines: Vec<u64> = log["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["ruleId"] == rule && r["level"] == level)
        .flat_map(|r| r["locations"].as_array().cloned().unwrap_or_default())
        .filter_map(|l| l["physicalLocation"]["region"]["startLine"].as_u64())
        .collect();
    lines.sort();
    lines.dedup();
    lines
}

#[test]
fn markdown_plan_is_a_pull_request_comment_with_one_section_per_change() {
    let account = nothing_set_up();
    let md =
        plan_in_plans(&account.moto, "kms-output.toml", &["--format", "markdown"]).expect_code(0);
    let json = plan_json(&account.moto, &example("kms-output.toml"));
    let changes = json["changes"].as_array().expect("changes").len();
    assert!(changes > 3, "the plan has several changes");
    assert!(md.stdout.starts_with("**a2i-fix plan:** "), "{}", md.all());
    assert_eq!(md.stdout.matches("<details>").count(), changes);
    assert_eq!(
        md.stdout.matches("```diff\n").count(),
        changes,
        "every diff is whole"
    );
    assert!(md.stdout.len() < COMMENT_LIMIT);
    account.assert_unchanged("plan --format markdown");
    insta::with_settings!({
        filters => filters(),
        description => "a2i-fix plan --format markdown --spec kms-output.toml",
        omit_expression => true,
    }, {
        insta::assert_snapshot!("kms_output_nothing_set_up_markdown", md.stdout);
    });
}

#[test]
fn sarif_plan_validates_and_points_each_need_at_the_line_that_causes_it() {
    let account = nothing_set_up();
    let out =
        plan_in_plans(&account.moto, "kms-output.toml", &["--format", "sarif"]).expect_code(0);
    let log = out.json();
    assert_valid_sarif(&log);
    let spec = example("kms-output.toml");
    let uris: Vec<&str> = log["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .flat_map(|r| r["locations"].as_array().into_iter().flatten())
        .filter_map(|l| l["physicalLocation"]["artifactLocation"]["uri"].as_str())
        .collect();
    assert!(
        !uris.is_empty() && uris.iter().all(|u| *u == "kms-output.toml"),
        "{uris:?}"
    );
    assert_eq!(
        result_lines(&log, "R1", "error"),
        [line_of(&spec, "input_buckets")]
    );
    assert_eq!(
        result_lines(&log, "R2", "error"),
        [line_of(&spec, "input_buckets")]
    );
    assert_eq!(
        result_lines(&log, "R3", "error"),
        [line_of(&spec, "output")]
    );
    assert_eq!(result_lines(&log, "R4", "error"), [line_of(&spec, "role")]);
    assert_eq!(
        result_lines(&log, "R5", "error"),
        [line_of(&spec, "kms_key")]
    );
    assert_eq!(result_lines(&log, "R6", "error"), [line_of(&spec, "uses")]);
    account.assert_unchanged("plan --format sarif");
    insta::with_settings!({
        filters => filters(),
        description => "a2i-fix plan --format sarif --spec kms-output.toml",
        omit_expression => true,
    }, {
        insta::assert_snapshot!("kms_output_nothing_set_up_sarif", out.stdout);
    });
}

/// A Deny is a warning result, on the line of the entry whose need it blocks.
#[test]
fn a_warning_is_a_sarif_result_on_the_line_of_its_entry() {
    let account = SeededServer::start(|s| async move {
        let key_id = seed_nothing(&s).await;
        s.role(FLOW_ROLE, SAGEMAKER_TRUST).await;
        s.inline_policy(
            FLOW_ROLE,
            "deny-input-reads",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::acme-a2i-input/*"}]}"#,
        )
        .await;
        key_id
    });
    let out =
        plan_in_plans(&account.moto, "rekognition.toml", &["--format", "sarif"]).expect_code(0);
    let log = out.json();
    assert_valid_sarif(&log);
    let spec = example("rekognition.toml");
    assert_eq!(
        result_lines(&log, "R2", "warning"),
        [line_of(&spec, "input_buckets")]
    );
    assert!(
        result_lines(&log, "R2", "error").is_empty(),
        "a Deny is no change"
    );
    // The text plan has the same warning.
    let text = plan_in_plans(&account.moto, "rekognition.toml", &[]).expect_code(0);
    assert!(
        text.stdout.contains("Warning: role `A2IFlowRole` (R2)"),
        "{}",
        text.all()
    );
}

#[test]
fn json_and_format_json_print_the_same_and_conflicting_flags_are_usage_errors() {
    let account = nothing_set_up();
    let a = plan_in_plans(&account.moto, "textract.toml", &["--json"]).expect_code(0);
    let b = plan_in_plans(&account.moto, "textract.toml", &["--format", "json"]).expect_code(0);
    let without_calls = |v: Value| {
        let mut v = v;
        v["api_calls"] = Value::Null;
        v
    };
    assert_eq!(without_calls(a.json()), without_calls(b.json()));
    for args in [
        &["--json", "--format", "markdown"][..],
        &["--json", "--format", "json"][..],
        &["--format", "yaml"][..],
    ] {
        let out = plan_in_plans(&account.moto, "textract.toml", args).expect_code(1);
        assert!(
            out.stderr.contains("error:") && out.stdout.is_empty(),
            "{args:?}: {}",
            out.all()
        );
    }
    account.assert_unchanged("plan --format json");
}

/// A plan of 200 changes with long documents, saved and shown as markdown:
/// the summary and every warning stay, the diffs are shortened to fit.
#[test]
fn markdown_of_a_200_change_plan_stays_under_the_comment_limit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("big.plan");
    a2i_fix::saved::write_saved_plan(&file, &plan_of_200_changes()).expect("saving the plan");
    let out = run(a2i_fix_without_aws(dir.path())
        .arg("show")
        .arg(&file)
        .args(["--format", "markdown"]))
    .expect_code(0);
    let md = &out.stdout;
    assert!(md.len() < COMMENT_LIMIT, "{} bytes", md.len());
    assert!(
        md.starts_with("**a2i-fix plan:** 200 to add, 0 to change, 0 to destroy; 12 warnings.")
    );
    for i in 0..12 {
        assert!(
            md.contains(&format!("**role `Role{i}`** (R2)")),
            "warning {i} is kept"
        );
    }
    for i in 0..200 {
        let address = format!("aws_iam_role_policy.Role{i}:a2i-fix-permissions</code>");
        assert!(md.contains(&address), "change {i} is shown");
    }
    // Every section fits, with a share of its diff.
    assert_eq!(md.matches("<details>").count(), 200);
    assert_eq!(md.matches("</details>").count(), 200);
    assert!(md.contains("Diffs are shortened to keep this comment under GitHub's limit"));
    assert!(md.contains(" lines shown._"));
    let fences = md.lines().filter(|l| l.starts_with("```")).count();
    assert_eq!(fences % 2, 0, "every diff block is closed");
}

fn plan_of_200_changes() -> Plan {
    let statement = |i: usize| {
        format!(
            "{{\"Sid\":\"S{i}\",\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::bucket-{i}/*\"}}"
        )
    };
    let changes: Vec<Change> = (0..200)
        .map(|i| {
            let after = format!(
                "{{\"Version\":\"2012-10-17\",\"Statement\":[{}]}}",
                (0..30).map(statement).collect::<Vec<_>>().join(",")
            );
            Change {
                address: format!("aws_iam_role_policy.Role{i}:a2i-fix-permissions"),
                action: Action::Create,
                target: Target::InlinePolicy {
                    role: format!("Role{i}"),
                    policy_name: "a2i-fix-permissions".into(),
                },
                requirements: vec!["R2".into()],
                reason: format!("R2 (flow definition fd-{i}): no statement allows s3:GetObject"),
                before: None,
                after_digest: digest(&after),
                after: Some(after),
                before_fingerprint: fingerprint(None),
                replaced_sids: vec![],
            }
        })
        .collect();
    Plan {
        format_version: a2i_fix::plan::FORMAT_VERSION,
        account_id: ACCOUNT_ID.into(),
        region: REGION.into(),
        spec_hash: digest("spec"),
        summary: summarize(&changes),
        changes,
        warnings: (0..12)
            .map(|i| Warning {
                subject: format!("role `Role{i}`"),
                requirement: Some("R2".into()),
                message: "R2 is blocked by an explicit Deny".into(),
                address: None,
                managed_by: None,
            })
            .collect(),
        api_calls: Default::default(),
    }
}

#[test]
fn show_sarif_refuses_a_spec_the_plan_was_not_made_from() {
    let account = nothing_set_up();
    let dir = tempfile::tempdir().expect("temp dir");
    let saved = dir.path().join("a2i-fix.plan");
    plan(
        &account.moto,
        &example("kms-output.toml"),
        &["--out", saved.to_str().expect("utf-8")],
    )
    .expect_code(0);
    let shown = run(a2i_fix_without_aws(dir.path())
        .arg("show")
        .arg(&saved)
        .args(["--format", "sarif", "--spec"])
        .arg(example("kms-output.toml")))
    .expect_code(0);
    assert_valid_sarif(&shown.json());
    let other = run(a2i_fix_without_aws(dir.path())
        .arg("show")
        .arg(&saved)
        .args(["--format", "sarif", "--spec"])
        .arg(example("textract.toml")))
    .expect_code(1);
    assert!(
        other.stderr.contains("is not the one plan"),
        "{}",
        other.all()
    );
    assert!(other.stdout.is_empty());
}

#[test]
fn color_always_colours_even_with_no_color_and_never_does_not() {
    let account = nothing_set_up();
    let spec = example("textract.toml");
    let always = run(a2i_fix(&account.moto)
        .env("NO_COLOR", "1")
        .args(["plan", "--color", "always", "--spec"])
        .arg(&spec))
    .expect_code(0);
    assert!(always.stdout.contains("\u{1b}["), "{}", always.all());
    let never = run(a2i_fix(&account.moto)
        .args(["plan", "--color", "never", "--spec"])
        .arg(&spec))
    .expect_code(0);
    assert!(!never.stdout.contains('\u{1b}'), "{}", never.all());
    // Not a terminal: `auto` does not colour.
    let auto = run(a2i_fix(&account.moto).args(["plan", "--spec"]).arg(&spec)).expect_code(0);
    assert!(!auto.stdout.contains('\u{1b}'));
    let both = run(a2i_fix(&account.moto)
        .args(["plan", "--no-color", "--color", "always", "--spec"])
        .arg(&spec))
    .expect_code(1);
    assert!(
        both.stderr.contains("cannot be used with"),
        "{}",
        both.all()
    );
}

#[test]
fn completions_for_every_shell_and_the_manual_page_are_printed() {
    let home = tempfile::tempdir().expect("temp dir");
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(a2i_fix_without_aws(home.path()).args(["completions", shell])).expect_code(0);
        assert!(out.stdout.len() > 500, "{shell}: {}", out.all());
        for word in ["a2i-fix", "plan", "rollback", "--format", "markdown"] {
            assert!(out.stdout.contains(word), "{shell} completes `{word}`");
        }
    }
    let bad = run(a2i_fix_without_aws(home.path()).args(["completions", "tcsh"])).expect_code(1);
    assert!(bad.stderr.contains("invalid value"), "{}", bad.all());
    let man = run(a2i_fix_without_aws(home.path()).arg("man")).expect_code(0);
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH a2i-fix"),
        "{}",
        man.all()
    );
    for word in ["plan", "apply", "rollback", "completions", "\\-\\-color"] {
        assert!(man.stdout.contains(word), "the manual names `{word}`");
    }
}

// ---------------------------------------------------------------------------
// The example CI files.

fn load_yaml(name: &str) -> Yaml {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/ci")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("reading the CI example");
    let mut docs = YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
    assert_eq!(docs.len(), 1, "one document");
    docs.remove(0)
}

/// Every shell line of `script` that runs a2i-fix (continuations joined).
fn a2i_fix_lines(script: &str) -> Vec<String> {
    script
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("a2i-fix "))
        .map(str::to_string)
        .collect()
}

/// Panics unless every `--flag` of every a2i-fix line is one that
/// `a2i-fix COMMAND --help` lists.
fn assert_flags_exist(lines: &[String]) {
    let home = tempfile::tempdir().expect("temp dir");
    for line in lines {
        let command = line.split_whitespace().nth(1).expect("a command");
        let help = run(a2i_fix_without_aws(home.path()).args([command, "--help"])).expect_code(0);
        let flags = line
            .split_whitespace()
            .filter(|w| w.starts_with("--"))
            .map(|w| w.trim_end_matches(';'));
        for flag in flags {
            assert!(
                help.stdout.contains(flag),
                "`a2i-fix {command}` has no `{flag}` ({line})"
            );
        }
    }
}

fn run_steps(job: &Yaml) -> Vec<String> {
    job["steps"]
        .as_vec()
        .expect("steps")
        .iter()
        .filter_map(|s| s["run"].as_str())
        .flat_map(a2i_fix_lines)
        .collect()
}

#[test]
fn the_github_actions_example_plans_on_pull_requests_and_applies_the_reviewed_plan() {
    let doc = load_yaml("github-actions.yml");
    assert!(!doc["on"]["pull_request"].is_badvalue());
    let plan_job = &doc["jobs"]["plan"];
    let apply_job = &doc["jobs"]["apply"];
    let plan_lines = run_steps(plan_job);
    let apply_lines = run_steps(apply_job);
    let has = |lines: &[String], words: &[&str]| {
        lines.iter().any(|l| words.iter().all(|w| l.contains(w)))
    };
    assert!(
        has(
            &plan_lines,
            &["a2i-fix plan", "--out", "--detailed-exitcode"]
        ),
        "{plan_lines:?}"
    );
    assert!(has(&plan_lines, &["a2i-fix show", "--format markdown"]));
    assert!(has(
        &plan_lines,
        &["a2i-fix show", "--format sarif", "--spec"]
    ));
    assert!(
        has(&apply_lines, &["a2i-fix apply", "--yes"]),
        "{apply_lines:?}"
    );
    let uses: Vec<&str> = plan_job["steps"]
        .as_vec()
        .expect("steps")
        .iter()
        .filter_map(|s| s["uses"].as_str())
        .collect();
    assert!(
        uses.iter()
            .any(|u| u.starts_with("github/codeql-action/upload-sarif@"))
    );
    assert_eq!(
        plan_job["permissions"]["security-events"].as_str(),
        Some("write")
    );
    assert!(
        apply_job["if"]
            .as_str()
            .is_some_and(|c| c.contains("merged == true"))
    );
    assert_flags_exist(&[plan_lines, apply_lines].concat());
}

#[test]
fn the_gitlab_ci_example_plans_in_merge_requests_and_applies_the_reviewed_plan() {
    let doc = load_yaml("gitlab-ci.yml");
    let script = |job: &str| -> Vec<String> {
        doc[job]["script"]
            .as_vec()
            .unwrap_or_else(|| panic!("job `{job}` has a script"))
            .iter()
            .filter_map(Yaml::as_str)
            .flat_map(a2i_fix_lines)
            .collect()
    };
    let plan_lines = script("a2i-fix-plan");
    let apply_lines = script("a2i-fix-apply");
    let has = |lines: &[String], words: &[&str]| {
        lines.iter().any(|l| words.iter().all(|w| l.contains(w)))
    };
    assert!(
        has(
            &plan_lines,
            &["a2i-fix plan", "--out", "--detailed-exitcode"]
        ),
        "{plan_lines:?}"
    );
    assert!(has(&plan_lines, &["a2i-fix show", "--format markdown"]));
    assert!(has(&plan_lines, &["a2i-fix show", "--format sarif"]));
    assert!(
        has(&apply_lines, &["a2i-fix apply", "--yes"]),
        "{apply_lines:?}"
    );
    let stages: Vec<&str> = doc["stages"]
        .as_vec()
        .expect("stages")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(stages, ["plan", "apply"]);
    assert_eq!(doc["a2i-fix-plan"]["stage"].as_str(), Some("plan"));
    assert_eq!(doc["a2i-fix-apply"]["stage"].as_str(), Some("apply"));
    let artifacts: Vec<&str> = doc["a2i-fix-plan"]["artifacts"]["paths"]
        .as_vec()
        .expect("artifacts")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert!(artifacts.contains(&"a2i-fix.plan") && artifacts.contains(&"a2i-fix.sarif"));
    assert_flags_exist(&[plan_lines, apply_lines].concat());
}

// ---------------------------------------------------------------------------
// The progress bar.

/// `apply --yes` on a terminal counts its writes on standard error, and
/// erases the bar before the report; through pipes there is no bar.
#[test]
fn apply_shows_a_progress_bar_over_its_writes_only_on_a_terminal() {
    let account = SeededServer::start(|s| async move { seed_nothing(&s).await });
    let cwd = tempfile::tempdir().expect("temp dir");
    let spec = example("kms-output.toml");
    let mut cmd = a2i_fix_in(&account.moto, cwd.path());
    cmd.args(["apply", "--yes", "--spec"]).arg(&spec);
    let mut session =
        rexpect::session::spawn_command(cmd, Some(60_000)).expect("spawning on a pty");
    let rest = session.exp_eof().expect("the end of the output");
    match session.process().wait().expect("the exit status") {
        rexpect::process::WaitStatus::Exited(_, 0) => {}
        other => panic!("not a clean exit: {other:?}\n{rest}"),
    }
    assert!(rest.contains("/5 writes"), "a bar over 5 writes:\n{rest}");
    assert!(rest.contains("Apply complete!"), "{rest}");
    // Through pipes (every other test), no bar.
    let again = run(a2i_fix_in(&account.moto, cwd.path())
        .args(["plan", "--spec"])
        .arg(&spec))
    .expect_code(0);
    assert!(again.stdout.contains("No changes."), "{}", again.all());
    let piped = tempfile::tempdir().expect("temp dir");
    let rollback_journal = std::fs::read_dir(cwd.path().join(".a2i-fix"))
        .expect("the journal dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "json" || e == "jsonl"))
        .expect("a journal");
    let back = run(a2i_fix_in(&account.moto, piped.path())
        .args(["rollback", "--yes"])
        .arg(&rollback_journal))
    .expect_code(0);
    assert!(
        !back.stderr.contains(" writes"),
        "no bar through a pipe: {}",
        back.all()
    );
}
