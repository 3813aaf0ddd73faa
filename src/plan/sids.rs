//! Where A2I's statement goes in a document that may already hold a
//! statement with the same Sid.
//!
//! - A statement of A2I's shape under the Sid is A2I's own from an earlier
//!   run: ours replaces it and keeps every resource or principal it listed.
//! - Anything else under the Sid, in a key policy or a trust policy, is
//!   someone else's: it is left alone and ours goes under `<Sid>A2IFix`, so
//!   that no principal is given actions the owner did not give it.
//! - In the inline policy a2i-fix owns ([`OWNED_POLICY_NAME`]), anything else
//!   under the Sid was edited by hand: ours replaces it.
//!
//! [`OWNED_POLICY_NAME`]: crate::model::OWNED_POLICY_NAME

use std::collections::BTreeSet;

use crate::policy::{self, PolicyDocument, Statement, a2i};

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
    let taken = || SidSlot::Taken(beside(sid));
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
pub(super) fn place(
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

/// A2I's trust statement for `doc`. An existing statement with A2I's Sid did
/// not meet R4 (else no statement would be added), so it is someone else's:
/// keep it, add ours under another Sid.
pub(super) fn place_trust(doc: &PolicyDocument) -> Statement {
    let mut statement = a2i::trust_statement();
    if doc
        .statements
        .iter()
        .any(|st| st.sid.as_deref() == Some(a2i::SID_TRUST))
    {
        statement.sid = Some(beside(a2i::SID_TRUST));
        statement = statement.with_raw();
    }
    statement
}

/// The Sid A2I's statement takes when `sid` is someone else's.
fn beside(sid: &str) -> String {
    format!("{sid}A2IFix")
}

fn union(previous: Vec<String>, new: impl IntoIterator<Item = String>) -> Vec<String> {
    let set: BTreeSet<String> = previous.into_iter().chain(new).collect();
    set.into_iter().collect()
}
