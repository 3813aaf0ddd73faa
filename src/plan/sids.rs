//! Where A2I's statement goes in a document that may already hold
//! statements with A2I's Sid, and what it keeps.
//!
//! A2I's statement for a Sid `S` goes under the first of `S`, `SA2IFix`,
//! `SA2IFix2`, `SA2IFix3`, ... that is either free or holds a statement of
//! A2I's shape (an unconditional Allow of exactly A2I's actions, no `Not*`,
//! only IAM ARN principals where principals are expected). Every other
//! statement under one of these Sids belongs to someone (another team's
//! statement that happens to use the documented Sid, or A2I's own statement
//! edited by hand, in any document, the inline policy a2i-fix owns
//! included): it is left exactly as it is.
//!
//! A2I's statement is built from everything it granted before (the values
//! of the statement it replaces) plus every need it serves, so a later plan
//! never narrows a grant an earlier apply made; only `rollback` takes one
//! back. Choosing the slot from the document alone, the same way on every
//! run, is what makes every sequence of runs settle: the next plan finds
//! A2I's statement where this one put it.

use std::collections::BTreeSet;

use crate::policy::{self, PolicyDocument, Statement, a2i};

/// What the first statement with a Sid is to A2I.
enum Slot {
    /// No statement has the Sid.
    Free,
    /// A2I's own shape, granting these values (resources, or AWS principals).
    Ours(Vec<String>),
    /// Someone else's (or hand-edited): keep it, look further.
    Taken,
}

fn slot(doc: &PolicyDocument, sid: &str, actions: &[&str], principals: bool) -> Slot {
    let Some(st) = doc
        .statements
        .iter()
        .find(|s| s.sid.as_deref() == Some(sid))
    else {
        return Slot::Free;
    };
    let same_actions = st.action.as_ref().is_some_and(|a| {
        let have: BTreeSet<String> = a.iter().map(|x| x.to_ascii_lowercase()).collect();
        let want: BTreeSet<String> = actions.iter().map(|x| x.to_ascii_lowercase()).collect();
        have == want
    });
    if st.effect != policy::Effect::Allow
        || st.condition.is_some()
        || st.not_action.is_some()
        || st.not_principal.is_some()
        || st.not_resource.is_some()
        || !same_actions
    {
        return Slot::Taken;
    }
    if principals {
        let Some(policy::Principal::Map(entries)) = &st.principal else {
            return Slot::Taken;
        };
        if entries.iter().any(|(k, _)| k != "AWS") {
            return Slot::Taken;
        }
        let values: Vec<String> = entries
            .iter()
            .flat_map(|(_, v)| v.iter().cloned())
            .collect();
        // A deleted role shows up as its unique id (`AROA...`): KMS refuses
        // such a principal in a new statement, so only ARNs are carried over,
        // and a statement holding anything else is not replaced.
        if values.iter().any(|p| !p.starts_with("arn:")) {
            return Slot::Taken;
        }
        Slot::Ours(values)
    } else {
        if st.principal.is_some() {
            return Slot::Taken;
        }
        Slot::Ours(st.resource.clone().unwrap_or_default())
    }
}

/// The Sids A2I may use for `sid`, in order of preference.
fn candidates(sid: &str) -> impl Iterator<Item = String> + '_ {
    std::iter::once(sid.to_string())
        .chain(std::iter::once(format!("{sid}A2IFix")))
        .chain((2..).map(move |n| format!("{sid}A2IFix{n}")))
}

/// A2I's statement with Sid `sid` (or the first free fallback), granting
/// everything the statement it replaces granted plus `values`, built with
/// `build`. `actions` and `principals` say what A2I's shape is.
pub(super) fn place(
    doc: &PolicyDocument,
    sid: &str,
    actions: &[&str],
    principals: bool,
    values: Vec<String>,
    build: impl Fn(&[String]) -> Statement,
) -> Statement {
    for candidate in candidates(sid) {
        let previous = match slot(doc, &candidate, actions, principals) {
            Slot::Free => Vec::new(),
            Slot::Ours(previous) => previous,
            Slot::Taken => continue,
        };
        let mut statement = build(&union(previous, values));
        if candidate != sid {
            statement.sid = Some(candidate);
            statement = statement.with_raw();
        }
        return statement;
    }
    unreachable!("a document has finitely many statements, so some candidate Sid is free")
}

/// A2I's trust statement for `doc`, under the first Sid that is free or
/// already A2I's.
pub(super) fn place_trust(doc: &PolicyDocument) -> Statement {
    let mut statement = a2i::trust_statement();
    for candidate in candidates(a2i::SID_TRUST) {
        let free_or_ours = match doc
            .statements
            .iter()
            .find(|s| s.sid.as_deref() == Some(candidate.as_str()))
        {
            None => true,
            Some(st) => policy::statements_equivalent(st, &statement),
        };
        if free_or_ours {
            if candidate != a2i::SID_TRUST {
                statement.sid = Some(candidate);
                statement = statement.with_raw();
            }
            return statement;
        }
    }
    unreachable!("a document has finitely many statements, so some candidate Sid is free")
}

fn union(previous: Vec<String>, new: impl IntoIterator<Item = String>) -> Vec<String> {
    let set: BTreeSet<String> = previous.into_iter().chain(new).collect();
    set.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(statements: &str) -> PolicyDocument {
        PolicyDocument::parse(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#
        ))
        .unwrap()
    }

    fn key_place(d: &PolicyDocument, roles: &[&str]) -> Statement {
        place(
            d,
            a2i::SID_KMS,
            &a2i::KMS_ACTIONS,
            true,
            roles.iter().map(|r| r.to_string()).collect(),
            a2i::key_statement,
        )
    }

    fn principals(st: &Statement) -> Vec<String> {
        match &st.principal {
            Some(policy::Principal::Map(e)) => e.iter().flat_map(|(_, v)| v.clone()).collect(),
            _ => Vec::new(),
        }
    }

    const A: &str = "arn:aws:iam::111122223333:role/A";
    const B: &str = "arn:aws:iam::111122223333:role/B";
    const FOREIGN: &str = r#"{"Sid":"AllowUseOfKmsKey","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/Other"},"Action":"kms:Decrypt","Resource":"*"}"#;

    #[test]
    fn a_free_sid_is_used() {
        let st = key_place(&doc(""), &[A]);
        assert_eq!(st.sid.as_deref(), Some(a2i::SID_KMS));
        assert_eq!(principals(&st), [A]);
    }

    #[test]
    fn our_statement_keeps_what_it_granted() {
        let d = doc(&serde_json::to_string(&a2i::key_statement(&[A.into()]).raw).unwrap());
        let st = key_place(&d, &[B]);
        assert_eq!(st.sid.as_deref(), Some(a2i::SID_KMS));
        assert_eq!(principals(&st), [A, B]);
    }

    #[test]
    fn the_fallback_sid_keeps_what_it_granted_too() {
        let mut ours = a2i::key_statement(&[A.into()]);
        ours.sid = Some("AllowUseOfKmsKeyA2IFix".into());
        let ours = ours.with_raw();
        let d = doc(&format!(
            "{FOREIGN},{}",
            serde_json::to_string(&ours.raw).unwrap()
        ));
        let st = key_place(&d, &[B]);
        assert_eq!(st.sid.as_deref(), Some("AllowUseOfKmsKeyA2IFix"));
        assert_eq!(principals(&st), [A, B]);
    }

    #[test]
    fn a_taken_fallback_moves_on_to_the_next() {
        let d = doc(&format!(
            "{FOREIGN},{}",
            FOREIGN.replace("\"AllowUseOfKmsKey\"", "\"AllowUseOfKmsKeyA2IFix\"")
        ));
        let st = key_place(&d, &[A]);
        assert_eq!(st.sid.as_deref(), Some("AllowUseOfKmsKeyA2IFix2"));
        assert_eq!(principals(&st), [A]);
    }

    #[test]
    fn a_hand_edited_owned_statement_is_left_alone() {
        for edited in [
            r#"{"Sid":"AllowA2IWriteOutput","Effect":"Allow","Action":["s3:PutObject","s3:PutObjectAcl"],"Resource":"arn:aws:s3:::o/a/*"}"#,
            r#"{"Sid":"AllowA2IWriteOutput","Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::o/a/*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}"#,
        ] {
            let st = place(
                &doc(edited),
                a2i::SID_WRITE_OUTPUT,
                &[a2i::WRITE_ACTION],
                false,
                vec!["arn:aws:s3:::o/b/*".into()],
                a2i::write_output_statement,
            );
            assert_eq!(st.sid.as_deref(), Some("AllowA2IWriteOutputA2IFix"));
            assert_eq!(
                st.resource.as_deref(),
                Some(&["arn:aws:s3:::o/b/*".to_string()][..])
            );
        }
    }

    #[test]
    fn a_deleted_principal_makes_the_statement_someone_elses() {
        let d = doc(
            r#"{"Sid":"AllowUseOfKmsKey","Effect":"Allow","Principal":{"AWS":"AROAEXAMPLEID"},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}"#,
        );
        assert_eq!(
            key_place(&d, &[A]).sid.as_deref(),
            Some("AllowUseOfKmsKeyA2IFix")
        );
    }

    #[test]
    fn trust_goes_beside_every_foreign_statement() {
        let foreign = r#"{"Sid":"AllowSageMakerToAssumeRole","Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}"#;
        assert_eq!(place_trust(&doc("")).sid.as_deref(), Some(a2i::SID_TRUST));
        assert_eq!(
            place_trust(&doc(foreign)).sid.as_deref(),
            Some("AllowSageMakerToAssumeRoleA2IFix")
        );
        let two = format!(
            "{foreign},{}",
            foreign.replace("RoleA2IFix", "").replace(
                "\"AllowSageMakerToAssumeRole\"",
                "\"AllowSageMakerToAssumeRoleA2IFix\""
            )
        );
        assert_eq!(
            place_trust(&doc(&two)).sid.as_deref(),
            Some("AllowSageMakerToAssumeRoleA2IFix2")
        );
    }
}
