//! Rollback: a [`Plan`] that puts back what an apply changed, built from its
//! journal and applied with the same `execute` as any plan.
//!
//! For each step the journal shows as applied, or started with an unknown
//! outcome, the resource is re-read and:
//! - if it is as the apply left it, the step is undone: the `previous`
//!   document is written back (`Update`, or `Create` for a deleted role or a
//!   detached policy being restored), or, when there was none, the resource
//!   is deleted (`Delete`: DeleteBucketCors, DeleteRolePolicy,
//!   Detach*Policy, DeleteRole);
//! - if a step's outcome is unknown and the resource is still as it was
//!   before the apply, the write did not land: nothing to undo (a warning
//!   says so);
//! - if the resource is already as it was before the apply (an earlier run
//!   of this rollback stopped half-way after putting it back), it is done:
//!   running the same rollback again finishes the job;
//! - otherwise it changed since the apply, and the whole rollback is
//!   refused, naming every such resource. Partial rollbacks of a changed
//!   account are a judgement call for a human, not for the tool.
//!
//! "As the apply left it": when verification journaled the fingerprint of
//! the document AWS returned after the write, the current document must
//! have exactly that fingerprint (an equivalent rewrite by someone else is a
//! change). Without it (the apply stopped before verifying), the current
//! document must be equivalent to what the apply wrote, since AWS
//! re-serialises documents and the exact text is unknown.
//!
//! A role the apply created is deleted last, after its inline policies and
//! attachments, but only those the journal says the apply added: anything
//! else on the role makes DeleteRole fail with `DeleteConflict`, which is
//! the safe outcome.
//!
//! A step journaled `unknown` (the SDK gave up after a fault that leaves
//! the effect uncertain) is treated like one the process died in: the
//! live document decides. Failed steps wrote nothing and are skipped. When a target appears in
//! several steps (not the case for plans built by `plan`), the first step's
//! `previous` is restored and the last step's write is what must still be
//! there.
//!
//! The rollback plan has an empty `spec_hash`: that is how `execute` knows
//! it is a rollback (and skips the "nothing lost" guard, see `apply`).

use std::collections::BTreeMap;

use futures::StreamExt;
use std::path::{Path, PathBuf};

use super::Identity;
use crate::aws::Clients;
use crate::journal::{self, JournalContents, JournalError, JournalStep, StepOutcome};
use crate::model::{Action, Target, fingerprint};
use crate::plan::{self, Change, Plan, Summary, Warning};
use crate::policy::{self, CorsConfiguration, PolicyDocument};
use crate::state;

#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("journal `{}` is for account {account} in `{region}`, but the credentials in use are for account {connected} in `{connected_region}`: use the profile and `--region` of that account", .journal.display())]
    WrongAccount {
        journal: PathBuf,
        account: String,
        region: String,
        connected: String,
        connected_region: String,
    },
    #[error("cannot re-read `{address}` for rollback: {message}; nothing was written")]
    Read { address: String, message: String },
    #[error(
        "journal `{}` has newer writes to the same resources still in effect, from journal `{}` ({}): rolling back the older apply would silently undo them. Roll back the newer journal first (newest first), or pass `--force` to roll back this one anyway",
        .journal.display(), .newer.display(), .resources.join(", ")
    )]
    NewerJournal {
        journal: PathBuf,
        newer: PathBuf,
        resources: Vec<String>,
    },
    #[error("{}", changed_message(.journal, .resources))]
    Changed {
        journal: PathBuf,
        resources: Vec<(String, String)>,
    },
}

fn changed_message(journal: &Path, resources: &[(String, String)]) -> String {
    let mut s = format!(
        "cannot roll back journal `{}`: these resources changed since the apply:",
        journal.display()
    );
    for (address, why) in resources {
        s.push_str(&format!("\n  - `{address}`: {why}"));
    }
    s.push_str(
        "\nnothing was written; put them back by hand (the journal holds each previous document)",
    );
    s
}

/// Build the rollback plan of the journal at `journal_path` (see module docs).
/// `identity` is who the clients act as (see [`super::identify`]): a journal
/// written for another account or region is refused before anything is read.
pub async fn plan_from_journal(
    journal_path: &Path,
    clients: &Clients,
    identity: &Identity,
) -> Result<Plan, RollbackError> {
    let contents = journal::read_journal(journal_path)?;
    if contents.header.account_id != identity.account_id || contents.header.region != clients.region
    {
        return Err(RollbackError::WrongAccount {
            journal: journal_path.to_path_buf(),
            account: contents.header.account_id.clone(),
            region: contents.header.region.clone(),
            connected: identity.account_id.clone(),
            connected_region: clients.region.clone(),
        });
    }
    let steps = undoable_steps(&contents);
    // Re-read concurrently (bounded), as the staleness check of an apply does.
    let reads: Vec<_> = futures::stream::iter(steps.iter())
        .map(|step| async move { (step, state::read_current(clients, &step.target).await) })
        .buffered(super::READ_CONCURRENCY)
        .collect()
        .await;
    let mut currents = BTreeMap::new();
    for (step, read) in reads {
        let current = read.map_err(|e| RollbackError::Read {
            address: step.address.clone(),
            message: e.to_string(),
        })?;
        currents.insert(step.step, current);
    }
    let mut plan = rollback_plan(&contents, &currents)?;
    // A role the apply created is deleted last; anything on it the apply
    // did not add would make DeleteRole fail after every other step was
    // undone. Check it now, before the first write.
    let mut blocked = Vec::new();
    for step in &steps {
        let (Target::Role { name, .. }, None) = (&step.target, &step.previous) else {
            continue;
        };
        if currents.get(&step.step).cloned().flatten().is_none() {
            continue;
        }
        let Some(on_role) =
            state::role_dependents(clients, name)
                .await
                .map_err(|e| RollbackError::Read {
                    address: step.address.clone(),
                    message: e.to_string(),
                })?
        else {
            continue;
        };
        let added = |target: &Target| {
            steps
                .iter()
                .any(|s| &s.target == target && s.previous.is_none())
        };
        let mut foreign: Vec<String> = Vec::new();
        for policy_name in &on_role.inline_policies {
            let target = Target::InlinePolicy {
                role: name.clone(),
                policy_name: policy_name.clone(),
            };
            if !added(&target) {
                foreign.push(format!("inline policy `{policy_name}`"));
            }
        }
        for policy_arn in &on_role.attached_policies {
            let target = Target::Attachment {
                kind: crate::model::PrincipalKind::Role,
                name: name.clone(),
                policy_arn: policy_arn.clone(),
            };
            if !added(&target) {
                foreign.push(format!("attached policy `{policy_arn}`"));
            }
        }
        for profile in &on_role.instance_profiles {
            foreign.push(format!("instance profile `{profile}`"));
        }
        if !foreign.is_empty() {
            blocked.push((
                step.address.clone(),
                format!(
                    "the role the apply created now has {} that the apply did not add, so it cannot be deleted (`DeleteConflict`)",
                    foreign.join(", ")
                ),
            ));
        }
    }
    if !blocked.is_empty() {
        return Err(RollbackError::Changed {
            journal: journal_path.to_path_buf(),
            resources: blocked,
        });
    }
    plan.api_calls = clients.counter.snapshot();
    Ok(plan)
}

/// Refuse to roll back `journal_path` when a newer apply journal in the
/// same directory wrote one of its resources and that write is still in
/// effect: rolling back the older apply would undo the newer one's work
/// without a word. Rollback journals are not counted (they put documents
/// back), nor a newer write that is no longer in effect (rolled back, or
/// overwritten since).
pub async fn check_newer_journals(
    journal_path: &Path,
    clients: &Clients,
) -> Result<(), RollbackError> {
    let contents = journal::read_journal(journal_path)?;
    let ours: Vec<&Target> = contents.steps.iter().map(|s| &s.target).collect();
    let Some(dir) = journal_path.parent() else {
        return Ok(());
    };
    // Start time (to the second), then the time of the last record: runs
    // holding the backup directory's lock never overlap, so the later one
    // also ended later.
    let order = |c: &JournalContents| {
        (
            c.header.started_at.clone(),
            std::fs::metadata(&c.path).and_then(|m| m.modified()).ok(),
        )
    };
    let mut newer: Vec<JournalContents> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl") && p != journal_path)
        .filter_map(|p| journal::read_journal(&p).ok())
        .filter(|c| {
            !c.header.rollback
                && c.header.account_id == contents.header.account_id
                && c.header.region == contents.header.region
                && order(c) > order(&contents)
        })
        .collect();
    newer.sort_by_key(|c| std::cmp::Reverse(order(c)));
    for other in newer {
        let mut live = Vec::new();
        for step in undoable_steps(&other) {
            if !ours.contains(&&step.target) || step.writing == step.previous {
                continue;
            }
            let current = state::read_current(clients, &step.target)
                .await
                .map_err(|e| RollbackError::Read {
                    address: step.address.clone(),
                    message: e.to_string(),
                })?;
            if shows_written(&step, current.as_deref()) {
                live.push(format!("`{}`", step.address));
            }
        }
        if !live.is_empty() {
            return Err(RollbackError::NewerJournal {
                journal: journal_path.to_path_buf(),
                newer: other.path.clone(),
                resources: live,
            });
        }
    }
    Ok(())
}

/// One entry per target: the first step's previous document, the last
/// step's write and outcome.
fn undoable_steps(contents: &JournalContents) -> Vec<JournalStep> {
    let mut by_target: Vec<JournalStep> = Vec::new();
    for s in &contents.steps {
        if matches!(s.outcome, StepOutcome::Failed(_)) {
            continue;
        }
        match by_target.iter_mut().find(|t| t.target == s.target) {
            Some(t) => {
                t.writing = s.writing.clone();
                t.outcome = s.outcome.clone();
                t.verified_fingerprint = s.verified_fingerprint.clone();
                t.action = s.action;
            }
            None => by_target.push(s.clone()),
        }
    }
    by_target
}

/// The pure part: given the journal and the current document of each
/// undoable step (keyed by step number), the rollback plan.
pub fn rollback_plan(
    contents: &JournalContents,
    currents: &BTreeMap<usize, Option<String>>,
) -> Result<Plan, RollbackError> {
    let journal_name = contents.path.display().to_string();
    let mut changes = Vec::new();
    let mut warnings = Vec::new();
    let mut changed = Vec::new();
    for s in &contents.steps {
        if let StepOutcome::Failed(e) = &s.outcome {
            warnings.push(Warning {
                subject: s.address.clone(),
                requirement: None,
                message: format!(
                    "step {} failed during the apply ({}): nothing to put back",
                    s.step, e.message
                ),
                address: None,
                managed_by: None,
            });
        }
    }
    for step in undoable_steps(contents) {
        let current = currents.get(&step.step).cloned().flatten();
        let current_fp = fingerprint(current.as_deref());
        let as_written = match &step.verified_fingerprint {
            Some(v) => *v == current_fp,
            None => shows_written(&step, current.as_deref()),
        };
        if !as_written {
            if step.outcome.is_uncertain() && current_fp == step.previous_fingerprint {
                warnings.push(Warning {
                    subject: step.address.clone(),
                    requirement: None,
                    message: match &step.outcome {
                        StepOutcome::Uncertain(_) => format!(
                            "step {} failed with an uncertain outcome during the apply and did not take effect: nothing to put back",
                            step.step
                        ),
                        _ => format!(
                            "step {} was interrupted during its call and did not take effect: nothing to put back",
                            step.step
                        ),
                    },
                    address: None,
                    managed_by: None,
                });
                continue;
            }
            // Already as it was before the apply: an earlier run of this
            // rollback that stopped half-way put it back. Done, so running
            // the same rollback again finishes the job.
            if shows_previous(&step, current.as_deref(), &current_fp) {
                warnings.push(Warning {
                    subject: step.address.clone(),
                    requirement: None,
                    message: format!(
                        "step {} is already as it was before the apply (put back by an earlier run of this rollback): nothing to do",
                        step.step
                    ),
                    address: None,
                    managed_by: None,
                });
                continue;
            }
            let why = match (&step.verified_fingerprint, current.is_some(), step.writing.is_some()) {
                (_, false, true) => "it no longer exists".to_string(),
                (_, true, false) => "it exists again (the apply deleted it)".to_string(),
                (Some(_), _, _) => "its document differs from what the apply left (even an equivalent rewrite counts)".to_string(),
                (None, _, _) => "its document is not the one the apply wrote".to_string(),
            };
            changed.push((step.address.clone(), why));
            continue;
        }
        if let Some(change) = undo(&step, current, &journal_name)? {
            changes.push(change);
        }
    }
    if !changed.is_empty() {
        return Err(RollbackError::Changed {
            journal: contents.path.clone(),
            resources: changed,
        });
    }
    let count = |a| changes.iter().filter(|c: &&Change| c.action == a).count();
    let summary = Summary {
        add: count(Action::Create),
        change: count(Action::Update),
        destroy: count(Action::Delete),
    };
    Ok(Plan {
        format_version: plan::FORMAT_VERSION,
        account_id: contents.header.account_id.clone(),
        region: contents.header.region.clone(),
        spec_hash: String::new(),
        changes,
        summary,
        warnings,
        api_calls: BTreeMap::new(),
    })
}

/// Whether `current` is what `step` wrote, by meaning.
/// Whether the resource is as it was before the apply: the same text, or,
/// since AWS re-serialises what it is given, a document that means the
/// same as the journaled one (absent when there was none).
fn shows_previous(step: &JournalStep, current: Option<&str>, current_fp: &str) -> bool {
    if current_fp == step.previous_fingerprint {
        return true;
    }
    let before = JournalStep {
        writing: step.previous.clone(),
        ..step.clone()
    };
    shows_written(&before, current)
}

fn shows_written(step: &JournalStep, current: Option<&str>) -> bool {
    match (&step.target, step.writing.as_deref(), current) {
        (_, None, None) => true,
        (_, None, Some(_)) | (_, Some(_), None) => false,
        (Target::Attachment { .. }, Some(_), Some(_)) => true,
        (Target::BucketCors { .. }, Some(w), Some(c)) => {
            match (CorsConfiguration::parse(w), CorsConfiguration::parse(c)) {
                (Ok(w), Ok(c)) => policy::cors_equivalent(&w, &c),
                _ => false,
            }
        }
        (_, Some(w), Some(c)) => match (PolicyDocument::parse(w), PolicyDocument::parse(c)) {
            (Ok(w), Ok(c)) => policy::equivalent(&w, &c),
            _ => false,
        },
    }
}

fn undo(
    step: &JournalStep,
    current: Option<String>,
    journal_name: &str,
) -> Result<Option<Change>, RollbackError> {
    let reason_restore = format!(
        "rollback of step {} of journal `{journal_name}`: put back the document that was there before the apply",
        step.step
    );
    let (action, after, reason) = match (&step.previous, &step.target) {
        (Some(previous), target) => {
            let action = if current.is_some() {
                Action::Update
            } else {
                Action::Create
            };
            // An attachment's document is the policy ARN as a JSON string,
            // whatever form the reader recorded.
            let document = match target {
                Target::Attachment { policy_arn, .. } => {
                    serde_json::Value::String(policy_arn.clone()).to_string()
                }
                _ => previous.clone(),
            };
            (action, Some(document), reason_restore)
        }
        (None, Target::TrustPolicy { .. } | Target::KeyPolicy { .. }) => {
            // Cannot happen for journals a2i-fix wrote: a trust policy exists
            // with its role, a key policy always exists.
            return Ok(None);
        }
        (None, _) => (
            Action::Delete,
            None,
            format!(
                "rollback of step {} of journal `{journal_name}`: it did not exist before the apply",
                step.step
            ),
        ),
    };
    let replaced_sids = match (&step.target, current.as_deref(), after.as_deref()) {
        (
            Target::TrustPolicy { .. } | Target::InlinePolicy { .. } | Target::KeyPolicy { .. },
            Some(cur),
            Some(prev),
        ) => removed_sids(cur, prev),
        _ => Vec::new(),
    };
    Ok(Some(Change {
        address: step.address.clone(),
        action,
        target: step.target.clone(),
        requirements: Vec::new(),
        reason,
        before_fingerprint: fingerprint(current.as_deref()),
        after_digest: fingerprint(after.as_deref()),
        before: current,
        after,
        replaced_sids,
    }))
}

/// Sids of statements in `current` with no equivalent statement in `previous`:
/// what the rollback removes, shown in the plan.
fn removed_sids(current: &str, previous: &str) -> Vec<String> {
    let (Ok(cur), Ok(prev)) = (
        PolicyDocument::parse(current),
        PolicyDocument::parse(previous),
    ) else {
        return Vec::new();
    };
    cur.statements
        .iter()
        .filter(|s| {
            !prev
                .statements
                .iter()
                .any(|p| policy::statements_equivalent(s, p))
        })
        .filter_map(|s| s.sid.clone())
        .collect()
}

#[cfg(test)]
#[path = "rollback_tests.rs"]
mod tests;
