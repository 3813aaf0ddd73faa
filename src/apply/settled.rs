//! Error answers that mean a write's effect already holds.
//!
//! A request can reach AWS and take effect while its answer is lost (the
//! connection is reset after the request was sent, a proxy answers 5xx).
//! The SDK retries it, and the retry meets the effect of the first attempt:
//!
//! - CreateRole answers `EntityAlreadyExists`. The write counts as done
//!   when the role that exists is the one the plan creates: the same path,
//!   the description a2i-fix gives its roles, and a trust policy equivalent
//!   to the planned one. Any other role is someone else's: the failure
//!   stands, saying how the role differs.
//! - A delete (DeleteRole, DeleteRolePolicy, Detach*Policy,
//!   DeleteBucketCors) answers that its target does not exist
//!   (`NoSuchEntity`, `NoSuchCORSConfiguration`). The target is gone, which
//!   is all the delete was for, whoever removed it: done.
//!
//! Either way the step is journaled as applied (so rolling back an apply
//! deletes a role counted as created) and the report says why, in one line.

use crate::aws::Clients;
use crate::model::{PrincipalKind, Target};
use crate::policy::{self, PolicyDocument};

/// The description of every role a2i-fix creates.
pub(super) const ROLE_DESCRIPTION: &str = "Created by a2i-fix for Amazon Augmented AI";

/// After CreateRole answered `EntityAlreadyExists`: `Ok(note)` when role
/// `name` is the role the plan creates (see module docs), `Err(why not)`
/// otherwise, or when it cannot be read.
pub(super) async fn role_as_planned(
    clients: &Clients,
    name: &str,
    path: &str,
    trust: &str,
) -> Result<String, String> {
    let out = clients
        .iam
        .get_role()
        .role_name(name)
        .send()
        .await
        .map_err(|e| {
            format!(
                "it could not be read to compare it with the plan: {}",
                aws_sdk_iam::error::DisplayErrorContext(e)
            )
        })?;
    let role = out
        .role()
        .ok_or_else(|| "GetRole returned no role to compare with the plan".to_string())?;
    let mut differences = Vec::new();
    if role.path() != path {
        differences.push(format!("its path is `{}`, not `{path}`", role.path()));
    }
    if role.description() != Some(ROLE_DESCRIPTION) {
        differences.push("a2i-fix did not create it (its description differs)".to_string());
    }
    let existing = role
        .assume_role_policy_document()
        .and_then(|t| percent_encoding::percent_decode_str(t).decode_utf8().ok());
    let same_trust = match (existing, PolicyDocument::parse(trust)) {
        (Some(existing), Ok(planned)) => {
            PolicyDocument::parse(&existing).is_ok_and(|e| policy::equivalent(&e, &planned))
        }
        _ => false,
    };
    if !same_trust {
        differences.push("its trust policy is not the planned one".to_string());
    }
    if differences.is_empty() {
        Ok(format!(
            "role `{name}` already existed exactly as planned: an earlier attempt of this call created it (its answer was lost); counted as created"
        ))
    } else {
        Err(format!(
            "the existing role is not the one planned: {}",
            differences.join(", ")
        ))
    }
}

/// After a delete answered `code`: `Some(note)` when the answer says the
/// target does not exist (see module docs).
pub(super) fn already_gone(target: &Target, code: Option<&str>) -> Option<String> {
    let what = match (target, code?) {
        (Target::BucketCors { bucket }, "NoSuchCORSConfiguration") => {
            format!("bucket `{bucket}` already had no CORS configuration")
        }
        (Target::Role { name, .. }, "NoSuchEntity") => format!("role `{name}` was already gone"),
        (Target::InlinePolicy { role, policy_name }, "NoSuchEntity") => {
            format!("inline policy `{policy_name}` of role `{role}` was already gone")
        }
        (
            Target::Attachment {
                kind,
                name,
                policy_arn,
            },
            "NoSuchEntity",
        ) => {
            let kind = match kind {
                PrincipalKind::Role => "role",
                PrincipalKind::User => "user",
            };
            format!("`{policy_arn}` was already detached from {kind} `{name}`")
        }
        _ => return None,
    };
    Some(format!(
        "{what}: an earlier attempt of this call removed it (its answer was lost), or someone else did; counted as done"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_missing_target_of_its_own_kind_counts_as_gone() {
        let role = Target::Role {
            name: "R".into(),
            path: "/".into(),
        };
        let cors = Target::BucketCors { bucket: "b".into() };
        let note = already_gone(&role, Some("NoSuchEntity")).unwrap();
        assert!(note.starts_with("role `R` was already gone: "), "{note}");
        assert!(note.ends_with("counted as done"), "{note}");
        assert!(already_gone(&cors, Some("NoSuchCORSConfiguration")).is_some());
        assert_eq!(already_gone(&cors, Some("NoSuchBucket")), None);
        assert_eq!(already_gone(&cors, Some("NoSuchEntity")), None);
        assert_eq!(already_gone(&role, Some("DeleteConflict")), None);
        assert_eq!(already_gone(&role, None), None);
        let detached = Target::Attachment {
            kind: PrincipalKind::User,
            name: "u".into(),
            policy_arn: "arn:p".into(),
        };
        assert!(
            already_gone(&detached, Some("NoSuchEntity"))
                .unwrap()
                .starts_with("`arn:p` was already detached from user `u`: ")
        );
    }
}
