//! Permissions boundaries: a role's boundary caps what its identity
//! policies grant (and what resource policies grant to the role's ARN). A
//! need of the role is met only when the boundary allows it too; a Deny in
//! the boundary blocks it outright. a2i-fix never changes a boundary, so
//! both are warnings on the requirement concerned (R2, R3, R5, R9).

use super::builder::Builder;
use crate::policy::{self, LabeledDocument, PolicyDocument, Requirement, Verdict};
use crate::state::RoleState;

/// What a role's boundary does to one need.
pub(super) enum Limit {
    /// The boundary allows it (or the role has none).
    Allows,
    /// A Deny in the boundary blocks it: the verdict and reason to report.
    Denies(Verdict, String),
    /// The boundary does not allow it (or only under a condition).
    DoesNotAllow(String),
}

impl Builder<'_> {
    /// What `role`'s permissions boundary says about each of `actions` on
    /// `resource`: the first Deny, else the first action not allowed.
    pub(super) fn boundary_limit(
        &self,
        role: &RoleState,
        actions: &[&str],
        resource: &str,
    ) -> Limit {
        let Some(arn) = &role.permissions_boundary else {
            return Limit::Allows;
        };
        let Some(document) = self
            .state
            .managed_policies
            .get(arn)
            .and_then(|m| PolicyDocument::parse(&m.document).ok())
        else {
            return Limit::DoesNotAllow(format!(
                "the permissions boundary `{arn}` of role `{}` could not be read, so a2i-fix cannot tell whether it allows {}",
                role.name,
                actions_on(actions, resource)
            ));
        };
        let label = format!("permissions boundary {arn}");
        let docs = [LabeledDocument {
            label: &label,
            document: &document,
        }];
        let decisions: Vec<policy::Decision> = actions
            .iter()
            .map(|action| {
                policy::evaluate(
                    &Requirement::Identity {
                        action: action.to_string(),
                        resource: resource.to_string(),
                    },
                    &docs,
                    &self.state.account_id,
                )
            })
            .collect();
        if let Some(d) = decisions
            .iter()
            .find(|d| matches!(d.verdict, Verdict::Blocked { .. }))
        {
            return Limit::Denies(
                d.verdict.clone(),
                format!("role `{}`'s permissions boundary: {}", role.name, d.reason),
            );
        }
        let missing: Vec<&str> = actions
            .iter()
            .zip(&decisions)
            .filter(|(_, d)| !matches!(d.verdict, Verdict::Met { .. }))
            .map(|(a, _)| *a)
            .collect();
        if missing.is_empty() {
            return Limit::Allows;
        }
        Limit::DoesNotAllow(format!(
            "the permissions boundary `{arn}` of role `{}` does not allow {} (unconditionally), so A2I is denied whatever the role's policies say. a2i-fix does not change boundaries: allow it in the boundary",
            role.name,
            actions_on(&missing, resource)
        ))
    }
}

fn actions_on(actions: &[&str], resource: &str) -> String {
    let list = actions
        .iter()
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("{list} on `{resource}`")
}
