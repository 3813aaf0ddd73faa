//! KMS keys (R5): the key policy lets every role that needs the key use it,
//! unless the key policy delegates to IAM and the role's own policies
//! already allow the actions. A Deny on the key in the role's own policies
//! is a warning instead, since no key-policy grant can beat it. Two
//! spellings of one key (alias and ARN) are one key policy.

use std::collections::{BTreeMap, BTreeSet};

use super::PlanError;
use super::boundary::Limit;
use super::builder::{Builder, limit_err, parse_doc, requirement_ids, who};
use super::role::role_arn;
use super::sids::place;
use crate::model::Target;
use crate::policy::{self, LabeledDocument, PolicyDocument, Requirement, Verdict, a2i, limits};
use crate::requirements::{KeyNeeds, Needs};
use crate::state::{KeyState, RoleState, is_aws_managed_alias};

impl Builder<'_> {
    /// R5 for every key the spec names.
    pub(super) fn plan_keys(&mut self, needs: &Needs) -> Result<(), PlanError> {
        // Two spellings of one key (alias and ARN, say) are one key policy: one
        // change granting every role that needs it, never two that overwrite
        // each other.
        let state = self.state;
        let mut by_key_id: BTreeMap<&str, KeyNeeds> = BTreeMap::new();
        for key in needs.keys.values() {
            let id = state
                .keys
                .get(&key.key_ref)
                .map_or(key.key_ref.as_str(), |k| k.key_id.as_str());
            let merged = by_key_id.entry(id).or_insert_with(|| KeyNeeds {
                key_ref: key.key_ref.clone(),
                ..Default::default()
            });
            for (role, why) in &key.roles {
                merged
                    .roles
                    .entry(role.clone())
                    .or_default()
                    .extend(why.iter().cloned());
            }
        }
        for key in by_key_id.values() {
            self.plan_key(key, needs)?;
        }
        Ok(())
    }

    /// R5: every role that needs the key may use it, through the key
    /// policy or, when the key policy delegates to IAM, the role's own
    /// policies.
    fn plan_key(&mut self, key: &KeyNeeds, needs: &Needs) -> Result<(), PlanError> {
        let Some(existing) = self.state.keys.get(&key.key_ref) else {
            return Err(PlanError::Missing(format!(
                "KMS key `{}` was not found: check `kms_key` in the spec",
                key.key_ref
            )));
        };
        if existing.aws_managed {
            return Err(PlanError::Missing(format!(
                "KMS key `{}` ({}) is AWS managed: its key policy cannot be changed. Use a customer managed key for the flow definition's output",
                key.key_ref, existing.key_id
            )));
        }
        let subject = format!("KMS key `{}`", key.key_ref);
        if existing.key_state != "Enabled" {
            self.warn(
                subject.clone(),
                Some("R5"),
                format!(
                    "key `{}` is in state `{}`: A2I cannot encrypt output with it until it is enabled",
                    existing.key_id, existing.key_state
                ),
            );
        }
        let what = format!("the key policy of KMS key `{}`", key.key_ref);
        let key_doc = parse_doc(&what, &existing.policy)?;
        let label = format!("key policy of {}", existing.key_id);
        // The roles A2I's statement serves (met or not, but never one held
        // back by a Deny or a condition), and whether any is unmet.
        let mut serves = Vec::new();
        let mut unmet = false;
        let mut reasons = Vec::new();
        let mut because = Vec::new();
        for (role_name, why) in &key.roles {
            let arn = match self.state.roles.get(role_name).and_then(Option::as_ref) {
                Some(r) => r.arn.clone(),
                None => {
                    let path = needs
                        .roles
                        .get(role_name)
                        .map(|r| r.path.as_str())
                        .unwrap_or("/");
                    role_arn(&self.state.account_id, path, role_name)
                }
            };
            let req = Requirement::KeyGrant {
                principal_arn: arn.clone(),
                actions: a2i::KMS_ACTIONS.iter().map(|s| s.to_string()).collect(),
            };
            let decision = policy::evaluate(
                &req,
                &[LabeledDocument {
                    label: &label,
                    document: &key_doc,
                }],
                &self.state.account_id,
            );
            let mut verdict = decision.verdict.clone();
            let mut reason = decision.reason.clone();
            if verdict == Verdict::NotMet
                && let Some(via_iam) = self.met_through_iam(&key_doc, &label, existing, role_name)
            {
                verdict = via_iam.0;
                reason = via_iam.1;
            }
            // A Deny in the role's own policies beats any key-policy Allow.
            if let Some((deny, deny_reason)) = self.denied_by_role(role_name, &existing.arn) {
                verdict = deny;
                reason = deny_reason;
            }
            let rid = requirement_ids(why).join(", ");
            // So does the role's permissions boundary, which must also
            // allow the actions.
            if let Some(role) = self.state.roles.get(role_name).and_then(Option::as_ref) {
                match self.boundary_limit(role, &a2i::KMS_ACTIONS, &existing.arn) {
                    Limit::Allows => {}
                    Limit::Denies(deny, deny_reason) => {
                        verdict = deny;
                        reason = deny_reason;
                    }
                    Limit::DoesNotAllow(message) => {
                        self.warn(subject.clone(), Some(&rid), format!("{rid}: {message}."));
                    }
                }
            }
            if matches!(verdict, Verdict::Met { .. }) {
                serves.push(arn);
            } else if self.needs_grant(&subject, &rid, &verdict, &reason) {
                serves.push(arn);
                unmet = true;
                reasons.push(format!("{rid} ({}): {reason}", who(why)));
                because.extend(why.iter().cloned());
            }
        }
        if !unmet {
            return Ok(());
        }
        let statement = place(
            &key_doc,
            a2i::SID_KMS,
            &a2i::KMS_ACTIONS,
            true,
            serves,
            a2i::key_statement,
        );
        let merged = policy::merge_statements(&key_doc, &[statement]);
        limits::check_key_policy(&what, &merged.document).map_err(limit_err)?;
        let caller = (!self.state.caller_arn.is_empty()).then_some(self.state.caller_arn.as_str());
        limits::check_key_policy_lockout(
            &what,
            &key_doc,
            &merged.document,
            &self.state.account_id,
            caller,
        )
        .map_err(limit_err)?;
        let change = self.change(
            Target::KeyPolicy {
                key_id: existing.key_id.clone(),
                key_arn: existing.arn.clone(),
            },
            requirement_ids(&because),
            reasons.join("\n"),
            Some(key_doc.to_pretty_json()),
            merged.document.to_pretty_json(),
            merged.replaced.clone(),
        );
        self.keys.push(change);
        Ok(())
    }

    /// blocks on the key (`Blocked`), if any.
    fn denied_by_role(&self, role_name: &str, key_arn: &str) -> Option<(Verdict, String)> {
        let role: &RoleState = self.state.roles.get(role_name)?.as_ref()?;
        let docs = self.role_documents(role);
        let labeled: Vec<LabeledDocument<'_>> = docs
            .iter()
            .map(|(label, document)| LabeledDocument { label, document })
            .collect();
        a2i::KMS_ACTIONS.iter().find_map(|action| {
            let d = policy::evaluate(
                &Requirement::Identity {
                    action: action.to_string(),
                    resource: key_arn.to_string(),
                },
                &labeled,
                &self.state.account_id,
            );
            matches!(d.verdict, Verdict::Blocked { .. }).then_some((d.verdict, d.reason))
        })
    }

    /// A role's inline and attached managed policies, parsed (documents that
    /// do not parse were already reported by `plan_role`).
    fn role_documents(&self, role: &RoleState) -> Vec<(String, PolicyDocument)> {
        self.principal_documents(
            &format!("role {}", role.name),
            &role.inline_policies,
            &role.attached_policies,
        )
    }

    /// A key policy that delegates to IAM (root may use the key) plus a role
    /// policy that allows the actions on the key meets R5 too.
    fn met_through_iam(
        &self,
        key_doc: &PolicyDocument,
        key_label: &str,
        key: &KeyState,
        role_name: &str,
    ) -> Option<(Verdict, String)> {
        let root = format!("arn:aws:iam::{}:root", self.state.account_id);
        let delegated = policy::evaluate(
            &Requirement::KeyGrant {
                principal_arn: root,
                actions: a2i::KMS_ACTIONS.iter().map(|s| s.to_string()).collect(),
            },
            &[LabeledDocument {
                label: key_label,
                document: key_doc,
            }],
            &self.state.account_id,
        );
        if !matches!(delegated.verdict, Verdict::Met { .. }) {
            return None;
        }
        let role: &RoleState = self.state.roles.get(role_name)?.as_ref()?;
        let docs = self.role_documents(role);
        let labeled: Vec<LabeledDocument<'_>> = docs
            .iter()
            .map(|(label, document)| LabeledDocument { label, document })
            .collect();
        for action in a2i::KMS_ACTIONS {
            let d = policy::evaluate(
                &Requirement::Identity {
                    action: action.to_string(),
                    resource: key.arn.clone(),
                },
                &labeled,
                &self.state.account_id,
            );
            if !matches!(d.verdict, Verdict::Met { .. }) {
                return None;
            }
        }
        let by = match &delegated.verdict {
            Verdict::Met { by } => by.clone(),
            _ => return None,
        };
        Some((
            Verdict::Met { by },
            format!(
                "the key policy delegates to IAM and role `{role_name}`'s own policies allow the KMS actions on the key"
            ),
        ))
    }

    /// R5 for a bucket's default SSE-KMS key: every role that reads or
    /// writes the bucket's objects must be able to use that key. It is
    /// covered when the spec makes each of those roles a user of the same
    /// key (resolved to its key id, whatever spelling); an AWS managed key
    /// (`aws/s3`) needs nothing, since its key policy lets every principal
    /// of the account use it through S3. Anything else is a warning:
    /// a2i-fix does not grant keys the spec does not name.
    pub(super) fn warn_bucket_encryption(&mut self, needs: &Needs) {
        let state = self.state;
        // key id -> the roles the spec makes users of it.
        let mut users: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for key in needs.keys.values() {
            if let Some(k) = state.keys.get(&key.key_ref) {
                users
                    .entry(k.key_id.as_str())
                    .or_default()
                    .extend(key.roles.keys().map(String::as_str));
            }
        }
        for (bucket, roles) in &needs.bucket_roles {
            let Some(enc) = state
                .buckets
                .get(bucket)
                .and_then(|b| b.encryption.as_ref())
            else {
                continue;
            };
            // Without a key id, SSE-KMS uses the AWS managed key `aws/s3`.
            let Some(key) = enc.kms_key_id.as_deref() else {
                continue;
            };
            if !enc.algorithm.starts_with("aws:kms") || is_aws_managed_alias(key) {
                continue;
            }
            let spec_key = state
                .keys
                .values()
                .find(|k| k.key_ref == key || k.key_id == key || k.arn == key);
            let key_id = match (spec_key, state.bucket_keys.get(key)) {
                (Some(k), _) => Some(k.key_id.as_str()),
                (None, Some(k)) if k.aws_managed => continue,
                (None, Some(k)) => Some(k.key_id.as_str()),
                (None, None) => None,
            };
            let granted = key_id.and_then(|id| users.get(id));
            let uncovered: Vec<&str> = roles
                .iter()
                .map(String::as_str)
                .filter(|r| !granted.is_some_and(|g| g.contains(r)))
                .collect();
            if uncovered.is_empty() {
                continue;
            }
            let names = uncovered
                .iter()
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(", ");
            self.warn(
                format!("bucket `{bucket}`"),
                Some("R5"),
                format!(
                    "bucket `{bucket}` encrypts new objects with SSE-KMS key `{key}`, and role(s) {names} that read or write it are not made users of that key by the spec: each must be allowed to use it. Add it as `kms_key` of the flow definition writing to the bucket, or grant the role(s) `kms:Decrypt` / `kms:GenerateDataKey` on it."
                ),
            );
        }
    }
}
