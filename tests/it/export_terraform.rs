//! `a2i-fix export --format terraform`, through the binary against moto: a
//! golden file of the configuration for a plan with every kind of change,
//! and a structural check that parses it back with hcl-rs: one resource per
//! change holding the change's complete document, and an import block for
//! exactly the resources that already exist, with the provider's import id.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use hcl::{Block, Body, Expression};
use serde_json::Value;

use crate::support::*;
use crate::support::{LAMBDA_TRUST, SAGEMAKER_TRUST};

/// A flow role that exists (its trust policy changes), one that does not
/// (created), a preview role, a caller role and a caller user, a key, an
/// input bucket with CORS rules and one without.
fn spec() -> String {
    format!(
        r#"account_id = "{ACCOUNT_ID}"

[[flow_definition]]
name = "invoices"
role = "{FLOW_ROLE}"
input_buckets = ["{INPUT}"]
output = "s3://{OUTPUT}/invoices/"
kms_key = "{KEY_ALIAS}"

[[flow_definition]]
name = "receipts"
role = "arn:aws:iam::{ACCOUNT_ID}:role/service-role/A2INewFlowRole"
input_buckets = ["{RECEIPTS}"]
output = "s3://{OUTPUT}/receipts/"
kms_key = "{KEY_ALIAS}"

[[template_preview]]
role = "{PREVIEW_ROLE}"
input_buckets = ["{RECEIPTS}"]

[[human_loop_caller]]
principal = "arn:aws:iam::{ACCOUNT_ID}:role/{CALLER_ROLE}"
uses = ["custom"]

[[human_loop_caller]]
principal = "arn:aws:iam::{ACCOUNT_ID}:user/{CALLER_USER}"
uses = ["textract"]
"#
    )
}

/// A key policy with a policy variable, which Terraform must not read as
/// an interpolation.
fn key_policy() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT_ID}:root"}},"Action":"kms:*","Resource":"*"}},{{"Sid":"OwnContext","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT_ID}:root"}},"Action":"kms:Decrypt","Resource":"*","Condition":{{"StringEquals":{{"kms:EncryptionContext:user":"${{aws:username}}"}}}}}}]}}"#
    )
}

fn seeded() -> SeededServer {
    SeededServer::start(|s| async move {
        for bucket in [INPUT, RECEIPTS, OUTPUT] {
            s.bucket(bucket).await;
        }
        let upload = a2i_fix::policy::CorsRule {
            id: Some("web-uploads".into()),
            allowed_headers: vec!["*".into()],
            allowed_methods: vec!["PUT".into(), "POST".into()],
            allowed_origins: vec!["https://upload.acme.example".into()],
            expose_headers: vec!["ETag".into()],
            max_age_seconds: Some(3000),
        };
        s.put_cors(INPUT, &[upload]).await;
        // The existing flow role has attributes an import must keep.
        s.c.iam
            .create_role()
            .path("/teams/ml/")
            .role_name(FLOW_ROLE)
            .assume_role_policy_document(LAMBDA_TRUST)
            .description("Runs A2I reviews")
            .max_session_duration(7200)
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key("team")
                    .value("ml")
                    .build()
                    .expect("a tag"),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("create role {FLOW_ROLE}: {e:?}"));
        s.role(PREVIEW_ROLE, SAGEMAKER_TRUST).await;
        s.role(CALLER_ROLE, LAMBDA_TRUST).await;
        s.user(CALLER_USER).await;
        let (key_id, _) = s.key(Some(&key_policy())).await;
        s.alias(KEY_ALIAS, &key_id).await;
        key_id
    })
}

fn write_spec(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("a2i.toml");
    std::fs::write(&path, spec()).expect("writing the spec");
    path
}

fn export(moto: &Moto, spec: &Path, args: &[&str]) -> Output {
    run(a2i_fix(moto)
        .args(["export", "--format", "terraform", "--spec"])
        .arg(spec)
        .args(args))
}

#[test]
fn terraform_export_of_every_kind_of_change() {
    let account = seeded();
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = write_spec(dir.path());
    let before = account.read();
    let out = export(&account.moto, &spec, &[]).expect_code(0);
    insta::with_settings!({
        filters => vec![(
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[KEY_ID]",
        )],
        description => "a2i-fix export --format terraform (spec in tests/it/export_terraform.rs)",
        omit_expression => true,
    }, {
        insta::assert_snapshot!("terraform_every_kind", out.stdout);
    });
    assert_eq!(account.read(), before, "export wrote to the account");

    // `--out DIR` writes the same text to DIR/a2i-fix.tf, creating DIR.
    let out_dir = dir.path().join("iac").join("a2i");
    let written = export(
        &account.moto,
        &spec,
        &["--out", out_dir.to_str().expect("utf-8")],
    )
    .expect_code(0);
    let file = std::fs::read_to_string(out_dir.join("a2i-fix.tf")).expect("a2i-fix.tf");
    assert_eq!(file, out.stdout);
    assert!(written.stdout.is_empty(), "{}", written.stdout);
    assert!(written.stderr.contains("a2i-fix.tf"), "{}", written.stderr);
    assert_eq!(account.read(), before, "export --out wrote to the account");

    // A saved plan exports to the same configuration.
    let saved = dir.path().join("plan.json");
    crate::support::plan(
        &account.moto,
        &spec,
        &["--out", saved.to_str().expect("utf-8")],
    )
    .expect_code(0);
    let from_saved = run(a2i_fix(&account.moto)
        .args(["export", "--format", "terraform"])
        .arg(&saved))
    .expect_code(0);
    assert_eq!(from_saved.stdout, out.stdout);
    assert_eq!(
        account.read(),
        before,
        "export PLANFILE wrote to the account"
    );
}

#[test]
fn terraform_export_parses_back_to_the_plans_documents() {
    let account = seeded();
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = write_spec(dir.path());
    let plan = plan_json(&account.moto, &spec);
    let text = export(&account.moto, &spec, &[]).expect_code(0).stdout;
    check_structure(&plan, &text);

    // And for an example of `plans/` on a realistically broken account.
    let broken = Moto::start();
    block_on(seed_broken_account(&broken, true));
    let example = example("shared-role.toml");
    let plan = plan_json(&broken, &example);
    let text = export(&broken, &example, &[]).expect_code(0).stdout;
    check_structure(&plan, &text);
}

#[test]
fn nothing_to_export_when_nothing_changes() {
    let account = SeededServer::start(|s| async move {
        s.bucket("quiet-input").await;
        s.bucket("quiet-output").await;
        s.put_cors(
            "quiet-input",
            &[crate::support::cors_rule(&["GET"], &["*"])],
        )
        .await;
        s.role("QuietRole", SAGEMAKER_TRUST).await;
        s.inline_policy(
            "QuietRole",
            "a2i",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::quiet-input/*","arn:aws:s3:::quiet-output/*"]}]}"#,
        )
        .await;
        String::new()
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = dir.path().join("a2i.toml");
    std::fs::write(
        &spec,
        "[[flow_definition]]\nname = \"q\"\nrole = \"QuietRole\"\ninput_buckets = [\"quiet-input\"]\noutput = \"s3://quiet-output/\"\n",
    )
    .expect("writing the spec");
    let out_dir = dir.path().join("out");
    let out = export(
        &account.moto,
        &spec,
        &["--out", out_dir.to_str().expect("utf-8")],
    )
    .expect_code(0);
    assert!(out.stderr.contains("nothing to export"), "{}", out.stderr);
    assert!(!out_dir.exists(), "an empty export created {out_dir:?}");
}

#[test]
fn an_unknown_format_is_a_usage_error() {
    let account = seeded();
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = write_spec(dir.path());
    let out = run(a2i_fix(&account.moto)
        .args(["export", "--format", "pulumi", "--spec"])
        .arg(&spec))
    .expect_code(1);
    assert!(out.stderr.contains("terraform"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------
// Reading the configuration back

/// `$${` is how Terraform spells a literal `${` in a string.
fn unescape(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace("$${", "${").replace("%%{", "%{")),
        Value::Array(a) => Value::Array(a.into_iter().map(unescape).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, unescape(v))).collect()),
        other => other,
    }
}

fn to_json(expr: &Expression) -> Value {
    let value: hcl::Value = expr.clone().into();
    unescape(serde_json::to_value(value).expect("an HCL value as JSON"))
}

fn attr<'a>(block: &'a Block, name: &str) -> Option<&'a Expression> {
    block
        .body
        .attributes()
        .find(|a| a.key.as_str() == name)
        .map(|a| &a.expr)
}

fn string_attr(block: &Block, name: &str) -> String {
    match attr(block, name) {
        Some(Expression::String(s)) => s.clone(),
        other => panic!("`{name}` of {:?} is not a string: {other:?}", block.labels),
    }
}

/// The JSON document in `jsonencode(...)`.
fn jsonencoded(block: &Block, name: &str) -> Value {
    match attr(block, name) {
        Some(Expression::FuncCall(call)) if call.name.name.as_str() == "jsonencode" => {
            assert_eq!(call.args.len(), 1, "{call:?}");
            to_json(&call.args[0])
        }
        other => panic!(
            "`{name}` of {:?} is not jsonencode(...): {other:?}",
            block.labels
        ),
    }
}

/// A string, or a reference `aws_iam_role.ID.name` resolved through the
/// roles declared in the file.
fn role_name(block: &Block, name: &str, roles: &BTreeMap<String, String>) -> String {
    match attr(block, name) {
        Some(Expression::String(s)) => s.clone(),
        Some(Expression::Traversal(t)) => {
            let text = Expression::Traversal(t.clone()).to_string();
            let parts: Vec<&str> = text.split('.').collect();
            assert_eq!(parts.len(), 3, "{text}");
            assert_eq!((parts[0], parts[2]), ("aws_iam_role", "name"), "{text}");
            roles
                .get(parts[1])
                .unwrap_or_else(|| panic!("{text} refers to no declared role"))
                .clone()
        }
        other => panic!("`{name}` of {:?}: {other:?}", block.labels),
    }
}

fn labels(block: &Block) -> (String, String) {
    let l: Vec<String> = block
        .labels
        .iter()
        .map(|l| l.as_str().to_string())
        .collect();
    assert_eq!(l.len(), 2, "{l:?}");
    (l[0].clone(), l[1].clone())
}

/// The CORS rules of the `cors_rule` blocks, as the plan's JSON spells them.
fn cors_document(block: &Block) -> Value {
    let rules: Vec<Value> = block
        .body
        .blocks()
        .filter(|b| b.identifier.as_str() == "cors_rule")
        .map(|rule| {
            let mut map = serde_json::Map::new();
            for (hcl_key, json_key) in [
                ("id", "ID"),
                ("allowed_headers", "AllowedHeaders"),
                ("allowed_methods", "AllowedMethods"),
                ("allowed_origins", "AllowedOrigins"),
                ("expose_headers", "ExposeHeaders"),
                ("max_age_seconds", "MaxAgeSeconds"),
            ] {
                if let Some(e) = attr(rule, hcl_key) {
                    map.insert(json_key.to_string(), to_json(e));
                }
            }
            Value::Object(map)
        })
        .collect();
    serde_json::json!({ "CORSRules": rules })
}

/// The identity of a change's resource, as the file spells it, and the
/// document it must hold.
fn expected(change: &Value) -> (String, String, Value) {
    let target = &change["target"];
    let after: Value =
        serde_json::from_str(change["after"].as_str().expect("after")).expect("after is JSON");
    let s = |k: &str| target[k].as_str().expect(k).to_string();
    match target["type"].as_str().expect("type") {
        "role" => ("aws_iam_role".into(), s("name"), after),
        "trust_policy" => ("aws_iam_role".into(), s("role"), after),
        "inline_policy" => (
            "aws_iam_role_policy".into(),
            format!("{}:{}", s("role"), s("policy_name")),
            after,
        ),
        "key_policy" => ("aws_kms_key_policy".into(), s("key_id"), after),
        "attachment" if s("kind") == "Role" => (
            "aws_iam_role_policy_attachment".into(),
            format!("{}/{}", s("name"), s("policy_arn")),
            after,
        ),
        "attachment" => (
            "aws_iam_user_policy_attachment".into(),
            format!("{}/{}", s("name"), s("policy_arn")),
            after,
        ),
        "bucket_cors" => (
            "aws_s3_bucket_cors_configuration".into(),
            s("bucket"),
            after,
        ),
        other => panic!("unexpected target {other}"),
    }
}

fn check_structure(plan: &Value, text: &str) {
    let body: Body = hcl::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let resources: Vec<&Block> = body
        .blocks()
        .filter(|b| b.identifier.as_str() == "resource")
        .collect();
    let roles: BTreeMap<String, String> = resources
        .iter()
        .filter(|b| labels(b).0 == "aws_iam_role")
        .map(|b| (labels(b).1, string_attr(b, "name")))
        .collect();

    // Each resource: its identity (the provider's import id) and document.
    let mut found: BTreeMap<(String, String), (String, Value)> = BTreeMap::new();
    for block in &resources {
        let (kind, id) = labels(block);
        let (identity, document) = match kind.as_str() {
            "aws_iam_role" => (
                string_attr(block, "name"),
                jsonencoded(block, "assume_role_policy"),
            ),
            "aws_iam_role_policy" => (
                format!(
                    "{}:{}",
                    role_name(block, "role", &roles),
                    string_attr(block, "name")
                ),
                jsonencoded(block, "policy"),
            ),
            "aws_kms_key_policy" => (string_attr(block, "key_id"), jsonencoded(block, "policy")),
            "aws_iam_role_policy_attachment" => {
                let arn = string_attr(block, "policy_arn");
                (
                    format!("{}/{arn}", role_name(block, "role", &roles)),
                    Value::String(arn),
                )
            }
            "aws_iam_user_policy_attachment" => {
                let arn = string_attr(block, "policy_arn");
                (
                    format!("{}/{arn}", string_attr(block, "user")),
                    Value::String(arn),
                )
            }
            "aws_s3_bucket_cors_configuration" => {
                (string_attr(block, "bucket"), cors_document(block))
            }
            other => panic!("unexpected resource type {other}"),
        };
        let previous = found.insert((kind.clone(), identity.clone()), (id, document));
        assert!(previous.is_none(), "two resources for {kind} {identity}");
    }

    let changes = plan["changes"].as_array().expect("changes");
    assert_eq!(
        resources.len(),
        changes.len(),
        "one resource per change:\n{text}"
    );
    let mut must_import = BTreeMap::new();
    for change in changes {
        let (kind, identity, after) = expected(change);
        let (id, document) = found
            .get(&(kind.clone(), identity.clone()))
            .unwrap_or_else(|| panic!("no {kind} for {identity} in\n{text}"));
        assert_eq!(document, &after, "{kind} {identity}");
        if change["action"] == "update" {
            must_import.insert(format!("{kind}.{id}"), identity);
        }
    }

    let imports: BTreeMap<String, String> = body
        .blocks()
        .filter(|b| b.identifier.as_str() == "import")
        .map(|b| {
            let to = attr(b, "to").expect("import.to").to_string();
            (to, string_attr(b, "id"))
        })
        .collect();
    assert_eq!(imports, must_import, "import blocks:\n{text}");
    let kinds: BTreeSet<&str> = found.keys().map(|(k, _)| k.as_str()).collect();
    assert!(!kinds.is_empty());
}
