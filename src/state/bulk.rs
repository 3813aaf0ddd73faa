//! The bulk IAM read: GetAccountAuthorizationDetails (filters `Role` and
//! `LocalManagedPolicy`, pages of up to [`PAGE_SIZE`] items) instead of one
//! GetRole, ListRolePolicies, ListAttachedRolePolicies and GetRolePolicy per
//! role and one GetPolicy and GetPolicyVersion per customer managed policy.
//!
//! Decisions:
//! - **When.** [`IamReads::Auto`] reads in bulk when the spec needs at least
//!   [`BULK_THRESHOLD`] distinct roles read (flow and preview roles, and
//!   callers that are roles); `--iam-reads per-role|bulk` forces either.
//!   The bulk answer holds *every* role and customer managed policy of the
//!   account, so its cost grows with the account, not with the spec: below
//!   the threshold the per-role reads, which IAM's per-API rates let run
//!   at a burst, finish sooner.
//! - **Same text.** Documents come URL-encoded, as from GetRole,
//!   GetRolePolicy and GetPolicyVersion, and are decoded the same way
//!   ([`super::iam::decode`]), so a fingerprint taken at plan time matches
//!   a per-resource re-read ([`super::read_current`]) byte for byte. The
//!   bulk answer has no role description or maximum session duration:
//!   those stay `None` (only `export` uses them, and it reads them with
//!   GetRole). Attached policies are sorted by name, as
//!   ListAttachedRolePolicies lists them.
//! - **What is kept.** Only the roles the spec needs; every customer
//!   managed policy's default version (a policy is served from here to
//!   whoever names it, a caller user included). AWS managed policies are
//!   not in the answer: they are still read with GetPolicy and
//!   GetPolicyVersion. Users are still read one by one.
//! - **Denied.** When the credentials may not call
//!   GetAccountAuthorizationDetails (`AccessDenied`), the roles are read one
//!   by one instead, and stderr says so once per process.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_iam::types::EntityType;

use crate::aws::IamReads;
use crate::model::PrincipalKind;
use crate::requirements::Needs;

use super::errors::{call_error, code};
use super::iam::{attached, decode, tag_pairs};
use super::{ManagedPolicy, Reader, RoleState, StateError};

/// From how many distinct roles to read `auto` reads in bulk. Measured with
/// the AWS-like benchmark (README, "Development"), in an account holding
/// 1,000 roles besides the spec's: role by role was as fast or faster up to
/// 20 roles (IAM's first second's worth of calls is free), in bulk faster
/// from 30 on. In an account holding only the spec's roles the bulk read
/// was faster at every size; a larger account makes it slower (one page
/// per 1,000 roles and policies), hence the margin.
pub const BULK_THRESHOLD: usize = 30;

/// Items per page asked for (IAM's maximum).
const PAGE_SIZE: i32 = 1000;

/// What one bulk read found.
#[derive(Debug, Default)]
pub(super) struct Bulk {
    /// The roles asked for that exist, by name.
    pub(super) roles: BTreeMap<String, RoleState>,
    /// Every customer managed policy's default version, by ARN.
    pub(super) policies: BTreeMap<String, ManagedPolicy>,
}

/// The distinct roles `needs` has read: flow and preview roles, and
/// callers that are roles.
pub(super) fn roles_to_read(needs: &Needs) -> BTreeSet<String> {
    needs
        .roles
        .keys()
        .cloned()
        .chain(
            needs
                .callers
                .values()
                .filter(|c| c.kind == PrincipalKind::Role)
                .map(|c| c.name.clone()),
        )
        .collect()
}

/// Whether to read `roles` in bulk.
pub(super) fn use_bulk(mode: IamReads, roles: &BTreeSet<String>) -> bool {
    match mode {
        IamReads::PerRole => false,
        IamReads::Bulk => !roles.is_empty(),
        IamReads::Auto => roles.len() >= BULK_THRESHOLD,
    }
}

/// Whether the note on a denied bulk read was printed already.
static DENIAL_NOTED: AtomicBool = AtomicBool::new(false);

impl Reader<'_> {
    /// The bulk answer, read once (the first asker reads, the others wait);
    /// `None` when this reader reads role by role, or the bulk read was
    /// denied.
    pub(super) async fn bulk(&self) -> Result<Option<&Bulk>, StateError> {
        let Some(names) = &self.bulk_roles else {
            return Ok(None);
        };
        let bulk = self.bulk.get_or_try_init(|| self.read_bulk(names)).await?;
        Ok(bulk.as_ref())
    }

    /// The bulk answer when it has been read (without waiting for it).
    pub(super) fn bulk_read(&self) -> Option<&Bulk> {
        self.bulk.get().and_then(Option::as_ref)
    }

    async fn read_bulk(&self, names: &BTreeSet<String>) -> Result<Option<Bulk>, StateError> {
        let mut pages = self
            .clients
            .iam
            .get_account_authorization_details()
            .filter(EntityType::Role)
            .filter(EntityType::LocalManagedPolicy)
            .into_paginator()
            .page_size(PAGE_SIZE)
            .send();
        let mut bulk = Bulk::default();
        while let Some(page) = self
            .call_iam("GetAccountAuthorizationDetails", || pages.next())
            .await
        {
            let page = match page {
                Ok(page) => page,
                Err(e) if code(&e) == Some("AccessDenied") => {
                    if !DENIAL_NOTED.swap(true, Ordering::Relaxed) {
                        eprintln!(
                            "a2i-fix: note: iam:GetAccountAuthorizationDetails is denied to these credentials; reading roles one by one instead (slower for large specs)"
                        );
                    }
                    return Ok(None);
                }
                Err(e) => {
                    let what = "the account's roles and policies".to_string();
                    return Err(call_error("iam", "GetAccountAuthorizationDetails", what, e));
                }
            };
            for role in page.role_detail_list() {
                let name = role.role_name().unwrap_or_default();
                if names.contains(name) {
                    bulk.roles.insert(name.to_string(), role_state(role)?);
                }
            }
            for policy in page.policies() {
                if let Some(p) = managed_policy(policy)? {
                    bulk.policies.insert(p.arn.clone(), p);
                }
            }
        }
        Ok(Some(bulk))
    }
}

/// A role as the per-role reads would have stored it.
fn role_state(role: &aws_sdk_iam::types::RoleDetail) -> Result<RoleState, StateError> {
    let name = role.role_name().unwrap_or_default();
    let missing = |what: &str| StateError::Aws {
        call: "GetAccountAuthorizationDetails".into(),
        resource: format!("role `{name}`"),
        message: format!("the response has no {what}"),
    };
    let trust = role
        .assume_role_policy_document()
        .ok_or_else(|| missing("trust policy"))?;
    let inline_policies = role
        .role_policy_list()
        .iter()
        .map(|p| {
            let policy = p.policy_name().unwrap_or_default();
            let text = p
                .policy_document()
                .ok_or_else(|| missing("inline policy document"))?;
            let document = decode(text, || {
                format!("inline policy `{policy}` of role `{name}`")
            })?;
            Ok((policy.to_string(), document))
        })
        .collect::<Result<_, StateError>>()?;
    // In the order ListAttachedRolePolicies lists them: by name.
    let mut attached_policies: Vec<_> = role
        .attached_managed_policies()
        .iter()
        .map(attached)
        .collect();
    attached_policies.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(RoleState {
        name: name.to_string(),
        arn: role.arn().ok_or_else(|| missing("ARN"))?.to_string(),
        path: role.path().unwrap_or("/").to_string(),
        trust_policy: decode(trust, || format!("the trust policy of role `{name}`"))?,
        inline_policies,
        attached_policies,
        permissions_boundary: role
            .permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn.clone()),
        description: None,
        max_session_duration: None,
        tags: tag_pairs(role.tags()),
    })
}

/// A customer managed policy's default version; `None` when the answer
/// names no default version with a document (then it is read with
/// GetPolicy and GetPolicyVersion, should anyone need it).
fn managed_policy(
    policy: &aws_sdk_iam::types::ManagedPolicyDetail,
) -> Result<Option<ManagedPolicy>, StateError> {
    let Some(arn) = policy.arn() else {
        return Ok(None);
    };
    let default = policy.policy_version_list().iter().find(|v| {
        v.is_default_version
            || v.version_id.is_some() && v.version_id.as_deref() == policy.default_version_id()
    });
    let Some((version_id, text)) =
        default.and_then(|v| Some((v.version_id.as_deref()?, v.document.as_deref()?)))
    else {
        return Ok(None);
    };
    Ok(Some(ManagedPolicy {
        arn: arn.to_string(),
        version_id: version_id.to_string(),
        document: decode(text, || {
            format!("version `{version_id}` of managed policy `{arn}`")
        })?,
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::requirements::{CallerNeeds, RoleNeeds};

    fn needs(roles: usize, caller_roles: &[&str], caller_users: usize) -> Needs {
        let mut needs = Needs::default();
        for i in 0..roles {
            let name = format!("role-{i}");
            let role = RoleNeeds {
                name: name.clone(),
                path: "/".into(),
                path_given: false,
                trust: Vec::new(),
                read: BTreeMap::new(),
                write: BTreeMap::new(),
                create_if_missing: true,
            };
            needs.roles.insert(name, role);
        }
        let callers = caller_roles
            .iter()
            .map(|n| (PrincipalKind::Role, n.to_string()))
            .chain((0..caller_users).map(|i| (PrincipalKind::User, format!("user-{i}"))));
        for (kind, name) in callers {
            let arn = format!("arn:aws:iam::123456789012:{kind:?}/{name}").to_lowercase();
            let caller = CallerNeeds {
                arn: arn.clone(),
                kind,
                name,
                policies: BTreeMap::new(),
            };
            needs.callers.insert(arn, caller);
        }
        needs
    }

    #[test]
    fn distinct_roles_count_flow_and_caller_roles_once_and_no_users() {
        // role-0 is a flow role and a caller: once.
        let roles = roles_to_read(&needs(3, &["role-0", "app"], 5));
        let names: Vec<&str> = roles.iter().map(String::as_str).collect();
        assert_eq!(names, ["app", "role-0", "role-1", "role-2"]);
    }

    #[test]
    fn auto_reads_in_bulk_from_the_threshold_on_and_the_flag_overrides_it() {
        let below = roles_to_read(&needs(BULK_THRESHOLD - 2, &["app"], 3));
        let at = roles_to_read(&needs(BULK_THRESHOLD - 1, &["app"], 0));
        assert_eq!(
            (below.len(), at.len()),
            (BULK_THRESHOLD - 1, BULK_THRESHOLD)
        );
        assert!(!use_bulk(IamReads::Auto, &below));
        assert!(use_bulk(IamReads::Auto, &at));
        assert!(!use_bulk(IamReads::PerRole, &at));
        assert!(use_bulk(IamReads::Bulk, &below));
        // Nothing to read: no call at all.
        assert!(!use_bulk(IamReads::Bulk, &BTreeSet::new()));
    }
}
