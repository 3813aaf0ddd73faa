//! A plan warns on each change to a role, bucket or key whose tags say
//! infrastructure as code manages it (a direct write drifts and the next
//! deploy reverts it), and on nothing else; tags set in moto through the
//! second client. A tag read the credentials may not make leaves ownership
//! unknown, with a note, instead of failing the plan.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::*;
use crate::support::{LAMBDA_TRUST, SAGEMAKER_TRUST, cors_rule};

async fn tag_role(s: &Seed, role: &str, tags: &[(&str, &str)]) {
    let tags = tags.iter().map(|(k, v)| {
        aws_sdk_iam::types::Tag::builder()
            .key(*k)
            .value(*v)
            .build()
            .expect("a tag")
    });
    s.c.iam
        .tag_role()
        .role_name(role)
        .set_tags(Some(tags.collect()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("tag role {role}: {e:?}"));
}

async fn tag_bucket(s: &Seed, bucket: &str, tags: &[(&str, &str)]) {
    let tags = tags.iter().map(|(k, v)| {
        aws_sdk_s3::types::Tag::builder()
            .key(*k)
            .value(*v)
            .build()
            .expect("a tag")
    });
    let tagging = aws_sdk_s3::types::Tagging::builder()
        .set_tag_set(Some(tags.collect()))
        .build()
        .expect("a tag set");
    s.c.s3
        .put_bucket_tagging()
        .bucket(bucket)
        .tagging(tagging)
        .send()
        .await
        .unwrap_or_else(|e| panic!("tag bucket {bucket}: {e:?}"));
}

async fn tag_key(s: &Seed, key_id: &str, tags: &[(&str, &str)]) {
    let tags = tags.iter().map(|(k, v)| {
        aws_sdk_kms::types::Tag::builder()
            .tag_key(*k)
            .tag_value(*v)
            .build()
            .expect("a tag")
    });
    s.c.kms
        .tag_resource()
        .key_id(key_id)
        .set_tags(Some(tags.collect()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("tag key {key_id}: {e:?}"));
}

/// The ownership warnings of a JSON plan: change address -> managed_by.
fn ownership(plan: &Value) -> BTreeMap<String, String> {
    plan["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter_map(|w| {
            Some((
                w.get("address")?.as_str()?.to_string(),
                w["managed_by"].as_str().expect("managed_by").to_string(),
            ))
        })
        .collect()
}

/// `plans/shared-role.toml` on a broken account where every role, bucket
/// and key gets a change. The flow role was made by CloudFormation, the
/// input bucket is tagged as Terraform's, the caller role as Pulumi's; the
/// key and the receipts bucket carry unrelated tags (`managed-by` naming a
/// team, a tag value that mentions terraform under another key); the
/// preview role has none.
#[test]
fn changes_to_resources_managed_by_code_are_warned_about_and_no_others() {
    let account = SeededServer::start(|s| async move {
        let key_id = seed_nothing(&s).await;
        s.put_cors(INPUT, &[cors_rule(&["PUT"], &["https://app.example.com"])])
            .await;
        s.role(FLOW_ROLE, LAMBDA_TRUST).await;
        tag_role(
            &s,
            FLOW_ROLE,
            &[
                ("aws:cloudformation:stack-name", "a2i-stack"),
                ("aws:cloudformation:logical-id", "FlowRole"),
            ],
        )
        .await;
        tag_bucket(&s, INPUT, &[("ManagedBy", "Terraform"), ("team", "ml")]).await;
        tag_role(&s, CALLER_ROLE, &[("managed-by", "pulumi")]).await;
        tag_key(
            &s,
            &key_id,
            &[("managed-by", "platform-team"), ("team", "terraform-fans")],
        )
        .await;
        tag_bucket(&s, RECEIPTS, &[("Owner", "cdk-team")]).await;
        key_id
    });
    let spec = example("shared-role.toml");
    let plan = plan_json(&account.moto, &spec);
    let addresses: Vec<&str> = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["address"].as_str().expect("address"))
        .collect();
    // Every resource gets a change, so a missing warning is a missed owner.
    for needed in [
        "aws_iam_role.A2IFlowRole",
        "aws_iam_role.A2IPreviewRole",
        "aws_s3_bucket_cors_configuration.acme-a2i-receipts",
        account.key_policy_address().as_str(),
    ] {
        assert!(addresses.contains(&needed), "{needed} in {addresses:?}");
    }

    let expected: BTreeMap<String, String> = [
        ("aws_iam_role.A2IFlowRole", "CloudFormation"),
        (
            "aws_iam_role_policy.A2IFlowRole:a2i-fix-permissions",
            "CloudFormation",
        ),
        (
            "aws_s3_bucket_cors_configuration.acme-a2i-input",
            "Terraform",
        ),
        (
            "aws_iam_role_policy_attachment.ml-app:AmazonAugmentedAIFullAccess",
            "Pulumi",
        ),
        (
            "aws_iam_role_policy_attachment.ml-app:AmazonAugmentedAIIntegratedAPIAccess",
            "Pulumi",
        ),
    ]
    .into_iter()
    .map(|(a, t)| (a.to_string(), t.to_string()))
    .collect();
    assert_eq!(ownership(&plan), expected, "{plan:#}");
    for w in plan["warnings"].as_array().expect("warnings") {
        if w.get("address").is_some() {
            let message = w["message"].as_str().expect("message");
            assert!(
                message.contains("a2i-fix export --format terraform"),
                "{message}"
            );
            assert!(message.contains("revert"), "{message}");
            assert!(w["requirement"].is_null(), "{w}");
        }
    }
    let cfn = plan["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .find(|w| w["address"] == "aws_iam_role.A2IFlowRole")
        .expect("the flow role's warning");
    assert!(
        cfn["message"]
            .as_str()
            .expect("message")
            .contains("tag `aws:cloudformation:stack-name = a2i-stack`"),
        "{cfn}"
    );

    // The text plan shows the warning on the change and in full after it;
    // with changes pending, `--detailed-exitcode` still says 2.
    let text = plan_text(&account, &spec);
    assert!(
        text.contains("  #   Warning: role `A2IFlowRole` is managed by CloudFormation; the next deploy will revert this write: see below\n  ~ aws_iam_role.A2IFlowRole\n"),
        "{text}"
    );
    assert!(
        text.contains("Warning: bucket `acme-a2i-input`\n  bucket `acme-a2i-input` is managed by Terraform (tag `ManagedBy = Terraform`)"),
        "{text}"
    );
    assert!(!text.contains("Warning: role `A2IPreviewRole`"), "{text}");
    assert!(
        !text.contains("Warning: bucket `acme-a2i-receipts`"),
        "{text}"
    );
    crate::support::plan(&account.moto, &spec, &["--detailed-exitcode"]).expect_code(2);
}

fn plan_text(account: &SeededServer, spec: &std::path::Path) -> String {
    run(a2i_fix(&account.moto)
        .env("NO_COLOR", "1")
        .arg("plan")
        .arg("--spec")
        .arg(spec))
    .expect_code(0)
    .stdout
}

/// With credentials that may not read tags (moto enforcing IAM), the plan
/// still succeeds: the bucket's and key's ownership is unknown, said on
/// their changes, and the calls were made (and counted).
#[test]
fn denied_tag_reads_leave_ownership_unknown() {
    let account = SeededServer::start(|s| async move {
        s.bucket("tags-input").await;
        s.bucket("tags-output").await;
        s.role("TagsFlowRole", SAGEMAKER_TRUST).await;
        let (key_id, _) = s.key(Some(&crate::support::root_only_key_policy())).await;
        s.user("a2i-reader").await;
        s.c.iam
            .put_user_policy()
            .user_name("a2i-reader")
            .policy_name("all-but-tags")
            .policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":["s3:GetBucketTagging","kms:ListResourceTags"],"Resource":"*"}]}"#,
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
        format!("{key_id}\n{}\n{}", key.access_key_id, key.secret_access_key)
    });
    let mut lines = account.key_id.lines();
    let (key_id, access_key, secret) = (
        lines.next().expect("key id").to_string(),
        lines.next().expect("access key id").to_string(),
        lines.next().expect("secret").to_string(),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = dir.path().join("a2i.toml");
    std::fs::write(
        &spec,
        format!("[[flow_definition]]\nname = \"tags\"\nrole = \"TagsFlowRole\"\ninput_buckets = [\"tags-input\"]\noutput = \"s3://tags-output/out/\"\nkms_key = \"{key_id}\"\n"),
    )
    .expect("writing the spec");

    crate::cli_errors::moto_control(&account.moto, "/moto-api/reset-auth", "0");
    let out = run(a2i_fix(&account.moto)
        .env("AWS_ACCESS_KEY_ID", access_key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .args(["plan", "--json", "--spec"])
        .arg(&spec));
    crate::cli_errors::moto_control(&account.moto, "/moto-api/reset-auth", "inf");

    let plan = out.expect_code(0).json();
    let expected: BTreeMap<String, String> = [
        (
            "aws_s3_bucket_cors_configuration.tags-input".to_string(),
            "unknown".to_string(),
        ),
        (
            format!("aws_kms_key_policy.{key_id}"),
            "unknown".to_string(),
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(ownership(&plan), expected, "{plan:#}");
    let messages: Vec<&str> = plan["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter(|w| w.get("address").is_some())
        .map(|w| w["message"].as_str().expect("message"))
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("`s3:GetBucketTagging`")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("`kms:ListResourceTags`")),
        "{messages:?}"
    );
    assert_eq!(plan["api_calls"]["s3:GetBucketTagging"], 1, "{plan:#}");
    assert_eq!(plan["api_calls"]["kms:ListResourceTags"], 1, "{plan:#}");
}
