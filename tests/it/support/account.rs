//! Reading the whole account back through the second client, with plain SDK
//! calls (never through `state`, so a bug there cannot hide a bug in plan or
//! apply), and comparing two reads: nothing written, everything kept (by
//! the policy module's equivalence), restored byte for byte, or a change's
//! document now in AWS.

use std::collections::{BTreeMap, BTreeSet};

use a2i_fix::aws::Clients;
use a2i_fix::model::{PrincipalKind, Target};
use a2i_fix::plan::Change;
use a2i_fix::policy::{self, CorsConfiguration, CorsRule, PolicyDocument};

use crate::support::Seed;

/// One document (or attachment list) as AWS returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Doc {
    /// A policy document's exact text (URL-decoded where IAM encodes it).
    Policy(String),
    Cors(CorsConfiguration),
    /// Managed policy ARNs attached to a role or user.
    Attached(BTreeSet<String>),
}

/// Every document of the account, by a key naming it:
/// `bucket NAME cors`, `role NAME trust`, `role NAME inline POLICY`,
/// `role NAME attached`, `user NAME attached`, `key ID policy`.
/// A key that is missing is a document that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account(pub BTreeMap<String, Doc>);

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn sdk_rule(r: &aws_sdk_s3::types::CorsRule) -> CorsRule {
    CorsRule {
        id: r.id().map(str::to_string),
        allowed_headers: r.allowed_headers().to_vec(),
        allowed_methods: r.allowed_methods().to_vec(),
        allowed_origins: r.allowed_origins().to_vec(),
        expose_headers: r.expose_headers().to_vec(),
        max_age_seconds: r.max_age_seconds(),
    }
}

fn attached_arns(policies: &[aws_sdk_iam::types::AttachedPolicy]) -> Doc {
    Doc::Attached(
        policies
            .iter()
            .filter_map(|p| p.policy_arn.clone())
            .collect(),
    )
}

/// The key of `target`'s document in an [`Account`].
pub fn key_of(target: &Target) -> String {
    match target {
        Target::BucketCors { bucket } => format!("bucket {bucket} cors"),
        Target::Role { name, .. } | Target::TrustPolicy { role: name } => {
            format!("role {name} trust")
        }
        Target::InlinePolicy { role, policy_name } => format!("role {role} inline {policy_name}"),
        Target::KeyPolicy { key_id, .. } => format!("key {key_id} policy"),
        Target::Attachment { kind, name, .. } => match kind {
            PrincipalKind::Role => format!("role {name} attached"),
            PrincipalKind::User => format!("user {name} attached"),
        },
    }
}

impl Account {
    /// Read every bucket's CORS, every role (trust, inline, attached), every
    /// user's attachments and every key's policy.
    pub async fn read(c: &Clients) -> Account {
        let mut m = BTreeMap::new();
        let buckets = c.s3.list_buckets().send().await.expect("list buckets");
        for b in buckets.buckets() {
            let name = b.name().unwrap_or_default().to_string();
            match c.s3.get_bucket_cors().bucket(&name).send().await {
                Ok(out) => {
                    let rules = out.cors_rules().iter().map(sdk_rule).collect();
                    m.insert(
                        format!("bucket {name} cors"),
                        Doc::Cors(CorsConfiguration { rules }),
                    );
                }
                Err(e) => {
                    let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&e);
                    assert_eq!(
                        code,
                        Some("NoSuchCORSConfiguration"),
                        "get CORS of {name}: {e:?}"
                    );
                }
            }
        }
        let roles = c
            .iam
            .list_roles()
            .max_items(1000)
            .send()
            .await
            .expect("list roles");
        for r in roles.roles() {
            let name = r.role_name().to_string();
            let role = c
                .iam
                .get_role()
                .role_name(&name)
                .send()
                .await
                .expect("get role");
            let trust = role
                .role
                .and_then(|r| r.assume_role_policy_document)
                .unwrap_or_default();
            m.insert(format!("role {name} trust"), Doc::Policy(decode(&trust)));
            let inline = c
                .iam
                .list_role_policies()
                .role_name(&name)
                .max_items(1000)
                .send()
                .await
                .expect("list role policies");
            for p in inline.policy_names() {
                let doc = c
                    .iam
                    .get_role_policy()
                    .role_name(&name)
                    .policy_name(p)
                    .send()
                    .await
                    .expect("get role policy");
                m.insert(
                    format!("role {name} inline {p}"),
                    Doc::Policy(decode(&doc.policy_document)),
                );
            }
            let attached = c
                .iam
                .list_attached_role_policies()
                .role_name(&name)
                .max_items(1000)
                .send()
                .await
                .expect("list attached role policies");
            m.insert(
                format!("role {name} attached"),
                attached_arns(attached.attached_policies()),
            );
        }
        let users = c
            .iam
            .list_users()
            .max_items(1000)
            .send()
            .await
            .expect("list users");
        for u in users.users() {
            let name = u.user_name().to_string();
            let attached = c
                .iam
                .list_attached_user_policies()
                .user_name(&name)
                .max_items(1000)
                .send()
                .await
                .expect("list attached user policies");
            m.insert(
                format!("user {name} attached"),
                attached_arns(attached.attached_policies()),
            );
        }
        let keys = c.kms.list_keys().send().await.expect("list keys");
        for k in keys.keys() {
            let id = k.key_id().unwrap_or_default().to_string();
            let policy = c
                .kms
                .get_key_policy()
                .key_id(&id)
                .policy_name("default")
                .send()
                .await
                .expect("get key policy");
            m.insert(
                format!("key {id} policy"),
                Doc::Policy(policy.policy.unwrap_or_default()),
            );
        }
        Account(m)
    }

    pub fn get(&self, key: &str) -> Option<&Doc> {
        self.0.get(key)
    }

    /// The CORS rules of `bucket` as `(methods, origins)`; `None` without a
    /// configuration.
    pub fn cors(&self, bucket: &str) -> Option<Vec<(Vec<String>, Vec<String>)>> {
        match self.get(&format!("bucket {bucket} cors"))? {
            Doc::Cors(config) => Some(
                config
                    .rules
                    .iter()
                    .map(|r| (r.allowed_methods.clone(), r.allowed_origins.clone()))
                    .collect(),
            ),
            other => panic!("bucket {bucket}: CORS read as {other:?}"),
        }
    }

    /// The text of the policy document at `key`, if it exists.
    fn policy_text(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            Doc::Policy(text) => Some(text.clone()),
            other => panic!("`{key}` is not a policy document: {other:?}"),
        }
    }

    /// The decoded trust policy, `None` when the role does not exist.
    pub fn trust(&self, role: &str) -> Option<String> {
        self.policy_text(&format!("role {role} trust"))
    }

    /// The inline policies of `role` by name (none when it does not exist).
    pub fn inline_policies(&self, role: &str) -> BTreeMap<String, String> {
        let prefix = format!("role {role} inline ");
        self.0
            .iter()
            .filter_map(|(k, doc)| {
                let name = k.strip_prefix(&prefix)?;
                match doc {
                    Doc::Policy(text) => Some((name.to_string(), text.clone())),
                    _ => None,
                }
            })
            .collect()
    }

    /// The managed policies attached to `user`, sorted (none when it does
    /// not exist).
    pub fn user_policies(&self, user: &str) -> Vec<String> {
        match self.get(&format!("user {user} attached")) {
            Some(Doc::Attached(arns)) => arns.iter().cloned().collect(),
            _ => vec![],
        }
    }

    /// The policy of key `key_id`, which must exist.
    pub fn key_policy(&self, key_id: &str) -> String {
        self.policy_text(&format!("key {key_id} policy"))
            .unwrap_or_else(|| panic!("no key `{key_id}` in {:#?}", self.0.keys()))
    }
}

/// The account as the second client sees it now, and single documents of it
/// (each a whole read: moto is local, and one reader means one way of
/// reading).
impl Seed {
    pub async fn read(&self) -> Account {
        Account::read(&self.c).await
    }

    pub async fn cors(&self, bucket: &str) -> Option<Vec<(Vec<String>, Vec<String>)>> {
        self.read().await.cors(bucket)
    }

    pub async fn trust(&self, role: &str) -> Option<String> {
        self.read().await.trust(role)
    }

    pub async fn inline_policies(&self, role: &str) -> BTreeMap<String, String> {
        self.read().await.inline_policies(role)
    }

    pub async fn user_policies(&self, user: &str) -> Vec<String> {
        self.read().await.user_policies(user)
    }

    /// (Not `key_policy`: that one writes.)
    pub async fn read_key_policy(&self, key_id: &str) -> String {
        self.read().await.key_policy(key_id)
    }
}

fn parse_policy(key: &str, text: &str) -> PolicyDocument {
    PolicyDocument::parse(text).unwrap_or_else(|e| panic!("{key}: not a policy ({e}): {text}"))
}

/// Nothing was written: every document is byte for byte what it was.
pub fn assert_untouched(before: &Account, after: &Account, what: &str) {
    assert_identical(before, after, &format!("{what}: something was written"));
}

/// The same documents, byte for byte (what a rollback must achieve: it
/// writes back the exact text the journal recorded); panics listing every
/// difference.
pub fn assert_identical(expected: &Account, actual: &Account, what: &str) {
    let keys: BTreeSet<&String> = expected.0.keys().chain(actual.0.keys()).collect();
    let diffs: Vec<String> = keys
        .into_iter()
        .filter(|k| expected.0.get(*k) != actual.0.get(*k))
        .map(|k| {
            format!(
                "`{k}`:\n    expected {:?}\n    found    {:?}",
                expected.0.get(k),
                actual.0.get(k)
            )
        })
        .collect();
    assert!(
        diffs.is_empty(),
        "{what}; documents differ:\n  {}",
        diffs.join("\n  ")
    );
}

/// Everything that was there before is still there: every document still
/// exists, every statement of every policy has an equivalent statement in
/// the new document, every CORS rule an equivalent rule (in the same
/// relative order), every attachment is still attached.
pub fn assert_kept(before: &Account, after: &Account, what: &str) {
    let mut lost = Vec::new();
    for (k, old) in &before.0 {
        let Some(new) = after.0.get(k) else {
            lost.push(format!("`{k}` no longer exists"));
            continue;
        };
        match (old, new) {
            (Doc::Policy(o), Doc::Policy(n)) => {
                let (o, n) = (parse_policy(k, o), parse_policy(k, n));
                for s in &o.statements {
                    if !n
                        .statements
                        .iter()
                        .any(|t| policy::statements_equivalent(s, t))
                    {
                        lost.push(format!("`{k}`: statement {s:?} is gone"));
                    }
                }
            }
            (Doc::Cors(o), Doc::Cors(n)) => {
                // In order: S3 uses the first matching rule.
                let mut rest = n.rules.iter();
                for r in &o.rules {
                    if !rest.any(|t| policy::equivalence::cors_rules_equivalent(r, t)) {
                        lost.push(format!("`{k}`: CORS rule {r:?} is gone or moved"));
                    }
                }
            }
            (Doc::Attached(o), Doc::Attached(n)) => {
                for arn in o.difference(n) {
                    lost.push(format!("`{k}`: `{arn}` was detached"));
                }
            }
            _ => lost.push(format!("`{k}` changed kind")),
        }
    }
    assert!(lost.is_empty(), "{what}:\n  {}", lost.join("\n  "));
}

/// The document `change` writes is what AWS now holds (by equivalence; an
/// attachment: attached).
pub fn assert_written(account: &Account, change: &Change) {
    let key = key_of(&change.target);
    let after = change
        .after
        .as_deref()
        .unwrap_or_else(|| panic!("`{}` writes nothing", change.address));
    let found = account.get(&key);
    match (&change.target, found) {
        (Target::Attachment { policy_arn, .. }, Some(Doc::Attached(arns))) => {
            assert!(
                arns.contains(policy_arn),
                "`{}`: `{policy_arn}` is not attached: {arns:?}",
                change.address
            );
        }
        (Target::BucketCors { .. }, Some(Doc::Cors(config))) => {
            let wanted = CorsConfiguration::parse(after)
                .unwrap_or_else(|e| panic!("`{}`: after is not CORS: {e}", change.address));
            assert!(
                policy::cors_equivalent(&wanted, config),
                "`{}`: AWS holds {config:?}, the plan wrote {after}",
                change.address
            );
        }
        (_, Some(Doc::Policy(text))) => {
            assert!(
                policy::equivalent(&parse_policy(&key, after), &parse_policy(&key, text)),
                "`{}`: AWS holds {text}, the plan wrote {after}",
                change.address
            );
        }
        (_, other) => panic!(
            "`{}`: expected its document under `{key}`, found {other:?}",
            change.address
        ),
    }
}
