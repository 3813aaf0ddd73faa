//! What the integration tests share: the names and documents of the test
//! accounts, a moto server per test ([`moto`]), seeding an account through a
//! second SDK client ([`seed`]), reading the whole account back through that
//! client ([`account`]), running the real binary ([`cli`]), reading its JSON
//! plans ([`plan_json`]), servers shared by read-only tests ([`shared`]), the
//! harness of the `apply::execute` tests ([`apply`]), and stand-ins for
//! AWS that moto cannot play ([`proxy`], [`losing_proxy`], [`fake_kms`]).
//!
//! Every test file does `use crate::support::*;` (and `support::apply::*` or
//! `support::plan_json::*` for those harnesses), so every name here is
//! unique across the support module.

#![allow(dead_code)]

pub mod account;
pub mod apply;
pub mod cli;
pub mod fake_kms;
pub mod fake_sagemaker;
pub mod fault_proxy;
pub mod losing_proxy;
pub mod moto;
pub mod plan_json;
pub mod proxy;
pub mod seed;
pub mod shared;

use std::future::Future;
use std::path::{Path, PathBuf};

pub use account::{
    Account, Doc, assert_identical, assert_kept, assert_untouched, assert_written, key_of,
};
pub use cli::{
    Output, a2i_fix, a2i_fix_in, a2i_fix_without_aws, plan, plan_json, plan_summary, run,
    run_with_stdin, run_within,
};
pub use moto::{Moto, clients_for, free_port};
pub use proxy::HoldingProxy;
pub use seed::{
    Seed, attach_all_caller_policies, cors_rule, root_only_key_policy, seed_broken_account,
    seed_nothing, update_trust,
};
pub use shared::{SeededServer, nothing_set_up};

// ---------------------------------------------------------------------------
// The account every test runs against.

/// moto's fixed account id.
pub const ACCOUNT_ID: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY_ID: &str = "testing";
pub const SECRET_ACCESS_KEY: &str = "testing";

/// The names of `plans/README.md`, which every `plans/` example uses.
pub const INPUT: &str = "acme-a2i-input";
pub const RECEIPTS: &str = "acme-a2i-receipts";
pub const OUTPUT: &str = "acme-a2i-output";
pub const FLOW_ROLE: &str = "A2IFlowRole";
pub const PREVIEW_ROLE: &str = "A2IPreviewRole";
pub const CALLER_ROLE: &str = "ml-app";
pub const CALLER_USER: &str = "invoice-bot";
pub const KEY_ALIAS: &str = "alias/a2i-output";

/// The inline policy a2i-fix owns on each role, spelled out here so that a
/// rename in the library shows up as a failing test.
pub const OWNED: &str = "a2i-fix-permissions";

pub const FULL_ACCESS: &str = "arn:aws:iam::aws:policy/AmazonAugmentedAIFullAccess";
pub const INTEGRATED_API: &str = "arn:aws:iam::aws:policy/AmazonAugmentedAIIntegratedAPIAccess";
pub const MECHANICAL_TURK: &str = "arn:aws:iam::aws:policy/AmazonSageMakerMechanicalTurkAccess";
pub const S3_READ_ONLY: &str = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess";

/// A trust policy that trusts only Lambda.
pub const LAMBDA_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
/// The trust policy A2I needs (R4 in `docs/requirements.md`).
pub const SAGEMAKER_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"AllowSageMakerToAssumeRole","Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

pub fn flow_role_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT_ID}:role/{FLOW_ROLE}")
}

// ---------------------------------------------------------------------------
// The `plans/` examples.

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

/// `plans/` at the repository root.
pub fn plans_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("plans")
}

/// `plans/NAME` at the repository root.
pub fn example(name: &str) -> PathBuf {
    plans_dir().join(name)
}

/// `tests/it/fixtures/NAME`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/fixtures")
        .join(name)
}

// ---------------------------------------------------------------------------
// Small helpers.

/// Run `future` on a fresh single-threaded runtime. Plain `#[test]`s use it
/// for SDK work; it makes fresh clients each time, since a client's
/// connection pool must not outlive the runtime it was made in.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a tokio runtime")
        .block_on(future)
}

/// The files in `dir` (journals), sorted; none when it does not exist.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    // The lock file a writing run keeps in its backup directory is not one
    // of the files it leaves (journals).
    let mut v: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name() != Some(std::ffi::OsStr::new(a2i_fix::commands::LOCK_FILE_NAME)))
        .collect();
    v.sort();
    v
}

/// Parse JSON text for comparisons in tests.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// `value` as pretty JSON text.
pub fn pretty(v: serde_json::Value) -> String {
    serde_json::to_string_pretty(&v).unwrap_or_default()
}
