//! The checks before any write: the account, staleness, and the guards on
//! every change (steps 1-3 of the sequence in the `apply` module docs).

use std::collections::BTreeMap;

use futures::StreamExt;

use super::{ApplyError, ApplyOptions, READ_CONCURRENCY};
use crate::aws::Clients;
use crate::model::{Action, Target, fingerprint};
use crate::plan::{Change, Plan};
use crate::policy::{CorsConfiguration, PolicyDocument, limits};
use crate::state;

/// A guard's refusal of one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub address: String,
    pub reason: String,
}

/// A resource that changed since the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleResource {
    pub address: String,
    /// `was absent, now exists` / `document changed` / ...
    pub detail: String,
}

pub(super) fn check_account(
    plan: &Plan,
    clients: &Clients,
    options: &ApplyOptions,
) -> Result<(), ApplyError> {
    let connected = &options.identity.account_id;
    if let Some(expected) = &options.expected_account_id
        && expected != connected
    {
        return Err(ApplyError::AccountMismatch {
            expected: expected.clone(),
            connected: connected.clone(),
        });
    }
    if &plan.account_id != connected || plan.region != clients.region {
        return Err(ApplyError::WrongAccount {
            planned: plan.account_id.clone(),
            planned_region: plan.region.clone(),
            connected: connected.clone(),
            connected_region: clients.region.clone(),
        });
    }
    Ok(())
}

pub(super) async fn read_all(
    clients: &Clients,
    plan: &Plan,
) -> Result<Vec<Option<String>>, ApplyError> {
    let results: Vec<_> = futures::stream::iter(plan.changes.iter())
        .map(|c| async move { (c, state::read_current(clients, &c.target).await) })
        .buffered(READ_CONCURRENCY)
        .collect()
        .await;
    results
        .into_iter()
        .map(|(c, r)| {
            r.map_err(|e| ApplyError::Read {
                address: c.address.clone(),
                message: e.to_string(),
            })
        })
        .collect()
}

/// Refuse the plan when any target changed since it was made (its
/// fingerprint differs from the plan's `before_fingerprint`).
pub(super) fn check_fresh(
    plan: &Plan,
    currents: &[Option<String>],
    options: &ApplyOptions,
) -> Result<(), ApplyError> {
    let stale: Vec<StaleResource> = plan
        .changes
        .iter()
        .zip(currents)
        .filter(|(c, current)| fingerprint(current.as_deref()) != c.before_fingerprint)
        .map(|(c, current)| StaleResource {
            address: c.address.clone(),
            detail: stale_detail(c, current.as_deref()),
        })
        .collect();
    if stale.is_empty() {
        Ok(())
    } else {
        Err(ApplyError::Stale {
            saved_plan: options.saved_plan.clone(),
            resources: stale,
        })
    }
}

fn stale_detail(change: &Change, current: Option<&str>) -> String {
    match (change.before_fingerprint.as_str(), current) {
        ("absent", Some(_)) => "did not exist when planned, exists now".to_string(),
        (_, None) => "existed when planned, does not exist now".to_string(),
        _ => "its document was changed since the plan (even an equivalent rewrite counts)"
            .to_string(),
    }
}

pub(super) fn parse_policy(text: &str, what: &str) -> Result<PolicyDocument, String> {
    PolicyDocument::parse(text).map_err(|e| format!("{what} is not a valid policy document: {e}"))
}

pub(super) fn parse_cors(text: &str, what: &str) -> Result<CorsConfiguration, String> {
    CorsConfiguration::parse(text)
        .map_err(|e| format!("{what} is not a valid CORS configuration: {e}"))
}

/// Every guard on every change; all refusals, not just the first.
pub(super) fn guards(
    plan: &Plan,
    currents: &[Option<String>],
    options: &ApplyOptions,
) -> Vec<Refusal> {
    let rollback = plan.spec_hash.is_empty();
    let mut refusals = Vec::new();
    // Role -> (address of its first inline change, the inline documents written).
    let mut inline_by_role: BTreeMap<&str, (&str, Vec<PolicyDocument>)> = BTreeMap::new();
    for (i, (change, current)) in plan.changes.iter().zip(currents).enumerate() {
        let mut inline = None;
        let mut reasons = guard_one(change, current.as_deref(), rollback, options, &mut inline);
        if fingerprint(change.after.as_deref()) != change.after_digest {
            reasons.push(
                "the document to write does not match its digest: the plan was altered; plan again"
                    .to_string(),
            );
        }
        if let Some(first) = plan.changes[..i].iter().find(|c| c.target == change.target) {
            reasons.push(format!(
                "`{}` already writes this resource: a plan writes each resource once",
                first.address
            ));
        }
        if let (Some(doc), Target::InlinePolicy { role, .. }) = (inline, &change.target) {
            inline_by_role
                .entry(role.as_str())
                .or_insert_with(|| (change.address.as_str(), Vec::new()))
                .1
                .push(doc);
        }
        if !reasons.is_empty() {
            refusals.push(Refusal {
                address: change.address.clone(),
                reason: reasons.join("; "),
            });
        }
    }
    for (role, (address, docs)) in &inline_by_role {
        let refs: Vec<&PolicyDocument> = docs.iter().collect();
        if let Err(e) = limits::check_inline_policies(role, &refs) {
            match refusals.iter_mut().find(|r| r.address == *address) {
                Some(r) => r.reason = format!("{}; {e}", r.reason),
                None => refusals.push(Refusal {
                    address: address.to_string(),
                    reason: e.to_string(),
                }),
            }
        }
    }
    refusals
}

/// The guards of one change, every failing one (step 3 in the `apply`
/// module docs). An
/// inline policy's parsed document is handed back for the per-role total.
pub(super) fn guard_one(
    change: &Change,
    current: Option<&str>,
    rollback: bool,
    options: &ApplyOptions,
    inline: &mut Option<PolicyDocument>,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if change.action == Action::Delete {
        if change.after.is_some() {
            reasons.push("a delete carries no document".to_string());
        }
        return reasons;
    }
    let Some(after) = change.after.as_deref() else {
        return vec!["the change has no document to write".to_string()];
    };
    if serde_json::from_str::<serde_json::Value>(after).is_err() {
        return vec!["the document to write is not valid JSON".to_string()];
    }
    let mut check = |r: Result<(), limits::LimitError>| {
        if let Err(e) = r {
            reasons.push(e.to_string());
        }
    };
    let parsed = match &change.target {
        Target::BucketCors { bucket } => {
            parse_cors(after, "the CORS configuration to write").map(|new| {
                check(limits::check_cors(bucket, &new));
                if !rollback && let Some(cur) = current {
                    match parse_cors(cur, "the current CORS configuration") {
                        Ok(old) => check(limits::check_cors_nothing_lost(bucket, &old, &new)),
                        Err(e) => check(Err(unsafe_doc(&change.address, e))),
                    }
                }
            })
        }
        Target::Role { name, .. } => {
            parse_policy(after, "the trust policy of the new role").map(|new| {
                check(limits::check_trust_policy(name, &new));
            })
        }
        Target::TrustPolicy { role } => {
            parse_policy(after, "the trust policy to write").map(|new| {
                check(limits::check_trust_policy(role, &new));
                if !rollback && let Some(cur) = current {
                    match parse_policy(cur, "the current trust policy") {
                        Ok(old) => check(limits::check_nothing_lost(
                            &change.address,
                            &old,
                            &new,
                            &change.replaced_sids,
                        )),
                        Err(e) => check(Err(unsafe_doc(&change.address, e))),
                    }
                }
            })
        }
        Target::InlinePolicy { .. } => {
            parse_policy(after, "the inline policy to write").map(|new| {
                if !rollback && let Some(cur) = current {
                    match parse_policy(cur, "the current inline policy") {
                        Ok(old) => check(limits::check_nothing_lost(
                            &change.address,
                            &old,
                            &new,
                            &change.replaced_sids,
                        )),
                        Err(e) => check(Err(unsafe_doc(&change.address, e))),
                    }
                }
                *inline = Some(new);
            })
        }
        Target::KeyPolicy { key_id, .. } => {
            parse_policy(after, "the key policy to write").map(|new| {
                check(limits::check_key_policy(key_id, &new));
                if let Some(cur) = current {
                    match parse_policy(cur, "the current key policy") {
                        Ok(old) => {
                            if !rollback {
                                check(limits::check_nothing_lost(
                                    &change.address,
                                    &old,
                                    &new,
                                    &change.replaced_sids,
                                ));
                            }
                            check(limits::check_key_policy_lockout(
                                key_id,
                                &old,
                                &new,
                                &options.identity.account_id,
                                Some(options.identity.arn.as_str()),
                            ));
                        }
                        Err(e) => check(Err(unsafe_doc(&change.address, e))),
                    }
                }
            })
        }
        Target::Attachment { policy_arn, .. } => match serde_json::from_str::<String>(after) {
            Ok(written) if &written == policy_arn => Ok(()),
            Ok(written) => Err(format!(
                "the document `{written}` does not name the policy to attach `{policy_arn}`"
            )),
            Err(_) => Err(
                "the document of an attachment must be the policy ARN as a JSON string".to_string(),
            ),
        },
    };
    if let Err(e) = parsed {
        reasons.push(e);
    }
    reasons
}

/// A current document that does not parse cannot be checked for losses:
/// refuse rather than overwrite what we cannot read.
fn unsafe_doc(address: &str, message: String) -> limits::LimitError {
    limits::LimitError::Unsafe {
        document: address.to_string(),
        message: format!(
            "{message}; a2i-fix cannot tell what the write would lose, so it will not overwrite it"
        ),
    }
}
