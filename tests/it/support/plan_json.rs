//! Reading the JSON plans the binary prints, and writing a plan's `after`
//! documents through the second client (standing in for `apply`, so that
//! "everything already right" is whatever the plan says is right).

use a2i_fix::policy::CorsConfiguration;
use serde_json::Value;

use crate::support::Seed;

/// The changes of a JSON plan.
pub fn changes(plan: &Value) -> &Vec<Value> {
    plan["changes"]
        .as_array()
        .unwrap_or_else(|| panic!("no `changes` list in the plan: {plan:#}"))
}

/// `(address, action, requirements)` of every change, in plan order.
pub fn summary_rows(plan: &Value) -> Vec<(String, String, Vec<String>)> {
    changes(plan)
        .iter()
        .map(|c| {
            (
                str_of(&c["address"]),
                str_of(&c["action"]),
                strings(&c["requirements"]),
            )
        })
        .collect()
}

/// The change at `address`, if any.
pub fn change<'a>(plan: &'a Value, address: &str) -> Option<&'a Value> {
    changes(plan).iter().find(|c| c["address"] == address)
}

pub fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, found {v}"))
        .to_string()
}

/// A string or a list of strings, as a list.
pub fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().map(str_of).collect(),
        Value::Null => Vec::new(),
        other => panic!("expected a string or a list, found {other}"),
    }
}

/// The `after` document of a change, parsed.
pub fn after(change: &Value) -> Value {
    let text = str_of(&change["after"]);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("`after` is not JSON ({e}): {text}"))
}

/// Every `(action, resource)` an IAM policy document allows, lower-casing
/// actions (IAM compares them case-insensitively).
pub fn allowed(document: &Value) -> Vec<(String, String)> {
    let statements = match &document["Statement"] {
        Value::Array(list) => list.clone(),
        single => vec![single.clone()],
    };
    let mut pairs = Vec::new();
    for st in statements {
        if st["Effect"] != "Allow" {
            continue;
        }
        for action in strings(&st["Action"]) {
            for resource in strings(&st["Resource"]) {
                pairs.push((action.to_ascii_lowercase(), resource));
            }
        }
    }
    pairs.sort();
    pairs
}

// ---------------------------------------------------------------------------
// Writing a plan's documents through the second client
// ---------------------------------------------------------------------------

/// Write every change's `after` document with the SDK, in plan order, the
/// way the plan's JSON describes it. This stands in for `apply` (built
/// elsewhere) so that "everything already right" is whatever the plan says
/// is right.
pub async fn write_after_documents(seed: &Seed, plan: &Value) {
    for change in changes(plan) {
        let target = &change["target"];
        let address = str_of(&change["address"]);
        let document = str_of(&change["after"]);
        let c = &seed.c;
        match target["type"].as_str() {
            Some("bucket_cors") => {
                let config = CorsConfiguration::parse(&document)
                    .unwrap_or_else(|e| panic!("{address}: `after` is not a CORS document: {e}"));
                seed.put_cors(&str_of(&target["bucket"]), &config.rules)
                    .await;
            }
            Some("role") => {
                seed.role_at(
                    &str_of(&target["path"]),
                    &str_of(&target["name"]),
                    &document,
                )
                .await;
            }
            Some("trust_policy") => {
                c.iam
                    .update_assume_role_policy()
                    .role_name(str_of(&target["role"]))
                    .policy_document(&document)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{address}: UpdateAssumeRolePolicy: {e:?}"));
            }
            Some("inline_policy") => {
                seed.inline_policy(
                    &str_of(&target["role"]),
                    &str_of(&target["policy_name"]),
                    &document,
                )
                .await;
            }
            Some("key_policy") => {
                seed.key_policy(&str_of(&target["key_id"]), &document).await;
            }
            Some("attachment") => {
                let arn: String = serde_json::from_str(&document).unwrap_or_else(|e| {
                    panic!("{address}: `after` of an attachment is not a JSON string ({e})")
                });
                assert_eq!(
                    arn,
                    str_of(&target["policy_arn"]),
                    "{address}: `after` names another policy than the target"
                );
                let name = str_of(&target["name"]);
                match target["kind"].as_str() {
                    Some("Role") => seed.attach_role_policy(&name, &arn).await,
                    Some("User") => seed.attach_user_policy(&name, &arn).await,
                    other => panic!("{address}: unknown principal kind {other:?}"),
                }
            }
            other => panic!("{address}: unknown target type {other:?}"),
        }
    }
}

/// The output prefixes (under `acme-a2i-output/`) of all the examples.
pub const ALL_OUTPUT_PREFIXES: [&str; 8] = [
    "claims",
    "id-checks",
    "invoices",
    "moderation",
    "receipts",
    "reviews",
    "sentiment",
    "textract",
];
