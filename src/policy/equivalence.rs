//! When two documents mean the same thing
//! (`docs/requirements.md#when-two-documents-mean-the-same-thing`).
//!
//! Both sides are brought to a normal form and compared. The normal form
//! treats as equal:
//!
//! - a string and a one-element list; any order of (and duplicates in)
//!   statements, actions, resources, principal values and condition values;
//! - action names in any case; `Effect` in any case;
//! - a 12-digit account id and `arn:aws:iam::ID:root` as an `AWS` principal;
//!   `"Principal": "*"` and `{"AWS": "*"}`;
//! - condition key names in any case (AWS treats them so), a condition value
//!   written as a boolean or number and the same value as a string (AWS
//!   compares the text: `true` = `"true"`), a missing and an empty `Condition`;
//! - for CORS: a missing and an empty `AllowedHeaders` / `ExposeHeaders`, any
//!   order of methods, origins and headers, methods and header names in any
//!   case (HTTP makes both case-insensitive).
//!
//! # Decisions
//!
//! - **`Version`.** A document without `Version` is read by AWS as
//!   `2008-10-17`, where policy variables (`${aws:username}`) are literal
//!   text, while under `2012-10-17` they are expanded. So a missing `Version`
//!   equals `2008-10-17`, and equals `2012-10-17` only when no string in the
//!   document contains `${` (then the two versions mean the same thing).
//! - An empty `Sid` (`"Sid": ""`, which the IAM console writes into trust
//!   policies) is the same as no `Sid`.
//! - **`Sid` and `Id` count.** They carry no permission, but AWS never rewrites
//!   them (so comparing them causes no perpetual diff), and merge uses the Sid
//!   as the statement's identity, so two statements that differ only in Sid
//!   are different statements.
//! - **Resources, principals and condition values are compared exactly**
//!   (case-sensitive); condition operators too. Where AWS's case rules are not
//!   certain, "not equivalent" is the safe answer: it can at worst cause a
//!   rewrite of an equal document, never a skipped change.
//! - **CORS rule order matters** (S3 uses the first matching rule) and so does
//!   `ID`; rules are compared position by position.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::document::{VERSION_2008, VERSION_2012};
use super::{CorsConfiguration, CorsRule, Effect, PolicyDocument, Principal, Statement};

/// Whether two policy documents mean the same thing.
pub fn equivalent(a: &PolicyDocument, b: &PolicyDocument) -> bool {
    if a.id != b.id || !versions_equivalent(a, b) {
        return false;
    }
    let na: BTreeSet<NormStatement> = a.statements.iter().map(NormStatement::of).collect();
    let nb: BTreeSet<NormStatement> = b.statements.iter().map(NormStatement::of).collect();
    na == nb
}

/// Whether two statements mean the same thing (Sid included).
pub fn statements_equivalent(a: &Statement, b: &Statement) -> bool {
    NormStatement::of(a) == NormStatement::of(b)
}

/// Whether two CORS configurations mean the same thing (rule order matters:
/// S3 uses the first matching rule).
pub fn cors_equivalent(a: &CorsConfiguration, b: &CorsConfiguration) -> bool {
    a.rules.len() == b.rules.len()
        && a.rules
            .iter()
            .zip(&b.rules)
            .all(|(x, y)| cors_rules_equivalent(x, y))
}

/// Whether two CORS rules mean the same thing, `ID` included.
pub fn cors_rules_equivalent(a: &CorsRule, b: &CorsRule) -> bool {
    a.id == b.id && cors_rules_grant_the_same(a, b)
}

/// Whether two CORS rules allow the same requests with the same response
/// headers (`ID`, a label, ignored).
pub fn cors_rules_grant_the_same(a: &CorsRule, b: &CorsRule) -> bool {
    let upper = |v: &[String]| {
        v.iter()
            .map(|s| s.to_ascii_uppercase())
            .collect::<BTreeSet<_>>()
    };
    let lower = |v: &[String]| {
        v.iter()
            .map(|s| s.to_ascii_lowercase())
            .collect::<BTreeSet<_>>()
    };
    let exact = |v: &[String]| v.iter().cloned().collect::<BTreeSet<_>>();
    upper(&a.allowed_methods) == upper(&b.allowed_methods)
        && exact(&a.allowed_origins) == exact(&b.allowed_origins)
        && lower(&a.allowed_headers) == lower(&b.allowed_headers)
        && lower(&a.expose_headers) == lower(&b.expose_headers)
        && a.max_age_seconds == b.max_age_seconds
}

fn versions_equivalent(a: &PolicyDocument, b: &PolicyDocument) -> bool {
    let va = a.version.as_deref().unwrap_or(VERSION_2008);
    let vb = b.version.as_deref().unwrap_or(VERSION_2008);
    if va == vb {
        return true;
    }
    // The versions differ only in whether `${...}` is expanded.
    let known = |v: &str| v == VERSION_2008 || v == VERSION_2012;
    known(va) && known(vb) && !uses_policy_variables(a) && !uses_policy_variables(b)
}

/// Whether any string in the document's statements contains `${`.
pub fn uses_policy_variables(doc: &PolicyDocument) -> bool {
    doc.statements
        .iter()
        .any(|s| value_contains(&s.raw_or_built(), "${"))
}

fn value_contains(v: &Value, needle: &str) -> bool {
    match v {
        Value::String(s) => s.contains(needle),
        Value::Array(items) => items.iter().any(|i| value_contains(i, needle)),
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| k.contains(needle) || value_contains(v, needle)),
        _ => false,
    }
}

/// A statement in normal form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct NormStatement {
    sid: Option<String>,
    effect: Effect,
    principal: Option<NormPrincipal>,
    not_principal: Option<NormPrincipal>,
    action: Option<BTreeSet<String>>,
    not_action: Option<BTreeSet<String>>,
    resource: Option<BTreeSet<String>>,
    not_resource: Option<BTreeSet<String>>,
    /// operator -> set of (lower-cased key, values). A set of pairs rather
    /// than a map, so that two keys differing only in case stay two entries.
    condition: BTreeMap<String, BTreeSet<(String, BTreeSet<String>)>>,
}

type NormPrincipal = BTreeMap<String, BTreeSet<String>>;

impl NormStatement {
    pub(crate) fn of(s: &Statement) -> Self {
        let lower = |v: &Option<Vec<String>>| {
            v.as_ref()
                .map(|v| v.iter().map(|a| a.to_ascii_lowercase()).collect())
        };
        let exact = |v: &Option<Vec<String>>| v.as_ref().map(|v| v.iter().cloned().collect());
        NormStatement {
            sid: s.sid.clone().filter(|sid| !sid.is_empty()),
            effect: s.effect,
            principal: s.principal.as_ref().map(norm_principal),
            not_principal: s.not_principal.as_ref().map(norm_principal),
            action: lower(&s.action),
            not_action: lower(&s.not_action),
            resource: exact(&s.resource),
            not_resource: exact(&s.not_resource),
            condition: norm_condition(s.condition.as_ref()),
        }
    }
}

/// What `after` takes away from `before`, when it replaces it: `None` when
/// `after` keeps or widens everything (same effect, condition and `Not*`
/// elements; each action, resource and principal value of `before` still
/// there, compared in normal form), else what is lost, e.g. "would lose
/// resource `arn:aws:s3:::b/*`". The Sid is not compared.
pub(crate) fn narrowing(before: &Statement, after: &Statement) -> Option<String> {
    let (b, a) = (NormStatement::of(before), NormStatement::of(after));
    if b.effect != a.effect {
        return Some(format!(
            "would change its effect from {:?} to {:?}",
            b.effect, a.effect
        ));
    }
    if b.condition != a.condition {
        return Some("would change its condition".into());
    }
    let nots = [
        ("NotPrincipal", b.not_principal != a.not_principal),
        ("NotAction", b.not_action != a.not_action),
        ("NotResource", b.not_resource != a.not_resource),
    ];
    if let Some((name, _)) = nots.iter().find(|(_, differs)| *differs) {
        return Some(format!("would change its `{name}`"));
    }
    let missing =
        |what: &str, b: &Option<BTreeSet<String>>, a: &Option<BTreeSet<String>>| match (b, a) {
            (None, None) => None,
            (Some(b), Some(a)) => b
                .difference(a)
                .next()
                .map(|v| format!("would lose {what} `{v}`")),
            (Some(_), None) => Some(format!("would lose its `{}`", capitalised(what))),
            (None, Some(_)) => Some(format!("would add a `{}` element", capitalised(what))),
        };
    if let Some(loss) = missing("action", &b.action, &a.action) {
        return Some(loss);
    }
    if let Some(loss) = missing("resource", &b.resource, &a.resource) {
        return Some(loss);
    }
    match (&b.principal, &a.principal) {
        (None, None) => None,
        (Some(_), None) => Some("would lose its `Principal`".into()),
        (None, Some(_)) => Some("would add a `Principal` element".into()),
        (Some(bp), Some(ap)) => bp.iter().find_map(|(key, values)| {
            let kept = ap.get(key);
            values
                .iter()
                .find(|v| !kept.is_some_and(|k| k.contains(*v)))
                .map(|v| format!("would lose principal `{v}` (`{key}`)"))
        }),
    }
}

fn capitalised(what: &str) -> String {
    let mut chars = what.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

fn norm_principal(p: &Principal) -> NormPrincipal {
    let mut out = NormPrincipal::new();
    match p {
        Principal::Any => {
            out.entry("AWS".to_string())
                .or_default()
                .insert("*".to_string());
        }
        Principal::Map(entries) => {
            for (key, values) in entries {
                let set = out.entry(key.clone()).or_default();
                for v in values {
                    set.insert(if key == "AWS" {
                        normalize_aws_principal(v)
                    } else {
                        v.clone()
                    });
                }
            }
        }
    }
    out
}

/// A 12-digit account id as an `AWS` principal means the account's root.
pub fn normalize_aws_principal(v: &str) -> String {
    if is_account_id(v) {
        format!("arn:aws:iam::{v}:root")
    } else {
        v.to_string()
    }
}

pub(crate) fn is_account_id(v: &str) -> bool {
    v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit())
}

fn norm_condition(
    c: Option<&serde_json::Map<String, Value>>,
) -> BTreeMap<String, BTreeSet<(String, BTreeSet<String>)>> {
    let mut out = BTreeMap::new();
    let Some(c) = c else { return out };
    for (op, keys) in c {
        let Value::Object(keys) = keys else {
            // Not produced by the parser; keep it distinct rather than drop it.
            out.entry(op.clone())
                .or_insert_with(BTreeSet::new)
                .insert((String::new(), [keys.to_string()].into()));
            continue;
        };
        if keys.is_empty() {
            continue;
        }
        let entry: &mut BTreeSet<(String, BTreeSet<String>)> = out.entry(op.clone()).or_default();
        for (key, values) in keys {
            let set: BTreeSet<String> = match values {
                Value::Array(items) => items.iter().map(condition_text).collect(),
                v => [condition_text(v)].into(),
            };
            entry.insert((key.to_ascii_lowercase(), set));
        }
    }
    out
}

fn condition_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> PolicyDocument {
        match PolicyDocument::parse(text) {
            Ok(d) => d,
            Err(e) => panic!("test document does not parse: {e}\n{text}"),
        }
    }

    #[test]
    fn reserialised_document_is_equivalent() {
        let a = doc(
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::b/*"}]}"#,
        );
        let b = doc(
            r#"{"Statement":{"Resource":["arn:aws:s3:::b/*"],"Action":"S3:getobject","Effect":"allow","Sid":"A"},"Version":"2012-10-17"}"#,
        );
        assert!(equivalent(&a, &b));
    }
}
