//! The planner as a pure function: hand-built needs and account states in,
//! plans out. No AWS, no terminal.

use std::collections::BTreeMap;

use a2i_fix::model::{Action, OWNED_POLICY_NAME, PrincipalKind, Target, fingerprint};
use a2i_fix::plan::build_plan;
use a2i_fix::policy::{CorsConfiguration, CorsRule, PolicyDocument, equivalent};
use a2i_fix::requirements::{Because, CallerNeeds, KeyNeeds, Needs, RoleNeeds};
use a2i_fix::state::{AccountState, AttachedPolicy, BucketState, CallerState, KeyState, RoleState};

const ACCT: &str = "123456789012";

fn because(r: &'static str) -> Vec<Because> {
    vec![Because {
        requirement: r,
        by: "flow definition `invoice-review`".to_string(),
    }]
}

fn needs() -> Needs {
    let mut n = Needs::default();
    n.cors.insert("acme-a2i-input".into(), because("R1"));
    n.output_buckets.insert("acme-a2i-output".into());
    let mut role = RoleNeeds {
        name: "A2IFlowRole".into(),
        path: "/".into(),
        trust: because("R4"),
        create_if_missing: true,
        ..Default::default()
    };
    role.read
        .insert("arn:aws:s3:::acme-a2i-input/*".into(), because("R2"));
    role.write.insert(
        "arn:aws:s3:::acme-a2i-output/reviews/*".into(),
        because("R3"),
    );
    n.roles.insert("A2IFlowRole".into(), role);
    let mut key = KeyNeeds {
        key_ref: "alias/a2i-output".into(),
        ..Default::default()
    };
    key.roles.insert("A2IFlowRole".into(), because("R5"));
    n.keys.insert("alias/a2i-output".into(), key);
    for bucket in ["acme-a2i-input", "acme-a2i-output"] {
        n.bucket_roles
            .insert(bucket.into(), ["A2IFlowRole".to_string()].into());
    }
    let mut policies = BTreeMap::new();
    policies.insert(
        a2i_fix::requirements::POLICY_FULL_ACCESS.to_string(),
        because("R6"),
    );
    n.callers.insert(
        format!("arn:aws:iam::{ACCT}:role/ml-app"),
        CallerNeeds {
            arn: format!("arn:aws:iam::{ACCT}:role/ml-app"),
            kind: PrincipalKind::Role,
            name: "ml-app".into(),
            policies,
        },
    );
    n
}

const ROOT_ONLY_KEY_POLICY: &str = r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"}]}"#;
const LAMBDA_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

fn unrelated_cors() -> CorsConfiguration {
    CorsConfiguration {
        rules: vec![CorsRule {
            id: Some("uploads".into()),
            allowed_headers: vec!["*".into()],
            allowed_methods: vec!["PUT".into(), "POST".into()],
            allowed_origins: vec!["https://app.example.com".into()],
            ..Default::default()
        }],
    }
}

fn role(trust: &str, inline: Vec<(&str, &str)>) -> RoleState {
    RoleState {
        name: "A2IFlowRole".into(),
        arn: format!("arn:aws:iam::{ACCT}:role/A2IFlowRole"),
        path: "/".into(),
        trust_policy: trust.into(),
        inline_policies: inline
            .into_iter()
            .map(|(n, d)| (n.to_string(), d.to_string()))
            .collect(),
        attached_policies: vec![],
        permissions_boundary: None,
        description: None,
        max_session_duration: None,
        tags: vec![],
    }
}

fn broken_state() -> AccountState {
    let mut s = AccountState {
        account_id: ACCT.into(),
        region: "us-east-1".into(),
        caller_arn: format!("arn:aws:iam::{ACCT}:user/admin"),
        ..Default::default()
    };
    s.buckets.insert(
        "acme-a2i-input".into(),
        BucketState {
            name: "acme-a2i-input".into(),
            cors: Some(unrelated_cors()),
            encryption: None,
            policy: None,
        },
    );
    s.buckets.insert(
        "acme-a2i-output".into(),
        BucketState {
            name: "acme-a2i-output".into(),
            cors: None,
            encryption: None,
            policy: None,
        },
    );
    s.roles
        .insert("A2IFlowRole".into(), Some(role(LAMBDA_TRUST, vec![])));
    s.keys.insert(
        "alias/a2i-output".into(),
        KeyState {
            key_ref: "alias/a2i-output".into(),
            key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
            arn: format!("arn:aws:kms:us-east-1:{ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
            aws_managed: false,
            key_state: "Enabled".into(),
            policy: ROOT_ONLY_KEY_POLICY.into(),
        },
    );
    s.callers.insert(
        format!("arn:aws:iam::{ACCT}:role/ml-app"),
        CallerState {
            arn: format!("arn:aws:iam::{ACCT}:role/ml-app"),
            kind: PrincipalKind::Role,
            name: "ml-app".into(),
            attached_policies: vec![],
            inline_policies: vec![],
            tags: vec![],
        },
    );
    s
}

fn addresses(plan: &a2i_fix::plan::Plan) -> Vec<String> {
    plan.changes.iter().map(|c| c.address.clone()).collect()
}

#[test]
fn broken_account_gets_one_change_per_resource_in_write_order() {
    let plan = build_plan(&needs(), &broken_state(), "sha256:x").unwrap();
    assert_eq!(
        addresses(&plan),
        vec![
            "aws_iam_role.A2IFlowRole",
            "aws_iam_role_policy.A2IFlowRole:a2i-fix-permissions",
            "aws_iam_role_policy_attachment.ml-app:AmazonAugmentedAIFullAccess",
            "aws_kms_key_policy.1234abcd-12ab-34cd-56ef-1234567890ab",
            "aws_s3_bucket_cors_configuration.acme-a2i-input",
        ]
    );
    assert_eq!(
        plan.summary.add, 2,
        "owned inline policy and attachment are new"
    );
    assert_eq!(plan.summary.change, 3);
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
}

#[test]
fn existing_cors_rules_are_kept_when_a2i_rule_is_added() {
    let plan = build_plan(&needs(), &broken_state(), "").unwrap();
    let cors = plan
        .changes
        .iter()
        .find(|c| matches!(c.target, Target::BucketCors { .. }))
        .unwrap();
    let after: CorsConfiguration = serde_json::from_str(cors.after.as_deref().unwrap()).unwrap();
    assert_eq!(after.rules.len(), 2);
    assert_eq!(
        after.rules[0],
        unrelated_cors().rules[0],
        "unrelated rule first, unchanged"
    );
    assert_eq!(after.rules[1].allowed_methods, vec!["GET"]);
    assert_eq!(after.rules[1].allowed_origins, vec!["*"]);
    assert_eq!(
        cors.before_fingerprint,
        fingerprint(Some(&serde_json::to_string(&unrelated_cors()).unwrap()))
    );
}

#[test]
fn trust_policy_update_keeps_lambda_and_adds_sagemaker() {
    let plan = build_plan(&needs(), &broken_state(), "").unwrap();
    let trust = &plan.changes[0];
    assert_eq!(trust.action, Action::Update);
    let after = PolicyDocument::parse(trust.after.as_deref().unwrap()).unwrap();
    assert_eq!(after.statements.len(), 2);
    let text = trust.after.as_deref().unwrap();
    assert!(text.contains("lambda.amazonaws.com") && text.contains("sagemaker.amazonaws.com"));
    assert!(text.contains("AllowSageMakerToAssumeRole"));
}

fn fixed_state() -> AccountState {
    let mut s = broken_state();
    let plan = build_plan(&needs(), &s, "").unwrap();
    for change in plan.changes {
        let after = change.after.unwrap();
        match change.target {
            Target::BucketCors { bucket } => {
                s.buckets.get_mut(&bucket).unwrap().cors =
                    Some(serde_json::from_str(&after).unwrap())
            }
            Target::TrustPolicy { role } => {
                s.roles
                    .get_mut(&role)
                    .unwrap()
                    .as_mut()
                    .unwrap()
                    .trust_policy = after
            }
            Target::InlinePolicy { role, policy_name } => s
                .roles
                .get_mut(&role)
                .unwrap()
                .as_mut()
                .unwrap()
                .inline_policies
                .push((policy_name, after)),
            Target::KeyPolicy { .. } => s.keys.get_mut("alias/a2i-output").unwrap().policy = after,
            Target::Attachment { policy_arn, .. } => s
                .callers
                .values_mut()
                .next()
                .unwrap()
                .attached_policies
                .push(AttachedPolicy {
                    name: "AmazonAugmentedAIFullAccess".into(),
                    arn: policy_arn,
                }),
            Target::Role { .. } => unreachable!("role exists"),
        }
    }
    s
}

#[test]
fn plan_after_applying_it_is_empty() {
    let plan = build_plan(&needs(), &fixed_state(), "").unwrap();
    assert!(plan.changes.is_empty(), "{:#?}", plan.changes);
}

#[test]
fn broader_s3_grant_written_differently_is_not_a_change() {
    let mut s = fixed_state();
    let r = s.roles.get_mut("A2IFlowRole").unwrap().as_mut().unwrap();
    r.inline_policies = vec![(
        "team-policy".into(),
        r#"{"Statement":{"Effect":"allow","Action":["S3:*"],"Resource":"arn:aws:s3:::*"}}"#.into(),
    )];
    let plan = build_plan(&needs(), &s, "").unwrap();
    assert!(plan.changes.is_empty(), "{:#?}", plan.changes);
}

#[test]
fn missing_flow_role_is_planned_as_create_with_trust_then_inline_policy() {
    let mut s = broken_state();
    s.roles.insert("A2IFlowRole".into(), None);
    let plan = build_plan(&needs(), &s, "").unwrap();
    assert_eq!(plan.changes[0].action, Action::Create);
    assert!(matches!(plan.changes[0].target, Target::Role { .. }));
    assert_eq!(plan.changes[0].before_fingerprint, "absent");
    assert!(matches!(
        &plan.changes[1].target,
        Target::InlinePolicy { policy_name, .. } if policy_name == OWNED_POLICY_NAME
    ));
    let key = plan
        .changes
        .iter()
        .find(|c| matches!(c.target, Target::KeyPolicy { .. }))
        .unwrap();
    assert!(
        key.after
            .as_deref()
            .unwrap()
            .contains("arn:aws:iam::123456789012:role/A2IFlowRole")
    );
}

#[test]
fn deny_on_input_is_a_warning_not_a_change() {
    let mut s = fixed_state();
    let r = s.roles.get_mut("A2IFlowRole").unwrap().as_mut().unwrap();
    r.inline_policies.push((
        "guardrail".into(),
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"NoInput","Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::acme-a2i-input/*"}]}"#.into(),
    ));
    let plan = build_plan(&needs(), &s, "").unwrap();
    assert!(plan.changes.is_empty(), "{:#?}", plan.changes);
    assert_eq!(plan.warnings.len(), 1);
    assert!(
        plan.warnings[0].message.contains("Deny"),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn wrong_account_is_refused() {
    let mut n = needs();
    n.account_id = Some("111122223333".into());
    let err = build_plan(&n, &broken_state(), "").unwrap_err();
    assert!(err.to_string().contains("111122223333") && err.to_string().contains(ACCT));
}

#[test]
fn aws_managed_key_is_an_error() {
    let mut s = broken_state();
    s.keys.get_mut("alias/a2i-output").unwrap().aws_managed = true;
    let err = build_plan(&needs(), &s, "").unwrap_err().to_string();
    assert!(err.contains("AWS managed"), "{err}");
}

#[test]
fn broken_existing_policy_is_an_error_naming_it() {
    let mut s = broken_state();
    s.roles
        .get_mut("A2IFlowRole")
        .unwrap()
        .as_mut()
        .unwrap()
        .inline_policies = vec![("legacy".into(), "{not json".into())];
    let err = build_plan(&needs(), &s, "").unwrap_err().to_string();
    assert!(
        err.contains("inline policy `legacy` of role `A2IFlowRole`"),
        "{err}"
    );
}

#[test]
fn missing_preview_role_is_an_error_not_a_create() {
    let mut n = needs();
    n.roles.get_mut("A2IFlowRole").unwrap().create_if_missing = false;
    let mut s = broken_state();
    s.roles.insert("A2IFlowRole".into(), None);
    let err = build_plan(&n, &s, "").unwrap_err().to_string();
    assert!(err.contains("role `A2IFlowRole` does not exist"), "{err}");
}

#[test]
fn key_grant_through_iam_delegation_is_met() {
    let mut s = fixed_state();
    s.keys.get_mut("alias/a2i-output").unwrap().policy = ROOT_ONLY_KEY_POLICY.into();
    let r = s.roles.get_mut("A2IFlowRole").unwrap().as_mut().unwrap();
    r.inline_policies.push((
        "kms".into(),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#.into(),
    ));
    let plan = build_plan(&needs(), &s, "").unwrap();
    assert!(plan.changes.is_empty(), "{:#?}", plan.changes);
}

#[test]
fn too_many_managed_policies_is_an_error() {
    let mut s = broken_state();
    let caller = s.callers.values_mut().next().unwrap();
    for i in 0..10 {
        caller.attached_policies.push(AttachedPolicy {
            name: format!("P{i}"),
            arn: format!("arn:aws:iam::{ACCT}:policy/P{i}"),
        });
    }
    let err = build_plan(&needs(), &s, "").unwrap_err().to_string();
    assert!(err.contains("10"), "{err}");
}

fn with_input_encryption(key: &str) -> AccountState {
    let mut s = fixed_state();
    s.buckets.get_mut("acme-a2i-input").unwrap().encryption =
        Some(a2i_fix::state::BucketEncryption {
            algorithm: "aws:kms".into(),
            kms_key_id: Some(key.into()),
        });
    s
}

#[test]
fn sse_kms_bucket_with_uncovered_key_warns() {
    let s = with_input_encryption(&format!("arn:aws:kms:us-east-1:{ACCT}:key/other"));
    let plan = build_plan(&needs(), &s, "").unwrap();
    assert!(plan.changes.is_empty());
    assert_eq!(plan.warnings.len(), 1);
    assert!(plan.warnings[0].subject.contains("acme-a2i-input"));
    assert!(plan.warnings[0].message.contains("`A2IFlowRole`"));
}

#[test]
fn sse_kms_bucket_keys_the_roles_use_or_aws_manages_need_nothing() {
    let spec_key_arn =
        format!("arn:aws:kms:us-east-1:{ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    for key in [
        "alias/a2i-output".to_string(),
        "1234abcd-12ab-34cd-56ef-1234567890ab".to_string(),
        spec_key_arn,
        "alias/aws/s3".to_string(),
        format!("arn:aws:kms:us-east-1:{ACCT}:alias/aws/s3"),
    ] {
        let plan = build_plan(&needs(), &with_input_encryption(&key), "").unwrap();
        assert!(plan.warnings.is_empty(), "{key}: {:?}", plan.warnings);
    }
    // A key id the bucket names that DescribeKey said is AWS managed.
    let mut s = with_input_encryption("aaaa1111-12ab-34cd-56ef-1234567890ab");
    s.bucket_keys.insert(
        "aaaa1111-12ab-34cd-56ef-1234567890ab".into(),
        a2i_fix::state::BucketKey {
            key_id: "aaaa1111-12ab-34cd-56ef-1234567890ab".into(),
            arn: format!("arn:aws:kms:us-east-1:{ACCT}:key/aaaa1111-12ab-34cd-56ef-1234567890ab"),
            aws_managed: true,
        },
    );
    assert!(build_plan(&needs(), &s, "").unwrap().warnings.is_empty());
}

#[test]
fn an_alias_arn_is_compared_as_an_alias_not_by_its_last_segment() {
    // `alias/team/a2i-output` ends like the spec's key's alias but is
    // another alias: not covered.
    let s = with_input_encryption(&format!(
        "arn:aws:kms:us-east-1:{ACCT}:alias/team/a2i-output"
    ));
    let plan = build_plan(&needs(), &s, "").unwrap();
    assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
}

#[test]
fn a_bucket_key_covers_only_the_roles_the_spec_makes_its_users() {
    let mut n = needs();
    n.bucket_roles
        .get_mut("acme-a2i-input")
        .unwrap()
        .insert("A2IPreviewRole".into());
    let plan = build_plan(&n, &with_input_encryption("alias/a2i-output"), "").unwrap();
    assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
    assert!(plan.warnings[0].message.contains("`A2IPreviewRole`"));
    assert!(!plan.warnings[0].message.contains("`A2IFlowRole`"));
}

#[test]
fn credentials_of_another_partition_are_refused_before_planning() {
    let mut s = broken_state();
    s.caller_arn = format!("arn:aws-us-gov:iam::{ACCT}:user/admin");
    let err = build_plan(&needs(), &s, "").unwrap_err().to_string();
    assert!(err.contains("`aws-us-gov` partition"), "{err}");
    assert!(err.contains("`aws` partition only"), "{err}");
}

#[test]
fn equivalent_documents_are_equivalent_after_round_trip() {
    // the after document of a change parses back to what the plan meant
    let plan = build_plan(&needs(), &broken_state(), "").unwrap();
    for c in &plan.changes {
        if let Target::KeyPolicy { .. } | Target::TrustPolicy { .. } | Target::InlinePolicy { .. } =
            c.target
        {
            let a = PolicyDocument::parse(c.after.as_deref().unwrap()).unwrap();
            let b = PolicyDocument::parse(&a.to_pretty_json()).unwrap();
            assert!(equivalent(&a, &b));
        }
    }
}

#[test]
fn two_spellings_of_one_key_make_one_key_policy_change_granting_both_roles() {
    let mut n = needs();
    let arn_ref = format!("arn:aws:kms:us-east-1:{ACCT}:alias/a2i-output");
    let mut other = KeyNeeds {
        key_ref: arn_ref.clone(),
        ..Default::default()
    };
    other.roles.insert("OtherFlowRole".into(), because("R5"));
    n.keys.insert(arn_ref.clone(), other);
    let mut s = broken_state();
    let key = s.keys["alias/a2i-output"].clone();
    s.keys.insert(
        arn_ref.clone(),
        KeyState {
            key_ref: arn_ref,
            ..key
        },
    );
    let mut other_role = role(LAMBDA_TRUST, vec![]);
    other_role.name = "OtherFlowRole".into();
    other_role.arn = format!("arn:aws:iam::{ACCT}:role/OtherFlowRole");
    s.roles.insert("OtherFlowRole".into(), Some(other_role));
    let plan = build_plan(&n, &s, "").unwrap();
    let key_changes: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| matches!(c.target, Target::KeyPolicy { .. }))
        .collect();
    assert_eq!(key_changes.len(), 1, "{key_changes:#?}");
    let after = key_changes[0].after.as_deref().unwrap();
    assert!(
        after.contains("role/A2IFlowRole") && after.contains("role/OtherFlowRole"),
        "{after}"
    );
}

#[test]
fn a_foreign_statement_with_a2i_kms_sid_is_kept_and_never_widened() {
    let mut s = broken_state();
    s.keys.get_mut("alias/a2i-output").unwrap().policy = r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"},
        {"Sid":"AllowUseOfKmsKey","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/Reader"},"Action":"kms:Decrypt","Resource":"*"}]}"#
        .into();
    let plan = build_plan(&needs(), &s, "").unwrap();
    let change = plan
        .changes
        .iter()
        .find(|c| matches!(c.target, Target::KeyPolicy { .. }))
        .unwrap();
    assert!(
        change.replaced_sids.is_empty(),
        "{:?}",
        change.replaced_sids
    );
    let after = PolicyDocument::parse(change.after.as_deref().unwrap()).unwrap();
    assert_eq!(after.statements.len(), 3);
    let reader = &after.statements[1];
    assert_eq!(
        reader.action.as_deref(),
        Some(&["kms:Decrypt".to_string()][..])
    );
    let ours = &after.statements[2];
    assert_eq!(ours.sid.as_deref(), Some("AllowUseOfKmsKeyA2IFix"));
    let text = serde_json::to_string(&ours.raw).unwrap();
    assert!(
        !text.contains("Reader"),
        "Reader must not gain actions: {text}"
    );
}

#[test]
fn a_foreign_trust_statement_with_a2i_sid_is_kept() {
    let mut s = broken_state();
    s.roles.get_mut("A2IFlowRole").unwrap().as_mut().unwrap().trust_policy =
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"AllowSageMakerToAssumeRole","Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#.into();
    let plan = build_plan(&needs(), &s, "").unwrap();
    let trust = &plan.changes[0];
    assert!(trust.replaced_sids.is_empty());
    let after = trust.after.as_deref().unwrap();
    assert!(
        after.contains("lambda.amazonaws.com")
            && after.contains("AllowSageMakerToAssumeRoleA2IFix"),
        "{after}"
    );
    // and once written, the plan is empty
    s.roles
        .get_mut("A2IFlowRole")
        .unwrap()
        .as_mut()
        .unwrap()
        .trust_policy = after.to_string();
    let again = build_plan(&needs(), &s, "").unwrap();
    assert!(
        !again
            .changes
            .iter()
            .any(|c| matches!(c.target, Target::TrustPolicy { .. }))
    );
}

#[test]
fn a_deny_on_kms_in_the_role_is_a_warning_not_a_key_grant() {
    let mut s = broken_state();
    s.roles
        .get_mut("A2IFlowRole")
        .unwrap()
        .as_mut()
        .unwrap()
        .inline_policies
        .push((
            "no-kms".into(),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:*","Resource":"*"}]}"#.into(),
        ));
    let plan = build_plan(&needs(), &s, "").unwrap();
    assert!(
        !plan
            .changes
            .iter()
            .any(|c| matches!(c.target, Target::KeyPolicy { .. })),
        "an Allow in the key policy cannot beat the role's Deny: {:#?}",
        plan.changes
    );
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.requirement.as_deref() == Some("R5") && w.message.contains("Deny")),
        "{:#?}",
        plan.warnings
    );
}
