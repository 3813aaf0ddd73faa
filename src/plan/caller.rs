//! Human loop callers (R6-R8): the user or role that starts human loops
//! needs AWS managed policies attached (A2I full access, the integrated API
//! access for Textract and Rekognition, Mechanical Turk access for the
//! public workforce). Policies are only ever attached, never detached.
//!
//! What a caller needs is what the managed policy *lets it do*, not the
//! policy's name: a caller whose own policies (attached or inline) already
//! allow every action on every resource the managed policy allows needs no
//! attachment (`AdministratorAccess`; `AmazonAugmentedAIIntegratedAPIAccess`,
//! which holds everything `AmazonAugmentedAIFullAccess` grants). A statement
//! of the managed policy that carries a condition is covered by an
//! unconditional Allow or by an Allow with the same condition. A Deny in
//! the caller's policies that blocks part of it is a warning: attaching
//! cannot beat it.

use std::collections::BTreeSet;

use super::PlanError;
use super::builder::{Builder, limit_err, requirement_ids, who};
use crate::model::{PrincipalKind, Target};
use crate::policy::{
    self, LabeledDocument, PolicyDocument, Requirement, Statement, Verdict, limits,
};
use crate::requirements::{Because, CallerNeeds};
use crate::state::CallerState;

impl Builder<'_> {
    /// Attach every managed policy the caller needs and lacks.
    pub(super) fn plan_caller(&mut self, caller: &CallerNeeds) -> Result<(), PlanError> {
        let Some(existing) = self.state.callers.get(&caller.arn) else {
            return Err(PlanError::Missing(format!(
                "human loop caller `{}` does not exist: create it or correct the spec",
                caller.arn
            )));
        };
        let attached: BTreeSet<&str> = existing
            .attached_policies
            .iter()
            .map(|p| p.arn.as_str())
            .collect();
        let caller_docs = self.caller_documents(existing);
        let mut missing: Vec<(&String, &Vec<Because>)> = Vec::new();
        for (arn, why) in caller
            .policies
            .iter()
            .filter(|(arn, _)| !attached.contains(arn.as_str()))
        {
            let subject = format!("caller `{}`", caller.arn);
            match self.covered(&caller_docs, arn) {
                Coverage::Covered => {}
                Coverage::Denied(reason) => {
                    let rid = requirement_ids(why).join(", ");
                    self.warn(
                        subject,
                        Some(&rid),
                        format!(
                            "{rid}: what `{arn}` grants is denied to the caller: {reason}. a2i-fix attaches nothing for it."
                        ),
                    );
                }
                Coverage::NotCovered => missing.push((arn, why)),
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let kind = match caller.kind {
            PrincipalKind::Role => "role",
            PrincipalKind::User => "user",
        };
        limits::check_managed_policy_count(
            &format!("{kind} `{}`", caller.name),
            attached.len() + missing.len(),
        )
        .map_err(limit_err)?;
        for (arn, why) in missing {
            let reason = format!(
                "{kind} `{}` needs the managed policy `{arn}` for {}, and it is not attached",
                caller.name,
                who(why)
            );
            let after = serde_json::Value::String(arn.clone()).to_string();
            let change = self.change(
                Target::Attachment {
                    kind: caller.kind,
                    name: caller.name.clone(),
                    policy_arn: arn.clone(),
                },
                requirement_ids(why),
                reason,
                None,
                after,
                Vec::new(),
            );
            self.attachments.push(change);
        }
        Ok(())
    }
}

/// Whether a caller's own policies already give what a managed policy does.
enum Coverage {
    Covered,
    Denied(String),
    NotCovered,
}

impl Builder<'_> {
    /// The caller's inline and attached managed policies, parsed and
    /// labelled (a document that does not parse is left out: it then cannot
    /// cover anything, and attaching is the safe side).
    fn caller_documents(&self, caller: &CallerState) -> Vec<(String, PolicyDocument)> {
        self.principal_documents(
            &caller.name,
            &caller.inline_policies,
            &caller.attached_policies,
        )
    }

    /// Whether `docs` allow every action on every resource the managed
    /// policy `arn` allows. Unknown when the policy's document was not read
    /// or has a shape that cannot be compared (`NotAction`, `NotResource`):
    /// then it is not covered.
    fn covered(&self, docs: &[(String, PolicyDocument)], arn: &str) -> Coverage {
        let Some(needed) = self
            .state
            .managed_policies
            .get(arn)
            .and_then(|m| PolicyDocument::parse(&m.document).ok())
        else {
            return Coverage::NotCovered;
        };
        if docs.is_empty() {
            return Coverage::NotCovered;
        }
        for st in needed
            .statements
            .iter()
            .filter(|s| s.effect == policy::Effect::Allow)
        {
            let (Some(actions), None, None) = (&st.action, &st.not_action, &st.not_resource) else {
                return Coverage::NotCovered;
            };
            // An Allow with the same condition as the needed statement
            // covers it as if it had none.
            let same_condition: Vec<(String, PolicyDocument)> = docs
                .iter()
                .map(|(label, doc)| {
                    let mut doc = doc.clone();
                    for own in &mut doc.statements {
                        if own.effect == policy::Effect::Allow
                            && own.condition.is_some()
                            && same_condition(own, st)
                        {
                            own.condition = None;
                        }
                    }
                    (label.clone(), doc)
                })
                .collect();
            let labeled: Vec<LabeledDocument<'_>> = same_condition
                .iter()
                .map(|(label, document)| LabeledDocument { label, document })
                .collect();
            let resources = st.resource.clone().unwrap_or_else(|| vec!["*".into()]);
            for action in actions {
                for resource in &resources {
                    let d = policy::evaluate(
                        &Requirement::Identity {
                            action: action.clone(),
                            resource: resource.clone(),
                        },
                        &labeled,
                        &self.state.account_id,
                    );
                    match d.verdict {
                        Verdict::Met { .. } => {}
                        Verdict::Blocked { .. } => return Coverage::Denied(d.reason),
                        _ => return Coverage::NotCovered,
                    }
                }
            }
        }
        Coverage::Covered
    }
}

/// Whether two statements carry the same condition (compared as the
/// equivalence rules do: the first statement with the second's condition
/// means the same as the first).
fn same_condition(own: &Statement, needed: &Statement) -> bool {
    let mut probe = own.clone();
    probe.condition = needed.condition.clone();
    policy::statements_equivalent(&probe, own)
}
