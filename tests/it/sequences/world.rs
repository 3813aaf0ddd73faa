//! The account as a second SDK client reads it back (only this sequence's
//! resources), the grants it holds as `(entity, principal, action,
//! resource, condition)` tuples, and the oracle that judges the spec's needs
//! met. All of it plain JSON walking, written here and not borrowed from the
//! library, so that a bug in the library's policy engine cannot hide itself.

use std::collections::{BTreeMap, BTreeSet};

use a2i_fix::aws::Clients;
use a2i_fix::policy::{CorsConfiguration, CorsRule};
use futures::future::join_all;
use serde_json::{Map, Value};

use super::model::{BUCKETS, KEYS, Names, Need, ROLES};
use crate::support::{Account, Doc};

// ---------------------------------------------------------------------------
// Reading.

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// This sequence's buckets (CORS), roles (trust, inline policies,
/// attachments), callers (attachments) and keys (policy), under the keys
/// [`Account`] uses everywhere else. Read concurrently: moto answers calls
/// in parallel, and a sequence reads the account dozens of times.
pub async fn read(c: &Clients, names: &Names) -> Account {
    let buckets = join_all((0..BUCKETS).map(|i| read_cors(c, names.bucket(i))));
    let roles = join_all((0..ROLES).map(|i| read_role(c, names.role(i))));
    let keys = join_all((0..KEYS).map(|k| read_key(c, names.key_id(k).to_string())));
    let callers = futures::future::join(
        read_attached(c, true, names.caller_user()),
        read_attached(c, false, names.caller_role()),
    );
    let (buckets, roles, keys, callers) = futures::join!(buckets, roles, keys, callers);
    let mut m = BTreeMap::new();
    m.extend(buckets.into_iter().flatten());
    m.extend(roles.into_iter().flatten());
    m.extend(keys);
    m.extend([callers.0, callers.1]);
    Account(m)
}

async fn read_cors(c: &Clients, bucket: String) -> Option<(String, Doc)> {
    match c.s3.get_bucket_cors().bucket(&bucket).send().await {
        Ok(out) => {
            let rules = out
                .cors_rules()
                .iter()
                .map(|r| CorsRule {
                    id: r.id().map(str::to_string),
                    allowed_headers: r.allowed_headers().to_vec(),
                    allowed_methods: r.allowed_methods().to_vec(),
                    allowed_origins: r.allowed_origins().to_vec(),
                    expose_headers: r.expose_headers().to_vec(),
                    max_age_seconds: r.max_age_seconds(),
                })
                .collect();
            Some((
                format!("bucket {bucket} cors"),
                Doc::Cors(CorsConfiguration { rules }),
            ))
        }
        Err(e) => {
            let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&e);
            assert_eq!(
                code,
                Some("NoSuchCORSConfiguration"),
                "get CORS of {bucket}: {e:?}"
            );
            None
        }
    }
}

fn attached(policies: &[aws_sdk_iam::types::AttachedPolicy]) -> Doc {
    Doc::Attached(
        policies
            .iter()
            .filter_map(|p| p.policy_arn.clone())
            .collect(),
    )
}

async fn read_role(c: &Clients, name: String) -> Vec<(String, Doc)> {
    let role = match c.iam.get_role().role_name(&name).send().await {
        Ok(out) => out.role,
        Err(e) => {
            let code = aws_sdk_iam::error::ProvideErrorMetadata::code(&e);
            assert_eq!(code, Some("NoSuchEntity"), "get role {name}: {e:?}");
            return vec![];
        }
    };
    let trust = role
        .and_then(|r| r.assume_role_policy_document)
        .unwrap_or_default();
    let mut docs = vec![(format!("role {name} trust"), Doc::Policy(decode(&trust)))];
    let (inline, attachments) = futures::join!(
        c.iam.list_role_policies().role_name(&name).send(),
        c.iam.list_attached_role_policies().role_name(&name).send(),
    );
    let inline = inline.expect("list role policies");
    let name = name.as_str();
    let policies = join_all(inline.policy_names().iter().map(|p| async move {
        let doc = c
            .iam
            .get_role_policy()
            .role_name(name)
            .policy_name(p)
            .send()
            .await
            .expect("get role policy");
        (
            format!("role {name} inline {p}"),
            Doc::Policy(decode(&doc.policy_document)),
        )
    }))
    .await;
    docs.extend(policies);
    let attachments = attachments.expect("list attached role policies");
    docs.push((
        format!("role {name} attached"),
        attached(attachments.attached_policies()),
    ));
    docs
}

/// The managed policies attached to a caller (the tool touches nothing
/// else of theirs).
async fn read_attached(c: &Clients, user: bool, name: String) -> (String, Doc) {
    if user {
        let out = c
            .iam
            .list_attached_user_policies()
            .user_name(&name)
            .send()
            .await
            .expect("list attached user policies");
        (
            format!("user {name} attached"),
            attached(out.attached_policies()),
        )
    } else {
        let out = c
            .iam
            .list_attached_role_policies()
            .role_name(&name)
            .send()
            .await
            .expect("list attached role policies");
        (
            format!("role {name} attached"),
            attached(out.attached_policies()),
        )
    }
}

async fn read_key(c: &Clients, id: String) -> (String, Doc) {
    let policy = c
        .kms
        .get_key_policy()
        .key_id(&id)
        .policy_name("default")
        .send()
        .await
        .expect("get key policy");
    (
        format!("key {id} policy"),
        Doc::Policy(policy.policy.unwrap_or_default()),
    )
}

/// Every key whose document differs between two reads, with both sides.
pub fn diff(before: &Account, after: &Account) -> Vec<String> {
    let keys: BTreeSet<&String> = before.0.keys().chain(after.0.keys()).collect();
    keys.into_iter()
        .filter(|k| before.0.get(*k) != after.0.get(*k))
        .map(|k| {
            format!(
                "`{k}`:\n      before {}\n      after  {}",
                show(before.0.get(k)),
                show(after.0.get(k))
            )
        })
        .collect()
}

pub fn show(doc: Option<&Doc>) -> String {
    match doc {
        None => "(absent)".into(),
        Some(Doc::Policy(text)) => compact(text),
        Some(other) => format!("{other:?}"),
    }
}

/// A JSON document on one line.
pub fn compact(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| text.to_string())
}

// ---------------------------------------------------------------------------
// Grants.

/// One thing granted. Identity policies of a role are one entity (`role R
/// identity`): moving a grant between its inline policies loses nothing.
/// Statements that are not a plain Allow (Deny, NotAction, ...) are kept
/// whole, as `#statement` with their canonical text as resource; CORS rules
/// and attachments likewise (`#cors`, `#attached`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    pub entity: String,
    pub principal: String,
    pub action: String,
    pub resource: String,
    /// Canonical JSON of the Condition, empty without one.
    pub condition: String,
}

impl std::fmt::Display for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: ", self.entity)?;
        if !self.principal.is_empty() {
            write!(f, "{} ", self.principal)?;
        }
        write!(f, "{} on {}", self.action, self.resource)?;
        if !self.condition.is_empty() {
            write!(f, " if {}", self.condition)?;
        }
        Ok(())
    }
}

/// Sorted keys, sorted lists, a one-element list as its element: two
/// spellings of one value give one text.
pub fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, Value> =
                map.iter().map(|(k, v)| (k, canonical(v))).collect();
            let mut out = Map::new();
            for (k, v) in sorted {
                out.insert(k.clone(), v);
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(canonical).collect();
            items.sort_by_key(|i| i.to_string());
            items.dedup();
            if items.len() == 1 {
                items.remove(0)
            } else {
                Value::Array(items)
            }
        }
        other => other.clone(),
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| i.to_string())
            })
            .collect(),
        Some(other) => vec![other.to_string()],
        None => vec![],
    }
}

/// `AWS:arn`, `Service:name`; an account id as its root ARN; `*` as `AWS:*`.
fn principals(v: Option<&Value>) -> Vec<String> {
    match v {
        None => vec![String::new()],
        Some(Value::String(s)) if s == "*" => vec!["AWS:*".into()],
        Some(Value::Object(map)) => {
            let mut out = Vec::new();
            for (kind, ids) in map {
                for id in strings(Some(ids)) {
                    let is_account = id.len() == 12 && id.chars().all(|c| c.is_ascii_digit());
                    if kind == "AWS" && is_account {
                        out.push(format!("AWS:arn:aws:iam::{id}:root"));
                    } else {
                        out.push(format!("{kind}:{id}"));
                    }
                }
            }
            out
        }
        Some(other) => vec![format!("?{other}")],
    }
}

fn statements(doc: &Value) -> Vec<Value> {
    match doc.get("Statement") {
        Some(Value::Array(list)) => list.clone(),
        Some(single) => vec![single.clone()],
        None => vec![],
    }
}

/// The grants of one policy document for `entity`.
pub fn policy_grants(entity: &str, text: &str) -> Vec<Grant> {
    let doc: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{entity}: not JSON ({e}): {text}"));
    let mut out = Vec::new();
    for st in statements(&doc) {
        let plain = st.get("Effect").and_then(Value::as_str) == Some("Allow")
            && ["NotAction", "NotResource", "NotPrincipal"]
                .iter()
                .all(|k| st.get(*k).is_none());
        if !plain {
            let mut whole = st.clone();
            if let Some(map) = whole.as_object_mut() {
                map.remove("Sid");
            }
            out.push(Grant {
                entity: entity.to_string(),
                principal: String::new(),
                action: "#statement".into(),
                resource: canonical(&whole).to_string(),
                condition: String::new(),
            });
            continue;
        }
        let condition = st
            .get("Condition")
            .map(|c| canonical(c).to_string())
            .unwrap_or_default();
        let mut resources = strings(st.get("Resource"));
        if resources.is_empty() {
            resources.push(String::new());
        }
        for p in principals(st.get("Principal")) {
            for a in strings(st.get("Action")) {
                for r in &resources {
                    out.push(Grant {
                        entity: entity.to_string(),
                        principal: p.clone(),
                        action: a.to_ascii_lowercase(),
                        resource: r.clone(),
                        condition: condition.clone(),
                    });
                }
            }
        }
    }
    out
}

/// Every grant of the account.
pub fn grants(account: &Account) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    for (key, doc) in &account.0 {
        let words: Vec<&str> = key.split(' ').collect();
        let entity = match words.as_slice() {
            ["role", name, "inline", _] => format!("role {name} identity"),
            _ => key.clone(),
        };
        match doc {
            Doc::Policy(text) => out.extend(policy_grants(&entity, text)),
            Doc::Cors(config) => {
                for rule in &config.rules {
                    out.insert(Grant {
                        entity: entity.clone(),
                        principal: String::new(),
                        action: "#cors".into(),
                        resource: format!("{rule:?}"),
                        condition: String::new(),
                    });
                }
            }
            Doc::Attached(arns) => {
                for arn in arns {
                    out.insert(Grant {
                        entity: entity.clone(),
                        principal: String::new(),
                        action: "#attached".into(),
                        resource: arn.clone(),
                        condition: String::new(),
                    });
                }
            }
        }
    }
    out
}

/// `*` and `?` wildcards of `pattern` against the literal `text`.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// `new` grants at least what `old` grants: same entity and principal, an
/// action and resource that match (wildcards allowed in `new`), and no
/// condition or the same one.
pub fn covers(new: &Grant, old: &Grant) -> bool {
    if new.entity != old.entity || new.principal != old.principal {
        return false;
    }
    if old.action.starts_with('#') {
        return new.action == old.action && new.resource == old.resource;
    }
    glob(&new.action, &old.action)
        && glob(&new.resource, &old.resource)
        && (new.condition.is_empty() || new.condition == old.condition)
}

/// The grants of `old` that nothing in `new` covers.
pub fn lost(old: &BTreeSet<Grant>, new: &BTreeSet<Grant>) -> Vec<Grant> {
    old.iter()
        .filter(|o| !new.iter().any(|n| covers(n, o)))
        .cloned()
        .collect()
}

// ---------------------------------------------------------------------------
// The oracle.

fn allows(st: &Value, action: &str) -> bool {
    strings(st.get("Action"))
        .iter()
        .any(|a| glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
}

fn plain_allow(st: &Value) -> bool {
    st.get("Effect").and_then(Value::as_str) == Some("Allow")
        && ["NotAction", "NotResource", "NotPrincipal"]
            .iter()
            .all(|k| st.get(*k).is_none())
}

/// How the oracle judges one need.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Met,
    /// Granted only under a condition (a hand-added Condition on A2I's own
    /// statement): the tool cannot make an unconditional grant without
    /// overriding the owner's intent, so it warns and leaves it.
    Conditional,
    Unmet,
}

/// Is `need` met in `account`?
pub fn judge(account: &Account, need: &Need) -> Verdict {
    let met = |b: bool| if b { Verdict::Met } else { Verdict::Unmet };
    match need {
        Need::Cors { bucket } => met(account.cors(bucket).is_some_and(|rules| {
            rules.iter().any(|(methods, origins)| {
                methods.iter().any(|m| m == "GET") && origins.iter().any(|o| o == "*")
            })
        })),
        Need::S3 {
            role,
            action,
            resource,
            ..
        } => {
            let mut verdict = Verdict::Unmet;
            for text in account.inline_policies(role).values() {
                let doc: Value = serde_json::from_str(text).expect("an inline policy is JSON");
                for st in statements(&doc) {
                    let grants = plain_allow(&st)
                        && allows(&st, action)
                        && strings(st.get("Resource"))
                            .iter()
                            .any(|r| glob(r, resource));
                    if grants && st.get("Condition").is_none() {
                        return Verdict::Met;
                    }
                    if grants {
                        verdict = Verdict::Conditional;
                    }
                }
            }
            verdict
        }
        Need::Trust { role } => met(account.trust(role).is_some_and(|text| {
            let doc: Value = serde_json::from_str(&text).expect("a trust policy is JSON");
            statements(&doc).iter().any(|st| {
                plain_allow(st)
                    && st.get("Condition").is_none()
                    && allows(st, "sts:AssumeRole")
                    && principals(st.get("Principal"))
                        .iter()
                        .any(|p| p == "Service:sagemaker.amazonaws.com")
            })
        })),
        Need::Kms { key_id, role_arn } => {
            let doc: Value =
                serde_json::from_str(&account.key_policy(key_id)).expect("a key policy is JSON");
            let wanted = format!("AWS:{role_arn}");
            let granted: Vec<Value> = statements(&doc)
                .into_iter()
                .filter(|st| {
                    plain_allow(st)
                        && st.get("Condition").is_none()
                        && principals(st.get("Principal")).contains(&wanted)
                })
                .collect();
            met([
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:DescribeKey",
            ]
            .iter()
            .all(|a| granted.iter().any(|st| allows(st, a))))
        }
        Need::Attached {
            user,
            name,
            policy_arn,
            ..
        } => {
            let key = if *user {
                format!("user {name} attached")
            } else {
                format!("role {name} attached")
            };
            met(
                matches!(account.get(&key), Some(Doc::Attached(arns)) if arns.contains(*policy_arn)),
            )
        }
    }
}
