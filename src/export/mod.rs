//! The plan as infrastructure as code: `a2i-fix export --format terraform`
//! turns each change of a [`Plan`] into the Terraform resource that owns
//! the same document, holding the complete document after the fix (not a
//! patch), and an `import` block for every resource that already exists, so
//! that `terraform plan` on the output shows the imports and A2I's additions
//! only. The HCL is built as a syntax tree with `hcl-rs` and formatted by
//! it (strings are escaped there: `${` becomes `$${`, `%{` becomes `%%{`).
//!
//! Decisions:
//! - One resource per document a change writes: `aws_iam_role` (a created
//!   role, or an existing role whose trust policy changes),
//!   `aws_iam_role_policy`, `aws_kms_key_policy`,
//!   `aws_iam_role_policy_attachment` / `aws_iam_user_policy_attachment`,
//!   `aws_s3_bucket_cors_configuration` (its rules as `cors_rule` blocks;
//!   every other document as `jsonencode(...)` of the JSON a2i-fix would
//!   write).
//! - Import ids are those the Terraform AWS provider documents: the role
//!   name; `ROLE:POLICY` for an inline policy; the key id; the bucket name
//!   (the bucket is in the account of the plan); `ROLE/POLICY_ARN` and
//!   `USER/POLICY_ARN` for attachments.
//! - An imported role carries every attribute Terraform would otherwise
//!   plan to reset (path, description, maximum session duration,
//!   permissions boundary, tags other than AWS's own `aws:` tags), as read
//!   with the plan ([`RoleFacts`]).
//! - Resource names are the resources' own names made into Terraform
//!   identifiers: every character other than a letter, digit, `_` or `-`
//!   becomes `_`, a name not starting with a letter or `_` gets a leading
//!   `_`; inline policies and attachments are `ROLE_POLICY`, key policies
//!   `key_KEYID`. Two names that collide get `_2`, `_3`... in plan order.
//! - A policy or attachment of a role the output also declares refers to it
//!   (`aws_iam_role.NAME.name`), so Terraform creates the role first; a key
//!   policy `depends_on` every role the output creates, since KMS refuses a
//!   principal that does not exist yet.

use std::collections::{BTreeMap, BTreeSet};

use hcl::expr::{FuncCall, Traversal, Variable};
use hcl::format::Format;
use hcl::{Block, Body, Expression};

use crate::model::{Action, PrincipalKind, Target};
use crate::plan::{Change, Plan};
use crate::policy::CorsConfiguration;

#[cfg(test)]
mod tests;

/// What Terraform must be told about an existing role for an import to
/// plan no change beyond the trust policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoleFacts {
    pub path: String,
    pub description: Option<String>,
    pub max_session_duration: Option<i32>,
    pub permissions_boundary: Option<String>,
    pub tags: Vec<(String, String)>,
}

/// What the exporter knows beyond the plan: the existing roles whose trust
/// policy the plan changes, by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExportContext {
    pub roles: BTreeMap<String, RoleFacts>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("change `{address}` has no document to export: {why}")]
    Document { address: String, why: String },
    #[error(
        "role `{role}` was not read with the plan, so its attributes are unknown: plan again and export"
    )]
    UnknownRole { role: String },
    #[error("cannot write the Terraform configuration: {0}")]
    Hcl(#[from] hcl::Error),
}

/// The Terraform default of `max_session_duration`.
const DEFAULT_MAX_SESSION: i32 = 3600;

/// The plan's changes as Terraform configuration (the rules are in the
/// module documentation). An empty plan gives an empty configuration.
pub fn terraform(plan: &Plan, context: &ExportContext) -> Result<String, ExportError> {
    let mut names = Names::default();
    // Roles the output declares: name -> resource name.
    let mut declared_roles: BTreeMap<String, String> = BTreeMap::new();
    for change in &plan.changes {
        if let Target::Role { name, .. } | Target::TrustPolicy { role: name } = &change.target {
            let id = names.take("aws_iam_role", name);
            declared_roles.insert(name.clone(), id);
        }
    }
    let created_roles: Vec<String> = plan
        .changes
        .iter()
        .filter_map(|c| match &c.target {
            Target::Role { name, .. } => declared_roles.get(name).cloned(),
            _ => None,
        })
        .collect();
    let role_ref = |role: &str| -> Expression {
        match declared_roles.get(role) {
            Some(id) => traversal(&["aws_iam_role", id, "name"]),
            None => Expression::from(role),
        }
    };

    let mut body = Body::builder();
    for change in &plan.changes {
        if change.action == Action::Delete {
            return Err(ExportError::Document {
                address: change.address.clone(),
                why: "a delete (rollback plans) has no configuration to write".into(),
            });
        }
        let exists = change.action == Action::Update;
        let (kind, id, attributes, import_id): (&str, String, Vec<(&str, Expression)>, String) =
            match &change.target {
                Target::Role { name, path } => {
                    let mut attrs = vec![("name", Expression::from(name.as_str()))];
                    if path != "/" {
                        attrs.push(("path", Expression::from(path.as_str())));
                    }
                    attrs.push(("assume_role_policy", json_document(change)?));
                    let id = declared_roles.get(name).cloned().unwrap_or_default();
                    ("aws_iam_role", id, attrs, name.clone())
                }
                Target::TrustPolicy { role } => {
                    let facts = context
                        .roles
                        .get(role)
                        .ok_or_else(|| ExportError::UnknownRole { role: role.clone() })?;
                    let attrs = role_attributes(role, facts, json_document(change)?);
                    let id = declared_roles.get(role).cloned().unwrap_or_default();
                    ("aws_iam_role", id, attrs, role.clone())
                }
                Target::InlinePolicy { role, policy_name } => (
                    "aws_iam_role_policy",
                    names.take("aws_iam_role_policy", &format!("{role}_{policy_name}")),
                    vec![
                        ("name", Expression::from(policy_name.as_str())),
                        ("role", role_ref(role)),
                        ("policy", json_document(change)?),
                    ],
                    format!("{role}:{policy_name}"),
                ),
                Target::KeyPolicy { key_id, .. } => {
                    let mut attrs = vec![
                        ("key_id", Expression::from(key_id.as_str())),
                        ("policy", json_document(change)?),
                    ];
                    if !created_roles.is_empty() {
                        attrs.push((
                            "depends_on",
                            Expression::Array(
                                created_roles
                                    .iter()
                                    .map(|id| traversal(&["aws_iam_role", id]))
                                    .collect(),
                            ),
                        ));
                    }
                    (
                        "aws_kms_key_policy",
                        names.take("aws_kms_key_policy", &format!("key_{key_id}")),
                        attrs,
                        key_id.clone(),
                    )
                }
                Target::Attachment {
                    kind,
                    name,
                    policy_arn,
                } => {
                    let policy = policy_arn.rsplit('/').next().unwrap_or(policy_arn);
                    let (resource, principal_attr, principal) = match kind {
                        PrincipalKind::Role => {
                            ("aws_iam_role_policy_attachment", "role", role_ref(name))
                        }
                        PrincipalKind::User => (
                            "aws_iam_user_policy_attachment",
                            "user",
                            Expression::from(name.as_str()),
                        ),
                    };
                    (
                        resource,
                        names.take(resource, &format!("{name}_{policy}")),
                        vec![
                            (principal_attr, principal),
                            ("policy_arn", Expression::from(policy_arn.as_str())),
                        ],
                        format!("{name}/{policy_arn}"),
                    )
                }
                Target::BucketCors { bucket } => {
                    // Blocks, not attributes: built below.
                    let rules = cors_rules(change)?;
                    let id = names.take("aws_s3_bucket_cors_configuration", bucket);
                    if exists {
                        body = body.add_block(import_block(
                            "aws_s3_bucket_cors_configuration",
                            &id,
                            bucket,
                        ));
                    }
                    let block = Block::builder("resource")
                        .add_label("aws_s3_bucket_cors_configuration")
                        .add_label(id.as_str())
                        .add_attribute(("bucket", bucket.as_str()))
                        .add_blocks(rules)
                        .build();
                    body = body.add_block(block);
                    continue;
                }
            };
        if exists {
            body = body.add_block(import_block(kind, &id, &import_id));
        }
        let mut block = Block::builder("resource")
            .add_label(kind)
            .add_label(id.as_str());
        for (key, value) in attributes {
            block = block.add_attribute((key, value));
        }
        body = body.add_block(block.build());
    }
    // Object keys that are identifiers (`Version`, `Statement`) are written
    // bare, as Terraform's own examples write them; others stay quoted.
    let mut formatter = hcl::format::Formatter::builder()
        .prefer_ident_keys(true)
        .build_vec();
    Ok(body.build().format_string(&mut formatter)?)
}

/// The attributes of an existing role's `aws_iam_role`.
fn role_attributes(
    name: &str,
    facts: &RoleFacts,
    trust: Expression,
) -> Vec<(&'static str, Expression)> {
    let mut attrs = vec![("name", Expression::from(name))];
    if facts.path != "/" && !facts.path.is_empty() {
        attrs.push(("path", Expression::from(facts.path.as_str())));
    }
    if let Some(d) = &facts.description {
        attrs.push(("description", Expression::from(d.as_str())));
    }
    if let Some(m) = facts.max_session_duration
        && m != DEFAULT_MAX_SESSION
    {
        attrs.push(("max_session_duration", Expression::from(i64::from(m))));
    }
    if let Some(b) = &facts.permissions_boundary {
        attrs.push(("permissions_boundary", Expression::from(b.as_str())));
    }
    // AWS's own `aws:` tags cannot be set and Terraform ignores them.
    let tags: Vec<(hcl::ObjectKey, Expression)> = facts
        .tags
        .iter()
        .filter(|(k, _)| !k.to_ascii_lowercase().starts_with("aws:"))
        .map(|(k, v)| {
            (
                hcl::ObjectKey::Expression(Expression::from(k.as_str())),
                Expression::from(v.as_str()),
            )
        })
        .collect();
    if !tags.is_empty() {
        attrs.push(("tags", Expression::Object(tags.into_iter().collect())));
    }
    attrs.push(("assume_role_policy", trust));
    attrs
}

/// `import { to = KIND.ID, id = "IMPORT_ID" }`
fn import_block(kind: &str, id: &str, import_id: &str) -> Block {
    Block::builder("import")
        .add_attribute(("to", traversal(&[kind, id])))
        .add_attribute(("id", import_id))
        .build()
}

/// `a.b.c` as an expression; the parts are identifiers made by [`Names`]
/// or fixed resource types.
fn traversal(parts: &[&str]) -> Expression {
    let (first, rest) = parts.split_first().unwrap_or((&"", &[]));
    let mut t = Traversal::builder(Variable::sanitized(first));
    for part in rest {
        t = t.attr(hcl::Identifier::sanitized(part));
    }
    Expression::from(t.build())
}

/// `jsonencode(...)` of a change's document.
fn json_document(change: &Change) -> Result<Expression, ExportError> {
    let text = change
        .after
        .as_deref()
        .ok_or_else(|| ExportError::Document {
            address: change.address.clone(),
            why: "no document".into(),
        })?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ExportError::Document {
            address: change.address.clone(),
            why: format!("not JSON: {e}"),
        })?;
    Ok(Expression::from(
        FuncCall::builder("jsonencode")
            .arg(hcl::to_expression(value)?)
            .build(),
    ))
}

/// The `cors_rule` blocks of a CORS change, in the document's order.
fn cors_rules(change: &Change) -> Result<Vec<Block>, ExportError> {
    let text = change.after.as_deref().unwrap_or_default();
    let config = CorsConfiguration::parse(text).map_err(|e| ExportError::Document {
        address: change.address.clone(),
        why: e.to_string(),
    })?;
    let list =
        |items: &[String]| Expression::Array(items.iter().map(|s| s.as_str().into()).collect());
    Ok(config
        .rules
        .iter()
        .map(|rule| {
            let mut b = Block::builder("cors_rule");
            if let Some(id) = &rule.id {
                b = b.add_attribute(("id", id.as_str()));
            }
            if !rule.allowed_headers.is_empty() {
                b = b.add_attribute(("allowed_headers", list(&rule.allowed_headers)));
            }
            b = b
                .add_attribute(("allowed_methods", list(&rule.allowed_methods)))
                .add_attribute(("allowed_origins", list(&rule.allowed_origins)));
            if !rule.expose_headers.is_empty() {
                b = b.add_attribute(("expose_headers", list(&rule.expose_headers)));
            }
            if let Some(max) = rule.max_age_seconds {
                b = b.add_attribute(("max_age_seconds", Expression::from(i64::from(max))));
            }
            b.build()
        })
        .collect())
}

/// Resource names, unique per resource type.
#[derive(Default)]
struct Names {
    used: BTreeSet<(String, String)>,
}

impl Names {
    /// A unique Terraform identifier for `raw` among resources of `kind`.
    fn take(&mut self, kind: &str, raw: &str) -> String {
        let base = identifier(raw);
        let mut name = base.clone();
        let mut n = 2;
        while !self.used.insert((kind.to_string(), name.clone())) {
            name = format!("{base}_{n}");
            n += 1;
        }
        name
    }
}

/// A Terraform identifier made from a resource's name.
pub fn identifier(raw: &str) -> String {
    let mut id: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !id.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        id.insert(0, '_');
    }
    id
}
