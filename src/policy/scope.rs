//! How far one statement reaches on each dimension of a request (principal,
//! action, resource): the *scope* that [`super::evaluate`] combines into a
//! verdict. IAM's matching rules live here: `*` and `?` wildcards, actions
//! without case, ARNs with case, the `Not*` forms, principals by ARN, account
//! id, root, service or session.

use super::equivalence::normalize_aws_principal;
use super::evaluate::{ROLE_SHAPE, Res, Who};
use super::variables::{ResourcePattern, has_variable};
use super::wildcard::{covers, covers_tokens, overlaps, overlaps_tokens, tokens};
use super::{Effect, Principal, Statement};

/// How much of a request a statement covers on one dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Scope {
    None,
    Unsure,
    Partial,
    Full,
}

pub(super) fn action_scope(st: &Statement, requested: &str) -> Scope {
    if let Some(list) = &st.action {
        list_scope(list, requested, true)
    } else if let Some(list) = &st.not_action {
        not_list_scope(list, requested, true)
    } else {
        Scope::Unsure
    }
}

fn list_scope(list: &[String], requested: &str, ci: bool) -> Scope {
    if list.iter().any(|p| covers(p, requested, ci)) {
        Scope::Full
    } else if list.iter().any(|p| overlaps(p, requested, ci)) {
        Scope::Partial
    } else {
        Scope::None
    }
}

fn not_list_scope(list: &[String], requested: &str, ci: bool) -> Scope {
    if list.iter().any(|p| covers(p, requested, ci)) {
        Scope::None
    } else if list.iter().any(|p| overlaps(p, requested, ci)) {
        Scope::Partial
    } else {
        Scope::Full
    }
}

/// The resource dimension. A pattern with a policy variable (see
/// [`super::variables`]) never makes it *full* or *none* by itself: where it
/// could reach the requested resource (the variable read as `*`), the answer
/// is at most *unsure*; in a `NotResource` it may exclude the requested
/// resource, so *full* becomes *unsure*.
pub(super) fn resource_scope(st: &Statement, res: &Res<'_>) -> Scope {
    let (list, negated) = match (&st.resource, &st.not_resource) {
        (Some(list), _) => (list, false),
        (None, Some(list)) => (list, true),
        (None, None) => {
            return match res {
                // Trust policies have no Resource: the role is implied.
                Res::Implied(shape) if *shape == ROLE_SHAPE => Scope::Full,
                _ => Scope::Unsure,
            };
        }
    };
    let patterns: Vec<ResourcePattern> = list.iter().map(|p| ResourcePattern::read(p)).collect();
    let (requested, implied) = match res {
        Res::Arn(requested) => (tokens(requested), false),
        Res::Implied(shape) => (tokens(shape), true),
    };
    let plain = patterns.iter().filter(|p| !p.has_variable);
    let covered = plain
        .clone()
        .any(|p| covers_tokens(&p.tokens, &requested, false));
    let overlapped = plain
        .clone()
        .any(|p| overlaps_tokens(&p.tokens, &requested, false));
    let variable = patterns
        .iter()
        .any(|p| p.has_variable && overlaps_tokens(&p.tokens, &requested, false));
    // A resource of the attached shape (a key, a role) that is not `*`-like
    // may be this one or another one: unsure rather than partial.
    let part = if implied {
        Scope::Unsure
    } else {
        Scope::Partial
    };
    match (negated, covered, overlapped, variable) {
        (false, true, _, _) => Scope::Full,
        (false, false, true, _) => part,
        (false, false, false, true) => Scope::Unsure,
        (false, false, false, false) => Scope::None,
        (true, true, _, _) => Scope::None,
        (true, false, _, true) => Scope::Unsure,
        (true, false, true, false) => part,
        (true, false, false, false) => Scope::Full,
    }
}

pub(super) fn principal_scope(st: &Statement, who: &Who<'_>) -> Scope {
    match (who, &st.principal, &st.not_principal) {
        (Who::Holder, None, None) => Scope::Full,
        (Who::Holder, _, _) => Scope::Unsure,
        (_, None, None) => Scope::Unsure,
        (_, Some(p), _) => named_scope(p, who),
        (_, None, Some(np)) => {
            if st.effect == Effect::Allow {
                return Scope::Unsure;
            }
            match named_scope(np, who) {
                Scope::Full => Scope::None,
                Scope::None => Scope::Full,
                _ => Scope::Unsure,
            }
        }
    }
}

/// Whether a principal block names `who`: Full (it does), Unsure, None.
fn named_scope(p: &Principal, who: &Who<'_>) -> Scope {
    let entries = match p {
        Principal::Any => return Scope::Full,
        Principal::Map(entries) => entries,
    };
    let mut best = Scope::None;
    for (key, values) in entries {
        for v in values {
            let s = value_scope(key, v, who);
            if s > best {
                best = s;
            }
        }
    }
    best
}

fn value_scope(key: &str, value: &str, who: &Who<'_>) -> Scope {
    if key == "AWS" && value == "*" {
        return Scope::Full;
    }
    match who {
        Who::Holder => Scope::Unsure,
        Who::Service(service) => {
            if key == "Service" && value == *service {
                Scope::Full
            } else {
                Scope::None
            }
        }
        Who::Iam { arn, account } => {
            if key != "AWS" {
                Scope::None
            } else if names_principal(value, arn) {
                Scope::Full
            } else if is_root_of(value, account) {
                Scope::Unsure
            } else {
                Scope::None
            }
        }
        Who::Root { account } => {
            if key == "AWS" && is_root_of(value, account) {
                Scope::Full
            } else {
                Scope::None
            }
        }
    }
}

/// Whether `value` (an `AWS` principal) is the root of `account` (any root
/// when the account is not known).
fn is_root_of(value: &str, account: &str) -> bool {
    let id = if super::equivalence::is_account_id(value) {
        value
    } else if let Some(rest) = value.strip_prefix("arn:") {
        // arn:PARTITION:iam::ID:root
        let mut parts = rest.splitn(5, ':');
        let (_partition, service, region, id, res) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        );
        if service != Some("iam") || region != Some("") || res != Some("root") {
            return false;
        }
        match id {
            Some(id) => id,
            None => return false,
        }
    } else {
        return false;
    };
    account.is_empty() || id == account
}

/// Whether the principal value `value` names `arn`, recognising an
/// assumed-role session ARN as its role.
pub(crate) fn names_principal(value: &str, arn: &str) -> bool {
    if value == arn || normalize_aws_principal(value) == normalize_aws_principal(arn) {
        return true;
    }
    // arn:PARTITION:sts::ACCT:assumed-role/NAME/SESSION -> role NAME of ACCT
    let Some((prefix, rest)) = arn.split_once(":sts::") else {
        return false;
    };
    let Some((account, res)) = rest.split_once(':') else {
        return false;
    };
    let Some(role_and_session) = res.strip_prefix("assumed-role/") else {
        return false;
    };
    let Some((role, _session)) = role_and_session.split_once('/') else {
        return false;
    };
    let Some(role_part) = value.strip_prefix(&format!("{prefix}:iam::{account}:role/")) else {
        return false;
    };
    role_part.rsplit('/').next() == Some(role)
}

pub(super) fn resource_has_variable(st: &Statement) -> bool {
    let list = st.resource.as_ref().or(st.not_resource.as_ref());
    list.is_some_and(|l| l.iter().any(|p| has_variable(p)))
}

/// The account of an IAM or STS ARN (`arn:PARTITION:iam::ACCT:...`).
pub(super) fn arn_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (arn_, _partition, service, region, account) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    parts.next()?;
    (arn_ == "arn" && matches!(service, "iam" | "sts") && region.is_empty()).then_some(account)
}

pub(super) fn is_wide_open(st: &Statement) -> bool {
    match &st.principal {
        Some(Principal::Any) => true,
        Some(Principal::Map(entries)) => entries
            .iter()
            .any(|(k, vs)| k == "AWS" && vs.iter().any(|v| v == "*")),
        None => false,
    }
}

pub(super) fn unsure_principal_why(st: &Statement, who: &Who<'_>) -> &'static str {
    if st.not_principal.is_some() && st.effect == Effect::Allow {
        return "an Allow with `NotPrincipal` is not trusted to grant anything";
    }
    match who {
        Who::Holder => "a statement with a principal is not valid in an identity policy",
        Who::Iam { .. } => {
            "it names the account root, which only delegates to the IAM policies of the principal"
        }
        _ => "its principal cannot be matched with certainty",
    }
}
