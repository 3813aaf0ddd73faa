//! Every example in `plans/` parses and derives exactly the needs its
//! comments announce.

use std::collections::{BTreeMap, BTreeSet};

use a2i_fix::model::PrincipalKind;
use a2i_fix::requirements::{
    self, Because, Needs, POLICY_FULL_ACCESS, POLICY_INTEGRATED_API, POLICY_MECHANICAL_TURK,
};
use a2i_fix::spec::{self, Spec};

use crate::support::{ACCOUNT_ID as ACCOUNT, EXAMPLES, plans_dir};

const ML_APP: &str = "arn:aws:iam::123456789012:role/ml-app";

fn load(name: &str) -> (Spec, Needs) {
    let path = plans_dir().join(name);
    let spec = match spec::load(&path) {
        Ok(spec) => spec,
        Err(e) => panic!("{name} does not parse: {e}"),
    };
    let needs = requirements::derive(&spec);
    (spec, needs)
}

fn because(requirement: &'static str, by: &str) -> Because {
    Because {
        requirement,
        by: by.to_string(),
    }
}

fn keys<V>(map: &BTreeMap<String, V>) -> Vec<&str> {
    map.keys().map(String::as_str).collect()
}

/// The policy ARNs of a caller, with the requirement ids behind each.
fn caller_policies(needs: &Needs, arn: &str) -> BTreeMap<String, Vec<&'static str>> {
    let Some(caller) = needs.callers.get(arn) else {
        panic!("no needs for caller {arn}: {:?}", needs.callers.keys());
    };
    caller
        .policies
        .iter()
        .map(|(p, why)| (p.clone(), why.iter().map(|b| b.requirement).collect()))
        .collect()
}

#[test]
fn every_example_in_plans_parses_and_is_covered_here() {
    let mut found = BTreeSet::new();
    let entries = match std::fs::read_dir(plans_dir()) {
        Ok(entries) => entries,
        Err(e) => panic!("cannot list plans/: {e}"),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.ends_with(".toml") {
            let (spec, _) = load(&name);
            assert_eq!(
                spec.bound_account().as_deref(),
                Some(ACCOUNT),
                "{name} is bound to moto's account"
            );
            found.insert(name);
        }
    }
    let covered: BTreeSet<String> = EXAMPLES.iter().map(|s| s.to_string()).collect();
    assert_eq!(found, covered, "a new example needs its own test below");
}

#[test]
fn every_example_is_listed_in_the_plans_readme() {
    let readme = match std::fs::read_to_string(plans_dir().join("README.md")) {
        Ok(text) => text,
        Err(e) => panic!("cannot read plans/README.md: {e}"),
    };
    for name in [
        "custom-task",
        "kms-output",
        "public-workforce",
        "rekognition",
        "shared-role",
        "textract",
    ] {
        assert!(
            readme.contains(&format!("{name}.toml")),
            "plans/README.md does not list {name}.toml"
        );
    }
}

#[test]
fn custom_task_needs_cors_flow_role_grants_full_access_and_preview_read() {
    let (_, needs) = load("custom-task.toml");
    let by = "flow definition product-review";
    let preview = "template preview A2IPreviewRole";

    assert_eq!(needs.account_id.as_deref(), Some(ACCOUNT));
    assert_eq!(
        needs.cors.get("acme-a2i-input"),
        Some(&vec![because("R1", by), because("R1", preview)])
    );
    assert_eq!(keys(&needs.cors), ["acme-a2i-input"]);
    assert_eq!(
        needs.output_buckets,
        BTreeSet::from(["acme-a2i-output".to_string()])
    );
    assert_eq!(keys(&needs.roles), ["A2IFlowRole", "A2IPreviewRole"]);

    let flow = &needs.roles["A2IFlowRole"];
    assert!(flow.create_if_missing);
    assert_eq!(flow.path, "/");
    assert_eq!(flow.trust, vec![because("R4", by)]);
    assert_eq!(
        flow.read.get("arn:aws:s3:::acme-a2i-input/*"),
        Some(&vec![because("R2", by)])
    );
    assert_eq!(keys(&flow.read).len(), 1);
    assert_eq!(
        keys(&flow.write),
        ["arn:aws:s3:::acme-a2i-output/reviews/*"]
    );
    assert_eq!(
        flow.write["arn:aws:s3:::acme-a2i-output/reviews/*"],
        vec![because("R3", by)]
    );

    let preview_role = &needs.roles["A2IPreviewRole"];
    assert!(
        !preview_role.create_if_missing,
        "a preview-only role is never created"
    );
    assert_eq!(preview_role.trust, vec![because("R4", preview)]);
    assert_eq!(
        preview_role.read.get("arn:aws:s3:::acme-a2i-input/*"),
        Some(&vec![because("R9", preview)])
    );
    assert!(preview_role.write.is_empty());

    assert!(needs.keys.is_empty());
    assert_eq!(keys(&needs.callers), [ML_APP]);
    assert_eq!(needs.callers[ML_APP].kind, PrincipalKind::Role);
    assert_eq!(needs.callers[ML_APP].name, "ml-app");
    assert_eq!(
        caller_policies(&needs, ML_APP),
        BTreeMap::from([(POLICY_FULL_ACCESS.to_string(), vec!["R6"])])
    );
}

#[test]
fn textract_needs_integrated_api_access_for_a_user() {
    let (_, needs) = load("textract.toml");
    let user = "arn:aws:iam::123456789012:user/invoice-bot";
    assert_eq!(keys(&needs.cors), ["acme-a2i-input"]);
    assert_eq!(keys(&needs.roles), ["A2IFlowRole"]);
    let flow = &needs.roles["A2IFlowRole"];
    assert_eq!(keys(&flow.read), ["arn:aws:s3:::acme-a2i-input/*"]);
    assert_eq!(
        keys(&flow.write),
        ["arn:aws:s3:::acme-a2i-output/textract/*"]
    );
    assert_eq!(needs.callers[user].kind, PrincipalKind::User);
    assert_eq!(needs.callers[user].name, "invoice-bot");
    assert_eq!(
        caller_policies(&needs, user),
        BTreeMap::from([(POLICY_INTEGRATED_API.to_string(), vec!["R7"])])
    );
}

#[test]
fn rekognition_needs_integrated_api_access_and_no_full_access() {
    let (_, needs) = load("rekognition.toml");
    let flow = &needs.roles["A2IFlowRole"];
    assert_eq!(
        keys(&flow.write),
        ["arn:aws:s3:::acme-a2i-output/moderation/*"]
    );
    assert_eq!(
        flow.trust,
        vec![because("R4", "flow definition moderation-review")]
    );
    assert_eq!(
        caller_policies(&needs, ML_APP),
        BTreeMap::from([(POLICY_INTEGRATED_API.to_string(), vec!["R7"])])
    );
    assert!(needs.keys.is_empty());
}

#[test]
fn kms_output_needs_the_flow_role_in_the_key_policy() {
    let (spec, needs) = load("kms-output.toml");
    assert_eq!(
        spec.flow_definitions[0].role.account_id.as_deref(),
        Some(ACCOUNT)
    );
    assert_eq!(keys(&needs.keys), ["alias/a2i-output"]);
    let key = &needs.keys["alias/a2i-output"];
    assert_eq!(key.key_ref, "alias/a2i-output");
    assert_eq!(
        key.roles,
        BTreeMap::from([(
            "A2IFlowRole".to_string(),
            vec![because("R5", "flow definition claims-review")]
        )])
    );
    let flow = &needs.roles["A2IFlowRole"];
    assert_eq!(flow.path, "/");
    assert_eq!(keys(&flow.write), ["arn:aws:s3:::acme-a2i-output/claims/*"]);
    assert_eq!(
        caller_policies(&needs, ML_APP),
        BTreeMap::from([(POLICY_FULL_ACCESS.to_string(), vec!["R6"])])
    );
}

#[test]
fn public_workforce_needs_mechanical_turk_on_top_of_full_access() {
    let (spec, needs) = load("public-workforce.toml");
    assert!(spec.human_loop_callers[0].public_workforce);
    // `s3://acme-a2i-output/sentiment` without the final slash still grants the folder only.
    assert_eq!(
        keys(&needs.roles["A2IFlowRole"].write),
        ["arn:aws:s3:::acme-a2i-output/sentiment/*"]
    );
    assert_eq!(
        caller_policies(&needs, ML_APP),
        BTreeMap::from([
            (POLICY_FULL_ACCESS.to_string(), vec!["R6"]),
            (POLICY_MECHANICAL_TURK.to_string(), vec!["R8"]),
        ])
    );
}

#[test]
fn shared_role_merges_the_needs_of_every_flow_definition() {
    let (spec, needs) = load("shared-role.toml");
    assert_eq!(spec.flow_definitions.len(), 3);
    let invoice = "flow definition invoice-review";
    let receipt = "flow definition receipt-review";
    let id_check = "flow definition id-check";
    let preview = "template preview A2IPreviewRole";

    assert_eq!(
        needs.cors,
        BTreeMap::from([
            (
                "acme-a2i-input".to_string(),
                vec![because("R1", invoice), because("R1", id_check)]
            ),
            (
                "acme-a2i-receipts".to_string(),
                vec![
                    because("R1", receipt),
                    because("R1", id_check),
                    because("R1", preview)
                ]
            ),
        ])
    );
    assert_eq!(keys(&needs.roles), ["A2IFlowRole", "A2IPreviewRole"]);
    let flow = &needs.roles["A2IFlowRole"];
    assert!(flow.create_if_missing);
    assert_eq!(
        flow.trust,
        vec![
            because("R4", invoice),
            because("R4", receipt),
            because("R4", id_check)
        ]
    );
    assert_eq!(
        flow.read,
        BTreeMap::from([
            (
                "arn:aws:s3:::acme-a2i-input/*".to_string(),
                vec![because("R2", invoice), because("R2", id_check)]
            ),
            (
                "arn:aws:s3:::acme-a2i-receipts/*".to_string(),
                vec![because("R2", receipt), because("R2", id_check)]
            ),
        ])
    );
    assert_eq!(
        flow.write,
        BTreeMap::from([
            (
                "arn:aws:s3:::acme-a2i-output/id-checks/*".to_string(),
                vec![because("R3", id_check)]
            ),
            (
                "arn:aws:s3:::acme-a2i-output/invoices/*".to_string(),
                vec![because("R3", invoice)]
            ),
            (
                "arn:aws:s3:::acme-a2i-output/receipts/*".to_string(),
                vec![because("R3", receipt)]
            ),
        ])
    );
    assert_eq!(
        needs.output_buckets,
        BTreeSet::from(["acme-a2i-output".to_string()])
    );
    assert_eq!(
        needs.keys["alias/a2i-output"].roles,
        BTreeMap::from([("A2IFlowRole".to_string(), vec![because("R5", receipt)])])
    );
    let preview_role = &needs.roles["A2IPreviewRole"];
    assert!(!preview_role.create_if_missing);
    assert_eq!(
        keys(&preview_role.read),
        ["arn:aws:s3:::acme-a2i-receipts/*"]
    );
    assert_eq!(
        caller_policies(&needs, ML_APP),
        BTreeMap::from([
            (POLICY_FULL_ACCESS.to_string(), vec!["R6"]),
            (POLICY_INTEGRATED_API.to_string(), vec!["R7"]),
        ])
    );
}
