//! What every step of the planner shares: the [`Builder`] that collects the
//! changes and warnings, how a verdict of the policy engine becomes a change
//! or a warning, and small helpers for reasons and errors.

use std::collections::BTreeSet;

use super::{Change, PlanError, Warning};
use crate::model::{Action, Target, address, digest, fingerprint};
use crate::policy::{PolicyDocument, Verdict, limits};
use crate::requirements::Because;
use crate::state::{AccountState, AttachedPolicy, current_from_state};

/// The plan being built: the changes, by kind, in the order `build_plan`
/// lists them, and the warnings.
pub(super) struct Builder<'a> {
    pub(super) state: &'a AccountState,
    pub(super) role_creates: Vec<Change>,
    pub(super) trust: Vec<Change>,
    pub(super) inline: Vec<Change>,
    pub(super) attachments: Vec<Change>,
    pub(super) keys: Vec<Change>,
    pub(super) cors: Vec<Change>,
    pub(super) warnings: Vec<Warning>,
}

impl<'a> Builder<'a> {
    pub(super) fn new(state: &'a AccountState) -> Self {
        Builder {
            state,
            role_creates: Vec::new(),
            trust: Vec::new(),
            inline: Vec::new(),
            attachments: Vec::new(),
            keys: Vec::new(),
            cors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The change that writes `after` to `target`: a create when the account
    /// has no document there yet, else an update, fingerprinted against the
    /// document as read.
    pub(super) fn change(
        &self,
        target: Target,
        requirements: Vec<String>,
        reason: String,
        before: Option<String>,
        after: String,
        replaced_sids: Vec<String>,
    ) -> Change {
        let current = current_from_state(self.state, &target);
        let action = if current.is_none() {
            Action::Create
        } else {
            Action::Update
        };
        Change {
            address: address(&target),
            action,
            before_fingerprint: fingerprint(current.as_deref()),
            after_digest: digest(&after),
            target,
            requirements,
            reason,
            before,
            after: Some(after),
            replaced_sids,
        }
    }

    /// A principal's inline and attached managed policies, parsed and
    /// labelled (`who` is e.g. `role R`). A document that does not parse is
    /// left out: it then grants nothing, and `plan_role` reports a role's
    /// broken documents as errors of their own.
    pub(super) fn principal_documents(
        &self,
        who: &str,
        inline: &[(String, String)],
        attached: &[AttachedPolicy],
    ) -> Vec<(String, PolicyDocument)> {
        let inline = inline.iter().filter_map(|(name, text)| {
            let doc = PolicyDocument::parse(text).ok()?;
            Some((format!("inline policy {name} of {who}"), doc))
        });
        let managed = attached.iter().filter_map(|a| {
            let m = self.state.managed_policies.get(&a.arn)?;
            let doc = PolicyDocument::parse(&m.document).ok()?;
            Some((format!("managed policy {}", a.arn), doc))
        });
        inline.chain(managed).collect()
    }

    /// Record a warning: something a2i-fix does not change that may still
    /// keep A2I from working.
    pub(super) fn warn(&mut self, subject: String, requirement: Option<&str>, message: String) {
        self.warnings.push(Warning {
            subject,
            requirement: requirement.map(str::to_string),
            message,
            address: None,
            managed_by: None,
        });
    }

    /// Turn a non-met verdict into a warning; true when the requirement must
    /// be added (plain "not met").
    pub(super) fn needs_grant(
        &mut self,
        subject: &str,
        rid: &str,
        verdict: &Verdict,
        reason: &str,
    ) -> bool {
        match verdict {
            Verdict::Met { .. } => false,
            Verdict::NotMet => true,
            Verdict::Blocked { conditional, .. } => {
                let what = if *conditional {
                    "may be blocked by a conditional Deny"
                } else {
                    "is blocked by an explicit Deny"
                };
                self.warn(
                    subject.to_string(),
                    Some(rid),
                    format!(
                        // The engine's reason already says that an Allow
                        // cannot override the Deny and what to do about it.
                        "{rid} {what}: {reason}. a2i-fix adds no grant for it."
                    ),
                );
                false
            }
            Verdict::Conditional { condition, .. } => {
                self.warn(
                    subject.to_string(),
                    Some(rid),
                    format!(
                        "{rid} is met only when the condition `{condition}` holds: {reason}. a2i-fix does not add an unconditional grant next to a deliberate condition; if A2I is denied, relax the condition."
                    ),
                );
                false
            }
        }
    }
}

/// `R2, R3` from the requirement ids of some reasons.
pub(super) fn requirement_ids<'a>(because: impl IntoIterator<Item = &'a Because>) -> Vec<String> {
    let set: BTreeSet<String> = because
        .into_iter()
        .map(|b| b.requirement.to_string())
        .collect();
    set.into_iter().collect()
}

/// `flow definition `a`, flow definition `b`` from reasons.
pub(super) fn who<'a>(because: impl IntoIterator<Item = &'a Because>) -> String {
    let set: BTreeSet<&str> = because.into_iter().map(|b| b.by.as_str()).collect();
    set.into_iter().collect::<Vec<_>>().join(", ")
}

pub(super) fn parse_doc(what: &str, text: &str) -> Result<PolicyDocument, PlanError> {
    PolicyDocument::parse(text).map_err(|e| PlanError::BrokenDocument {
        what: what.to_string(),
        message: e.to_string(),
    })
}

pub(super) fn limit_err(e: limits::LimitError) -> PlanError {
    PlanError::Limit(format!(
        "{e}; a2i-fix will not write a document AWS would refuse"
    ))
}
