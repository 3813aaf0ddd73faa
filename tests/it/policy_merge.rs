//! Merging A2I's additions into realistic existing documents: nothing that was
//! there is lost or reordered, the result meets the requirement, and merging
//! again changes nothing.

use a2i_fix::policy::limits::{
    check_cors_nothing_lost, check_key_policy_lockout, check_nothing_lost,
};
use a2i_fix::policy::{
    CorsConfiguration, LabeledDocument, PolicyDocument, Requirement, Verdict, a2i, equivalent,
    evaluate, evaluate_cors, merge_cors, merge_statements,
};

const ACCT: &str = "111122223333";
const ROLE: &str = "arn:aws:iam::111122223333:role/A2IFlowRole";

fn fixture(name: &str) -> String {
    let path = crate::support::fixture(&format!("policy/{name}"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read `{}`: {e}", path.display()))
}
fn doc(name: &str) -> PolicyDocument {
    PolicyDocument::parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}
fn cors(name: &str) -> CorsConfiguration {
    CorsConfiguration::parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}
fn key_grant(role: &str) -> Requirement {
    Requirement::KeyGrant {
        principal_arn: role.into(),
        actions: a2i::KMS_ACTIONS.iter().map(|a| a.to_string()).collect(),
    }
}
fn verdict(req: &Requirement, document: &PolicyDocument) -> Verdict {
    evaluate(
        req,
        &[LabeledDocument {
            label: "doc",
            document,
        }],
        ACCT,
    )
    .verdict
}
fn raw_statements(d: &PolicyDocument) -> Vec<serde_json::Value> {
    d.statements.iter().map(|s| s.raw.clone()).collect()
}

#[test]
fn key_policy_with_root_admin_and_cloudtrail_keeps_them_and_appends_the_a2i_grant() {
    let before = doc("key_policy_realistic.json");
    assert_eq!(verdict(&key_grant(ROLE), &before), Verdict::NotMet);
    let out = merge_statements(&before, &[a2i::key_statement(&[ROLE.to_string()])]);
    assert_eq!(out.added, vec![a2i::SID_KMS.to_string()]);
    assert!(out.replaced.is_empty());
    // The three existing statements, byte for byte, then the new one.
    assert_eq!(
        raw_statements(&out.document)[..3],
        raw_statements(&before)[..]
    );
    assert_eq!(out.document.statements.len(), 4);
    assert!(matches!(
        verdict(&key_grant(ROLE), &out.document),
        Verdict::Met { .. }
    ));
    assert_eq!(
        check_nothing_lost("key k", &before, &out.document, &out.replaced),
        Ok(())
    );
    assert_eq!(
        check_key_policy_lockout(
            "k",
            &before,
            &out.document,
            ACCT,
            Some("arn:aws:iam::111122223333:role/KeyAdmin")
        ),
        Ok(())
    );
    // Top-level keys keep their order and the Id.
    let text = out.document.to_pretty_json();
    assert!(text.starts_with("{\n  \"Version\": \"2012-10-17\",\n  \"Id\": \"key-consolepolicy-3\",\n  \"Statement\": ["), "{text}");
    assert!(
        text.ends_with(
            r#"    {
      "Sid": "AllowUseOfKmsKey",
      "Effect": "Allow",
      "Principal": {
        "AWS": "arn:aws:iam::111122223333:role/A2IFlowRole"
      },
      "Action": [
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
        "kms:DescribeKey"
      ],
      "Resource": "*"
    }
  ]
}"#
        ),
        "{text}"
    );
    // The written text parses back to an equivalent document.
    let reread = PolicyDocument::parse(&text).unwrap_or_else(|e| panic!("{e}"));
    assert!(equivalent(&reread, &out.document));
    // Idempotent.
    let again = merge_statements(&out.document, &[a2i::key_statement(&[ROLE.to_string()])]);
    assert!(!again.changed());
    assert_eq!(again.document, out.document);
}

#[test]
fn existing_a2i_key_statement_for_other_roles_is_replaced_in_place_and_declared() {
    let before = PolicyDocument::parse(&format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCT}:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Sid":"AllowUseOfKmsKey","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCT}:role/OldFlowRole"}},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}},
            {{"Sid":"Other","Effect":"Allow","Principal":{{"Service":"logs.amazonaws.com"}},"Action":"kms:Encrypt*","Resource":"*"}}
        ]}}"#
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let roles = [
        ROLE.to_string(),
        format!("arn:aws:iam::{ACCT}:role/OldFlowRole"),
    ];
    let out = merge_statements(&before, &[a2i::key_statement(&roles)]);
    assert_eq!(out.replaced, vec![a2i::SID_KMS.to_string()]);
    assert!(out.added.is_empty());
    let sids: Vec<Option<&str>> = out
        .document
        .statements
        .iter()
        .map(|s| s.sid.as_deref())
        .collect();
    assert_eq!(
        sids,
        vec![
            Some("Enable IAM User Permissions"),
            Some("AllowUseOfKmsKey"),
            Some("Other")
        ]
    );
    assert_eq!(out.document.statements[0].raw, before.statements[0].raw);
    assert_eq!(out.document.statements[2].raw, before.statements[2].raw);
    for role in &roles {
        assert!(
            matches!(
                verdict(&key_grant(role), &out.document),
                Verdict::Met { .. }
            ),
            "{role}"
        );
    }
    assert_eq!(
        check_nothing_lost("k", &before, &out.document, &out.replaced),
        Ok(())
    );
    // It widens the old statement, so it passes declared or not.
    assert_eq!(check_nothing_lost("k", &before, &out.document, &[]), Ok(()));
    // Replacing it by a statement for the new role alone would narrow it.
    let narrowed = merge_statements(&before, &[a2i::key_statement(&[ROLE.to_string()])]);
    assert_eq!(narrowed.replaced, vec![a2i::SID_KMS.to_string()]);
    let err = check_nothing_lost("k", &before, &narrowed.document, &narrowed.replaced);
    assert!(
        matches!(&err, Err(e) if e.to_string().contains("would lose principal `arn:aws:iam::111122223333:role/OldFlowRole`")),
        "{err:?}"
    );
    assert!(!merge_statements(&out.document, &[a2i::key_statement(&roles)]).changed());
}

#[test]
fn trust_policy_that_trusts_lambda_keeps_lambda_and_adds_sagemaker() {
    let before = doc("trust_lambda.json");
    let req = Requirement::Trust {
        service: a2i::SAGEMAKER_SERVICE.into(),
        action: a2i::ASSUME_ROLE.into(),
    };
    assert_eq!(verdict(&req, &before), Verdict::NotMet);
    let out = merge_statements(&before, &[a2i::trust_statement()]);
    assert_eq!(out.added, vec![a2i::SID_TRUST.to_string()]);
    assert_eq!(
        out.document.to_compact_json(),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"},{"Sid":"AllowSageMakerToAssumeRole","Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#
    );
    let lambda = Requirement::Trust {
        service: "lambda.amazonaws.com".into(),
        action: a2i::ASSUME_ROLE.into(),
    };
    assert!(matches!(verdict(&req, &out.document), Verdict::Met { .. }));
    assert!(matches!(
        verdict(&lambda, &out.document),
        Verdict::Met { .. }
    ));
}

#[test]
fn trust_policy_as_aws_returns_it_already_meets_and_an_equal_statement_is_not_added_twice() {
    let before = doc("trust_sagemaker_as_aws_returns_it.json");
    let req = Requirement::Trust {
        service: a2i::SAGEMAKER_SERVICE.into(),
        action: a2i::ASSUME_ROLE.into(),
    };
    assert!(matches!(verdict(&req, &before), Verdict::Met { .. }));
    // Written by a2i-fix, returned by IAM with lists: the same statement.
    let ours = merge_statements(&PolicyDocument::empty(), &[a2i::trust_statement()]).document;
    let returned = PolicyDocument::parse(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"AllowSageMakerToAssumeRole","Effect":"Allow","Principal":{"Service":["sagemaker.amazonaws.com"]},"Action":["sts:AssumeRole"]}]}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(equivalent(&ours, &returned));
    let out = merge_statements(&returned, &[a2i::trust_statement()]);
    assert!(!out.changed());
    assert_eq!(
        out.document.to_compact_json(),
        returned.to_compact_json(),
        "unchanged means byte-identical"
    );
}

#[test]
fn single_statement_object_becomes_a_list_and_missing_version_stays_missing() {
    let before = doc("key_policy_no_version_single_statement.json");
    let out = merge_statements(&before, &[a2i::key_statement(&[ROLE.to_string()])]);
    assert_eq!(
        out.document.to_compact_json(),
        r#"{"Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"},{"Sid":"AllowUseOfKmsKey","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/A2IFlowRole"},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}]}"#
    );
    assert_eq!(out.document.version, None);
    assert_eq!(
        check_key_policy_lockout("k", &before, &out.document, ACCT, None),
        Ok(())
    );
}

#[test]
fn inline_grant_for_a_new_bucket_replaces_the_a2i_statement_and_keeps_the_other() {
    let before = doc("inline_read_write.json");
    let buckets = [
        "arn:aws:s3:::acme-a2i-input/*".to_string(),
        "arn:aws:s3:::acme-more-input/*".to_string(),
    ];
    let out = merge_statements(
        &before,
        &[
            a2i::read_input_statement(&buckets),
            a2i::write_output_statement(&["arn:aws:s3:::acme-a2i-output/reviews/*".to_string()]),
        ],
    );
    assert_eq!(out.replaced, vec![a2i::SID_READ_INPUT.to_string()]);
    assert!(
        out.added.is_empty(),
        "the write statement is already there: {:?}",
        out.added
    );
    assert_eq!(out.document.statements[1].raw, before.statements[1].raw);
    for b in &buckets {
        let req = Requirement::Identity {
            action: "s3:GetObject".into(),
            resource: b.clone(),
        };
        assert!(
            matches!(verdict(&req, &out.document), Verdict::Met { .. }),
            "{b}"
        );
    }
    assert!(out.document.to_pretty_json().contains(
        "\"Resource\": [\n        \"arn:aws:s3:::acme-a2i-input/*\",\n        \"arn:aws:s3:::acme-more-input/*\"\n      ]"
    ));
}

#[test]
fn merge_into_identity_policy_with_a_deny_stays_blocked() {
    let before = doc("identity_with_deny.json");
    let req = Requirement::Identity {
        action: "s3:GetObject".into(),
        resource: "arn:aws:s3:::acme-a2i-input/*".into(),
    };
    let Verdict::Blocked { by, conditional } = verdict(&req, &before) else {
        panic!("expected blocked")
    };
    assert_eq!(
        (by.index, by.sid.as_deref(), conditional),
        (1, Some("NoSecrets"), false)
    );
    let out = merge_statements(
        &before,
        &[a2i::read_input_statement(&[
            "arn:aws:s3:::acme-a2i-input/*".to_string(),
        ])],
    );
    assert!(
        matches!(verdict(&req, &out.document), Verdict::Blocked { .. }),
        "an added Allow does not override a Deny"
    );
}

#[test]
fn cors_with_several_unrelated_rules_keeps_them_in_order_and_appends_the_a2i_rule() {
    let before = cors("cors_several.json");
    assert_eq!(evaluate_cors(&before).verdict, Verdict::NotMet);
    let out = merge_cors(&before, &a2i::cors_rule());
    assert_eq!(out.added, vec!["GET from *".to_string()]);
    assert_eq!(out.document.rules[..3], before.rules[..]);
    assert_eq!(out.document.rules.len(), 4);
    let Verdict::Met { by } = evaluate_cors(&out.document).verdict else {
        panic!("expected met")
    };
    assert_eq!(by.index, 3);
    assert_eq!(check_cors_nothing_lost("b", &before, &out.document), Ok(()));
    let again = merge_cors(&out.document, &a2i::cors_rule());
    assert!(!again.changed());
    assert_eq!(again.document, out.document);
}

#[test]
fn cors_rule_equal_but_for_its_id_is_not_added_again() {
    let before = CorsConfiguration::parse(
        r#"{"CORSRules":[{"ID":"a2i-worker","AllowedHeaders":[],"AllowedMethods":["get"],"AllowedOrigins":["*"]}]}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!merge_cors(&before, &a2i::cors_rule()).changed());
}

#[test]
fn merging_into_an_empty_document_builds_it() {
    let out = merge_statements(
        &PolicyDocument::empty(),
        &[
            a2i::read_input_statement(&[
                "arn:aws:s3:::b/*".to_string(),
                "arn:aws:s3:::a/*".to_string(),
                "arn:aws:s3:::a/*".to_string(),
            ]),
            a2i::write_output_statement(&["arn:aws:s3:::out/x/*".to_string()]),
        ],
    );
    assert_eq!(
        out.added,
        vec![
            a2i::SID_READ_INPUT.to_string(),
            a2i::SID_WRITE_OUTPUT.to_string()
        ]
    );
    assert_eq!(
        out.document.to_compact_json(),
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"AllowA2IReadInput","Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::a/*","arn:aws:s3:::b/*"]},{"Sid":"AllowA2IWriteOutput","Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::out/x/*"}]}"#
    );
}

#[test]
fn two_additions_with_one_sid_are_both_kept_so_merge_stays_idempotent() {
    let a = a2i::read_input_statement(&["arn:aws:s3:::a/*".to_string()]);
    let b = a2i::read_input_statement(&["arn:aws:s3:::b/*".to_string()]);
    let existing = merge_statements(
        &PolicyDocument::empty(),
        &[a2i::read_input_statement(&[
            "arn:aws:s3:::old/*".to_string()
        ])],
    )
    .document;
    let once = merge_statements(&existing, &[a.clone(), b.clone()]);
    assert_eq!(once.replaced, vec![a2i::SID_READ_INPUT.to_string()]);
    assert_eq!(once.added, vec![a2i::SID_READ_INPUT.to_string()]);
    let twice = merge_statements(&once.document, &[a, b]);
    assert!(!twice.changed());
}
