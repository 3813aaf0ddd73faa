//! Human loop callers (R6-R8): the user or role that starts human loops
//! needs AWS managed policies attached (A2I full access, the integrated API
//! access for Textract and Rekognition, Mechanical Turk access for the
//! public workforce). Policies are only ever attached, never detached.

use std::collections::BTreeSet;

use super::PlanError;
use super::builder::{Builder, limit_err, requirement_ids, who};
use crate::model::{PrincipalKind, Target};
use crate::policy::limits;
use crate::requirements::{Because, CallerNeeds};

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
        let missing: Vec<(&String, &Vec<Because>)> = caller
            .policies
            .iter()
            .filter(|(arn, _)| !attached.contains(arn.as_str()))
            .collect();
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
