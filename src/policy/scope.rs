//! How far one statement reaches on each dimension of a request (principal,
//! action, resource): the *scope* that [`super::evaluate`] combines into a
//! verdict. IAM's matching rules live here: `*` and `?` wildcards, actions
//! without case, ARNs with case, the `Not*` forms, principals by ARN, account
//! id, root, service or session.

use super::equivalence::normalize_aws_principal;
use super::evaluate::{ROLE_SHAPE, Res, Who};
use super::wildcard::{covers, overlaps};
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

pub(super) fn resource_scope(st: &Statement, res: &Res<'_>) -> Scope {
    match res {
        Res::Arn(requested) => {
            if let Some(list) = &st.resource {
                list_scope(list, requested, false)
            } else if let Some(list) = &st.not_resource {
                not_list_scope(list, requested, false)
            } else {
                Scope::Unsure
            }
        }
        Res::Implied(shape) => {
            if let Some(list) = &st.resource {
                if list.iter().any(|p| covers(p, shape, false)) {
                    Scope::Full
                } else if list.iter().any(|p| overlaps(p, shape, false)) {
                    Scope::Unsure
                } else {
                    Scope::None
                }
            } else if let Some(list) = &st.not_resource {
                if list.iter().any(|p| covers(p, shape, false)) {
                    Scope::None
                } else if list.iter().any(|p| overlaps(p, shape, false)) {
                    Scope::Unsure
                } else {
                    Scope::Full
                }
            } else if *shape == ROLE_SHAPE {
                // Trust policies have no Resource: the role is implied.
                Scope::Full
            } else {
                Scope::Unsure
            }
        }
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
