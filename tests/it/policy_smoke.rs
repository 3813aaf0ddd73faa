//! End-to-end use of the policy engine as the planner uses it.

use a2i_fix::policy::limits::{check_key_policy_lockout, check_nothing_lost};
use a2i_fix::policy::{
    CorsConfiguration, LabeledDocument, PolicyDocument, Requirement, Verdict, a2i, evaluate,
    evaluate_cors, merge_cors, merge_statements,
};

const ACCT: &str = "111122223333";
const ROLE: &str = "arn:aws:iam::111122223333:role/A2IFlowRole";

fn key_grant() -> Requirement {
    Requirement::KeyGrant {
        principal_arn: ROLE.into(),
        actions: a2i::KMS_ACTIONS.iter().map(|a| a.to_string()).collect(),
    }
}

#[test]
fn default_key_policy_gets_the_a2i_statement_and_then_meets_the_grant() {
    let before = PolicyDocument::parse(
        r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let d = evaluate(
        &key_grant(),
        &[LabeledDocument {
            label: "key policy",
            document: &before,
        }],
        ACCT,
    );
    assert_eq!(d.verdict, Verdict::NotMet, "{}", d.reason);
    let out = merge_statements(&before, &[a2i::key_statement(&[ROLE.to_string()])]);
    assert_eq!(out.added, vec!["AllowUseOfKmsKey".to_string()]);
    let d = evaluate(
        &key_grant(),
        &[LabeledDocument {
            label: "key policy",
            document: &out.document,
        }],
        ACCT,
    );
    assert!(matches!(d.verdict, Verdict::Met { .. }), "{}", d.reason);
    assert_eq!(
        check_key_policy_lockout("k", &before, &out.document, ACCT, None),
        Ok(())
    );
    assert_eq!(
        check_nothing_lost("k", &before, &out.document, &out.replaced),
        Ok(())
    );
    let again = merge_statements(&out.document, &[a2i::key_statement(&[ROLE.to_string()])]);
    assert!(!again.changed());
    assert!(
        out.document
            .to_pretty_json()
            .starts_with("{\n  \"Version\": \"2012-10-17\",\n  \"Id\": \"key-default-1\"")
    );
}

#[test]
fn empty_cors_gets_the_a2i_rule() {
    let before = CorsConfiguration::default();
    assert_eq!(evaluate_cors(&before).verdict, Verdict::NotMet);
    let out = merge_cors(&before, &a2i::cors_rule());
    assert!(matches!(
        evaluate_cors(&out.document).verdict,
        Verdict::Met { .. }
    ));
    assert_eq!(
        out.document.to_pretty_json(),
        "{\n  \"CORSRules\": [\n    {\n      \"AllowedMethods\": [\n        \"GET\"\n      ],\n      \"AllowedOrigins\": [\n        \"*\"\n      ]\n    }\n  ]\n}"
    );
}

#[test]
fn trust_statement_is_built_in_canonical_key_order() {
    let doc = merge_statements(&PolicyDocument::empty(), &[a2i::trust_statement()]).document;
    assert_eq!(
        doc.to_compact_json(),
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"AllowSageMakerToAssumeRole","Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#
    );
    let req = Requirement::Trust {
        service: a2i::SAGEMAKER_SERVICE.into(),
        action: a2i::ASSUME_ROLE.into(),
    };
    let d = evaluate(
        &req,
        &[LabeledDocument {
            label: "trust policy",
            document: &doc,
        }],
        ACCT,
    );
    assert!(matches!(d.verdict, Verdict::Met { .. }), "{}", d.reason);
}
