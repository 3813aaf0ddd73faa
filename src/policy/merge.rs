//! Merging A2I's additions into an existing document without losing anything.
//!
//! PutRolePolicy, UpdateAssumeRolePolicy, PutKeyPolicy and PutBucketCors all
//! replace the whole document, so a fix is read, merge, write. The merge:
//!
//! - leaves every existing statement (or CORS rule) where it is, with its exact
//!   JSON (`raw`), except a statement whose Sid equals an addition's Sid and
//!   whose content differs: that one is replaced in place and listed in
//!   `replaced`;
//! - skips an addition when an equivalent statement (Sid included) or an
//!   equivalent CORS rule is already there;
//! - appends the other additions, in the order given.
//!
//! The merge decides *how* to add, not *whether* a requirement needs it: the
//! planner asks [`super::evaluate()`] first and passes only what is unmet, so
//! that a document already meeting a requirement through a broader statement
//! is not touched.
//!
//! # Decisions
//!
//! - **Nothing to add: the document comes back unchanged**, byte for byte
//!   (also a `Statement` written as a single object). When something changes,
//!   `Statement` is written as a list.
//! - **`Version` is kept as it is, even when missing.** Adding `2012-10-17` to a
//!   document without `Version` would start expanding policy variables
//!   (`${...}`) in its existing statements, a change of meaning nobody asked
//!   for. The statements a2i-fix adds use no policy variable, so they mean the
//!   same under both versions. `Id` and the order of the top-level keys are
//!   kept too.
//! - **Only statements that were already there are replaced.** If two
//!   additions share a Sid, the second is appended rather than replacing the
//!   first: this keeps the merge idempotent.
//! - When several existing statements share the addition's Sid (IAM refuses
//!   this, KMS does not), the first one is replaced.
//! - Additions are written from their parts ([`Statement::to_value`] when their
//!   `raw` is not an object), so a statement built by hand cannot carry stale
//!   JSON.
//! - CORS: a rule is "already there" when a rule allowing the same requests
//!   with the same headers exists, whatever its `ID` (a label). Appending after
//!   the existing rules is safe: S3 uses the first matching rule, and the rule
//!   a2i-fix adds allows more than it takes away from no one. An added rule is
//!   described in `added` as `GET from *` (see [`CorsRule::describe`]).

use serde_json::{Map, Value};

use super::equivalence::{NormStatement, cors_rules_grant_the_same};
use super::{CorsConfiguration, CorsRule, PolicyDocument, Statement};

#[derive(Debug, Clone, PartialEq)]
pub struct MergeOutcome<T> {
    pub document: T,
    /// Sids (or CORS rule descriptions) that were appended.
    pub added: Vec<String>,
    /// Sids of existing statements that were replaced (same Sid, different content).
    pub replaced: Vec<String>,
}

impl<T> MergeOutcome<T> {
    pub fn changed(&self) -> bool {
        !self.added.is_empty() || !self.replaced.is_empty()
    }
}

/// Add `additions` (each with a Sid) to `existing`: statements already present
/// (equivalent) are left alone; a statement with the same Sid but different
/// content is replaced in place; others are appended in order.
pub fn merge_statements(
    existing: &PolicyDocument,
    additions: &[Statement],
) -> MergeOutcome<PolicyDocument> {
    let original = existing.statements.len();
    let mut statements = existing.statements.clone();
    let mut norms: Vec<NormStatement> = statements.iter().map(NormStatement::of).collect();
    let mut was_replaced = vec![false; original];
    let mut added = Vec::new();
    let mut replaced = Vec::new();
    for addition in additions {
        let mut addition = addition.clone();
        addition.raw = addition.raw_or_built();
        let norm = NormStatement::of(&addition);
        if norms.contains(&norm) {
            continue;
        }
        let same_sid = addition
            .sid
            .as_ref()
            .filter(|sid| !sid.is_empty())
            .and_then(|sid| {
                (0..original).find(|&i| !was_replaced[i] && statements[i].sid.as_ref() == Some(sid))
            });
        match same_sid {
            Some(i) => {
                replaced.push(addition.sid.clone().unwrap_or_default());
                was_replaced[i] = true;
                statements[i] = addition;
                norms[i] = norm;
            }
            None => {
                added.push(
                    addition
                        .sid
                        .clone()
                        .unwrap_or_else(|| format!("statement {}", statements.len())),
                );
                statements.push(addition);
                norms.push(norm);
            }
        }
    }
    if added.is_empty() && replaced.is_empty() {
        return MergeOutcome {
            document: existing.clone(),
            added,
            replaced,
        };
    }
    let list = Value::Array(statements.iter().map(|s| s.raw.clone()).collect());
    let raw = match &existing.raw {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(
                    k.clone(),
                    if k == "Statement" {
                        list.clone()
                    } else {
                        v.clone()
                    },
                );
            }
            if !out.contains_key("Statement") {
                out.insert("Statement".into(), list);
            }
            out
        }
        _ => {
            let mut out = Map::new();
            if let Some(v) = &existing.version {
                out.insert("Version".into(), Value::String(v.clone()));
            }
            if let Some(id) = &existing.id {
                out.insert("Id".into(), Value::String(id.clone()));
            }
            out.insert("Statement".into(), list);
            out
        }
    };
    let document = PolicyDocument {
        version: existing.version.clone(),
        id: existing.id.clone(),
        statements,
        raw: Value::Object(raw),
    };
    MergeOutcome {
        document,
        added,
        replaced,
    }
}

/// Append `rule` unless an equivalent rule is already present.
pub fn merge_cors(
    existing: &CorsConfiguration,
    rule: &CorsRule,
) -> MergeOutcome<CorsConfiguration> {
    if existing
        .rules
        .iter()
        .any(|r| cors_rules_grant_the_same(r, rule))
    {
        return MergeOutcome {
            document: existing.clone(),
            added: Vec::new(),
            replaced: Vec::new(),
        };
    }
    let mut document = existing.clone();
    document.rules.push(rule.clone());
    MergeOutcome {
        document,
        added: vec![rule.describe()],
        replaced: Vec::new(),
    }
}
