//! The whole pipeline on every `plans/` example, from a realistically broken
//! account: plan, apply, plan again (empty), then roll back to the starting
//! state document by document. Uses the shared moto harness (`support::moto`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use crate::support::{LAMBDA_TRUST, Moto, cors_rule};
use a2i_fix::apply::{self, ApplyOptions, rollback};
use a2i_fix::aws::Clients;
use a2i_fix::model::{self, Action, PrincipalKind, Target};
use a2i_fix::plan::{self, Plan};
use a2i_fix::spec::{self, Spec};
use a2i_fix::{requirements, state};

/// Create what the spec names, broken the usual ways: an unrelated CORS
/// rule on each input bucket, roles that trust only Lambda (the flow role
/// left out when `create_flow_role` so that the plan creates it), keys
/// whose policy has only moto's default root statement, callers without
/// A2I's managed policies.
async fn seed_broken(moto: &Moto, spec: &Spec, create_flow_role: bool) {
    let seed = moto.seed().await;
    let mut buckets = BTreeSet::new();
    let mut roles = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for fd in &spec.flow_definitions {
        for b in &fd.input_buckets {
            if buckets.insert(b.clone()) {
                seed.bucket_with_cors(b, &[cors_rule(&["PUT"], &["https://app.example.com"])])
                    .await;
            }
        }
        if buckets.insert(fd.output.bucket.clone()) {
            seed.bucket(&fd.output.bucket).await;
        }
        if create_flow_role && roles.insert(fd.role.name.clone()) {
            seed.role_at(&fd.role.path, &fd.role.name, LAMBDA_TRUST)
                .await;
        }
        if let Some(k) = &fd.kms_key
            && keys.insert(k.clone())
        {
            let (key_id, _) = seed.key(None).await;
            if k.starts_with("alias/") {
                seed.alias(k, &key_id).await;
            }
        }
    }
    for tp in &spec.template_previews {
        for b in &tp.input_buckets {
            if buckets.insert(b.clone()) {
                seed.bucket_with_cors(b, &[cors_rule(&["PUT"], &["https://app.example.com"])])
                    .await;
            }
        }
        if roles.insert(tp.role.name.clone()) {
            seed.role_at(&tp.role.path, &tp.role.name, LAMBDA_TRUST)
                .await;
        }
    }
    for c in &spec.human_loop_callers {
        match c.kind {
            PrincipalKind::Role => {
                if roles.insert(c.name.clone()) {
                    seed.role(&c.name, LAMBDA_TRUST).await;
                }
            }
            PrincipalKind::User => {
                seed.user(&c.name).await;
            }
        }
    }
}

async fn plan_for(clients: &Clients, spec: &Spec) -> Plan {
    let needs = requirements::derive(spec);
    let state = state::read_state(clients, &needs)
        .await
        .expect("reading the account");
    plan::build_plan(&needs, &state, &spec.hash).expect("building the plan")
}

/// The current text of every target, read through a fresh client.
async fn documents(moto: &Moto, targets: &[Target]) -> BTreeMap<String, Option<String>> {
    let clients = moto.clients().await;
    let mut m = BTreeMap::new();
    for t in targets {
        let text = state::read_current(&clients, t)
            .await
            .expect("reading a target");
        m.insert(model::address(t), text);
    }
    m
}

async fn converges(example: &str, create_flow_role: bool) {
    let moto = Moto::start();
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("plans")
        .join(example);
    let spec = spec::load(&file).expect("the example parses");
    seed_broken(&moto, &spec, create_flow_role).await;
    let clients = moto.clients().await;
    let identity = apply::identify(&clients).await.expect("identity");

    let plan = plan_for(&clients, &spec).await;
    assert!(
        !plan.changes.is_empty(),
        "{example}: a broken account needs changes"
    );
    let targets: Vec<Target> = plan.changes.iter().map(|c| c.target.clone()).collect();
    let start = documents(&moto, &targets).await;

    let dir = tempfile::tempdir().unwrap();
    let mut options = ApplyOptions::new(identity.clone());
    options.backup_dir = dir.path().to_path_buf();
    options.expected_account_id = spec.account_id.clone();
    options.kms_retry_budget = Duration::ZERO;
    options.verify_timeout = Duration::from_secs(5);
    let report = apply::execute(&clients, &plan, &options)
        .await
        .unwrap_or_else(|e| panic!("{example}: {e}"));
    assert!(report.is_success(), "{example}: {report}");

    // A second plan is empty.
    let again = plan_for(&moto.clients().await, &spec).await;
    assert!(
        again.changes.is_empty(),
        "{example}: still to change: {:?}",
        again.changes
    );

    // What was there before is still there: the unrelated CORS rule.
    for fd in &spec.flow_definitions {
        for b in &fd.input_buckets {
            let text = state::read_current(&clients, &Target::BucketCors { bucket: b.clone() })
                .await
                .unwrap()
                .unwrap_or_default();
            assert!(
                text.contains("https://app.example.com"),
                "{example}: {b}: {text}"
            );
        }
    }

    // Rollback puts every document back exactly.
    let journal = report.journal.clone().expect("a journal");
    let back = rollback::plan_from_journal(&journal, &clients, &identity)
        .await
        .expect("rollback plan");
    assert_eq!(back.changes.len(), plan.changes.len(), "{example}");
    for c in &back.changes {
        let forward = plan
            .changes
            .iter()
            .find(|f| f.target == c.target)
            .expect("same target");
        let expected = if forward.action == Action::Create {
            Action::Delete
        } else {
            Action::Update
        };
        assert_eq!(c.action, expected, "{example}: {}", c.address);
    }
    let out = tempfile::tempdir().unwrap();
    options.backup_dir = out.path().to_path_buf();
    options.expected_account_id = None;
    let r = apply::execute(&clients, &back, &options)
        .await
        .unwrap_or_else(|e| panic!("{example}: {e}"));
    assert!(r.is_success(), "{example}: {r}");
    assert_eq!(documents(&moto, &targets).await, start, "{example}");
}

#[tokio::test]
async fn custom_task_with_a_missing_flow_role_converges_and_rolls_back() {
    converges("custom-task.toml", false).await;
}

#[tokio::test]
async fn kms_output_converges_and_rolls_back() {
    converges("kms-output.toml", true).await;
}

#[tokio::test]
async fn public_workforce_converges_and_rolls_back() {
    converges("public-workforce.toml", true).await;
}

#[tokio::test]
async fn rekognition_converges_and_rolls_back() {
    converges("rekognition.toml", true).await;
}

#[tokio::test]
async fn shared_role_converges_and_rolls_back() {
    converges("shared-role.toml", true).await;
}

#[tokio::test]
async fn textract_converges_and_rolls_back() {
    converges("textract.toml", true).await;
}
