//! `plan --json` reports the API calls it made; with several buckets, roles,
//! keys and callers sharing things, every read is made exactly as often as
//! the rules say ("Speed and scale" in `docs/requirements.md`, and the
//! reads `src/state/mod.rs` documents): none twice, none unneeded. Role by
//! role, in bulk (`--iam-reads bulk`), and in bulk denied (role by role
//! after one denied call).

use std::collections::BTreeMap;

use crate::support::fault_proxy::{FaultProxy, Faults};
use crate::support::*;
use crate::support::{ACCOUNT_ID, LAMBDA_TRUST, SAGEMAKER_TRUST, cors_rule};

const S3_READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::calls-in-1/*"}]}"#;
const LOGS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:PutLogEvents","Resource":"*"}]}"#;

/// The spec: four flow definitions on three roles (one of them missing), one
/// template preview, three callers (one of them also a flow role), two
/// spellings of one key, a bucket that is both an input and an output, and
/// inputs listed more than once.
fn spec() -> String {
    format!(
        r#"account_id = "{ACCOUNT_ID}"

[[flow_definition]]
name = "alpha"
role = "FlowA"
input_buckets = ["calls-in-1", "calls-both"]
output = "s3://calls-out/alpha/"
kms_key = "alias/calls-key"

[[flow_definition]]
name = "beta"
role = "FlowB"
input_buckets = ["calls-in-2"]
output = "s3://calls-both/beta/"
kms_key = "arn:aws:kms:us-east-1:{ACCOUNT_ID}:alias/calls-key"

[[flow_definition]]
name = "gamma"
role = "FlowA"
input_buckets = ["calls-in-1"]
output = "s3://calls-out/gamma/"
kms_key = "alias/calls-key"

[[flow_definition]]
name = "delta"
role = "FlowNew"
input_buckets = ["calls-in-1"]
output = "s3://calls-out/delta/"

[[template_preview]]
role = "PreviewRole"
input_buckets = ["calls-in-2"]

[[human_loop_caller]]
principal = "arn:aws:iam::{ACCOUNT_ID}:role/FlowB"
uses = ["custom"]

[[human_loop_caller]]
principal = "arn:aws:iam::{ACCOUNT_ID}:role/calls-app"
uses = ["custom", "rekognition"]

[[human_loop_caller]]
principal = "arn:aws:iam::{ACCOUNT_ID}:user/calls-bot"
uses = ["textract"]
"#
    )
}

/// The account the spec reads: shared roles, managed policies and keys.
fn seeded() -> SeededServer {
    SeededServer::start(|s| async move {
        for bucket in ["calls-in-1", "calls-in-2", "calls-both", "calls-out"] {
            s.bucket(bucket).await;
        }
        s.put_cors("calls-in-2", &[cors_rule(&["GET"], &["*"])])
            .await;
        s.role("FlowA", LAMBDA_TRUST).await;
        s.inline_policy("FlowA", "read-some", S3_READ).await;
        s.inline_policy("FlowA", "logs", LOGS).await;
        s.role("FlowB", SAGEMAKER_TRUST).await;
        s.inline_policy("FlowB", "logs", LOGS).await;
        s.role("PreviewRole", SAGEMAKER_TRUST).await;
        s.role("calls-app", LAMBDA_TRUST).await;
        s.user("calls-bot").await;
        let shared = s.managed_policy("SharedS3", S3_READ).await;
        s.attach_role_policy("FlowA", &shared).await;
        s.attach_role_policy("FlowB", &shared).await;
        s.attach_role_policy("FlowB", FULL_ACCESS).await;
        let preview = s.managed_policy("PreviewS3", S3_READ).await;
        s.attach_role_policy("PreviewRole", &preview).await;
        // A caller's own policies never grant A2I's S3 needs: not read.
        let unrelated = s.managed_policy("CallsAppLogs", LOGS).await;
        s.attach_role_policy("calls-app", &unrelated).await;
        let (key_id, _) = s.key(Some(&crate::support::root_only_key_policy())).await;
        s.alias("alias/calls-key", &key_id).await;
        key_id
    })
}

/// `plan --json` of [`spec`] with `args`, run with `endpoint` (moto, or a
/// proxy in front of it): the plan and its stderr.
fn plan_with(
    account: &SeededServer,
    endpoint: Option<&str>,
    args: &[&str],
) -> (serde_json::Value, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("a2i.toml");
    std::fs::write(&path, spec()).expect("writing the spec");
    let mut cmd = a2i_fix(&account.moto);
    cmd.args(["plan", "--json", "--spec"]).arg(&path).args(args);
    if let Some(endpoint) = endpoint {
        cmd.args(["--endpoint-url", endpoint]);
    }
    let out = run(&mut cmd).expect_code(0);
    (out.json(), out.stderr.clone())
}

fn api_calls(json: &serde_json::Value) -> BTreeMap<String, u64> {
    json["api_calls"]
        .as_object()
        .expect("api_calls object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("a count")))
        .collect()
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// The reads that do not depend on how roles are read: STS, S3, KMS, and
/// the caller user's IAM reads.
fn same_either_way() -> BTreeMap<String, u64> {
    counts(&[
        // Who the credentials are (account check, lockout check): once.
        ("sts:GetCallerIdentity", 1),
        // CORS of each distinct input bucket: calls-in-1, calls-both,
        // calls-in-2 (listed five times in all, by flows and the preview).
        ("s3:GetBucketCors", 3),
        // Default encryption of each distinct bucket, input or output:
        // calls-in-1, calls-both (input of alpha *and* output of beta: read
        // once), calls-in-2, calls-out (three flows write there).
        ("s3:GetBucketEncryption", 4),
        // Caller user calls-bot lacks a managed policy it needs: its own
        // inline policies are judged (it has none to read).
        ("iam:ListUserPolicies", 1),
        // Caller users: calls-bot.
        ("iam:ListAttachedUserPolicies", 1),
        // Each distinct key reference: `alias/calls-key` (two flows) and
        // its alias ARN.
        ("kms:DescribeKey", 2),
        // Each distinct key behind them: one.
        ("kms:GetKeyPolicy", 1),
        // The policy of each distinct bucket, input or output, whose Denies
        // can block A2I.
        ("s3:GetBucketPolicy", 4),
        // The tags of each distinct input bucket (the only buckets a plan
        // changes), to know whether infrastructure as code manages it:
        // calls-in-1, calls-both, calls-in-2; not calls-out, an output only.
        ("s3:GetBucketTagging", 3),
        // The tags of each distinct key behind the spec's references: one.
        // (A role's tags come with GetRole.)
        ("kms:ListResourceTags", 1),
    ])
}

/// The role-by-role IAM reads of roles and managed policies.
fn per_role_reads() -> BTreeMap<String, u64> {
    counts(&[
        // Each distinct role: FlowA (two flows), FlowB, FlowNew (missing),
        // PreviewRole; and caller role calls-app, for its tags (caller FlowB
        // reuses its role read).
        ("iam:GetRole", 5),
        // Inline policy names of each role: FlowA, FlowB, PreviewRole and
        // FlowNew (sent with GetRole, before it is known to be missing: it
        // answers NoSuchEntity); and of caller calls-app, which lacks
        // managed policies it needs, so its own policies are judged (FlowB
        // lacks nothing).
        ("iam:ListRolePolicies", 5),
        // One read per inline policy: FlowA 2, FlowB 1, PreviewRole 0.
        ("iam:GetRolePolicy", 3),
        // Attachments of each role (FlowA, FlowB, PreviewRole, and FlowNew,
        // sent with GetRole) and of each caller role that is not one of
        // them (calls-app); caller FlowB reuses its role read.
        ("iam:ListAttachedRolePolicies", 5),
        // Each distinct managed policy attached to a role with S3 needs:
        // SharedS3 (FlowA and FlowB: read once), AmazonAugmentedAIFullAccess
        // (FlowB), PreviewS3 (PreviewRole); CallsAppLogs, attached to
        // calls-app, which lacks policies; and the policies callers lack,
        // to know what they grant: AmazonAugmentedAIIntegratedAPIAccess
        // (calls-app and calls-bot: read once; FullAccess is read already).
        ("iam:GetPolicy", 5),
        ("iam:GetPolicyVersion", 5),
    ])
}

#[test]
fn every_read_is_made_once_and_only_when_needed() {
    let account = seeded();
    let (json, _) = plan_with(&account, None, &["--iam-reads", "per-role"]);
    let mut expected = same_either_way();
    expected.extend(per_role_reads());
    assert_eq!(api_calls(&json), expected, "{json:#}");
}

#[test]
fn in_bulk_every_role_and_customer_policy_comes_from_one_call() {
    let account = seeded();
    let (json, _) = plan_with(&account, None, &["--iam-reads", "bulk"]);
    let mut expected = same_either_way();
    expected.extend(counts(&[
        // Every role (FlowA, FlowB, FlowNew found missing, PreviewRole,
        // caller calls-app with its attachments, tags and, since it lacks
        // a policy, inline policies) and every customer managed policy
        // (SharedS3, PreviewS3, CallsAppLogs): one page.
        ("iam:GetAccountAuthorizationDetails", 1),
        // The AWS managed policies, not in that answer:
        // AmazonAugmentedAIFullAccess (attached to FlowB) and
        // AmazonAugmentedAIIntegratedAPIAccess (callers lack it), each once.
        ("iam:GetPolicy", 2),
        ("iam:GetPolicyVersion", 2),
    ]));
    assert_eq!(api_calls(&json), expected, "{json:#}");

    // The same plan as role by role.
    let (per_role, _) = plan_with(&account, None, &["--iam-reads", "per-role"]);
    assert_eq!(json["changes"], per_role["changes"]);
    assert_eq!(json["warnings"], per_role["warnings"]);
}

#[test]
fn a_denied_bulk_read_falls_back_to_reading_role_by_role() {
    let account = seeded();
    let proxy = FaultProxy::start(account.moto.port, 0, Faults::Off);
    // Every request of it (each asks for roles first), as IAM answers
    // credentials no policy allows the call.
    proxy.deny(
        "iam:GetAccountAuthorizationDetails",
        "Filter.member.1",
        "Role",
    );
    let (json, stderr) = plan_with(&account, Some(&proxy.endpoint), &["--iam-reads", "bulk"]);
    // The denied call, then every read the per-role path makes.
    let mut expected = same_either_way();
    expected.extend(per_role_reads());
    expected.insert("iam:GetAccountAuthorizationDetails".into(), 1);
    assert_eq!(api_calls(&json), expected, "{json:#}");
    assert_eq!(
        stderr.matches("GetAccountAuthorizationDetails").count(),
        1,
        "the fallback is noted once: {stderr}"
    );

    let (per_role, _) = plan_with(&account, None, &["--iam-reads", "per-role"]);
    assert_eq!(json["changes"], per_role["changes"]);
    assert_eq!(json["warnings"], per_role["warnings"]);
}
