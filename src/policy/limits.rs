//! Limits (`docs/requirements.md#limits`) and safety guards checked before
//! any write.
//!
//! # How sizes are measured
//!
//! - **Inline policies of a role** (10,240) and **trust policy** (2,048): IAM
//!   does not count whitespace. The size is the number of characters of the
//!   compact JSON ([`PolicyDocument::to_compact_json`]), which has no
//!   whitespace outside strings; whitespace inside strings is data and is
//!   counted (this can only over-count, so a2i-fix may refuse slightly early,
//!   never write a document IAM then refuses). Policy names are not counted.
//! - **Key policy** (32 KB): KMS counts the bytes it receives and says nothing
//!   of whitespace, so the size is the byte length of the pretty JSON
//!   ([`PolicyDocument::to_pretty_json`]), the form a2i-fix writes. Apply may
//!   write the compact form, which is smaller, so this check is the stricter.
//! - **CORS** (100 rules, 64 KB): S3 receives the configuration as XML, so the
//!   size is the byte length of the XML body PutBucketCors sends (tags and
//!   escaping included), which is larger than the JSON.
//! - **Managed policies** (10 per role or user): the default quota; an account
//!   with a raised quota gets an error it can override by attaching by hand.
//!
//! # Safety guards
//!
//! - [`check_key_policy_lockout`]: KMS refuses a key policy that would stop the
//!   caller from changing it again, and a2i-fix never bypasses that check. It
//!   checks it first, so it can explain: if the policy before let the account
//!   root (`arn:aws:iam::ACCT:root` or `ACCT` as an `AWS` principal, or `*`) or
//!   the caller call `kms:PutKeyPolicy` (through `kms:PutKeyPolicy`, `kms:Put*`,
//!   `kms:*`, `*`, or `NotAction` not excluding it), unconditionally and with
//!   no Deny in the way, then the policy after must too. A Deny, even
//!   conditional, that may apply in `after` counts as taking it away.
//! - [`check_nothing_lost`] and [`check_cors_nothing_lost`]: a last guard that
//!   no statement or rule was dropped or narrowed by mistake. For CORS the
//!   rules must also keep their relative order (S3 uses the first matching
//!   rule). A statement is kept when `after` has an equivalent one, or one
//!   with the same Sid that *widens* it: same `Effect`, an equivalent
//!   `Condition` (or none in both), the same `NotPrincipal` / `NotAction` /
//!   `NotResource` (or none in both), and every action, resource and principal
//!   value (per principal key) of the old one still there. No statement is
//!   exempt, not even one the plan declares it replaces: a replacement may
//!   add, never take away.
//!
//! # Decisions
//!
//! - **"Still there" means the same value in normal form**, as
//!   [`super::equivalence`] compares them: actions without case, an account id
//!   and `arn:aws:iam::ID:root` alike, `"*"` and `{"AWS": "*"}` alike. A wider
//!   pattern does not stand for a value it covers (`s3:*` does not keep
//!   `s3:GetObject`, `*` does not keep a role ARN): the guard stays simple to
//!   predict, and a2i-fix's own rewrites only ever append values.
//! - A statement without a Sid can only be kept by an equivalent one.
//! - When several statements of `after` have the Sid, one widening it is
//!   enough; the error names what the first of them would lose.

use super::equivalence::{cors_rules_equivalent, narrowing, statements_equivalent};
use super::evaluate::{KEY_SHAPE, LabeledDocument, Res, Verdict, Who, assess};
use super::{CorsConfiguration, PolicyDocument};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("{document} is {size} characters, over the limit of {limit} ({what})")]
    TooLarge {
        document: String,
        size: usize,
        limit: usize,
        what: String,
    },
    #[error("{document} would have {count} {what}, over the limit of {limit}")]
    TooMany {
        document: String,
        count: usize,
        limit: usize,
        what: String,
    },
    #[error("{document}: {message}")]
    Unsafe { document: String, message: String },
}

pub const INLINE_POLICIES_LIMIT: usize = 10_240;
pub const TRUST_POLICY_LIMIT: usize = 2_048;
pub const KEY_POLICY_LIMIT: usize = 32_768;
pub const CORS_RULES_LIMIT: usize = 100;
pub const CORS_BYTES_LIMIT: usize = 65_536;
pub const MANAGED_POLICIES_LIMIT: usize = 10;

/// Size of a policy as IAM counts it: characters of the compact JSON.
pub fn iam_size(document: &PolicyDocument) -> usize {
    document.to_compact_json().chars().count()
}

/// All inline policies of one role together, whitespace not counted.
pub fn check_inline_policies(role: &str, documents: &[&PolicyDocument]) -> Result<(), LimitError> {
    let size: usize = documents.iter().map(|d| iam_size(d)).sum();
    if size > INLINE_POLICIES_LIMIT {
        return Err(LimitError::TooLarge {
            document: format!("the inline policies of role `{role}` together"),
            size,
            limit: INLINE_POLICIES_LIMIT,
            what: "IAM's limit for all inline policies of one role, whitespace not counted; move grants to a managed policy".into(),
        });
    }
    Ok(())
}

pub fn check_trust_policy(role: &str, document: &PolicyDocument) -> Result<(), LimitError> {
    let size = iam_size(document);
    if size > TRUST_POLICY_LIMIT {
        return Err(LimitError::TooLarge {
            document: format!("the trust policy of role `{role}`"),
            size,
            limit: TRUST_POLICY_LIMIT,
            what: "IAM's default limit for a role trust policy, whitespace not counted; ask for a quota increase (up to 4,096)".into(),
        });
    }
    Ok(())
}

pub fn check_key_policy(key: &str, document: &PolicyDocument) -> Result<(), LimitError> {
    let size = document.to_pretty_json().len();
    if size > KEY_POLICY_LIMIT {
        return Err(LimitError::TooLarge {
            document: format!("the key policy of key `{key}`"),
            size,
            limit: KEY_POLICY_LIMIT,
            what: "KMS's limit of 32 KB for a key policy, counted in bytes".into(),
        });
    }
    Ok(())
}

pub fn check_cors(bucket: &str, config: &CorsConfiguration) -> Result<(), LimitError> {
    let document = format!("the CORS configuration of bucket `{bucket}`");
    if config.rules.len() > CORS_RULES_LIMIT {
        return Err(LimitError::TooMany {
            document,
            count: config.rules.len(),
            limit: CORS_RULES_LIMIT,
            what: "rules".into(),
        });
    }
    let size = cors_xml_size(config);
    if size > CORS_BYTES_LIMIT {
        return Err(LimitError::TooLarge {
            document,
            size,
            limit: CORS_BYTES_LIMIT,
            what: "S3's limit of 64 KB for a CORS configuration, counted in bytes of XML".into(),
        });
    }
    Ok(())
}

pub fn check_managed_policy_count(principal: &str, count: usize) -> Result<(), LimitError> {
    if count > MANAGED_POLICIES_LIMIT {
        return Err(LimitError::TooMany {
            document: principal.to_string(),
            count,
            limit: MANAGED_POLICIES_LIMIT,
            what: "attached managed policies (IAM's default quota; it can be raised to 20)".into(),
        });
    }
    Ok(())
}

/// If `before` let the account root (or `caller_arn`) change the key policy
/// (`kms:PutKeyPolicy`, via `kms:*` or similar), `after` must too.
pub fn check_key_policy_lockout(
    key: &str,
    before: &PolicyDocument,
    after: &PolicyDocument,
    account_id: &str,
    caller_arn: Option<&str>,
) -> Result<(), LimitError> {
    let mut whom: Vec<(Who<'_>, String)> = vec![(
        Who::Root {
            account: account_id,
        },
        if account_id.is_empty() {
            "the account root".to_string()
        } else {
            format!("`arn:aws:iam::{account_id}:root`")
        },
    )];
    if let Some(caller) = caller_arn {
        whom.push((
            Who::Iam {
                arn: caller,
                account: account_id,
            },
            format!("`{caller}`"),
        ));
    }
    for (who, name) in whom {
        if can_put_key_policy(before, &who) && !can_put_key_policy(after, &who) {
            return Err(LimitError::Unsafe {
                document: format!("the new key policy of key `{key}`"),
                message: format!(
                    "it would no longer let {name} call `kms:PutKeyPolicy`, as the current one does; KMS would refuse it as a lockout risk: keep the statement that allows it"
                ),
            });
        }
    }
    Ok(())
}

fn can_put_key_policy(document: &PolicyDocument, who: &Who<'_>) -> bool {
    let docs = [LabeledDocument {
        label: "key policy",
        document,
    }];
    let (verdict, _) = assess(
        &"`kms:PutKeyPolicy`",
        who,
        &["kms:PutKeyPolicy"],
        &Res::Implied(KEY_SHAPE),
        &docs,
        None,
    );
    matches!(verdict, Verdict::Met { .. })
}

/// Every statement of `before` is still in `after`: an equivalent statement,
/// or a statement with the same Sid that widens it (see the module docs).
/// `replaced` lists the Sids the plan declares it replaces; it exempts
/// nothing, and only makes the error say so.
pub fn check_nothing_lost(
    document: &str,
    before: &PolicyDocument,
    after: &PolicyDocument,
    replaced: &[String],
) -> Result<(), LimitError> {
    for (i, st) in before.statements.iter().enumerate() {
        if after
            .statements
            .iter()
            .any(|a| statements_equivalent(st, a))
        {
            continue;
        }
        let sid = st.sid.as_deref().filter(|sid| !sid.is_empty());
        let losses: Vec<Option<String>> = after
            .statements
            .iter()
            .filter(|a| sid.is_some() && a.sid.as_deref() == sid)
            .map(|a| narrowing(st, a))
            .collect();
        if losses.iter().any(Option::is_none) {
            continue;
        }
        let loss = losses.into_iter().flatten().next();
        let name = match sid {
            Some(sid) if replaced.iter().any(|r| r == sid) => {
                format!("statement {i} (`{sid}`) of the current document, which the plan replaces,")
            }
            Some(sid) => format!("statement {i} (`{sid}`) of the current document"),
            None => format!("statement {i} of the current document"),
        };
        let what = match loss {
            Some(loss) => format!("{name} {loss}"),
            None => format!("{name} would be lost"),
        };
        return Err(LimitError::Unsafe {
            document: document.to_string(),
            message: format!("{what}; this is a bug in a2i-fix, nothing was written"),
        });
    }
    Ok(())
}

/// Every CORS rule of `before` is still in `after`.
pub fn check_cors_nothing_lost(
    bucket: &str,
    before: &CorsConfiguration,
    after: &CorsConfiguration,
) -> Result<(), LimitError> {
    // Rules of `before` must appear in `after` in the same relative order.
    let mut next = 0;
    for (i, rule) in before.rules.iter().enumerate() {
        match after.rules[next..]
            .iter()
            .position(|r| cors_rules_equivalent(rule, r))
        {
            Some(p) => next += p + 1,
            None => {
                return Err(LimitError::Unsafe {
                    document: format!("the CORS configuration of bucket `{bucket}`"),
                    message: format!(
                        "rule {i} ({}) of the current configuration would be lost or moved; this is a bug in a2i-fix, nothing was written",
                        rule.describe()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Byte length of the PutBucketCors XML body for `config`.
pub fn cors_xml_size(config: &CorsConfiguration) -> usize {
    fn escaped(s: &str) -> usize {
        s.chars()
            .map(|c| match c {
                '&' => 5,
                '<' | '>' => 4,
                '"' | '\'' => 6,
                c => c.len_utf8(),
            })
            .sum()
    }
    // <Tag>value</Tag>
    fn element(tag: &str, value: &str) -> usize {
        2 * tag.len() + 5 + escaped(value)
    }
    let mut size = r#"<?xml version="1.0" encoding="UTF-8"?><CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></CORSConfiguration>"#.len();
    for rule in &config.rules {
        size += "<CORSRule></CORSRule>".len();
        if let Some(id) = &rule.id {
            size += element("ID", id);
        }
        size += rule
            .allowed_headers
            .iter()
            .map(|h| element("AllowedHeader", h))
            .sum::<usize>();
        size += rule
            .allowed_methods
            .iter()
            .map(|m| element("AllowedMethod", m))
            .sum::<usize>();
        size += rule
            .allowed_origins
            .iter()
            .map(|o| element("AllowedOrigin", o))
            .sum::<usize>();
        size += rule
            .expose_headers
            .iter()
            .map(|h| element("ExposeHeader", h))
            .sum::<usize>();
        if let Some(age) = rule.max_age_seconds {
            size += element("MaxAgeSeconds", &age.to_string());
        }
    }
    size
}
