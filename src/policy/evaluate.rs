//! "Already met": does a set of documents already give what A2I needs?
//!
//! Matching follows IAM: `*` and `?` wildcards, actions compared without case,
//! ARNs with case, `NotAction` / `NotResource` / `NotPrincipal`, and an
//! explicit `Deny` overrides any `Allow`. The answer is one of [`Verdict`]'s
//! four, with a one-sentence reason naming the requirement and the statement.
//!
//! # How a statement is judged
//!
//! Each statement is judged on three dimensions (principal, action,
//! resource), each of which is *full* (the statement covers everything the
//! requirement asks for), *partial* (it certainly covers part of it), *unsure*
//! (it may or may not apply: a2i-fix cannot tell from the documents alone) or
//! *none*.
//!
//! - An `Allow` meets a requirement only when all three are *full* and it has
//!   no `Condition`; with a `Condition` it gives [`Verdict::Conditional`].
//!   "Never claim met when unsure": partial and unsure never count.
//! - A `Deny` blocks as soon as no dimension is *none*: a Deny that applies to
//!   part of the requirement (`Deny s3:GetObject` on `bucket/secret/*` against
//!   a need for `bucket/*`) still breaks A2I for those objects. It is reported
//!   as `Blocked { conditional: true }` when it has a `Condition` or when one
//!   dimension is *unsure* (it may apply), `conditional: false` otherwise.
//! - Requirements contain wildcards themselves (`arn:aws:s3:::bucket/*`,
//!   `kms:GenerateDataKey*`): an Allow must *cover* the requested pattern, a
//!   Deny need only *overlap* it (see [`super::wildcard`]).
//! - Several statements may together meet a [`Requirement::KeyGrant`]: each of
//!   its actions must be met by some statement.
//!
//! # Decisions
//!
//! - **Identity policies** (`Requirement::Identity`): a statement with a
//!   `Principal` or `NotPrincipal` is not valid there (IAM refuses it), so it is
//!   *unsure* on the principal: it never meets a requirement, and a Deny of that
//!   kind is reported as possibly blocking. A statement without `Resource` is
//!   likewise *unsure*.
//! - **Trust policies** (`Requirement::Trust`): the principal is met by
//!   `{"Service": SERVICE}` (exact text), `"*"` or `{"AWS": "*"}`. A wildcard
//!   principal does let SageMaker assume the role, so it counts as met, and the
//!   reason says that the statement is open to any principal. A `Resource` in
//!   a trust statement (IAM refuses it) is *unsure* unless it is `*`.
//! - **Key policies** (`Requirement::KeyGrant`): the principal is met by the
//!   role ARN itself or by `"*"` (wide open, said in the reason). The account
//!   root (`arn:aws:iam::ACCT:root` or `ACCT`) is *unsure*: it only delegates to
//!   the account's IAM policies, which are not among the documents, so a
//!   root-only key policy does not meet the grant (the usual default key
//!   policy). Another account's root, service principals and other roles are
//!   *none*. `Resource "*"` is the key; a specific key ARN is *unsure* (it may
//!   be this key or another one), any other ARN is *none*.
//! - **`NotPrincipal` in an Allow** never meets a requirement (*unsure*): AWS
//!   advises against it and its meaning depends on how the caller's session is
//!   identified. In a Deny, `NotPrincipal` applies to every principal it does
//!   not name; naming only the account root of the principal is *unsure*.
//! - The principal asked about may itself be an account root (the planner asks
//!   whether a key policy delegates to IAM): then `ACCT` and
//!   `arn:aws:iam::ACCT:root` name it.
//! - An assumed-role session ARN (`arn:aws:sts::ACCT:assumed-role/NAME/S`) is
//!   recognised as the role `NAME` of that account, whatever its path (AWS
//!   itself writes role ARNs into key policies this way).
//! - A statement naming a deleted role by its unique id (`AROA...`) does not
//!   match the current role.
//! - **Bucket policies** (`Requirement::Resource`): the principal is matched
//!   as for key policies (the role ARN, `*`, `{"AWS": "*"}`; the account root
//!   is *unsure*), the resource as for identity policies.
//! - **Policy variables** in `Resource` / `NotResource` (`${aws:username}`)
//!   stand for an unknown part (see `variables`): where only a variable could
//!   make a pattern reach the requested resource, the resource dimension is
//!   *unsure*, so such a Deny "may apply" and such an Allow never meets.
//! - **Conditions on `aws:PrincipalAccount` / `aws:ResourceAccount`** are
//!   settled when the principal and the resource are both in `account_id`
//!   (see `conditions`): for `Identity`, and for `KeyGrant` and `Resource`
//!   when the principal is an IAM or STS ARN of that account; never for
//!   `Trust` (a service has no principal account) nor with an empty
//!   `account_id`. A condition known to hold is as no condition (the reason
//!   says so); a statement whose condition never holds is skipped (a `NotMet`
//!   reason names it). The key-policy lockout guard does not use this.
//! - When no document is given the answer is `NotMet`; a `KeyGrant` naming no
//!   action is `NotMet` too (nothing to judge, so never "met").
//! - `evaluate_cors`: S3 answers a request with the first rule whose origin,
//!   method and (for preflight requests) headers match. A2I's worker UI makes
//!   simple `GET` requests, so a configuration meets R1 when some rule allows
//!   `GET` (any case) with `*` among its origins: every GET from anywhere then
//!   finds a matching rule (maybe an earlier, narrower one, which allows it
//!   too). Origin patterns such as `https://*` do not count.

use std::fmt;

use super::conditions::{self, Truth, describe_condition, has_condition, push_holds};
use super::scope::{
    Scope, action_scope, arn_account, is_wide_open, principal_scope, resource_has_variable,
    resource_scope, unsure_principal_why,
};
use super::{CorsConfiguration, Effect, PolicyDocument};

/// What must be granted.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Requirement {
    /// An identity-based grant to the role holding the policies: `action` on `resource`.
    Identity { action: String, resource: String },
    /// A trust-policy grant: `service` (e.g. `sagemaker.amazonaws.com`) may call `action`.
    Trust { service: String, action: String },
    /// A key-policy grant of `actions` to the IAM principal `principal_arn` (resource `*`).
    KeyGrant {
        principal_arn: String,
        actions: Vec<String>,
    },
    /// A CORS rule allowing GET from any origin.
    CorsGetAnyOrigin,
    /// A grant in a resource-based policy (a bucket policy): may the IAM
    /// principal `principal_arn` do `action` on `resource`?
    Resource {
        principal_arn: String,
        action: String,
        resource: String,
    },
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Identity { action, resource } => write!(f, "`{action}` on `{resource}`"),
            Requirement::Trust { service, action } => {
                write!(f, "`{action}` by `{service}` (trust policy)")
            }
            Requirement::KeyGrant {
                principal_arn,
                actions,
            } => {
                write!(
                    f,
                    "use of the key ({}) by `{principal_arn}`",
                    backticked(actions)
                )
            }
            Requirement::CorsGetAnyOrigin => write!(f, "CORS `GET` from any origin"),
            Requirement::Resource {
                principal_arn,
                action,
                resource,
            } => write!(
                f,
                "`{action}` on `{resource}` by `{principal_arn}` (bucket policy)"
            ),
        }
    }
}

/// A named document among those evaluated (e.g. `inline policy Foo of role R`).
#[derive(Debug, Clone, Copy)]
pub struct LabeledDocument<'a> {
    pub label: &'a str,
    pub document: &'a PolicyDocument,
}

/// Which statement decided.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatementRef {
    pub document: String,
    pub index: usize,
    pub sid: Option<String>,
}

impl fmt::Display for StatementRef {
    /// `statement 2 (`Sid`) of inline policy X` (or `rule 2 ...` for CORS).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.document.starts_with("CORS") {
            "rule"
        } else {
            "statement"
        };
        match &self.sid {
            Some(sid) => write!(f, "{what} {} (`{sid}`) of {}", self.index, self.document),
            None => write!(f, "{what} {} of {}", self.index, self.document),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Verdict {
    Met {
        by: StatementRef,
    },
    NotMet,
    /// An explicit Deny applies (`conditional`: it has a Condition, so it may apply).
    Blocked {
        by: StatementRef,
        conditional: bool,
    },
    /// Met only when the condition of `by` holds; `condition` names the operator/keys.
    Conditional {
        by: StatementRef,
        condition: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    pub requirement: Requirement,
    pub verdict: Verdict,
    /// One short human-readable sentence.
    pub reason: String,
}

/// Evaluate `requirement` against documents. For `KeyGrant` and `Resource`,
/// `account_id` lets `arn:aws:iam::ACCT:root` / `ACCT` principals be
/// recognised (root of the account does NOT by itself grant a role: IAM
/// policies of the role would then be needed, so a root-only key policy does
/// not meet a KeyGrant). It also settles conditions on `aws:PrincipalAccount`
/// and `aws:ResourceAccount` when the principal and the resource are both in
/// that account (see "Decisions").
pub fn evaluate(
    requirement: &Requirement,
    documents: &[LabeledDocument<'_>],
    account_id: &str,
) -> Decision {
    let in_account = |arn: &str| arn_account(arn) == Some(account_id);
    let known_account = match requirement {
        Requirement::Identity { .. } => true,
        Requirement::KeyGrant { principal_arn, .. }
        | Requirement::Resource { principal_arn, .. } => in_account(principal_arn),
        Requirement::Trust { .. } | Requirement::CorsGetAnyOrigin => false,
    };
    let known_account = Some(account_id).filter(|a| known_account && !a.is_empty());
    let (who, actions, resource): (Who<'_>, Vec<&str>, Res<'_>) = match requirement {
        Requirement::Identity { action, resource } => {
            (Who::Holder, vec![action.as_str()], Res::Arn(resource))
        }
        Requirement::Resource {
            principal_arn,
            action,
            resource,
        } => (
            Who::Iam {
                arn: principal_arn,
                account: account_id,
            },
            vec![action.as_str()],
            Res::Arn(resource),
        ),
        Requirement::Trust { service, action } => (
            Who::Service(service),
            vec![action.as_str()],
            Res::Implied(ROLE_SHAPE),
        ),
        Requirement::KeyGrant {
            principal_arn,
            actions,
        } => (
            Who::Iam {
                arn: principal_arn,
                account: account_id,
            },
            actions.iter().map(String::as_str).collect(),
            Res::Implied(KEY_SHAPE),
        ),
        Requirement::CorsGetAnyOrigin => {
            return Decision {
                requirement: requirement.clone(),
                verdict: Verdict::NotMet,
                reason: "CORS `GET` from any origin is judged on the bucket's CORS configuration, not on policies".into(),
            };
        }
    };
    let (verdict, reason) = assess(
        requirement,
        &who,
        &actions,
        &resource,
        documents,
        known_account,
    );
    Decision {
        requirement: requirement.clone(),
        verdict,
        reason,
    }
}

/// Evaluate `CorsGetAnyOrigin` against a CORS configuration.
pub fn evaluate_cors(config: &CorsConfiguration) -> Decision {
    let requirement = Requirement::CorsGetAnyOrigin;
    let found = config.rules.iter().enumerate().find(|(_, r)| {
        r.allowed_methods
            .iter()
            .any(|m| m.eq_ignore_ascii_case("GET"))
            && r.allowed_origins.iter().any(|o| o == "*")
    });
    if let Some((index, rule)) = found {
        let by = StatementRef {
            document: CORS_LABEL.into(),
            index,
            sid: rule.id.clone(),
        };
        let reason = format!("{requirement} is already allowed by {by}");
        return Decision {
            requirement,
            verdict: Verdict::Met { by },
            reason,
        };
    }
    let narrower = config.rules.iter().enumerate().find(|(_, r)| {
        r.allowed_methods
            .iter()
            .any(|m| m.eq_ignore_ascii_case("GET"))
    });
    let reason = match narrower {
        Some((index, rule)) => {
            let by = StatementRef {
                document: CORS_LABEL.into(),
                index,
                sid: rule.id.clone(),
            };
            format!(
                "{requirement} is not allowed: {by} allows `GET` only from {}",
                backticked(&rule.allowed_origins)
            )
        }
        None if config.rules.is_empty() => {
            format!("{requirement} is not allowed: the bucket has no CORS rules")
        }
        None => format!("{requirement} is not allowed: no CORS rule allows `GET` from `*`"),
    };
    Decision {
        requirement,
        verdict: Verdict::NotMet,
        reason,
    }
}

/// The document label used in CORS statement references.
pub const CORS_LABEL: &str = "CORS configuration";

/// What a role ARN (the resource of a trust policy) looks like.
pub(super) const ROLE_SHAPE: &str = "arn:*:iam::*:role/*";
/// What a KMS key ARN (the resource of a key policy) looks like.
pub(crate) const KEY_SHAPE: &str = "arn:*:kms:*:*:key/*";

/// Who asks.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Who<'a> {
    /// Identity policies: whoever holds the policy.
    Holder,
    /// A service principal (trust policies).
    Service(&'a str),
    /// An IAM role or user (or an assumed-role session) of `account`.
    Iam { arn: &'a str, account: &'a str },
    /// The root of `account` (the key-policy lockout check).
    Root { account: &'a str },
}

/// On what.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Res<'a> {
    /// A resource pattern named by the requirement.
    Arn(&'a str),
    /// The resource the policy is attached to (a role, a key), of this shape;
    /// `*` in the policy means it.
    Implied(&'static str),
}

#[derive(Debug, Clone)]
struct Hit {
    by: StatementRef,
    conditional: bool,
    partial: bool,
    condition: Option<String>,
    wide_open: bool,
    /// The keys of a condition known to hold (see [`super::conditions`]).
    holds: Vec<String>,
}

/// The verdict and reason for `actions` requested by `who` on `res`.
/// `known_account`: the account both the principal and the resource are in,
/// when a2i-fix knows it (conditions on it are then settled).
pub(crate) fn assess(
    requirement: &dyn fmt::Display,
    who: &Who<'_>,
    actions: &[&str],
    res: &Res<'_>,
    documents: &[LabeledDocument<'_>],
    known_account: Option<&str>,
) -> (Verdict, String) {
    if documents.is_empty() {
        return (
            Verdict::NotMet,
            format!("{requirement} is not granted: there is no policy to grant it"),
        );
    }
    if actions.is_empty() {
        return (
            Verdict::NotMet,
            format!("{requirement} names no action, so there is nothing to grant"),
        );
    }
    let mut deny: Option<Hit> = None;
    let mut met: Vec<Option<Hit>> = vec![None; actions.len()];
    let mut cond: Vec<Option<Hit>> = vec![None; actions.len()];
    let mut maybe: Option<(StatementRef, &'static str)> = None;
    let mut never: Option<(StatementRef, Vec<String>)> = None;
    for doc in documents {
        for (index, st) in doc.document.statements.iter().enumerate() {
            let by = || StatementRef {
                document: doc.label.to_string(),
                index,
                sid: st.sid.clone(),
            };
            let p = principal_scope(st, who);
            let r = resource_scope(st, res);
            let truth = conditions::truth(st, known_account);
            if truth == Truth::False {
                let reaches = p != Scope::None
                    && r != Scope::None
                    && actions.iter().any(|a| action_scope(st, a) != Scope::None);
                if never.is_none() && reaches {
                    never = Some((by(), conditions::known_keys(st)));
                }
                continue;
            }
            let (unknown, holds) = match truth {
                Truth::True if has_condition(st) => (false, conditions::known_keys(st)),
                Truth::True => (false, Vec::new()),
                _ => (has_condition(st), Vec::new()),
            };
            let condition = if unknown {
                describe_condition(st)
            } else {
                None
            };
            for (i, action) in actions.iter().enumerate() {
                let a = action_scope(st, action);
                let dims = [p, a, r];
                match st.effect {
                    Effect::Deny => {
                        if dims.contains(&Scope::None) {
                            continue;
                        }
                        let conditional = unknown || dims.contains(&Scope::Unsure);
                        let better = match &deny {
                            None => true,
                            Some(d) => d.conditional && !conditional,
                        };
                        if better {
                            deny = Some(Hit {
                                by: by(),
                                conditional,
                                partial: dims.contains(&Scope::Partial),
                                condition: condition.clone(),
                                wide_open: false,
                                holds: holds.clone(),
                            });
                        }
                    }
                    Effect::Allow => {
                        if dims.iter().all(|d| *d == Scope::Full) {
                            let hit = Hit {
                                by: by(),
                                conditional: unknown,
                                partial: false,
                                condition: condition.clone(),
                                wide_open: is_wide_open(st),
                                holds: holds.clone(),
                            };
                            let slot = if hit.conditional {
                                &mut cond[i]
                            } else {
                                &mut met[i]
                            };
                            if slot.is_none() {
                                *slot = Some(hit);
                            }
                        } else if maybe.is_none()
                            && !dims.contains(&Scope::None)
                            && dims.contains(&Scope::Unsure)
                        {
                            let why = if p == Scope::Unsure {
                                unsure_principal_why(st, who)
                            } else if r == Scope::Unsure && resource_has_variable(st) {
                                "its resource depends on a policy variable"
                            } else if r == Scope::Unsure {
                                "its resource may not be the one needed"
                            } else {
                                "its actions may not cover what is needed"
                            };
                            maybe = Some((by(), why));
                        }
                    }
                }
            }
        }
    }
    if let Some(d) = deny {
        let mut reason = format!("{requirement} is denied by {}", d.by);
        if d.partial {
            reason.push_str(" (at least in part)");
        }
        if let Some(c) = &d.condition {
            reason.push_str(&format!(" when its condition holds ({c})"));
        } else if d.conditional {
            reason.push_str(", which may apply");
        }
        push_holds(&mut reason, &d.holds, known_account);
        reason.push_str("; an Allow cannot override an explicit Deny: remove or narrow that Deny");
        return (
            Verdict::Blocked {
                by: d.by,
                conditional: d.conditional,
            },
            reason,
        );
    }
    if met.iter().all(Option::is_some) {
        let hits: Vec<&Hit> = met.iter().flatten().collect();
        let mut refs: Vec<String> = Vec::new();
        for h in &hits {
            let s = h.by.to_string();
            if !refs.contains(&s) {
                refs.push(s);
            }
        }
        let mut reason = format!("{requirement} is already granted by {}", refs.join(" and "));
        if hits.iter().any(|h| h.wide_open) {
            reason.push_str(", which is open to any principal (`*`)");
        }
        if let Some(h) = hits.iter().find(|h| !h.holds.is_empty()) {
            push_holds(&mut reason, &h.holds, known_account);
        }
        return (
            Verdict::Met {
                by: hits[0].by.clone(),
            },
            reason,
        );
    }
    if met
        .iter()
        .zip(&cond)
        .all(|(m, c)| m.is_some() || c.is_some())
        && let Some(c) = cond
            .iter()
            .zip(&met)
            .find_map(|(c, m)| if m.is_none() { c.clone() } else { None })
    {
        let condition = c.condition.clone().unwrap_or_default();
        let reason = format!(
            "{requirement} is granted by {} only when its condition holds ({condition})",
            c.by
        );
        return (
            Verdict::Conditional {
                by: c.by,
                condition,
            },
            reason,
        );
    }
    let labels: Vec<&str> = documents.iter().map(|d| d.label).collect();
    let mut reason = if actions.len() > 1 && met.iter().any(Option::is_some) {
        let missing: Vec<String> = actions
            .iter()
            .zip(&met)
            .filter(|(_, m)| m.is_none())
            .map(|(a, _)| a.to_string())
            .collect();
        format!(
            "{requirement} is not fully granted: {} grants no {}",
            labels.join(", "),
            backticked(&missing)
        )
    } else {
        format!("{requirement} is not granted by {}", labels.join(", "))
    };
    if let Some((by, why)) = maybe {
        reason.push_str(&format!(" ({by} might grant it, but {why})"));
    }
    if let Some((by, keys)) = never {
        reason.push_str(&format!(
            " ({by} does not apply: its condition on {} never holds{})",
            backticked(&keys),
            conditions::in_account(known_account)
        ));
    }
    (Verdict::NotMet, reason)
}

pub(super) fn backticked<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|s| format!("`{}`", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}
