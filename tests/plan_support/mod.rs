//! Shared by the `plan_*` and `cli_*` integration tests: running the real
//! `a2i-fix` binary against moto server, the account states of issue 3 ("How
//! it is shown to work"), writing a plan's `after` documents through a second
//! SDK client, and reading the whole account back to prove that a command
//! wrote nothing.
//!
//! # Servers
//!
//! `common::Moto::start()` gives every test its own server (~2 s each: moto
//! starts, then loads the AWS-managed policies on the first IAM call). `plan`
//! only reads, so a test that only runs `plan` can share a server with other
//! such tests: [`Account::shared`] starts one server per *kind of state* per
//! test binary, seeds it once, and never writes to it again. Tests that write
//! (the "everything already right" convergence) take a server of their own.
//! A shared server lives in a `static` and is never dropped: the harness's
//! watchdog kills it when the test binary exits.
//!
//! # Runtimes
//!
//! The tests are plain `#[test]`s (the binary is run synchronously); SDK work
//! runs in [`block_on`], on a fresh single-threaded runtime with fresh
//! clients each time, since a client's connection pool must not outlive the
//! runtime it was made in.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::sync::OnceLock;
use std::time::Duration;

use a2i_fix::aws::Clients;
use a2i_fix::policy::CorsConfiguration;
use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

use crate::common::{ACCOUNT_ID, LAMBDA_TRUST, Moto, Seed, root_only_key_policy};

/// The `plans/` examples, by file name. `every_example_in_plans_is_tested`
/// (in `plan_examples.rs`) checks this against the folder.
pub const EXAMPLES: [&str; 6] = [
    "custom-task.toml",
    "kms-output.toml",
    "public-workforce.toml",
    "rekognition.toml",
    "shared-role.toml",
    "textract.toml",
];

pub const INPUT: &str = "acme-a2i-input";
pub const RECEIPTS: &str = "acme-a2i-receipts";
pub const OUTPUT: &str = "acme-a2i-output";
pub const FLOW_ROLE: &str = "A2IFlowRole";
pub const PREVIEW_ROLE: &str = "A2IPreviewRole";
pub const CALLER_ROLE: &str = "ml-app";
pub const CALLER_USER: &str = "invoice-bot";
pub const KEY_ALIAS: &str = "alias/a2i-output";
/// The inline policy a2i-fix owns on each role (see `src/plan.rs`).
pub const OWNED: &str = "a2i-fix-permissions";

pub const FULL_ACCESS: &str = "arn:aws:iam::aws:policy/AmazonAugmentedAIFullAccess";
pub const INTEGRATED_API: &str = "arn:aws:iam::aws:policy/AmazonAugmentedAIIntegratedAPIAccess";
pub const MECHANICAL_TURK: &str = "arn:aws:iam::aws:policy/AmazonSageMakerMechanicalTurkAccess";

/// How long one run of the binary may take before the test fails (a guard
/// against a hang, not a benchmark).
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

pub fn flow_role_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT_ID}:role/{FLOW_ROLE}")
}

/// `plans/NAME` at the repository root.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("plans")
        .join(name)
}

/// Run `future` on a fresh single-threaded runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a tokio runtime")
        .block_on(future)
}

// ---------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------

/// `a2i-fix` with no arguments yet, talking to `moto` and to nothing else
/// (every inherited `AWS_*` variable removed, `NO_COLOR` unset so that tests
/// of colour control it themselves).
pub fn a2i_fix(moto: &Moto) -> assert_cmd::Command {
    let mut cmd = StdCommand::cargo_bin("a2i-fix").expect("the a2i-fix binary is built");
    moto.configure(&mut cmd);
    cmd.env_remove("NO_COLOR");
    let mut cmd = assert_cmd::Command::from_std(cmd);
    cmd.timeout(RUN_TIMEOUT);
    cmd
}

/// `a2i-fix` with no AWS environment at all: only `PATH` and an empty `HOME`.
pub fn a2i_fix_without_aws(home: &Path) -> assert_cmd::Command {
    let mut cmd = StdCommand::cargo_bin("a2i-fix").expect("the a2i-fix binary is built");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .current_dir(home);
    let mut cmd = assert_cmd::Command::from_std(cmd);
    cmd.timeout(RUN_TIMEOUT);
    cmd
}

/// What one run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(cmd: &mut assert_cmd::Command) -> Run {
        let out = cmd.output().expect("running a2i-fix");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics, showing both streams, unless the exit code is `code`.
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit code {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e})\n--- stdout\n{}\n--- stderr\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// `a2i-fix plan --spec SPEC ARGS...`
pub fn plan(moto: &Moto, spec: &Path, args: &[&str]) -> Run {
    let mut cmd = a2i_fix(moto);
    cmd.arg("plan").arg("--spec").arg(spec).args(args);
    Run::of(&mut cmd)
}

/// `a2i-fix plan --json --spec SPEC`, which must succeed.
pub fn plan_json(moto: &Moto, spec: &Path) -> Value {
    plan(moto, spec, &["--json"]).expect_code(0).json()
}

// ---------------------------------------------------------------------------
// Reading a JSON plan
// ---------------------------------------------------------------------------

/// The changes of a JSON plan.
pub fn changes(plan: &Value) -> &Vec<Value> {
    plan["changes"]
        .as_array()
        .unwrap_or_else(|| panic!("no `changes` list in the plan: {plan:#}"))
}

/// `(address, action, requirements)` of every change, in plan order.
pub fn summary_rows(plan: &Value) -> Vec<(String, String, Vec<String>)> {
    changes(plan)
        .iter()
        .map(|c| {
            (
                str_of(&c["address"]),
                str_of(&c["action"]),
                strings(&c["requirements"]),
            )
        })
        .collect()
}

/// The change at `address`, if any.
pub fn change<'a>(plan: &'a Value, address: &str) -> Option<&'a Value> {
    changes(plan).iter().find(|c| c["address"] == address)
}

pub fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, found {v}"))
        .to_string()
}

/// A string or a list of strings, as a list.
pub fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().map(str_of).collect(),
        Value::Null => Vec::new(),
        other => panic!("expected a string or a list, found {other}"),
    }
}

/// The `after` document of a change, parsed.
pub fn after(change: &Value) -> Value {
    let text = str_of(&change["after"]);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("`after` is not JSON ({e}): {text}"))
}

/// Every `(action, resource)` an IAM policy document allows, lower-casing
/// actions (IAM compares them case-insensitively).
pub fn allowed(document: &Value) -> Vec<(String, String)> {
    let statements = match &document["Statement"] {
        Value::Array(list) => list.clone(),
        single => vec![single.clone()],
    };
    let mut pairs = Vec::new();
    for st in statements {
        if st["Effect"] != "Allow" {
            continue;
        }
        for action in strings(&st["Action"]) {
            for resource in strings(&st["Resource"]) {
                pairs.push((action.to_ascii_lowercase(), resource));
            }
        }
    }
    pairs.sort();
    pairs
}

// ---------------------------------------------------------------------------
// Writing a plan's documents through the second client
// ---------------------------------------------------------------------------

/// Write every change's `after` document with the SDK, in plan order, the
/// way the plan's JSON describes it. This stands in for `apply` (built
/// elsewhere) so that "everything already right" is whatever the plan says
/// is right.
pub async fn write_after_documents(seed: &Seed, plan: &Value) {
    for change in changes(plan) {
        let target = &change["target"];
        let address = str_of(&change["address"]);
        let document = str_of(&change["after"]);
        let c = &seed.c;
        match target["type"].as_str() {
            Some("bucket_cors") => {
                let config = CorsConfiguration::parse(&document)
                    .unwrap_or_else(|e| panic!("{address}: `after` is not a CORS document: {e}"));
                seed.put_cors(&str_of(&target["bucket"]), &config.rules)
                    .await;
            }
            Some("role") => {
                seed.role_at(
                    &str_of(&target["path"]),
                    &str_of(&target["name"]),
                    &document,
                )
                .await;
            }
            Some("trust_policy") => {
                c.iam
                    .update_assume_role_policy()
                    .role_name(str_of(&target["role"]))
                    .policy_document(&document)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{address}: UpdateAssumeRolePolicy: {e:?}"));
            }
            Some("inline_policy") => {
                seed.inline_policy(
                    &str_of(&target["role"]),
                    &str_of(&target["policy_name"]),
                    &document,
                )
                .await;
            }
            Some("key_policy") => {
                seed.key_policy(&str_of(&target["key_id"]), &document).await;
            }
            Some("attachment") => {
                let arn: String = serde_json::from_str(&document).unwrap_or_else(|e| {
                    panic!("{address}: `after` of an attachment is not a JSON string ({e})")
                });
                assert_eq!(
                    arn,
                    str_of(&target["policy_arn"]),
                    "{address}: `after` names another policy than the target"
                );
                let name = str_of(&target["name"]);
                match target["kind"].as_str() {
                    Some("Role") => seed.attach_role_policy(&name, &arn).await,
                    Some("User") => seed.attach_user_policy(&name, &arn).await,
                    other => panic!("{address}: unknown principal kind {other:?}"),
                }
            }
            other => panic!("{address}: unknown target type {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Reading the whole account back
// ---------------------------------------------------------------------------

/// Everything a2i-fix could ever write, read back with the second client:
/// every bucket's CORS rules, every role (trust policy, inline policies,
/// attachments), every user's attachments and every key's policy. Two reads
/// that compare equal mean nothing was written in between.
pub async fn read_account(c: &Clients) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();

    let buckets =
        c.s3.list_buckets()
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListBuckets: {e:?}"));
    for bucket in buckets.buckets() {
        let name = bucket.name().unwrap_or_default().to_string();
        let cors = match c.s3.get_bucket_cors().bucket(&name).send().await {
            Ok(o) => format!("{:?}", o.cors_rules()),
            Err(e) => format!("error {:?}", e.as_service_error().map(|s| s.to_string())),
        };
        out.insert(format!("bucket {name} cors"), cors);
    }

    let roles = c
        .iam
        .list_roles()
        .max_items(1000)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListRoles: {e:?}"));
    for role in roles.roles() {
        let name = role.role_name();
        let got = c
            .iam
            .get_role()
            .role_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetRole {name}: {e:?}"));
        let trust = got
            .role()
            .and_then(|r| r.assume_role_policy_document())
            .unwrap_or_default()
            .to_string();
        out.insert(format!("role {name} trust"), trust);
        let inline = c
            .iam
            .list_role_policies()
            .role_name(name)
            .max_items(1000)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListRolePolicies {name}: {e:?}"));
        for policy in inline.policy_names() {
            let doc = c
                .iam
                .get_role_policy()
                .role_name(name)
                .policy_name(policy)
                .send()
                .await
                .unwrap_or_else(|e| panic!("GetRolePolicy {name}/{policy}: {e:?}"));
            out.insert(
                format!("role {name} inline {policy}"),
                doc.policy_document().to_string(),
            );
        }
        let attached = c
            .iam
            .list_attached_role_policies()
            .role_name(name)
            .max_items(1000)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListAttachedRolePolicies {name}: {e:?}"));
        out.insert(
            format!("role {name} attached"),
            format!("{:?}", attached.attached_policies()),
        );
    }

    let users = c
        .iam
        .list_users()
        .max_items(1000)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListUsers: {e:?}"));
    for user in users.users() {
        let name = user.user_name();
        let attached = c
            .iam
            .list_attached_user_policies()
            .user_name(name)
            .max_items(1000)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListAttachedUserPolicies {name}: {e:?}"));
        out.insert(
            format!("user {name} attached"),
            format!("{:?}", attached.attached_policies()),
        );
    }

    let keys = c
        .kms
        .list_keys()
        .limit(1000)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListKeys: {e:?}"));
    for key in keys.keys() {
        let id = key.key_id().unwrap_or_default();
        let policy = c
            .kms
            .get_key_policy()
            .key_id(id)
            .policy_name("default")
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetKeyPolicy {id}: {e:?}"));
        out.insert(
            format!("key {id} policy"),
            policy.policy().unwrap_or_default().to_string(),
        );
    }
    out
}

/// [`read_account`] on fresh clients of `moto`.
pub fn account_contents(moto: &Moto) -> BTreeMap<String, String> {
    block_on(async {
        let seed = moto.seed().await;
        read_account(&seed.c).await
    })
}

// ---------------------------------------------------------------------------
// Account states (issue 3, "How it is shown to work")
// ---------------------------------------------------------------------------

/// A seeded moto server; `key_id` is what the seed function returned (the
/// id of the key behind `alias/a2i-output` for the states below).
pub struct Account {
    pub moto: Moto,
    pub key_id: String,
    /// The account as seeded ([`read_account`]), for shared accounts.
    baseline: Option<BTreeMap<String, String>>,
}

impl Account {
    /// Start a server of this test's own and seed it.
    pub fn start<F, Fut>(seed: F) -> Account
    where
        F: FnOnce(Seed) -> Fut,
        Fut: Future<Output = String>,
    {
        let moto = Moto::start();
        let key_id = block_on(async {
            let s = moto.seed().await;
            seed(s).await
        });
        Account {
            moto,
            key_id,
            baseline: None,
        }
    }

    /// The server of `cell`, started and seeded by the first test that asks.
    pub fn shared<F, Fut>(cell: &'static OnceLock<Account>, seed: F) -> &'static Account
    where
        F: FnOnce(Seed) -> Fut,
        Fut: Future<Output = String>,
    {
        cell.get_or_init(|| {
            let mut account = Account::start(seed);
            let baseline = account_contents(&account.moto);
            account.baseline = Some(baseline);
            account
        })
    }

    /// Panic unless a shared account still holds exactly what it was seeded
    /// with. Nothing writes to a shared account after seeding, so any
    /// difference was written by the command under test (whichever test ran
    /// it: tests run concurrently, and a write by one fails the others too).
    pub fn assert_unchanged(&self, what: &str) {
        let baseline = self
            .baseline
            .as_ref()
            .unwrap_or_else(|| panic!("`assert_unchanged` on an account that is not shared"));
        assert!(
            baseline.contains_key(&format!("key {} policy", self.key_id)),
            "the account reader missed the seeded key: {baseline:#?}"
        );
        let now = account_contents(&self.moto);
        if &now != baseline {
            let changed: Vec<&String> = now
                .keys()
                .chain(baseline.keys())
                .filter(|k| now.get(*k) != baseline.get(*k))
                .collect();
            panic!("{what} changed the account: {changed:?}");
        }
    }

    pub fn key_policy_address(&self) -> String {
        format!("aws_kms_key_policy.{}", self.key_id)
    }
}

/// (a) "Nothing set up": the buckets, the callers, the preview role (trusting
/// only Lambda) and the key (root-only policy) exist, with no permission for
/// A2I anywhere; the flow role does not exist. Returns the key id.
pub async fn seed_nothing(s: &Seed) -> String {
    for bucket in [INPUT, RECEIPTS, OUTPUT] {
        s.bucket(bucket).await;
    }
    s.role(PREVIEW_ROLE, LAMBDA_TRUST).await;
    s.role(CALLER_ROLE, LAMBDA_TRUST).await;
    s.user(CALLER_USER).await;
    let (key_id, _) = s.key(Some(&root_only_key_policy())).await;
    s.alias(KEY_ALIAS, &key_id).await;
    key_id
}

pub fn nothing_set_up() -> &'static Account {
    static CELL: OnceLock<Account> = OnceLock::new();
    Account::shared(&CELL, |s| async move { seed_nothing(&s).await })
}

/// The output prefixes (under `acme-a2i-output/`) of all the examples.
pub const ALL_OUTPUT_PREFIXES: [&str; 8] = [
    "claims",
    "id-checks",
    "invoices",
    "moderation",
    "receipts",
    "reviews",
    "sentiment",
    "textract",
];

/// Attach what every example's callers need (R6, R7, R8).
pub async fn attach_all_caller_policies(s: &Seed) {
    for arn in [FULL_ACCESS, INTEGRATED_API, MECHANICAL_TURK] {
        s.attach_role_policy(CALLER_ROLE, arn).await;
    }
    s.attach_user_policy(CALLER_USER, INTEGRATED_API).await;
}

pub async fn update_trust(s: &Seed, role: &str, document: &str) {
    s.c.iam
        .update_assume_role_policy()
        .role_name(role)
        .policy_document(document)
        .send()
        .await
        .unwrap_or_else(|e| panic!("update trust policy of {role}: {e:?}"));
}
