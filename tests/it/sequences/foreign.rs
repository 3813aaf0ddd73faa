//! Another actor editing the account between runs, with the SDK directly:
//! reordering, equivalent rewrites, unrelated statements, foreign statements
//! under A2I's Sids, hand edits of A2I's own statement, CORS rules, and
//! deleting the owned policy.

use a2i_fix::policy::CorsRule;
use serde_json::{Value, json};

use super::model::{BUCKETS, Dice, KEYS, Names, ROLES};
use super::world::compact;
use crate::support::{Account, Doc, LAMBDA_TRUST, OWNED, Seed, update_trust};

/// A policy document the other actor may edit.
#[derive(Clone, Debug)]
pub enum DocRef {
    Inline { role: String, name: String },
    Trust { role: String },
    Key { key_id: String },
}

impl DocRef {
    pub fn key(&self) -> String {
        match self {
            DocRef::Inline { role, name } => format!("role {role} inline {name}"),
            DocRef::Trust { role } => format!("role {role} trust"),
            DocRef::Key { key_id } => format!("key {key_id} policy"),
        }
    }

    pub async fn write(&self, s: &Seed, text: &str) {
        match self {
            DocRef::Inline { role, name } => s.inline_policy(role, name, text).await,
            DocRef::Trust { role } => update_trust(s, role, text).await,
            DocRef::Key { key_id } => s.key_policy(key_id, text).await,
        }
    }

    pub fn read(&self, account: &Account) -> Option<Value> {
        match account.get(&self.key())? {
            Doc::Policy(text) => Some(serde_json::from_str(text).expect("a policy is JSON")),
            _ => None,
        }
    }
}

fn statements_mut(doc: &mut Value) -> &mut Vec<Value> {
    if !doc["Statement"].is_array() {
        let single = doc["Statement"].take();
        doc["Statement"] = json!([single]);
    }
    doc["Statement"].as_array_mut().expect("a list")
}

fn sid_used(doc: &Value, sid: &str) -> bool {
    match &doc["Statement"] {
        Value::Array(list) => list.iter().any(|s| s["Sid"] == sid),
        single => single["Sid"] == sid,
    }
}

/// Every document the sequence's roles and keys hold now.
fn documents(account: &Account, names: &Names) -> Vec<(DocRef, Value)> {
    let mut refs = Vec::new();
    for i in 0..ROLES {
        let role = names.role(i);
        if account.trust(&role).is_some() {
            refs.push(DocRef::Trust { role: role.clone() });
        }
        for name in account.inline_policies(&role).into_keys() {
            refs.push(DocRef::Inline {
                role: role.clone(),
                name,
            });
        }
    }
    for k in 0..KEYS {
        refs.push(DocRef::Key {
            key_id: names.key_id(k).to_string(),
        });
    }
    refs.into_iter()
        .filter_map(|r| r.read(account).map(|d| (r, d)))
        .collect()
}

/// A statement that has nothing to do with A2I, for `doc`.
pub fn unrelated(doc: &DocRef, names: &Names, n: usize) -> Value {
    let sid = format!("Foreign{n}");
    match doc {
        DocRef::Inline { .. } => json!({
            "Sid": sid, "Effect": "Allow", "Action": "logs:CreateLogGroup", "Resource": "*"
        }),
        DocRef::Trust { .. } => json!({
            "Sid": sid, "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"
        }),
        DocRef::Key { .. } => json!({
            "Sid": sid, "Effect": "Allow", "Principal": {"AWS": names.auditor_arn()},
            "Action": ["kms:DescribeKey", "kms:GetKeyPolicy"], "Resource": "*"
        }),
    }
}

/// Rewrite `doc` so that it means the same: strings and one-element lists
/// swapped, action names in upper case, the account root as a bare id or
/// back. Returns false when nothing could be rewritten.
pub fn rewrite_equivalently(doc: &mut Value, d: &mut Dice) -> bool {
    let before = doc.clone();
    let upper = d.chance(1, 2);
    for st in statements_mut(doc) {
        // moto refuses trust policies whose actions are not spelled
        // `sts:AssumeRole` exactly (AWS accepts any case).
        let trust = st.get("Principal").is_some() && st.get("Resource").is_none();
        for field in ["Action", "Resource"] {
            let Some(v) = st.get_mut(field) else { continue };
            match v {
                Value::String(s) => *v = json!([s.clone()]),
                Value::Array(list) if list.len() == 1 => *v = list[0].clone(),
                _ => {}
            }
            if upper && field == "Action" && !trust {
                let upcase = |a: &Value| json!(a.as_str().unwrap_or_default().to_uppercase());
                match v {
                    Value::String(_) => *v = upcase(v),
                    Value::Array(list) => list.iter_mut().for_each(|a| *a = upcase(a)),
                    _ => {}
                }
            }
        }
        if let Some(aws) = st.get_mut("Principal").and_then(|p| p.get_mut("AWS")) {
            let swap = |id: &Value| match id.as_str() {
                Some(s) if s.ends_with(":root") => {
                    json!(
                        s.trim_start_matches("arn:aws:iam::")
                            .trim_end_matches(":root")
                    )
                }
                Some(s) if s.len() == 12 && s.chars().all(|c| c.is_ascii_digit()) => {
                    json!(format!("arn:aws:iam::{s}:root"))
                }
                _ => id.clone(),
            };
            match aws {
                Value::Array(list) if list.len() == 1 => *aws = swap(&list[0]),
                Value::Array(list) => list.iter_mut().for_each(|a| *a = swap(a)),
                single => *single = json!([swap(single)]),
            }
        }
    }
    *doc != before
}

/// One edit by the other actor, chosen among those the account allows now;
/// returns what it did (`None` when nothing was eligible).
pub async fn edit(
    s: &Seed,
    account: &Account,
    names: &Names,
    d: &mut Dice,
    n: usize,
) -> Option<(&'static str, String)> {
    let docs = documents(account, names);
    let kinds: Vec<usize> = (0..8)
        .filter(|k| match k {
            0 => docs.iter().any(|(_, v)| statement_count(v) >= 2),
            1..=2 | 6 => !docs.is_empty(),
            3 => docs
                .iter()
                .any(|(r, v)| matches!(r, DocRef::Key { .. }) && !sid_used(v, "AllowUseOfKmsKey")),
            4 => docs.iter().any(|(r, v)| {
                matches!(r, DocRef::Trust { .. }) && !sid_used(v, "AllowSageMakerToAssumeRole")
            }),
            5 => docs
                .iter()
                .any(|(r, v)| is_owned(r) && !a2i_statements(v).is_empty()),
            7 => docs.iter().any(|(r, _)| is_owned(r)),
            _ => false,
        })
        .collect();
    if kinds.is_empty() {
        return None;
    }
    let choose = |d: &mut Dice, ok: &dyn Fn(&DocRef, &Value) -> bool| {
        let eligible: Vec<&(DocRef, Value)> = docs.iter().filter(|(r, v)| ok(r, v)).collect();
        let (r, v) = *d.pick(&eligible);
        (r.clone(), v.clone())
    };
    let kind = *d.pick(&kinds);
    match kind {
        0 => {
            let (r, mut v) = choose(d, &|_, v| statement_count(v) >= 2);
            let list = statements_mut(&mut v);
            let by = 1 + d.below(list.len() - 1);
            list.rotate_left(by);
            r.write(s, &v.to_string()).await;
            Some((
                "reorder",
                format!("reorder the statements of `{}`", r.key()),
            ))
        }
        1 => {
            let (r, mut v) = choose(d, &|_, _| true);
            if !rewrite_equivalently(&mut v, d) {
                return Some((
                    "rewrite",
                    format!("(no equivalent rewrite of `{}`)", r.key()),
                ));
            }
            r.write(s, &serde_json::to_string_pretty(&v).unwrap_or_default())
                .await;
            Some((
                "rewrite",
                format!(
                    "rewrite `{}` equivalently: {}",
                    r.key(),
                    compact(&v.to_string())
                ),
            ))
        }
        2 => {
            let (r, mut v) = choose(d, &|_, _| true);
            let st = unrelated(&r, names, n);
            let list = statements_mut(&mut v);
            let at = d.below(list.len() + 1);
            list.insert(at, st);
            r.write(s, &v.to_string()).await;
            Some((
                "unrelated statement",
                format!("add an unrelated statement to `{}` at {at}", r.key()),
            ))
        }
        3 => {
            let (r, mut v) = choose(d, &|r, v| {
                matches!(r, DocRef::Key { .. }) && !sid_used(v, "AllowUseOfKmsKey")
            });
            statements_mut(&mut v).push(json!({
                "Sid": "AllowUseOfKmsKey", "Effect": "Allow",
                "Principal": {"AWS": names.auditor_arn()}, "Action": "kms:Decrypt", "Resource": "*"
            }));
            r.write(s, &v.to_string()).await;
            Some((
                "foreign AllowUseOfKmsKey",
                format!(
                    "add someone else's `AllowUseOfKmsKey` (auditor, kms:Decrypt) to `{}`",
                    r.key()
                ),
            ))
        }
        4 => {
            let (r, mut v) = choose(d, &|r, v| {
                matches!(r, DocRef::Trust { .. }) && !sid_used(v, "AllowSageMakerToAssumeRole")
            });
            statements_mut(&mut v).push(json!({
                "Sid": "AllowSageMakerToAssumeRole", "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"
            }));
            r.write(s, &v.to_string()).await;
            Some((
                "foreign AllowSageMakerToAssumeRole",
                format!(
                    "add someone else's `AllowSageMakerToAssumeRole` (ec2) to `{}`",
                    r.key()
                ),
            ))
        }
        5 => {
            let (r, mut v) = choose(d, &|r, v| is_owned(r) && !a2i_statements(v).is_empty());
            let candidates = a2i_statements(&v);
            let at = *d.pick(&candidates);
            let condition = d.chance(1, 2);
            let st = &mut statements_mut(&mut v)[at];
            if condition {
                st["Condition"] = json!({"Bool": {"aws:SecureTransport": "true"}});
            } else {
                let mut actions = match st["Action"].take() {
                    Value::Array(list) => list,
                    single => vec![single],
                };
                if !actions.contains(&json!("s3:PutObjectAcl")) {
                    actions.push(json!("s3:PutObjectAcl"));
                }
                st["Action"] = Value::Array(actions);
            }
            r.write(s, &v.to_string()).await;
            Some((
                "hand edit",
                format!(
                    "hand-edit A2I's statement {at} of `{}`: {}",
                    r.key(),
                    if condition {
                        "add a Condition"
                    } else {
                        "add s3:PutObjectAcl"
                    }
                ),
            ))
        }
        6 => {
            let bucket = names.bucket(d.below(BUCKETS));
            let mut rules = match account.get(&format!("bucket {bucket} cors")) {
                Some(Doc::Cors(config)) => config.rules.clone(),
                _ => vec![],
            };
            let rule = CorsRule {
                id: Some(format!("foreign-{n}")),
                allowed_methods: vec!["PUT".into()],
                allowed_origins: vec![format!("https://foreign-{n}.example")],
                ..CorsRule::default()
            };
            let first = d.chance(1, 2);
            if first {
                rules.insert(0, rule);
            } else {
                rules.push(rule);
            }
            s.put_cors(&bucket, &rules).await;
            Some((
                "CORS rule",
                format!(
                    "add a CORS rule ({}) to `{bucket}`",
                    if first { "first" } else { "last" }
                ),
            ))
        }
        _ => {
            let (r, _) = choose(d, &|r, _| is_owned(r));
            let DocRef::Inline { role, name } = &r else {
                unreachable!("only inline policies are owned")
            };
            s.c.iam
                .delete_role_policy()
                .role_name(role)
                .policy_name(name)
                .send()
                .await
                .unwrap_or_else(|e| panic!("delete {name} of {role}: {e:?}"));
            Some(("delete owned policy", format!("delete `{}`", r.key())))
        }
    }
}

fn statement_count(v: &Value) -> usize {
    match &v["Statement"] {
        Value::Array(list) => list.len(),
        _ => 1,
    }
}

fn is_owned(r: &DocRef) -> bool {
    matches!(r, DocRef::Inline { name, .. } if name == OWNED)
}

/// Indexes of the statements of an owned policy that grant A2I's S3 actions
/// unconditionally (the ones a hand edit may touch).
fn a2i_statements(v: &Value) -> Vec<usize> {
    let list = match &v["Statement"] {
        Value::Array(list) => list.clone(),
        single => vec![single.clone()],
    };
    list.iter()
        .enumerate()
        .filter(|(_, st)| {
            st.get("Condition").is_none()
                && [&st["Action"]]
                    .iter()
                    .flat_map(|a| match a {
                        Value::Array(l) => l.clone(),
                        single => vec![(*single).clone()],
                    })
                    .any(|a| {
                        let a = a.as_str().unwrap_or_default().to_ascii_lowercase();
                        a == "s3:getobject" || a == "s3:putobject"
                    })
        })
        .map(|(i, _)| i)
        .collect()
}

/// Create role `name` as another actor would (Lambda trust only): the
/// saved-plan step uses it on a role the plan means to create.
pub async fn create_role_first(s: &Seed, names: &Names, name: &str) {
    let i = (0..ROLES)
        .find(|i| names.role(*i) == name)
        .unwrap_or_else(|| panic!("`{name}` is not one of the sequence's roles"));
    s.role_at(names.role_path(i), name, LAMBDA_TRUST).await;
}
