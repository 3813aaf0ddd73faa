use super::*;
use crate::model::{address, digest};
use crate::plan::summarize;

fn change(target: Target, action: Action, after: &str) -> Change {
    Change {
        address: address(&target),
        action,
        target,
        requirements: vec![],
        reason: String::new(),
        before: None,
        after: Some(after.to_string()),
        before_fingerprint: "absent".into(),
        after_digest: digest(after),
        replaced_sids: vec![],
    }
}

fn plan(changes: Vec<Change>) -> Plan {
    Plan {
        format_version: 1,
        account_id: "123456789012".into(),
        region: "us-east-1".into(),
        spec_hash: "sha256:0".into(),
        summary: summarize(&changes),
        changes,
        warnings: vec![],
        api_calls: BTreeMap::new(),
    }
}

#[test]
fn identifiers_are_valid_terraform_names() {
    assert_eq!(identifier("acme-a2i-input"), "acme-a2i-input");
    assert_eq!(identifier("my.bucket"), "my_bucket");
    assert_eq!(identifier("Role+=,.@_-x"), "Role______-x");
    assert_eq!(identifier("1234abcd"), "_1234abcd");
    assert_eq!(identifier("-x"), "_-x");
}

#[test]
fn colliding_names_get_a_number_per_resource_type() {
    let mut names = Names::default();
    assert_eq!(names.take("aws_iam_role", "a.b"), "a_b");
    assert_eq!(names.take("aws_iam_role", "a_b"), "a_b_2");
    assert_eq!(names.take("aws_iam_role", "a@b"), "a_b_3");
    assert_eq!(names.take("aws_iam_role_policy", "a_b"), "a_b");
}

#[test]
fn an_empty_plan_is_an_empty_configuration() {
    let text = terraform(&plan(vec![]), &ExportContext::default()).expect("export");
    assert_eq!(text.trim(), "");
}

#[test]
fn policy_variables_are_escaped_and_existing_documents_imported() {
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}/*"}]}"#;
    let p = plan(vec![change(
        Target::InlinePolicy {
            role: "R".into(),
            policy_name: "p".into(),
        },
        Action::Update,
        doc,
    )]);
    let text = terraform(&p, &ExportContext::default()).expect("export");
    assert!(text.contains("$${aws:username}"), "{text}");
    assert!(!text.replace("$${", "").contains("${"), "{text}");
    assert!(text.contains("id = \"R:p\""), "{text}");
    assert!(text.contains("to = aws_iam_role_policy.R_p"), "{text}");
    assert!(text.contains("jsonencode("), "{text}");
}

#[test]
fn a_trust_policy_change_needs_the_roles_attributes() {
    let p = plan(vec![change(
        Target::TrustPolicy { role: "R".into() },
        Action::Update,
        "{}",
    )]);
    let err = terraform(&p, &ExportContext::default()).expect_err("unknown role");
    assert!(err.to_string().contains("role `R`"), "{err}");
    let mut context = ExportContext::default();
    context.roles.insert(
        "R".into(),
        RoleFacts {
            path: "/service/".into(),
            description: Some("d".into()),
            max_session_duration: Some(7200),
            permissions_boundary: Some("arn:aws:iam::123456789012:policy/b".into()),
            tags: vec![
                ("team".into(), "ml".into()),
                ("aws:cloudformation:stack-name".into(), "s".into()),
            ],
        },
    );
    let text = terraform(&p, &context).expect("export");
    for needle in [
        "path = \"/service/\"",
        "description = \"d\"",
        "max_session_duration = 7200",
        "permissions_boundary = \"arn:aws:iam::123456789012:policy/b\"",
        "team = \"ml\"",
    ] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
    assert!(!text.contains("cloudformation"), "{text}");
}
