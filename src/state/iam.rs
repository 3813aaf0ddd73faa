//! IAM reads: a role (GetRole, its inline policies, its attached managed
//! policies), the default version of a managed policy, and a caller's
//! attachments. IAM returns documents URL-encoded; they are decoded here and
//! kept as text.
//!
//! Listings use the SDK paginators. A paginator sends a page's request only
//! while its stream is polled, and each poll here holds a permit, so every
//! page is one counted call made under the concurrency bound.

use futures::future::try_join_all;

use crate::model::PrincipalKind;

use super::errors::{call_error, code};
use super::{AttachedPolicy, CallerState, ManagedPolicy, Reader, RoleState, StateError};

/// URL-decode (RFC 3986) a document IAM returned.
pub(super) fn decode(text: &str, what: impl FnOnce() -> String) -> Result<String, StateError> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|e| StateError::Decode {
            what: what(),
            message: e.to_string(),
        })
}

pub(super) fn attached(policy: &aws_sdk_iam::types::AttachedPolicy) -> AttachedPolicy {
    AttachedPolicy {
        name: policy.policy_name.clone().unwrap_or_default(),
        arn: policy.policy_arn.clone().unwrap_or_default(),
    }
}

/// Tags as (key, value).
pub(super) fn tag_pairs(tags: &[aws_sdk_iam::types::Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect()
}

impl Reader<'_> {
    /// GetRole; `None` when the role does not exist.
    pub(super) async fn get_role(
        &self,
        name: &str,
    ) -> Result<Option<aws_sdk_iam::types::Role>, StateError> {
        match self
            .call_iam("GetRole", || {
                self.clients.iam.get_role().role_name(name).send()
            })
            .await
        {
            Ok(out) => Ok(out.role),
            Err(e) if code(&e) == Some("NoSuchEntity") => Ok(None),
            Err(e) => Err(call_error("iam", "GetRole", format!("role `{name}`"), e)),
        }
    }

    pub(super) fn trust_policy(role: &aws_sdk_iam::types::Role) -> Result<String, StateError> {
        let name = &role.role_name;
        let text = role
            .assume_role_policy_document
            .as_deref()
            .ok_or_else(|| StateError::Aws {
                call: "GetRole".into(),
                resource: format!("role `{name}`"),
                message: "the response has no trust policy".into(),
            })?;
        decode(text, || format!("the trust policy of role `{name}`"))
    }

    pub(super) async fn inline_policy_names(&self, role: &str) -> Result<Vec<String>, StateError> {
        // Page by page, each page one call under one permit: a page already
        // fetched is never queued again behind other reads.
        let mut pages = self
            .clients
            .iam
            .list_role_policies()
            .role_name(role)
            .into_paginator()
            .send();
        let mut names = Vec::new();
        while let Some(page) = self.call_iam("ListRolePolicies", || pages.next()).await {
            let page = page
                .map_err(|e| call_error("iam", "ListRolePolicies", format!("role `{role}`"), e))?;
            names.extend(page.policy_names().iter().cloned());
        }
        Ok(names)
    }

    /// One inline policy; `None` when it (or its role) does not exist.
    pub(super) async fn inline_policy(
        &self,
        role: &str,
        policy_name: &str,
    ) -> Result<Option<String>, StateError> {
        let request = self
            .clients
            .iam
            .get_role_policy()
            .role_name(role)
            .policy_name(policy_name);
        match self.call_iam("GetRolePolicy", || request.send()).await {
            Ok(out) => decode(out.policy_document(), || {
                format!("inline policy `{policy_name}` of role `{role}`")
            })
            .map(Some),
            Err(e) if code(&e) == Some("NoSuchEntity") => Ok(None),
            Err(e) => Err(call_error(
                "iam",
                "GetRolePolicy",
                format!("inline policy `{policy_name}` of role `{role}`"),
                e,
            )),
        }
    }

    /// Attached managed policies of a role or user; `None` when the
    /// principal does not exist.
    pub(super) async fn attachments(
        &self,
        kind: PrincipalKind,
        name: &str,
    ) -> Result<Option<Vec<AttachedPolicy>>, StateError> {
        let mut policies = Vec::new();
        match kind {
            PrincipalKind::Role => {
                let mut pages = self
                    .clients
                    .iam
                    .list_attached_role_policies()
                    .role_name(name)
                    .into_paginator()
                    .send();
                while let Some(page) = self
                    .call_iam("ListAttachedRolePolicies", || pages.next())
                    .await
                {
                    match page {
                        Ok(page) => policies.extend(page.attached_policies().iter().map(attached)),
                        Err(e) if code(&e) == Some("NoSuchEntity") => return Ok(None),
                        Err(e) => {
                            let what = format!("role `{name}`");
                            return Err(call_error("iam", "ListAttachedRolePolicies", what, e));
                        }
                    }
                }
            }
            PrincipalKind::User => {
                let mut pages = self
                    .clients
                    .iam
                    .list_attached_user_policies()
                    .user_name(name)
                    .into_paginator()
                    .send();
                while let Some(page) = self
                    .call_iam("ListAttachedUserPolicies", || pages.next())
                    .await
                {
                    match page {
                        Ok(page) => policies.extend(page.attached_policies().iter().map(attached)),
                        Err(e) if code(&e) == Some("NoSuchEntity") => return Ok(None),
                        Err(e) => {
                            let what = format!("user `{name}`");
                            return Err(call_error("iam", "ListAttachedUserPolicies", what, e));
                        }
                    }
                }
            }
        }
        Ok(Some(policies))
    }

    /// The names of the instance profiles a role is in.
    pub(super) async fn instance_profiles(&self, role: &str) -> Result<Vec<String>, StateError> {
        let mut pages = self
            .clients
            .iam
            .list_instance_profiles_for_role()
            .role_name(role)
            .into_paginator()
            .send();
        let mut names = Vec::new();
        while let Some(page) = self
            .call_iam("ListInstanceProfilesForRole", || pages.next())
            .await
        {
            let page = page.map_err(|e| {
                call_error(
                    "iam",
                    "ListInstanceProfilesForRole",
                    format!("role `{role}`"),
                    e,
                )
            })?;
            names.extend(
                page.instance_profiles()
                    .iter()
                    .map(|p| p.instance_profile_name.clone()),
            );
        }
        Ok(names)
    }

    /// A user's or role's inline policies (name, decoded text), for a
    /// caller whose own policies must be judged.
    pub(super) async fn principal_inline_policies(
        &self,
        kind: PrincipalKind,
        name: &str,
    ) -> Result<Vec<(String, String)>, StateError> {
        if kind == PrincipalKind::Role
            && let Some(bulk) = self.bulk().await?
        {
            let role = bulk.roles.get(name);
            return Ok(role.map(|r| r.inline_policies.clone()).unwrap_or_default());
        }
        let names = match kind {
            PrincipalKind::Role => self.inline_policy_names(name).await?,
            PrincipalKind::User => {
                let mut pages = self
                    .clients
                    .iam
                    .list_user_policies()
                    .user_name(name)
                    .into_paginator()
                    .send();
                let mut names = Vec::new();
                while let Some(page) = self.call_iam("ListUserPolicies", || pages.next()).await {
                    let page = page.map_err(|e| {
                        call_error("iam", "ListUserPolicies", format!("user `{name}`"), e)
                    })?;
                    names.extend(page.policy_names().iter().cloned());
                }
                names
            }
        };
        let documents = try_join_all(names.iter().map(|policy| async move {
            match kind {
                PrincipalKind::Role => self.inline_policy(name, policy).await,
                PrincipalKind::User => self.user_inline_policy(name, policy).await,
            }
        }))
        .await?;
        Ok(names
            .into_iter()
            .zip(documents)
            .filter_map(|(n, d)| d.map(|d| (n, d)))
            .collect())
    }

    async fn user_inline_policy(
        &self,
        user: &str,
        policy_name: &str,
    ) -> Result<Option<String>, StateError> {
        let request = self
            .clients
            .iam
            .get_user_policy()
            .user_name(user)
            .policy_name(policy_name);
        match self.call_iam("GetUserPolicy", || request.send()).await {
            Ok(out) => decode(out.policy_document(), || {
                format!("inline policy `{policy_name}` of user `{user}`")
            })
            .map(Some),
            Err(e) if code(&e) == Some("NoSuchEntity") => Ok(None),
            Err(e) => Err(call_error(
                "iam",
                "GetUserPolicy",
                format!("inline policy `{policy_name}` of user `{user}`"),
                e,
            )),
        }
    }

    /// Everything about one role; `None` when it does not exist. GetRole,
    /// ListRolePolicies and ListAttachedRolePolicies go out together (one
    /// round trip instead of two); for a missing role the listings answer
    /// `NoSuchEntity` too, and only GetRole's answer counts. When this
    /// reader reads in bulk, the role comes from the bulk answer.
    pub(super) async fn role(&self, name: &str) -> Result<Option<RoleState>, StateError> {
        if let Some(bulk) = self.bulk().await? {
            return Ok(bulk.roles.get(name).cloned());
        }
        let (role, names, attached) = futures::join!(
            self.get_role(name),
            self.inline_policy_names(name),
            self.attachments(PrincipalKind::Role, name)
        );
        let Some(role) = role? else {
            return Ok(None);
        };
        let trust_policy = Self::trust_policy(&role)?;
        let (names, attached) = (names?, attached?);
        let documents =
            try_join_all(names.iter().map(|policy| self.inline_policy(name, policy))).await?;
        // A policy deleted between the listing and the read is simply gone.
        let inline_policies = names
            .into_iter()
            .zip(documents)
            .filter_map(|(n, d)| d.map(|d| (n, d)))
            .collect();
        Ok(Some(RoleState {
            name: role.role_name.clone(),
            arn: role.arn.clone(),
            path: role.path.clone(),
            trust_policy,
            inline_policies,
            // Deleted between GetRole and the listing: no attachments.
            attached_policies: attached.unwrap_or_default(),
            permissions_boundary: role
                .permissions_boundary
                .as_ref()
                .and_then(|b| b.permissions_boundary_arn.clone()),
            description: role.description.clone(),
            max_session_duration: role.max_session_duration,
            tags: tag_pairs(role.tags()),
        }))
    }

    /// [`Reader::managed_policy`], read once per reader however many roles
    /// and callers ask for it, even at the same time: the first asker reads,
    /// the others wait for its answer. A customer managed policy the bulk
    /// answer holds is taken from it.
    pub(super) async fn managed_policy_once(&self, arn: &str) -> Result<ManagedPolicy, StateError> {
        let cell = {
            let mut cells = self
                .managed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            cells.entry(arn.to_string()).or_default().clone()
        };
        cell.get_or_try_init(|| async {
            match self.bulk_read().and_then(|b| b.policies.get(arn)) {
                Some(policy) => Ok(policy.clone()),
                None => self.managed_policy(arn).await,
            }
        })
        .await
        .cloned()
    }

    /// The default version of a managed policy: GetPolicy for its id, then
    /// GetPolicyVersion for its document.
    pub(super) async fn managed_policy(&self, arn: &str) -> Result<ManagedPolicy, StateError> {
        let resource = || format!("managed policy `{arn}`");
        let policy = self
            .call_iam("GetPolicy", || {
                self.clients.iam.get_policy().policy_arn(arn).send()
            })
            .await
            .map_err(|e| call_error("iam", "GetPolicy", resource(), e))?;
        let version_id = policy
            .policy()
            .and_then(|p| p.default_version_id())
            .ok_or_else(|| StateError::Aws {
                call: "GetPolicy".into(),
                resource: resource(),
                message: "the response has no default version id".into(),
            })?;
        let version = self
            .call_iam("GetPolicyVersion", || {
                self.clients
                    .iam
                    .get_policy_version()
                    .policy_arn(arn)
                    .version_id(version_id)
                    .send()
            })
            .await
            .map_err(|e| call_error("iam", "GetPolicyVersion", resource(), e))?;
        let text = version
            .policy_version()
            .and_then(|v| v.document())
            .ok_or_else(|| StateError::Aws {
                call: "GetPolicyVersion".into(),
                resource: resource(),
                message: "the response has no document".into(),
            })?;
        Ok(ManagedPolicy {
            arn: arn.to_string(),
            version_id: version_id.to_string(),
            document: decode(text, || {
                format!("version `{version_id}` of managed policy `{arn}`")
            })?,
        })
    }

    /// A caller that is not read as a flow or preview role: its
    /// attachments; a missing caller is an error.
    pub(super) async fn caller(
        &self,
        arn: &str,
        kind: PrincipalKind,
        name: &str,
    ) -> Result<CallerState, StateError> {
        let not_found = || StateError::CallerNotFound {
            arn: arn.to_string(),
        };
        // A role's tags (GetRole) tell whether infrastructure as code
        // manages it; a user only ever gets an attachment: not read.
        if kind == PrincipalKind::Role
            && let Some(bulk) = self.bulk().await?
        {
            let role = bulk.roles.get(name).ok_or_else(not_found)?;
            return Ok(CallerState {
                arn: arn.to_string(),
                kind,
                name: name.to_string(),
                attached_policies: role.attached_policies.clone(),
                inline_policies: Vec::new(),
                tags: role.tags.clone(),
            });
        }
        let tags = async {
            match kind {
                PrincipalKind::Role => {
                    let role = self.get_role(name).await?.ok_or_else(not_found)?;
                    Ok::<_, StateError>(tag_pairs(role.tags()))
                }
                PrincipalKind::User => Ok(Vec::new()),
            }
        };
        let (attached_policies, tags) = futures::try_join!(self.attachments(kind, name), tags)?;
        Ok(CallerState {
            arn: arn.to_string(),
            kind,
            name: name.to_string(),
            attached_policies: attached_policies.ok_or_else(not_found)?,
            inline_policies: Vec::new(),
            tags,
        })
    }
}
