//! The plan as SARIF 2.1.0, for code scanning: every unmet need (each
//! requirement of each change) and every warning is a result, anchored to
//! the line of the spec file whose entry causes it.
//!
//! Where each result points is asked of a [`Locate`] (the caller knows the
//! spec; this module only knows the plan). A result always has a location:
//! when nothing in the spec can be named, it points at line 1 of the spec
//! file (GitHub rejects a whole upload for one result without a location).
//!
//! Levels: a change is an `error` (A2I fails until it is applied); a warning,
//! a need no change a2i-fix makes can meet, is a `warning`.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::text::verb;
use crate::plan::{Change, Plan, Warning};

/// The schema the log declares.
pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The rule of a warning that names no requirement.
pub const OTHER_RULE: &str = "A2I";

/// The rules: one per requirement, then [`OTHER_RULE`].
const RULES: &[(&str, &str, &str)] = &[
    (
        "R1",
        "InputBucketCors",
        "Every input bucket has a CORS rule allowing GET from any origin.",
    ),
    (
        "R2",
        "FlowRoleReadsInput",
        "The flow-definition role may read the objects of its input buckets (s3:GetObject).",
    ),
    (
        "R3",
        "FlowRoleWritesOutput",
        "The flow-definition role may write under its output path (s3:PutObject).",
    ),
    (
        "R4",
        "RoleTrustsSageMaker",
        "The role trusts sagemaker.amazonaws.com to assume it.",
    ),
    (
        "R5",
        "FlowRoleUsesOutputKey",
        "The flow-definition role may use the KMS key of its output.",
    ),
    (
        "R6",
        "CallerHasFullAccess",
        "The caller may do what AmazonAugmentedAIFullAccess grants.",
    ),
    (
        "R7",
        "CallerHasIntegratedApiAccess",
        "The caller may do what AmazonAugmentedAIIntegratedAPIAccess grants.",
    ),
    (
        "R8",
        "CallerHasMechanicalTurkAccess",
        "A caller using the public workforce has AmazonSageMakerMechanicalTurkAccess.",
    ),
    (
        "R9",
        "PreviewRoleReadsInput",
        "The template-preview role may read the objects of its input buckets (s3:GetObject).",
    ),
    (
        OTHER_RULE,
        "A2IMayFail",
        "Something a2i-fix does not change may keep A2I from working.",
    ),
];

/// A line of the spec file a result points at, and the key written there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// 1-based.
    pub line: usize,
    /// The key path, e.g. `flow_definition[0].input_buckets`.
    pub key: String,
}

/// Where in the spec file the results of a plan point.
pub trait Locate {
    /// The spec file as code scanning should name it: a path relative to
    /// the repository root with `/` separators, or a `file:` URI.
    fn uri(&self) -> String;
    /// The entries of the spec that need `requirement` of `change`.
    fn change(&self, change: &Change, requirement: &str) -> Vec<Anchor>;
    /// The entries of the spec a warning is about.
    fn warning(&self, warning: &Warning) -> Vec<Anchor>;
}

/// Write the plan as one SARIF 2.1.0 log.
pub fn render_sarif(plan: &Plan, locate: &dyn Locate, out: &mut dyn Write) -> io::Result<()> {
    super::write_json(&sarif(plan, locate), out)
}

/// The SARIF log of a plan.
pub fn sarif(plan: &Plan, locate: &dyn Locate) -> Value {
    let uri = locate.uri();
    let mut results = Vec::new();
    for change in &plan.changes {
        let requirements: Vec<&str> = if change.requirements.is_empty() {
            vec![OTHER_RULE]
        } else {
            change.requirements.iter().map(String::as_str).collect()
        };
        for requirement in requirements {
            let rule = if rule_index(requirement).is_some() {
                requirement
            } else {
                OTHER_RULE
            };
            let message = format!(
                "{requirement} is not met ({} {}): {}. Run `a2i-fix apply` to make this change.",
                change.address,
                verb(change.action),
                change.reason.trim_end_matches('.')
            );
            let anchors = locate.change(change, requirement);
            results.push(result(rule, "error", &message, &uri, anchors));
        }
    }
    for warning in &plan.warnings {
        // A warning on several requirements (`R6, R7`) is filed under the first.
        let rule = warning
            .requirement
            .as_deref()
            .and_then(|r| r.split(',').next())
            .map(str::trim)
            .filter(|r| rule_index(r).is_some())
            .unwrap_or(OTHER_RULE);
        let message = format!("{}: {}", warning.subject, warning.message);
        let anchors = locate.warning(warning);
        results.push(result(rule, "warning", &message, &uri, anchors));
    }
    let rules: Vec<Value> = RULES
        .iter()
        .map(|(id, name, text)| {
            json!({
                "id": id,
                "name": name,
                "shortDescription": {"text": text},
                "fullDescription": {"text": text},
                "defaultConfiguration": {"level": if *id == OTHER_RULE { "warning" } else { "error" }},
                "help": {"text": format!("{text} See the requirements in a2i-fix's README (`{id}`).")},
            })
        })
        .collect();
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "a2i-fix",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

fn rule_index(id: &str) -> Option<usize> {
    RULES.iter().position(|(rule, _, _)| *rule == id)
}

fn result(rule: &str, level: &str, message: &str, uri: &str, anchors: Vec<Anchor>) -> Value {
    let anchors = if anchors.is_empty() {
        vec![Anchor {
            line: 1,
            key: "(document)".to_string(),
        }]
    } else {
        anchors
    };
    let locations: Vec<Value> = anchors
        .iter()
        .map(|a| {
            json!({
                "physicalLocation": {
                    "artifactLocation": {"uri": uri},
                    "region": {"startLine": a.line.max(1)},
                },
                "message": {"text": format!("`{}`", a.key)},
            })
        })
        .collect();
    json!({
        "ruleId": rule,
        "ruleIndex": rule_index(rule).unwrap_or(RULES.len() - 1),
        "level": level,
        "message": {"text": message},
        "locations": locations,
    })
}
