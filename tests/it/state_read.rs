//! `state::read_state`, `read_current` and `current_from_state` against moto
//! server, with a second client set doing the seeding.

use std::collections::BTreeMap;

use crate::support::{
    ACCOUNT_ID, LAMBDA_TRUST, Moto, SAGEMAKER_TRUST, cors_rule, root_only_key_policy,
};
use a2i_fix::model::PrincipalKind;
use a2i_fix::model::Target;
use a2i_fix::requirements::{Because, CallerNeeds, KeyNeeds, Needs, POLICY_FULL_ACCESS, RoleNeeds};
use a2i_fix::state::{self, StateError};
use serde_json::Value;

fn because(requirement: &'static str) -> Vec<Because> {
    vec![Because {
        requirement,
        by: "flow definition test".into(),
    }]
}

fn input(needs: &mut Needs, bucket: &str) {
    needs.cors.insert(bucket.into(), because("R1"));
}

fn output(needs: &mut Needs, bucket: &str) {
    needs.output_buckets.insert(bucket.into());
}

fn flow_role(needs: &mut Needs, name: &str, input_bucket: &str, output_bucket: &str) {
    let role = RoleNeeds {
        name: name.into(),
        path: "/".into(),
        trust: because("R4"),
        read: BTreeMap::from([(format!("arn:aws:s3:::{input_bucket}/*"), because("R2"))]),
        write: BTreeMap::from([(format!("arn:aws:s3:::{output_bucket}/*"), because("R3"))]),
        create_if_missing: true,
        path_given: false,
    };
    needs.roles.insert(name.into(), role);
}

fn key(needs: &mut Needs, key_ref: &str, role: &str) {
    let key = KeyNeeds {
        key_ref: key_ref.into(),
        roles: BTreeMap::from([(role.to_string(), because("R5"))]),
    };
    needs.keys.insert(key_ref.into(), key);
}

fn caller(needs: &mut Needs, kind: PrincipalKind, name: &str) {
    let arn = match kind {
        PrincipalKind::Role => format!("arn:aws:iam::{ACCOUNT_ID}:role/{name}"),
        PrincipalKind::User => format!("arn:aws:iam::{ACCOUNT_ID}:user/{name}"),
    };
    let policies = BTreeMap::from([(POLICY_FULL_ACCESS.to_string(), because("R6"))]);
    needs.callers.insert(
        arn.clone(),
        CallerNeeds {
            arn,
            kind,
            name: name.into(),
            policies,
        },
    );
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn calls(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

const INLINE_S3: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"ReadInput","Effect":"Allow","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::acme-a2i-input/*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"a b+c%d"}}}]}"#;
const MANAGED_S3: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::acme-a2i-output/*"}]}"#;

#[tokio::test]
async fn seeded_account_is_read_with_url_decoded_documents() {
    let moto = Moto::start();
    let seed = moto.seed().await;
    let unrelated = cors_rule(&["PUT"], &["https://app.example.com"]);
    seed.bucket_with_cors("acme-a2i-input", std::slice::from_ref(&unrelated))
        .await;
    seed.bucket("acme-a2i-output").await;
    let role_arn = seed.role("A2IFlowRole", LAMBDA_TRUST).await;
    seed.inline_policy("A2IFlowRole", "existing-s3", INLINE_S3)
        .await;
    let managed_arn = seed.managed_policy("OutputWriter", MANAGED_S3).await;
    seed.attach_role_policy("A2IFlowRole", &managed_arn).await;
    let (key_id, key_arn) = seed.key(Some(&root_only_key_policy())).await;
    seed.alias("alias/a2i-output", &key_id).await;
    seed.role("ml-app", LAMBDA_TRUST).await;
    seed.attach_role_policy("ml-app", POLICY_FULL_ACCESS).await;

    let mut needs = Needs::default();
    input(&mut needs, "acme-a2i-input");
    output(&mut needs, "acme-a2i-output");
    flow_role(
        &mut needs,
        "A2IFlowRole",
        "acme-a2i-input",
        "acme-a2i-output",
    );
    key(&mut needs, "alias/a2i-output", "A2IFlowRole");
    caller(&mut needs, PrincipalKind::Role, "ml-app");

    let clients = moto.clients().await;
    let state = state::read_state(&clients, &needs)
        .await
        .expect("read_state");

    assert_eq!(state.account_id, ACCOUNT_ID);
    assert_eq!(state.region, "us-east-1");
    assert!(
        state.caller_arn.starts_with("arn:aws:") && state.caller_arn.contains(ACCOUNT_ID),
        "caller arn: {}",
        state.caller_arn
    );

    let input = &state.buckets["acme-a2i-input"];
    assert_eq!(
        input.cors.as_ref().map(|c| c.rules.clone()),
        Some(vec![unrelated])
    );
    assert!(state.buckets.contains_key("acme-a2i-output"));
    assert_eq!(
        state.buckets["acme-a2i-output"].cors, None,
        "output buckets' CORS is not read"
    );

    let role = state.roles["A2IFlowRole"].as_ref().expect("role exists");
    assert_eq!(role.arn, role_arn);
    assert_eq!(role.path, "/");
    assert_eq!(json(&role.trust_policy), json(LAMBDA_TRUST));
    assert_eq!(role.inline_policies.len(), 1);
    assert_eq!(role.inline_policies[0].0, "existing-s3");
    // Decoded, including the `%` and `+` inside the condition value.
    assert_eq!(json(&role.inline_policies[0].1), json(INLINE_S3));
    assert_eq!(
        role.attached_policies
            .iter()
            .map(|p| p.arn.as_str())
            .collect::<Vec<_>>(),
        vec![managed_arn.as_str()]
    );
    assert_eq!(role.permissions_boundary, None);

    let managed = &state.managed_policies[&managed_arn];
    assert_eq!(managed.version_id, "v1");
    assert_eq!(json(&managed.document), json(MANAGED_S3));

    let key = &state.keys["alias/a2i-output"];
    assert_eq!(key.key_ref, "alias/a2i-output");
    assert_eq!(key.key_id, key_id, "the alias resolves to the key id");
    assert_eq!(key.arn, key_arn);
    assert!(!key.aws_managed);
    assert_eq!(key.key_state, "Enabled");
    assert_eq!(json(&key.policy), json(&root_only_key_policy()));

    let caller_arn = format!("arn:aws:iam::{ACCOUNT_ID}:role/ml-app");
    let caller = &state.callers[&caller_arn];
    assert_eq!(caller.kind, PrincipalKind::Role);
    assert_eq!(caller.name, "ml-app");
    assert!(
        caller
            .attached_policies
            .iter()
            .any(|p| p.arn == POLICY_FULL_ACCESS)
    );
}

#[tokio::test]
async fn exactly_the_needed_calls_are_made_each_once() {
    let moto = Moto::start();
    let seed = moto.seed().await;
    // `shared` is both an input and an output bucket: GetBucketEncryption once.
    seed.bucket("input-a").await;
    seed.bucket("input-b").await;
    seed.bucket("shared").await;
    seed.bucket("out-only").await;
    let managed_arn = seed.managed_policy("SharedGrant", MANAGED_S3).await;
    for role in ["RoleA", "RoleB"] {
        seed.role(role, SAGEMAKER_TRUST).await;
        seed.inline_policy(role, "one", INLINE_S3).await;
        seed.inline_policy(role, "two", MANAGED_S3).await;
        seed.attach_role_policy(role, &managed_arn).await;
    }
    let (key_id, _) = seed.key(None).await;
    seed.alias("alias/out", &key_id).await;
    seed.user("alice").await;
    seed.role("ml-app", LAMBDA_TRUST).await;

    let mut needs = Needs::default();
    input(&mut needs, "input-a");
    input(&mut needs, "input-b");
    input(&mut needs, "shared");
    output(&mut needs, "shared");
    output(&mut needs, "out-only");
    flow_role(&mut needs, "RoleA", "input-a", "shared");
    flow_role(&mut needs, "RoleB", "input-b", "out-only");
    flow_role(&mut needs, "MissingRole", "input-b", "out-only");
    // Two refs to the same key: DescribeKey per ref, GetKeyPolicy per key.
    key(&mut needs, "alias/out", "RoleA");
    key(&mut needs, &key_id, "RoleB");
    caller(&mut needs, PrincipalKind::User, "alice");
    caller(&mut needs, PrincipalKind::Role, "ml-app");
    // A caller that is also a flow role: its attachments are not listed twice.
    caller(&mut needs, PrincipalKind::Role, "RoleA");

    let clients = moto.clients().await;
    let state = state::read_state(&clients, &needs)
        .await
        .expect("read_state");

    // The callers lack the managed policy they need: their own policies
    // (alice: ListUserPolicies; ml-app: ListRolePolicies; RoleA: read as a
    // flow role already) and the needed policy's document are read. The
    // tags that tell who manages what may change: caller role ml-app's
    // (GetRole; RoleA's come with its read as a flow role), each input
    // bucket's, the one key's. MissingRole's two listings go out with its
    // GetRole, before it is known to be missing.
    let expected = calls(&[
        ("iam:GetPolicy", 2),
        ("iam:GetPolicyVersion", 2),
        ("iam:GetRole", 4),
        ("iam:GetRolePolicy", 4),
        ("iam:ListAttachedRolePolicies", 4),
        ("iam:ListAttachedUserPolicies", 1),
        ("iam:ListRolePolicies", 4),
        ("iam:ListUserPolicies", 1),
        ("kms:DescribeKey", 2),
        ("kms:GetKeyPolicy", 1),
        ("kms:ListResourceTags", 1),
        ("s3:GetBucketCors", 3),
        ("s3:GetBucketEncryption", 4),
        ("s3:GetBucketPolicy", 4),
        ("s3:GetBucketTagging", 3),
        ("sts:GetCallerIdentity", 1),
    ]);
    assert_eq!(state.api_calls, expected);
    assert_eq!(
        clients.counter.snapshot(),
        expected,
        "nothing counted after the snapshot"
    );

    // RoleA's attached policy, and the FullAccess policy the callers lack.
    assert_eq!(state.managed_policies.len(), 2);
    assert_eq!(state.keys["alias/out"].policy, state.keys[&key_id].policy);
    assert_eq!(state.keys["alias/out"].key_id, key_id);
    let role_a = state.roles["RoleA"].as_ref().expect("RoleA exists");
    let caller_a = &state.callers[&format!("arn:aws:iam::{ACCOUNT_ID}:role/RoleA")];
    assert_eq!(caller_a.attached_policies, role_a.attached_policies);
    assert_eq!(state.callers.len(), 3);
}

#[tokio::test]
async fn bucket_without_cors_and_missing_role_read_as_none() {
    let moto = Moto::start();
    let seed = moto.seed().await;
    seed.bucket("no-cors").await;
    seed.bucket("output-bucket").await;

    let mut needs = Needs::default();
    input(&mut needs, "no-cors");
    output(&mut needs, "output-bucket");
    flow_role(&mut needs, "NotThereYet", "no-cors", "output-bucket");

    let clients = moto.clients().await;
    let state = state::read_state(&clients, &needs)
        .await
        .expect("read_state");
    assert_eq!(state.buckets["no-cors"].cors, None);
    assert_eq!(state.roles.get("NotThereYet"), Some(&None));
    // A missing role: GetRole and the two listings sent with it (each
    // answers NoSuchEntity), nothing else about it.
    assert_eq!(state.api_calls.get("iam:GetRole"), Some(&1));
    assert_eq!(state.api_calls.get("iam:ListRolePolicies"), Some(&1));
    assert_eq!(
        state.api_calls.get("iam:ListAttachedRolePolicies"),
        Some(&1)
    );
    assert_eq!(state.api_calls.get("iam:GetRolePolicy"), None);
}

#[tokio::test]
async fn bucket_encryption_is_read_for_warnings() {
    let moto = Moto::start();
    let seed = moto.seed().await;
    seed.bucket("input-bucket").await;
    seed.bucket("output-bucket").await;
    let (key_id, _) = seed.key(None).await;
    seed.bucket_kms_encryption("output-bucket", &key_id).await;

    let mut needs = Needs::default();
    input(&mut needs, "input-bucket");
    output(&mut needs, "output-bucket");
    let state = state::read_state(&moto.clients().await, &needs)
        .await
        .expect("read_state");
    let encryption = state.buckets["output-bucket"]
        .encryption
        .as_ref()
        .expect("SSE-KMS configured");
    assert_eq!(encryption.algorithm, "aws:kms");
    assert_eq!(encryption.kms_key_id.as_deref(), Some(key_id.as_str()));
}

async fn read_error(moto: &Moto, needs: &Needs) -> StateError {
    match state::read_state(&moto.clients().await, needs).await {
        Ok(state) => panic!("expected an error, read {state:?}"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn missing_buckets_keys_and_callers_are_errors_naming_them() {
    let moto = Moto::start();
    let seed = moto.seed().await;
    seed.bucket("present").await;

    let mut needs = Needs::default();
    input(&mut needs, "no-such-input");
    let error = read_error(&moto, &needs).await;
    assert_eq!(
        error,
        StateError::BucketNotFound {
            bucket: "no-such-input".into()
        }
    );
    assert!(error.to_string().contains("`no-such-input`"), "{error}");

    let mut needs = Needs::default();
    output(&mut needs, "no-such-output");
    assert_eq!(
        read_error(&moto, &needs).await,
        StateError::BucketNotFound {
            bucket: "no-such-output".into()
        }
    );

    let mut needs = Needs::default();
    key(&mut needs, "alias/nope", "SomeRole");
    let error = read_error(&moto, &needs).await;
    assert!(
        matches!(&error, StateError::KeyNotFound { key_ref, .. } if key_ref == "alias/nope"),
        "{error:?}"
    );
    assert!(error.to_string().contains("`alias/nope`"), "{error}");

    let mut needs = Needs::default();
    caller(&mut needs, PrincipalKind::User, "ghost");
    let error = read_error(&moto, &needs).await;
    let arn = format!("arn:aws:iam::{ACCOUNT_ID}:user/ghost");
    assert_eq!(error, StateError::CallerNotFound { arn: arn.clone() });
    assert!(error.to_string().contains(&format!("`{arn}`")), "{error}");

    let mut needs = Needs::default();
    caller(&mut needs, PrincipalKind::Role, "ghost-role");
    assert!(matches!(
        read_error(&moto, &needs).await,
        StateError::CallerNotFound { .. }
    ));

    // A caller that is also a missing flow role (which the plan creates)
    // starts with nothing attached; a missing preview role stays an error.
    let mut needs = Needs::default();
    flow_role(&mut needs, "ghost-role", "present", "present");
    caller(&mut needs, PrincipalKind::Role, "ghost-role");
    let state = state::read_state(&moto.clients().await, &needs)
        .await
        .expect("a missing flow role that is also a caller is planned, not an error");
    let arn = format!("arn:aws:iam::{ACCOUNT_ID}:role/ghost-role");
    assert_eq!(state.callers[&arn].attached_policies, vec![]);
    needs.roles.get_mut("ghost-role").unwrap().create_if_missing = false;
    assert!(matches!(
        read_error(&moto, &needs).await,
        StateError::CallerNotFound { .. }
    ));
}

#[tokio::test]
async fn read_current_returns_what_current_from_state_returns() {
    let moto = Moto::start();
    let seed = moto.seed().await;
    seed.bucket_with_cors(
        "input-bucket",
        &[
            cors_rule(&["GET"], &["*"]),
            cors_rule(&["PUT", "POST"], &["https://x.example"]),
        ],
    )
    .await;
    seed.bucket("bare").await;
    seed.role("Flow", LAMBDA_TRUST).await;
    seed.inline_policy("Flow", "existing", INLINE_S3).await;
    let (key_id, key_arn) = seed.key(Some(&root_only_key_policy())).await;
    seed.user("alice").await;
    seed.attach_user_policy("alice", POLICY_FULL_ACCESS).await;

    let mut needs = Needs::default();
    input(&mut needs, "input-bucket");
    input(&mut needs, "bare");
    flow_role(&mut needs, "Flow", "input-bucket", "bare");
    flow_role(&mut needs, "Absent", "input-bucket", "bare");
    key(&mut needs, &key_arn, "Flow");
    caller(&mut needs, PrincipalKind::User, "alice");
    let clients = moto.clients().await;
    let state = state::read_state(&clients, &needs)
        .await
        .expect("read_state");

    let attachment = |policy: &str| Target::Attachment {
        kind: PrincipalKind::User,
        name: "alice".into(),
        policy_arn: policy.into(),
    };
    let cases: Vec<(Target, bool)> = vec![
        (
            Target::BucketCors {
                bucket: "input-bucket".into(),
            },
            true,
        ),
        (
            Target::BucketCors {
                bucket: "bare".into(),
            },
            false,
        ),
        (
            Target::Role {
                name: "Flow".into(),
                path: "/".into(),
            },
            true,
        ),
        (
            Target::Role {
                name: "Absent".into(),
                path: "/".into(),
            },
            false,
        ),
        (
            Target::TrustPolicy {
                role: "Flow".into(),
            },
            true,
        ),
        (
            Target::InlinePolicy {
                role: "Flow".into(),
                policy_name: "existing".into(),
            },
            true,
        ),
        (
            Target::InlinePolicy {
                role: "Flow".into(),
                policy_name: "a2i-fix-permissions".into(),
            },
            false,
        ),
        (
            Target::InlinePolicy {
                role: "Absent".into(),
                policy_name: "a2i-fix-permissions".into(),
            },
            false,
        ),
        (
            Target::KeyPolicy {
                key_id: key_id.clone(),
                key_arn: key_arn.clone(),
            },
            true,
        ),
        (attachment(POLICY_FULL_ACCESS), true),
        (
            attachment(a2i_fix::requirements::POLICY_INTEGRATED_API),
            false,
        ),
    ];
    for (target, present) in cases {
        let from_state = state::current_from_state(&state, &target);
        let reread = state::read_current(&clients, &target)
            .await
            .expect("read_current");
        assert_eq!(reread, from_state, "{target:?}");
        assert_eq!(reread.is_some(), present, "{target:?}: {reread:?}");
    }
    assert_eq!(
        state::current_from_state(&state, &attachment(POLICY_FULL_ACCESS)).as_deref(),
        Some(POLICY_FULL_ACCESS)
    );
    let cors = state::current_from_state(
        &state,
        &Target::BucketCors {
            bucket: "input-bucket".into(),
        },
    )
    .expect("CORS");
    assert_eq!(
        json(&cors),
        json(
            r#"{"CORSRules":[{"AllowedMethods":["GET"],"AllowedOrigins":["*"]},{"AllowedMethods":["PUT","POST"],"AllowedOrigins":["https://x.example"]}]}"#
        )
    );
}

#[tokio::test]
async fn read_current_sees_a_change_made_after_the_read() {
    let moto = Moto::start();
    let seed = moto.seed().await;
    seed.role("Flow", LAMBDA_TRUST).await;
    let mut needs = Needs::default();
    flow_role(&mut needs, "Flow", "input-bucket", "output-bucket");
    let clients = moto.clients().await;
    let state = state::read_state(&clients, &needs)
        .await
        .expect("read_state");
    let target = Target::TrustPolicy {
        role: "Flow".into(),
    };

    seed.c
        .iam
        .update_assume_role_policy()
        .role_name("Flow")
        .policy_document(SAGEMAKER_TRUST)
        .send()
        .await
        .expect("update trust policy");
    let before = state::current_from_state(&state, &target);
    let now = state::read_current(&clients, &target)
        .await
        .expect("read_current");
    assert_ne!(now, before);
    assert_eq!(now.as_deref().map(json), Some(json(SAGEMAKER_TRUST)));
}
