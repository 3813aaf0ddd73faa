//! The bulk IAM read (GetAccountAuthorizationDetails) against moto: it
//! stores the same state as the per-role reads, document text byte for
//! byte, so a fingerprint taken from it matches a per-resource re-read.

use std::collections::BTreeMap;

use a2i_fix::aws::{Clients, IamReads};
use a2i_fix::model::{PrincipalKind, Target};
use a2i_fix::requirements::{
    Because, CallerNeeds, Needs, POLICY_FULL_ACCESS, POLICY_INTEGRATED_API, RoleNeeds,
};
use a2i_fix::state::{self, AccountState};

use crate::support::{ACCOUNT_ID, LAMBDA_TRUST, Moto, SAGEMAKER_TRUST};

/// Characters URL encoding changes (space, `+`, `%`, `/`, quotes, non-ASCII).
const INLINE: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::bulk-in/*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"a b+c%d/é"}}}]}"#;
const LOGS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:PutLogEvents","Resource":"*"}]}"#;
const V1: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::old/*"}]}"#;
const V2: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::bulk-out/*"}]}"#;
const BOUNDARY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;

fn because() -> Vec<Because> {
    vec![Because {
        requirement: "R2",
        by: "bulk test".into(),
    }]
}

fn role_need(name: &str) -> RoleNeeds {
    RoleNeeds {
        name: name.into(),
        path: "/".into(),
        trust: because(),
        read: BTreeMap::from([("arn:aws:s3:::bulk-in/*".to_string(), because())]),
        write: BTreeMap::from([("arn:aws:s3:::bulk-out/*".to_string(), because())]),
        create_if_missing: true,
        path_given: false,
    }
}

fn caller_need(kind: PrincipalKind, name: &str, policy: &str) -> CallerNeeds {
    let arn = match kind {
        PrincipalKind::Role => format!("arn:aws:iam::{ACCOUNT_ID}:role/{name}"),
        PrincipalKind::User => format!("arn:aws:iam::{ACCOUNT_ID}:user/{name}"),
    };
    CallerNeeds {
        arn,
        kind,
        name: name.into(),
        policies: BTreeMap::from([(policy.to_string(), because())]),
    }
}

/// Two flow roles (one with tags, a boundary, two inline policies and a
/// managed policy whose default is its second version; one missing), a
/// caller role and a caller user that lack a policy they need (so their own
/// policies are read), one of them also a flow role, and a role the spec
/// does not name.
async fn seed(moto: &Moto) -> Needs {
    let s = moto.seed().await;
    s.bucket("bulk-in").await;
    s.bucket("bulk-out").await;
    s.role("BulkFlow", LAMBDA_TRUST).await;
    s.inline_policy("BulkFlow", "read", INLINE).await;
    s.inline_policy("BulkFlow", "logs", LOGS).await;
    let out = s.managed_policy("BulkOut", V1).await;
    s.c.iam
        .create_policy_version()
        .policy_arn(&out)
        .policy_document(V2)
        .set_as_default(true)
        .send()
        .await
        .expect("second version");
    s.attach_role_policy("BulkFlow", &out).await;
    s.attach_role_policy("BulkFlow", POLICY_FULL_ACCESS).await;
    let boundary = s.managed_policy("BulkBoundary", BOUNDARY).await;
    s.c.iam
        .put_role_permissions_boundary()
        .role_name("BulkFlow")
        .permissions_boundary(&boundary)
        .send()
        .await
        .expect("boundary");
    let tag = |k: &str, v: &str| {
        aws_sdk_iam::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
            .expect("tag")
    };
    s.c.iam
        .tag_role()
        .role_name("BulkFlow")
        .tags(tag("team", "a2i"))
        .tags(tag("managed-by", "hand"))
        .send()
        .await
        .expect("tags");
    s.role("BulkApp", SAGEMAKER_TRUST).await;
    s.inline_policy("BulkApp", "logs", LOGS).await;
    let app = s.managed_policy("BulkAppLogs", LOGS).await;
    s.attach_role_policy("BulkApp", &app).await;
    s.user("bulk-bot").await;
    s.attach_user_policy("bulk-bot", &app).await;
    s.role("Unrelated", LAMBDA_TRUST).await;

    let mut needs = Needs::default();
    for role in ["BulkFlow", "BulkMissing"] {
        needs.roles.insert(role.into(), role_need(role));
    }
    for caller in [
        caller_need(PrincipalKind::Role, "BulkApp", POLICY_INTEGRATED_API),
        caller_need(PrincipalKind::Role, "BulkFlow", POLICY_INTEGRATED_API),
        caller_need(PrincipalKind::User, "bulk-bot", POLICY_INTEGRATED_API),
    ] {
        needs.callers.insert(caller.arn.clone(), caller);
    }
    needs
}

async fn read(moto: &Moto, needs: &Needs, how: IamReads) -> AccountState {
    let clients = Clients {
        iam_reads: how,
        ..moto.clients().await
    };
    state::read_state(&clients, needs)
        .await
        .expect("read_state")
}

#[tokio::test]
async fn bulk_and_per_role_reads_store_the_same_state() {
    let moto = Moto::start();
    let needs = seed(&moto).await;
    let per_role = read(&moto, &needs, IamReads::PerRole).await;
    let mut bulk = read(&moto, &needs, IamReads::Bulk).await;

    assert_eq!(bulk.api_calls["iam:GetAccountAuthorizationDetails"], 1);
    for op in ["GetRole", "ListRolePolicies", "GetRolePolicy"] {
        assert!(
            !bulk.api_calls.contains_key(&format!("iam:{op}")),
            "{op} in bulk mode: {:?}",
            bulk.api_calls
        );
    }
    // Only the AWS managed policies are read one by one: FullAccess
    // (attached to BulkFlow) and IntegratedAPIAccess (lacked by callers).
    assert_eq!(bulk.api_calls["iam:GetPolicyVersion"], 2);
    assert!(!bulk.roles.contains_key("Unrelated"));

    // GetAccountAuthorizationDetails has no description or maximum session
    // duration; everything else is the same, text byte for byte.
    let flow = per_role.roles["BulkFlow"].as_ref().expect("BulkFlow read");
    assert_eq!(flow.inline_policies.len(), 2);
    assert_eq!(flow.tags.len(), 2);
    assert!(flow.permissions_boundary.is_some());
    let out = flow.attached_policies.iter().find(|p| p.name == "BulkOut");
    let default = &per_role.managed_policies[&out.expect("BulkOut attached").arn];
    assert_eq!(
        (default.version_id.as_str(), default.document.as_str()),
        ("v2", V2)
    );
    for role in bulk.roles.values_mut().flatten() {
        let theirs = per_role.roles[&role.name].as_ref().expect("read both ways");
        role.description = theirs.description.clone();
        role.max_session_duration = theirs.max_session_duration;
    }
    bulk.api_calls = per_role.api_calls.clone();
    assert_eq!(bulk, per_role);
}

#[tokio::test]
async fn a_fingerprint_of_the_bulk_read_matches_a_per_resource_re_read() {
    let moto = Moto::start();
    let needs = seed(&moto).await;
    let bulk = read(&moto, &needs, IamReads::Bulk).await;
    let clients = moto.clients().await;
    let targets = [
        Target::TrustPolicy {
            role: "BulkFlow".into(),
        },
        Target::InlinePolicy {
            role: "BulkFlow".into(),
            policy_name: "read".into(),
        },
    ];
    for target in targets {
        let stored = state::current_from_state(&bulk, &target);
        assert!(stored.is_some(), "{target:?} not in the bulk state");
        let reread = state::read_current(&clients, &target)
            .await
            .expect("read_current");
        assert_eq!(stored, reread, "{target:?}");
    }
}
