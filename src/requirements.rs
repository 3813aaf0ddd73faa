//! What A2I needs, derived from a spec: the requirements R1-R9 described in
//! `docs/requirements.md` ("Requirements R1-R9"). Pure.
//!
//! # Decisions
//!
//! - **Who needs what.** R1 (CORS) is needed on every input bucket of a flow
//!   definition *and* of a template preview: the worker UI and the preview
//!   both load the objects from the browser. R2/R3/R4 go to the flow role; R9
//!   and R4 to the preview role (SageMaker assumes the `RoleArn` of
//!   RenderUiTemplate, so it must trust `sagemaker.amazonaws.com` too).
//! - **Creating roles.** `create_if_missing` is true for a role used by at
//!   least one flow definition (a missing flow role is planned as a
//!   create). A role used only for template previews is never created: a
//!   missing preview role is reported as an error by the planner, since the
//!   user most likely mistyped its name.
//! - **Output grant.** R3 is `arn:aws:s3:::BUCKET/PREFIX*` with the prefix
//!   normalised by the spec to end with `/` ([`crate::spec::S3Url::write_resource`]).
//! - **Public workforce.** `public_workforce = true` needs R8
//!   (`AmazonSageMakerMechanicalTurkAccess`) *and* R6
//!   (`AmazonAugmentedAIFullAccess`), whatever `uses` says: R8 comes on top
//!   of R6, not instead of it (`docs/requirements.md`), since R6 is what lets
//!   the principal manage flow definitions at all; the Mechanical Turk policy
//!   only lifts R6's limit to private and vendor work teams.
//! - **Keys.** R5 is keyed by the key reference as written; two spellings of
//!   one key (alias and ARN) are two entries here and are resolved to one key
//!   by the state reader / planner. A role needs a key when any flow
//!   definition it serves names that key; a role may need several keys.
//! - **Merging.** Needs of several flow definitions (or previews) that share
//!   a role, a bucket or a key are merged; the `Because` lists accumulate, in
//!   spec order, without duplicates.
//! - **Account.** [`Needs::account_id`] is the account the spec is bound to
//!   ([`crate::spec::Spec::bound_account`]): `account_id`, or else the account
//!   the ARNs in the spec name, so that a spec written with ARNs of one
//!   account is never applied to another.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::PrincipalKind;
use crate::spec::{RoleRef, Spec, Use};

pub const POLICY_FULL_ACCESS: &str = "arn:aws:iam::aws:policy/AmazonAugmentedAIFullAccess";
pub const POLICY_INTEGRATED_API: &str =
    "arn:aws:iam::aws:policy/AmazonAugmentedAIIntegratedAPIAccess";
pub const POLICY_MECHANICAL_TURK: &str =
    "arn:aws:iam::aws:policy/AmazonSageMakerMechanicalTurkAccess";

/// Why something is needed: the requirement id (`R1`..`R9`) and who needs it
/// (e.g. `flow definition invoice-review`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Because {
    pub requirement: &'static str,
    pub by: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleNeeds {
    pub name: String,
    pub path: String,
    /// Whether the spec names the role by ARN somewhere, so that `path` is
    /// what the spec says (a bare name takes whatever path the role has).
    pub path_given: bool,
    /// R4 (flow roles; preview roles too, since SageMaker assumes them).
    pub trust: Vec<Because>,
    /// R2/R9: `arn:aws:s3:::BUCKET/*` -> why.
    pub read: BTreeMap<String, Vec<Because>>,
    /// R3: `arn:aws:s3:::BUCKET/PREFIX*` -> why.
    pub write: BTreeMap<String, Vec<Because>>,
    /// Whether this role may be created when missing (flow roles only).
    pub create_if_missing: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyNeeds {
    /// The key as written in the spec.
    pub key_ref: String,
    /// Role names that must be able to use the key (R5) -> why.
    pub roles: BTreeMap<String, Vec<Because>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerNeeds {
    pub arn: String,
    pub kind: PrincipalKind,
    pub name: String,
    /// Managed policy ARN (R6/R7/R8) -> why.
    pub policies: BTreeMap<String, Vec<Because>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    pub account_id: Option<String>,
    /// Input buckets (R1) -> why.
    pub cors: BTreeMap<String, Vec<Because>>,
    /// Output buckets (existence and default-encryption warning).
    pub output_buckets: BTreeSet<String>,
    /// Bucket -> the roles that read or write its objects (R2, R3, R9): the
    /// roles its default SSE-KMS key and its bucket policy concern.
    pub bucket_roles: BTreeMap<String, BTreeSet<String>>,
    /// By role name.
    pub roles: BTreeMap<String, RoleNeeds>,
    /// By key ref as written.
    pub keys: BTreeMap<String, KeyNeeds>,
    /// By principal ARN.
    pub callers: BTreeMap<String, CallerNeeds>,
}

/// Derive what A2I needs from a validated spec.
pub fn derive(spec: &Spec) -> Needs {
    let mut needs = Needs {
        account_id: spec.bound_account(),
        ..Needs::default()
    };

    for flow in &spec.flow_definitions {
        let by = format!("flow definition {}", flow.name);
        let role = role_entry(&mut needs.roles, &flow.role);
        role.create_if_missing = true;
        add(&mut role.trust, "R4", &by);
        for bucket in &flow.input_buckets {
            add(needs.cors.entry(bucket.clone()).or_default(), "R1", &by);
            add(
                role.read.entry(read_resource(bucket)).or_default(),
                "R2",
                &by,
            );
            needs
                .bucket_roles
                .entry(bucket.clone())
                .or_default()
                .insert(flow.role.name.clone());
        }
        add(
            role.write.entry(flow.output.write_resource()).or_default(),
            "R3",
            &by,
        );
        needs.output_buckets.insert(flow.output.bucket.clone());
        needs
            .bucket_roles
            .entry(flow.output.bucket.clone())
            .or_default()
            .insert(flow.role.name.clone());
        if let Some(key) = &flow.kms_key {
            let entry = needs.keys.entry(key.clone()).or_insert_with(|| KeyNeeds {
                key_ref: key.clone(),
                roles: BTreeMap::new(),
            });
            add(
                entry.roles.entry(flow.role.name.clone()).or_default(),
                "R5",
                &by,
            );
        }
    }

    for preview in &spec.template_previews {
        let by = format!("template preview {}", preview.role.name);
        let role = role_entry(&mut needs.roles, &preview.role);
        add(&mut role.trust, "R4", &by);
        for bucket in &preview.input_buckets {
            add(needs.cors.entry(bucket.clone()).or_default(), "R1", &by);
            add(
                role.read.entry(read_resource(bucket)).or_default(),
                "R9",
                &by,
            );
            needs
                .bucket_roles
                .entry(bucket.clone())
                .or_default()
                .insert(preview.role.name.clone());
        }
    }

    for caller in &spec.human_loop_callers {
        let by = format!("human loop caller {}", caller.arn);
        let entry = needs
            .callers
            .entry(caller.arn.clone())
            .or_insert_with(|| CallerNeeds {
                arn: caller.arn.clone(),
                kind: caller.kind,
                name: caller.name.clone(),
                policies: BTreeMap::new(),
            });
        for u in &caller.uses {
            let (policy, requirement) = match u {
                Use::Custom => (POLICY_FULL_ACCESS, "R6"),
                Use::Textract | Use::Rekognition => (POLICY_INTEGRATED_API, "R7"),
            };
            add(
                entry.policies.entry(policy.to_string()).or_default(),
                requirement,
                &by,
            );
        }
        if caller.public_workforce {
            add(
                entry
                    .policies
                    .entry(POLICY_FULL_ACCESS.to_string())
                    .or_default(),
                "R6",
                &by,
            );
            add(
                entry
                    .policies
                    .entry(POLICY_MECHANICAL_TURK.to_string())
                    .or_default(),
                "R8",
                &by,
            );
        }
    }

    needs
}

/// R2/R9: the objects of an input bucket.
pub fn read_resource(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}/*")
}

fn role_entry<'a>(roles: &'a mut BTreeMap<String, RoleNeeds>, r: &RoleRef) -> &'a mut RoleNeeds {
    let entry = roles.entry(r.name.clone()).or_insert_with(|| RoleNeeds {
        name: r.name.clone(),
        path: r.path.clone(),
        ..RoleNeeds::default()
    });
    if r.written.starts_with("arn:") {
        entry.path_given = true;
    }
    entry
}

fn add(list: &mut Vec<Because>, requirement: &'static str, by: &str) {
    if !list
        .iter()
        .any(|b| b.requirement == requirement && b.by == by)
    {
        list.push(Because {
            requirement,
            by: by.to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse;

    fn needs(text: &str) -> Needs {
        match parse(text, "a2i.toml") {
            Ok(spec) => derive(&spec),
            Err(e) => panic!("{e}\n---\n{text}"),
        }
    }

    fn b(requirement: &'static str, by: &str) -> Because {
        Because {
            requirement,
            by: by.to_string(),
        }
    }

    fn flow(name: &str, role: &str, inputs: &str, output: &str, key: Option<&str>) -> String {
        let key = key
            .map(|k| format!("kms_key = \"{k}\"\n"))
            .unwrap_or_default();
        format!(
            "[[flow_definition]]\nname = \"{name}\"\nrole = \"{role}\"\ninput_buckets = {inputs}\noutput = \"{output}\"\n{key}"
        )
    }

    fn caller(arn: &str, uses: &str, public: bool) -> String {
        format!(
            "[[human_loop_caller]]\nprincipal = \"{arn}\"\nuses = {uses}\npublic_workforce = {public}\n"
        )
    }

    const APP: &str = "arn:aws:iam::123456789012:role/ml-app";

    #[test]
    fn a_flow_definition_needs_cors_read_write_and_trust() {
        let n = needs(&flow("fd", "R", r#"["in-a", "in-b"]"#, "s3://out/x/", None));
        let by = "flow definition fd";
        assert_eq!(
            n.cors,
            BTreeMap::from([
                ("in-a".into(), vec![b("R1", by)]),
                ("in-b".into(), vec![b("R1", by)])
            ])
        );
        assert_eq!(n.output_buckets, BTreeSet::from(["out".to_string()]));
        let role = &n.roles["R"];
        assert_eq!(
            (
                role.name.as_str(),
                role.path.as_str(),
                role.create_if_missing
            ),
            ("R", "/", true)
        );
        assert_eq!(role.trust, vec![b("R4", by)]);
        assert_eq!(
            role.read,
            BTreeMap::from([
                ("arn:aws:s3:::in-a/*".into(), vec![b("R2", by)]),
                ("arn:aws:s3:::in-b/*".into(), vec![b("R2", by)])
            ])
        );
        assert_eq!(
            role.write,
            BTreeMap::from([("arn:aws:s3:::out/x/*".into(), vec![b("R3", by)])])
        );
        assert!(n.keys.is_empty() && n.callers.is_empty());
    }

    #[test]
    fn an_output_without_prefix_grants_the_whole_bucket() {
        let n = needs(&flow("fd", "R", "[]", "s3://out", None));
        assert_eq!(
            n.roles["R"].write.keys().collect::<Vec<_>>(),
            ["arn:aws:s3:::out/*"]
        );
        assert!(n.cors.is_empty(), "no input bucket, no CORS");
        assert!(n.roles["R"].read.is_empty());
    }

    #[test]
    fn one_role_may_need_several_keys() {
        let text = format!(
            "{}{}",
            flow("a", "R", "[]", "s3://out/a/", Some("alias/key-a")),
            flow("b", "R", "[]", "s3://out/b/", Some("alias/key-b"))
        );
        let n = needs(&text);
        assert_eq!(
            n.keys.keys().collect::<Vec<_>>(),
            ["alias/key-a", "alias/key-b"]
        );
        assert_eq!(
            n.keys["alias/key-a"].roles,
            BTreeMap::from([("R".into(), vec![b("R5", "flow definition a")])])
        );
        assert_eq!(
            n.keys["alias/key-b"].roles,
            BTreeMap::from([("R".into(), vec![b("R5", "flow definition b")])])
        );
        assert_eq!(n.keys["alias/key-b"].key_ref, "alias/key-b");
    }

    #[test]
    fn one_key_used_by_several_roles_lists_each_role() {
        let text = format!(
            "{}{}{}",
            flow("a", "R1", "[]", "s3://out/a/", Some("alias/k")),
            flow("b", "R2", "[]", "s3://out/b/", Some("alias/k")),
            flow("c", "R1", "[]", "s3://out/c/", Some("alias/k"))
        );
        let n = needs(&text);
        assert_eq!(
            n.keys["alias/k"].roles,
            BTreeMap::from([
                (
                    "R1".into(),
                    vec![b("R5", "flow definition a"), b("R5", "flow definition c")]
                ),
                ("R2".into(), vec![b("R5", "flow definition b")]),
            ])
        );
    }

    #[test]
    fn a_role_used_for_flows_and_previews_accumulates_both_reasons_and_may_be_created() {
        let text = format!(
            "{}[[template_preview]]\nrole = \"R\"\ninput_buckets = [\"inp\"]\n",
            flow("fd", "R", r#"["inp"]"#, "s3://out/", None)
        );
        let n = needs(&text);
        let role = &n.roles["R"];
        assert!(role.create_if_missing);
        assert_eq!(
            role.trust,
            vec![b("R4", "flow definition fd"), b("R4", "template preview R")]
        );
        assert_eq!(
            role.read["arn:aws:s3:::inp/*"],
            vec![b("R2", "flow definition fd"), b("R9", "template preview R")]
        );
        assert_eq!(
            n.cors["inp"],
            vec![b("R1", "flow definition fd"), b("R1", "template preview R")]
        );
    }

    #[test]
    fn a_preview_only_role_needs_trust_and_read_but_is_never_created() {
        let n = needs("[[template_preview]]\nrole = \"P\"\ninput_buckets = [\"inp\"]\n");
        let role = &n.roles["P"];
        assert!(!role.create_if_missing);
        assert_eq!(role.trust, vec![b("R4", "template preview P")]);
        assert_eq!(
            role.read,
            BTreeMap::from([(
                "arn:aws:s3:::inp/*".into(),
                vec![b("R9", "template preview P")]
            )])
        );
        assert!(role.write.is_empty());
        assert!(n.output_buckets.is_empty());
    }

    #[test]
    fn two_previews_of_one_role_merge_without_repeating_reasons() {
        let n = needs(
            "[[template_preview]]\nrole = \"P\"\ninput_buckets = [\"a-in\"]\n[[template_preview]]\nrole = \"P\"\ninput_buckets = [\"b-in\", \"a-in\"]\n",
        );
        let role = &n.roles["P"];
        assert_eq!(role.trust, vec![b("R4", "template preview P")]);
        assert_eq!(role.read.len(), 2);
        assert_eq!(
            role.read["arn:aws:s3:::a-in/*"],
            vec![b("R9", "template preview P")]
        );
    }

    #[test]
    fn uses_map_to_managed_policies() {
        let by = format!("human loop caller {APP}");
        type Expected<'a> = &'a [(&'a str, &'a [&'a str])];
        let cases: [(&str, bool, Expected); 6] = [
            (r#"["custom"]"#, false, &[(POLICY_FULL_ACCESS, &["R6"])]),
            (
                r#"["textract"]"#,
                false,
                &[(POLICY_INTEGRATED_API, &["R7"])],
            ),
            (
                r#"["rekognition"]"#,
                false,
                &[(POLICY_INTEGRATED_API, &["R7"])],
            ),
            (
                r#"["textract", "rekognition"]"#,
                false,
                &[(POLICY_INTEGRATED_API, &["R7"])],
            ),
            (
                r#"["custom"]"#,
                true,
                &[
                    (POLICY_FULL_ACCESS, &["R6"]),
                    (POLICY_MECHANICAL_TURK, &["R8"]),
                ],
            ),
            // The public workforce needs R6 as well, even without `custom`.
            (
                r#"["textract"]"#,
                true,
                &[
                    (POLICY_FULL_ACCESS, &["R6"]),
                    (POLICY_INTEGRATED_API, &["R7"]),
                    (POLICY_MECHANICAL_TURK, &["R8"]),
                ],
            ),
        ];
        for (uses, public, expected) in cases {
            let n = needs(&caller(APP, uses, public));
            let c = &n.callers[APP];
            assert_eq!(
                (c.kind, c.name.as_str(), c.arn.as_str()),
                (PrincipalKind::Role, "ml-app", APP)
            );
            let expected: BTreeMap<String, Vec<Because>> = expected
                .iter()
                .map(|(p, reqs)| (p.to_string(), reqs.iter().map(|r| b(r, &by)).collect()))
                .collect();
            assert_eq!(
                c.policies, expected,
                "uses {uses}, public_workforce {public}"
            );
            assert!(n.roles.is_empty() && n.cors.is_empty());
        }
    }

    #[test]
    fn a_user_caller_keeps_its_kind() {
        let arn = "arn:aws:iam::123456789012:user/path/alice";
        let n = needs(&caller(arn, r#"["custom"]"#, false));
        assert_eq!(
            (n.callers[arn].kind, n.callers[arn].name.as_str()),
            (PrincipalKind::User, "alice")
        );
    }

    #[test]
    fn a_role_arn_with_a_path_keys_the_role_by_name_and_keeps_the_path() {
        let text = format!(
            "{}{}",
            flow("a", "A2IFlowRole", "[]", "s3://out/a/", None),
            flow(
                "b",
                "arn:aws:iam::123456789012:role/a2i/A2IFlowRole",
                "[]",
                "s3://out/b/",
                None
            )
        );
        let n = needs(&text);
        assert_eq!(n.roles.keys().collect::<Vec<_>>(), ["A2IFlowRole"]);
        assert_eq!(n.roles["A2IFlowRole"].path, "/a2i/");
        assert_eq!(n.account_id.as_deref(), Some("123456789012"));
    }

    #[test]
    fn account_id_is_the_spec_account_or_none() {
        let text = format!(
            "account_id = \"111122223333\"\n{}",
            flow("a", "R", "[]", "s3://out/", None)
        );
        assert_eq!(needs(&text).account_id.as_deref(), Some("111122223333"));
        assert_eq!(
            needs(&flow("a", "R", "[]", "s3://out/", None)).account_id,
            None
        );
    }

    #[test]
    fn derive_is_deterministic_and_spec_order_sets_reason_order() {
        let text = format!(
            "{}{}",
            flow("zeta", "R", r#"["inp"]"#, "s3://out/", None),
            flow("alpha", "R", r#"["inp"]"#, "s3://out/", None)
        );
        let n = needs(&text);
        assert_eq!(n, needs(&text));
        assert_eq!(
            n.cors["inp"],
            vec![
                b("R1", "flow definition zeta"),
                b("R1", "flow definition alpha")
            ]
        );
        assert_eq!(
            n.roles["R"].write["arn:aws:s3:::out/*"],
            vec![
                b("R3", "flow definition zeta"),
                b("R3", "flow definition alpha")
            ]
        );
    }
}
