//! The plan: a pure function of what A2I needs and what the account has.
//! The same `Plan` value is rendered by `plan`, saved by `plan --out`, and
//! executed by `apply` — there is no second code path.

use std::collections::BTreeMap;

pub use crate::model::{
    Action, OWNED_POLICY_NAME, PrincipalKind, Target, address, digest, fingerprint,
};

/// Version of the JSON plan format (`--json` and `--out`).
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    /// Terraform-like address, e.g. `aws_s3_bucket_cors_configuration.acme-a2i-input`.
    pub address: String,
    pub action: Action,
    pub target: Target,
    /// Requirement ids served (`R1`..`R9`), sorted, unique.
    pub requirements: Vec<String>,
    /// Why, in one or a few sentences.
    pub reason: String,
    /// The document replaced (pretty JSON), `None` when there was none.
    pub before: Option<String>,
    /// The exact document to write (pretty JSON); `None` only for `Delete`.
    pub after: Option<String>,
    /// Fingerprint of the current document as read (see [`fingerprint`]).
    pub before_fingerprint: String,
    /// Digest of `after` (see [`digest`]), to detect hand edits of saved plans.
    pub after_digest: String,
    /// Sids of existing statements this change replaces (declared, shown).
    pub replaced_sids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Warning {
    /// What it is about, e.g. `role A2IFlowRole`.
    pub subject: String,
    /// Requirement id if any.
    pub requirement: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub account_id: String,
    pub region: String,
    /// `sha256:HEX` of the spec file (empty for rollback plans).
    pub spec_hash: String,
    pub changes: Vec<Change>,
    pub summary: Summary,
    pub warnings: Vec<Warning>,
    pub api_calls: BTreeMap<String, u64>,
}

// ---------------------------------------------------------------------------
// Building the plan
// ---------------------------------------------------------------------------

use std::collections::BTreeSet;

use crate::policy::{
    self, CorsConfiguration, LabeledDocument, PolicyDocument, Requirement, Statement, Verdict, a2i,
    limits,
};
use crate::requirements::{Because, Needs, RoleNeeds};
use crate::state::{AccountState, RoleState, current_from_state};

/// Why a plan cannot be built: the account holds something a2i-fix must not
/// or cannot change, or a document it cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "the credentials in use belong to account `{actual}`, but the spec says `account_id = \"{expected}\"`: use credentials for account `{expected}` (`--profile`) or correct the spec"
    )]
    WrongAccount { expected: String, actual: String },
    #[error(
        "{what} is not a valid policy document: {message}; fix or remove it in the account, then run a2i-fix again"
    )]
    BrokenDocument { what: String, message: String },
    #[error("{0}")]
    Missing(String),
    #[error("{0}")]
    Limit(String),
}

const READ_ACTION: &str = "s3:GetObject";
const WRITE_ACTION: &str = "s3:PutObject";
const ASSUME_ACTION: &str = "sts:AssumeRole";

/// Build the plan: what must change in the account so that every need is met.
///
/// Decisions (where the issues are silent):
/// - A requirement met only under a condition, or blocked by a Deny, or
///   possibly limited by a permissions boundary, becomes a *warning*, not a
///   change: adding an unconditional Allow next to a deliberate condition
///   would widen access the owner restricted on purpose, and an Allow cannot
///   beat a Deny anyway.
/// - A2I's S3 grants go into one inline policy per role,
///   [`OWNED_POLICY_NAME`]; other inline policies are never changed. When the
///   owned policy already has one of A2I's statements (same Sid), the new
///   statement keeps every resource or principal the old one listed, so a
///   grant the tool made earlier is never silently narrowed. That holds only
///   for a statement of A2I's shape (an unconditional Allow of exactly A2I's
///   actions). In a key policy, a same-Sid statement that is anything else
///   is someone else's and is left alone, and A2I's goes under
///   `<Sid>A2IFix`, so that no principal is ever given actions the owner did
///   not give it; the same holds for the trust policy. In the owned inline
///   policy such a statement was edited by hand and is replaced.
/// - A KMS key grant is also met when the key policy delegates to IAM (an
///   unconditional Allow of the actions to the account root) and the role's
///   own policies allow the actions on the key.
pub fn build_plan(needs: &Needs, state: &AccountState, spec_hash: &str) -> Result<Plan, PlanError> {
    if let Some(expected) = &needs.account_id
        && expected != &state.account_id
    {
        return Err(PlanError::WrongAccount {
            expected: expected.clone(),
            actual: state.account_id.clone(),
        });
    }
    let mut b = Builder {
        state,
        role_creates: Vec::new(),
        trust: Vec::new(),
        inline: Vec::new(),
        attachments: Vec::new(),
        keys: Vec::new(),
        cors: Vec::new(),
        warnings: Vec::new(),
    };
    for role in needs.roles.values() {
        b.plan_role(role)?;
    }
    for caller in needs.callers.values() {
        b.plan_caller(caller)?;
    }
    // Two spellings of one key (alias and ARN, say) are one key policy: one
    // change granting every role that needs it, never two that overwrite
    // each other.
    let mut by_key_id: BTreeMap<&str, crate::requirements::KeyNeeds> = BTreeMap::new();
    for key in needs.keys.values() {
        let id = state
            .keys
            .get(&key.key_ref)
            .map_or(key.key_ref.as_str(), |k| k.key_id.as_str());
        let merged = by_key_id
            .entry(id)
            .or_insert_with(|| crate::requirements::KeyNeeds {
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
        b.plan_key(key, needs)?;
    }
    for (bucket, because) in &needs.cors {
        b.plan_cors(bucket, because)?;
    }
    b.warn_bucket_encryption(needs);

    let mut changes = Vec::new();
    changes.extend(b.role_creates);
    changes.extend(b.trust);
    changes.extend(b.inline);
    changes.extend(b.attachments);
    changes.extend(b.keys);
    changes.extend(b.cors);
    let summary = summarize(&changes);
    Ok(Plan {
        format_version: FORMAT_VERSION,
        account_id: state.account_id.clone(),
        region: state.region.clone(),
        spec_hash: spec_hash.to_string(),
        changes,
        summary,
        warnings: b.warnings,
        api_calls: state.api_calls.clone(),
    })
}

/// The digest of a plan, over its compact JSON (struct field order, maps in
/// insertion order): used by saved plans and the journal header.
pub fn plan_digest(plan: &Plan) -> String {
    digest(&serde_json::to_string(plan).unwrap_or_default())
}

/// Count the changes by action.
pub fn summarize(changes: &[Change]) -> Summary {
    let count = |a: Action| changes.iter().filter(|c| c.action == a).count();
    Summary {
        add: count(Action::Create),
        change: count(Action::Update),
        destroy: count(Action::Delete),
    }
}

struct Builder<'a> {
    state: &'a AccountState,
    role_creates: Vec<Change>,
    trust: Vec<Change>,
    inline: Vec<Change>,
    attachments: Vec<Change>,
    keys: Vec<Change>,
    cors: Vec<Change>,
    warnings: Vec<Warning>,
}

/// `R2, R3` from the requirement ids of some reasons.
fn requirement_ids<'a>(because: impl IntoIterator<Item = &'a Because>) -> Vec<String> {
    let set: BTreeSet<String> = because
        .into_iter()
        .map(|b| b.requirement.to_string())
        .collect();
    set.into_iter().collect()
}

/// `flow definition `a`, flow definition `b`` from reasons.
fn who<'a>(because: impl IntoIterator<Item = &'a Because>) -> String {
    let set: BTreeSet<&str> = because.into_iter().map(|b| b.by.as_str()).collect();
    set.into_iter().collect::<Vec<_>>().join(", ")
}

fn parse_doc(what: &str, text: &str) -> Result<PolicyDocument, PlanError> {
    PolicyDocument::parse(text).map_err(|e| PlanError::BrokenDocument {
        what: what.to_string(),
        message: e.to_string(),
    })
}

fn document_with(statements: &[Statement]) -> PolicyDocument {
    policy::merge_statements(&PolicyDocument::empty(), statements).document
}

fn role_arn(account: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:role{path}{name}")
}

fn limit_err(e: limits::LimitError) -> PlanError {
    PlanError::Limit(format!(
        "{e}; a2i-fix will not write a document AWS would refuse"
    ))
}

/// Where A2I's statement with Sid `sid` goes in `doc`, and what it keeps.
#[derive(Debug)]
enum SidSlot {
    /// No statement has the Sid: add ours under it.
    Free,
    /// A statement with the Sid is A2I's shape (an unconditional Allow of
    /// exactly `actions`, no `Not*`, only IAM ARN principals): ours replaces
    /// it and keeps every value it listed (resources, or AWS principals), so
    /// nothing it granted is lost and nothing is widened to new actions.
    Ours(Vec<String>),
    /// A statement with the Sid is someone else's (other actions, a
    /// condition, a Deny, a service principal...): it is left alone and
    /// ours goes under this other Sid instead of replacing it.
    Taken(String),
}

fn sid_slot(doc: &PolicyDocument, sid: &str, actions: &[&str], principals: bool) -> SidSlot {
    let Some(st) = doc
        .statements
        .iter()
        .find(|s| s.sid.as_deref() == Some(sid))
    else {
        return SidSlot::Free;
    };
    let taken = || SidSlot::Taken(format!("{sid}A2IFix"));
    let same_actions = st.action.as_ref().is_some_and(|a| {
        let mut have: Vec<String> = a.iter().map(|x| x.to_ascii_lowercase()).collect();
        let mut want: Vec<String> = actions.iter().map(|x| x.to_ascii_lowercase()).collect();
        have.sort();
        have.dedup();
        want.sort();
        want.dedup();
        have == want
    });
    if st.effect != policy::Effect::Allow
        || st.condition.is_some()
        || st.not_action.is_some()
        || st.not_principal.is_some()
        || st.not_resource.is_some()
        || !same_actions
    {
        return taken();
    }
    if principals {
        let Some(policy::Principal::Map(entries)) = &st.principal else {
            return taken();
        };
        if entries.iter().any(|(k, _)| k != "AWS") {
            return taken();
        }
        let values: Vec<String> = entries
            .iter()
            .flat_map(|(_, v)| v.iter().cloned())
            .collect();
        // A deleted role shows up as its unique id (`AROA...`): KMS refuses
        // such a principal in a new statement, so only ARNs are carried over,
        // and a statement holding anything else is not replaced.
        if values.iter().any(|p| !p.starts_with("arn:")) {
            return taken();
        }
        SidSlot::Ours(values)
    } else {
        if st.principal.is_some() {
            return taken();
        }
        SidSlot::Ours(st.resource.clone().unwrap_or_default())
    }
}

/// A2I's statement `build(values)` placed according to `sid_slot`. In the
/// inline policy a2i-fix owns (`owned`), a same-Sid statement of another
/// shape was edited by hand: it is replaced (and the plan says so), which
/// only ever narrows what it granted.
fn place(
    doc: &PolicyDocument,
    sid: &str,
    actions: &[&str],
    principals: bool,
    owned: bool,
    new_values: Vec<String>,
    build: impl Fn(&[String]) -> Statement,
) -> Statement {
    match sid_slot(doc, sid, actions, principals) {
        SidSlot::Free => build(&union(Vec::new(), new_values)),
        SidSlot::Ours(previous) => build(&union(previous, new_values)),
        SidSlot::Taken(_) if owned => build(&union(Vec::new(), new_values)),
        SidSlot::Taken(other) => {
            let mut st = build(&union(Vec::new(), new_values));
            st.sid = Some(other);
            st.with_raw()
        }
    }
}

/// What a permissions boundary must allow for a role, in words.
fn boundary_needs(role: &RoleNeeds) -> String {
    let mut parts = Vec::new();
    if !role.read.is_empty() {
        parts.push(format!("`{READ_ACTION}` on the input"));
    }
    if !role.write.is_empty() {
        parts.push(format!("`{WRITE_ACTION}` on the output"));
    }
    parts.join(" and ")
}

fn union(previous: Vec<String>, new: impl IntoIterator<Item = String>) -> Vec<String> {
    let set: BTreeSet<String> = previous.into_iter().chain(new).collect();
    set.into_iter().collect()
}

impl Builder<'_> {
    fn change(
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

    fn warn(&mut self, subject: String, requirement: Option<&str>, message: String) {
        self.warnings.push(Warning {
            subject,
            requirement: requirement.map(str::to_string),
            message,
        });
    }

    /// Turn a non-met verdict into a warning; true when the requirement must
    /// be added (plain "not met").
    fn needs_grant(&mut self, subject: &str, rid: &str, verdict: &Verdict, reason: &str) -> bool {
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

    fn plan_role(&mut self, role: &RoleNeeds) -> Result<(), PlanError> {
        let subject = format!("role `{}`", role.name);
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

        // R4: trust policy.
        let trust_doc = parse_doc(
            &format!("the trust policy of role `{}`", role.name),
            &existing.trust_policy,
        )?;
        if !role.trust.is_empty() {
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
            if self.needs_grant(&subject, "R4", &decision.verdict, &decision.reason) {
                // An existing statement with A2I's Sid did not meet R4, so
                // it is someone else's: keep it, add ours under another Sid.
                let mut statement = a2i::trust_statement();
                if trust_doc
                    .statements
                    .iter()
                    .any(|st| st.sid.as_deref() == Some(a2i::SID_TRUST))
                {
                    statement.sid = Some(format!("{}A2IFix", a2i::SID_TRUST));
                    statement = statement.with_raw();
                }
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
            }
        }

        // R2, R3, R9: identity grants, from every inline and attached policy.
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
        if let Some(boundary) = &existing.permissions_boundary
            && (!role.read.is_empty() || !role.write.is_empty())
        {
            self.warn(
                subject.clone(),
                None,
                format!(
                    "role `{}` has the permissions boundary `{boundary}`: it must also allow {}, or A2I is denied whatever the role's policies say. a2i-fix does not change boundaries.",
                    role.name,
                    boundary_needs(role)
                ),
            );
        }
        let labeled: Vec<LabeledDocument<'_>> = docs
            .iter()
            .map(|(label, document)| LabeledDocument { label, document })
            .collect();
        let mut unmet_read = Vec::new();
        let mut unmet_write = Vec::new();
        let mut reasons = Vec::new();
        let mut because = Vec::new();
        for (action, wanted, unmet) in [
            (READ_ACTION, &role.read, &mut unmet_read),
            (WRITE_ACTION, &role.write, &mut unmet_write),
        ] {
            for (resource, why) in wanted {
                let req = Requirement::Identity {
                    action: action.to_string(),
                    resource: resource.clone(),
                };
                let decision = policy::evaluate(&req, &labeled, &self.state.account_id);
                let rid = requirement_ids(why).join(", ");
                if self.needs_grant(&subject, &rid, &decision.verdict, &decision.reason) {
                    unmet.push(resource.clone());
                    reasons.push(format!("{} ({}): {}", rid, who(why), decision.reason));
                    because.extend(why.iter().cloned());
                }
            }
        }
        if unmet_read.is_empty() && unmet_write.is_empty() {
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
        if !unmet_read.is_empty() {
            additions.push(place(
                &owned,
                a2i::SID_READ_INPUT,
                &[READ_ACTION],
                false,
                true,
                unmet_read,
                a2i::read_input_statement,
            ));
        }
        if !unmet_write.is_empty() {
            additions.push(place(
                &owned,
                a2i::SID_WRITE_OUTPUT,
                &[WRITE_ACTION],
                false,
                true,
                unmet_write,
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

    fn plan_caller(&mut self, caller: &crate::requirements::CallerNeeds) -> Result<(), PlanError> {
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

    fn plan_key(
        &mut self,
        key: &crate::requirements::KeyNeeds,
        needs: &Needs,
    ) -> Result<(), PlanError> {
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
        let mut unmet = Vec::new();
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
            if self.needs_grant(&subject, &rid, &verdict, &reason) {
                unmet.push(arn);
                reasons.push(format!("{rid} ({}): {reason}", who(why)));
                because.extend(why.iter().cloned());
            }
        }
        if unmet.is_empty() {
            return Ok(());
        }
        let statement = place(
            &key_doc,
            a2i::SID_KMS,
            &a2i::KMS_ACTIONS,
            true,
            false,
            unmet,
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

    /// The first KMS action of R5 that a Deny in the role's own policies
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
        let inline = role.inline_policies.iter().filter_map(|(name, text)| {
            let doc = PolicyDocument::parse(text).ok()?;
            Some((format!("inline policy {name} of role {}", role.name), doc))
        });
        let managed = role.attached_policies.iter().filter_map(|a| {
            let m = self.state.managed_policies.get(&a.arn)?;
            let doc = PolicyDocument::parse(&m.document).ok()?;
            Some((format!("managed policy {}", a.arn), doc))
        });
        inline.chain(managed).collect()
    }

    /// A key policy that delegates to IAM (root may use the key) plus a role
    /// policy that allows the actions on the key meets R5 too.
    fn met_through_iam(
        &self,
        key_doc: &PolicyDocument,
        key_label: &str,
        key: &crate::state::KeyState,
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

    fn plan_cors(&mut self, bucket: &str, because: &[Because]) -> Result<(), PlanError> {
        let Some(existing) = self.state.buckets.get(bucket) else {
            return Err(PlanError::Missing(format!(
                "bucket `{bucket}` was not found: create it or correct the spec"
            )));
        };
        let config: CorsConfiguration = existing.cors.clone().unwrap_or_default();
        let decision = policy::evaluate_cors(&config);
        let subject = format!("bucket `{bucket}`");
        if !self.needs_grant(&subject, "R1", &decision.verdict, &decision.reason) {
            return Ok(());
        }
        let merged = policy::merge_cors(&config, &a2i::cors_rule());
        limits::check_cors(bucket, &merged.document).map_err(limit_err)?;
        let reason = format!(
            "the worker's browser must read images from bucket `{bucket}` for {}: {}",
            who(because),
            decision.reason
        );
        let change = self.change(
            Target::BucketCors {
                bucket: bucket.to_string(),
            },
            requirement_ids(because),
            reason,
            existing
                .cors
                .as_ref()
                .map(CorsConfiguration::to_pretty_json),
            merged.document.to_pretty_json(),
            Vec::new(),
        );
        self.cors.push(change);
        Ok(())
    }

    fn warn_bucket_encryption(&mut self, needs: &Needs) {
        let covered: BTreeSet<&str> = needs
            .keys
            .keys()
            .map(String::as_str)
            .chain(
                self.state
                    .keys
                    .values()
                    .flat_map(|k| [k.key_id.as_str(), k.arn.as_str()]),
            )
            .collect();
        let buckets: BTreeSet<&str> = needs
            .cors
            .keys()
            .map(String::as_str)
            .chain(needs.output_buckets.iter().map(String::as_str))
            .collect();
        for bucket in buckets {
            let Some(enc) = self
                .state
                .buckets
                .get(bucket)
                .and_then(|b| b.encryption.as_ref())
            else {
                continue;
            };
            if !enc.algorithm.starts_with("aws:kms") {
                continue;
            }
            let Some(key) = &enc.kms_key_id else { continue };
            let short = key.rsplit('/').next().unwrap_or(key);
            if covered.contains(key.as_str()) || covered.contains(short) {
                continue;
            }
            self.warn(
                format!("bucket `{bucket}`"),
                Some("R5"),
                format!(
                    "bucket `{bucket}` encrypts new objects with SSE-KMS key `{key}`, which the spec does not cover: the flow role must be allowed to use that key. Add it as `kms_key` of the flow definition (for the output bucket) or grant the role `kms:Decrypt` / `kms:GenerateDataKey` on it."
                ),
            );
        }
    }
}
