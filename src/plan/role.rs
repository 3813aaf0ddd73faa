//! Roles: a missing role is created; an existing one gets A2I's trust
//! statement (R4) and its S3 grants (R2, R3, R9) in the inline policy
//! a2i-fix owns, [`OWNED_POLICY_NAME`]. Other inline policies and attached
//! policies are read, never changed.

use super::PlanError;
use super::boundary::Limit;
use super::builder::{Builder, limit_err, parse_doc, requirement_ids, who};
use super::sids::{place, place_trust};
use crate::model::{OWNED_POLICY_NAME, Target};
use crate::policy::{self, LabeledDocument, PolicyDocument, Requirement, Statement, a2i, limits};
use crate::requirements::{Because, RoleNeeds};
use crate::state::RoleState;

const READ_ACTION: &str = "s3:GetObject";
const WRITE_ACTION: &str = "s3:PutObject";
const ASSUME_ACTION: &str = "sts:AssumeRole";

impl Builder<'_> {
    pub(super) fn plan_role(&mut self, role: &RoleNeeds) -> Result<(), PlanError> {
        let existing = self.state.roles.get(&role.name).and_then(Option::as_ref);
        let Some(existing) = existing else {
            return self.plan_new_role(role);
        };

        if role.path_given && existing.path != role.path {
            return Err(PlanError::Missing(format!(
                "the spec names role `{}` with path `{}`, but the role in the account is `{}` (path `{}`): A2I would be given an ARN that does not exist. Correct the role ARN in the spec",
                role.name, role.path, existing.arn, existing.path
            )));
        }

        let subject = format!("role `{}`", role.name);
        self.plan_trust(role, existing, &subject)?;
        self.plan_s3_grants(role, existing, &subject)
    }

    /// R4: SageMaker must be able to assume an existing role.
    fn plan_trust(
        &mut self,
        role: &RoleNeeds,
        existing: &RoleState,
        subject: &str,
    ) -> Result<(), PlanError> {
        let trust_doc = parse_doc(
            &format!("the trust policy of role `{}`", role.name),
            &existing.trust_policy,
        )?;
        if role.trust.is_empty() {
            return Ok(());
        }
        let req = Requirement::Trust {
            service: a2i::SAGEMAKER_SERVICE.to_string(),
            action: ASSUME_ACTION.to_string(),
        };
        let label = format!("trust policy of role {}", role.name);
        let decision = policy::evaluate(
            &req,
            &[LabeledDocument {
                label: &label,
                document: &trust_doc,
            }],
            &self.state.account_id,
        );
        if !self.needs_grant(subject, "R4", &decision.verdict, &decision.reason) {
            return Ok(());
        }
        let statement = place_trust(&trust_doc);
        let merged = policy::merge_statements(&trust_doc, &[statement]);
        limits::check_trust_policy(&role.name, &merged.document).map_err(limit_err)?;
        let reason = format!(
            "SageMaker must be able to assume role `{}` for {}: {}",
            role.name,
            who(&role.trust),
            decision.reason
        );
        let change = self.change(
            Target::TrustPolicy {
                role: role.name.clone(),
            },
            requirement_ids(&role.trust),
            reason,
            Some(trust_doc.to_pretty_json()),
            merged.document.to_pretty_json(),
            merged.replaced.clone(),
        );
        self.trust.push(change);
        Ok(())
    }

    /// R2, R3, R9: the role's S3 grants, judged against every inline and
    /// attached policy; what is missing goes into the owned inline policy.
    fn plan_s3_grants(
        &mut self,
        role: &RoleNeeds,
        existing: &RoleState,
        subject: &str,
    ) -> Result<(), PlanError> {
        let mut docs: Vec<(String, PolicyDocument)> = Vec::new();
        for (name, text) in &existing.inline_policies {
            let what = format!("inline policy `{name}` of role `{}`", role.name);
            docs.push((what.clone(), parse_doc(&what, text)?));
        }
        for attached in &existing.attached_policies {
            if let Some(managed) = self.state.managed_policies.get(&attached.arn) {
                let what = format!("managed policy `{}`", attached.arn);
                docs.push((what.clone(), parse_doc(&what, &managed.document)?));
            }
        }
        let labeled: Vec<LabeledDocument<'_>> = docs
            .iter()
            .map(|(label, document)| LabeledDocument { label, document })
            .collect();
        // Per action: the resources A2I's statement serves (met or not, but
        // never one held back by a Deny or a condition) and whether any of
        // them is unmet.
        let mut grants = [(Vec::new(), false), (Vec::new(), false)];
        let mut reasons = Vec::new();
        let mut because = Vec::new();
        for ((action, wanted), (serves, unmet)) in
            [(READ_ACTION, &role.read), (WRITE_ACTION, &role.write)]
                .into_iter()
                .zip(grants.iter_mut())
        {
            for (resource, why) in wanted {
                let req = Requirement::Identity {
                    action: action.to_string(),
                    resource: resource.clone(),
                };
                let mut decision = policy::evaluate(&req, &labeled, &self.state.account_id);
                let rid = requirement_ids(why).join(", ");
                match self.boundary_limit(existing, &[action], resource) {
                    Limit::Allows => {}
                    Limit::Denies(verdict, reason) => {
                        decision.verdict = verdict;
                        decision.reason = reason;
                    }
                    Limit::DoesNotAllow(message) => {
                        self.warn(
                            subject.to_string(),
                            Some(&rid),
                            format!("{rid}: {message}."),
                        );
                    }
                }
                if let Some((verdict, reason)) =
                    self.bucket_policy_deny(&existing.arn, action, resource)
                {
                    decision.verdict = verdict;
                    decision.reason = reason;
                }
                match &decision.verdict {
                    policy::Verdict::Met { .. } => serves.push(resource.clone()),
                    verdict => {
                        if self.needs_grant(subject, &rid, verdict, &decision.reason) {
                            serves.push(resource.clone());
                            *unmet = true;
                            reasons.push(format!("{} ({}): {}", rid, who(why), decision.reason));
                            because.extend(why.iter().cloned());
                        }
                    }
                }
            }
        }
        let [(read, read_unmet), (write, write_unmet)] = grants;
        if !read_unmet && !write_unmet {
            return Ok(());
        }
        let owned_text = existing
            .inline_policies
            .iter()
            .find(|(n, _)| n == OWNED_POLICY_NAME)
            .map(|(_, t)| t.as_str());
        let owned = match owned_text {
            Some(t) => parse_doc(
                &format!(
                    "inline policy `{OWNED_POLICY_NAME}` of role `{}`",
                    role.name
                ),
                t,
            )?,
            None => PolicyDocument::empty(),
        };
        let mut additions = Vec::new();
        if read_unmet {
            additions.push(place(
                &owned,
                a2i::SID_READ_INPUT,
                &[READ_ACTION],
                false,
                read,
                a2i::read_input_statement,
            ));
        }
        if write_unmet {
            additions.push(place(
                &owned,
                a2i::SID_WRITE_OUTPUT,
                &[WRITE_ACTION],
                false,
                write,
                a2i::write_output_statement,
            ));
        }
        let merged = policy::merge_statements(&owned, &additions);
        let mut all: Vec<&PolicyDocument> = docs
            .iter()
            .zip(existing.inline_policies.iter())
            .filter(|(_, (n, _))| n != OWNED_POLICY_NAME)
            .map(|((_, d), _)| d)
            .collect();
        all.push(&merged.document);
        limits::check_inline_policies(&role.name, &all).map_err(limit_err)?;
        let change = self.change(
            Target::InlinePolicy {
                role: role.name.clone(),
                policy_name: OWNED_POLICY_NAME.to_string(),
            },
            requirement_ids(&because),
            reasons.join("\n"),
            owned_text.map(|_| owned.to_pretty_json()),
            merged.document.to_pretty_json(),
            merged.replaced.clone(),
        );
        self.inline.push(change);
        Ok(())
    }

    /// A missing role: created with A2I's trust policy (R4) and its S3
    /// grants (R2, R3, R9) in the owned inline policy, or an error when the
    /// spec does not allow creating it.
    fn plan_new_role(&mut self, role: &RoleNeeds) -> Result<(), PlanError> {
        if !role.create_if_missing {
            return Err(PlanError::Missing(format!(
                "role `{}` does not exist (needed by {}): create it, or name an existing role in the spec",
                role.name,
                who(role.trust.iter().chain(role.read.values().flatten()))
            )));
        }
        let trust = document_with(&[a2i::trust_statement()]);
        let mut because: Vec<Because> = role.trust.clone();
        because.extend(role.read.values().flatten().cloned());
        because.extend(role.write.values().flatten().cloned());
        let reason = format!(
            "role `{}` does not exist; it is created, assumable by SageMaker, for {}",
            role.name,
            who(&because)
        );
        let change = self.change(
            Target::Role {
                name: role.name.clone(),
                path: role.path.clone(),
            },
            requirement_ids(&role.trust),
            reason,
            None,
            trust.to_pretty_json(),
            Vec::new(),
        );
        self.role_creates.push(change);
        // The new role's grants: all its needs, but a bucket policy may
        // deny some of them whatever the role's policies say.
        let arn = role_arn(&self.state.account_id, &role.path, &role.name);
        for (action, wanted) in [(READ_ACTION, &role.read), (WRITE_ACTION, &role.write)] {
            for (resource, why) in wanted {
                if let Some((verdict, reason)) = self.bucket_policy_deny(&arn, action, resource) {
                    let rid = requirement_ids(why).join(", ");
                    let subject = format!("role `{}`", role.name);
                    self.needs_grant(&subject, &rid, &verdict, &reason);
                }
            }
        }
        let mut additions = Vec::new();
        if !role.read.is_empty() {
            additions.push(a2i::read_input_statement(
                &role.read.keys().cloned().collect::<Vec<_>>(),
            ));
        }
        if !role.write.is_empty() {
            additions.push(a2i::write_output_statement(
                &role.write.keys().cloned().collect::<Vec<_>>(),
            ));
        }
        if additions.is_empty() {
            return Ok(());
        }
        let doc = document_with(&additions);
        limits::check_inline_policies(&role.name, &[&doc]).map_err(limit_err)?;
        let s3_because: Vec<&Because> = role
            .read
            .values()
            .chain(role.write.values())
            .flatten()
            .collect();
        let reason = format!(
            "the new role `{}` needs to read the input and write the output of {}",
            role.name,
            who(s3_because.iter().copied())
        );
        let change = self.change(
            Target::InlinePolicy {
                role: role.name.clone(),
                policy_name: OWNED_POLICY_NAME.to_string(),
            },
            requirement_ids(s3_because.iter().copied()),
            reason,
            None,
            doc.to_pretty_json(),
            Vec::new(),
        );
        self.inline.push(change);
        Ok(())
    }
}

/// The ARN a role of `path` and `name` has (or will have once created).
pub(super) fn role_arn(account: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:role{path}{name}")
}

fn document_with(statements: &[Statement]) -> PolicyDocument {
    policy::merge_statements(&PolicyDocument::empty(), statements).document
}
