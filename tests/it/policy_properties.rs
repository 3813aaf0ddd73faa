//! Property tests over generated documents (proptest).
//!
//! - equivalence is reflexive and symmetric, survives every rewrite AWS (or a
//!   person) may make (reordering, string/list, case, account id/root ARN, `*`
//!   principal forms, duplicates), and notices a real change;
//! - merge is idempotent, never removes, moves or changes an existing
//!   statement or rule it was not asked to replace, and afterwards every
//!   requirement is met unless a Deny already blocked it;
//! - a resource with a policy variable never grants and never blocks for sure;
//!   a condition on the account and its negation never give the same answer;
//! - the wildcard functions agree with brute force on small alphabets.

use a2i_fix::policy::limits::{check_cors_nothing_lost, check_nothing_lost};
use a2i_fix::policy::wildcard::{covers, matches, overlaps};
use a2i_fix::policy::{
    CorsConfiguration, CorsRule, LabeledDocument, PolicyDocument, Requirement, Statement, Verdict,
    a2i, cors_equivalent, equivalent, evaluate, evaluate_cors, merge_cors, merge_statements,
    statements_equivalent,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const ACCT: &str = "111122223333";
const ROLES: [&str; 3] = [
    "arn:aws:iam::111122223333:role/A2IFlowRole",
    "arn:aws:iam::111122223333:role/Other",
    "arn:aws:iam::111122223333:role/path/Deep",
];
const ACTIONS: [&str; 14] = [
    "s3:GetObject",
    "s3:Get*",
    "s3:*",
    "s3:PutObject",
    "kms:*",
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
    "sts:AssumeRole",
    "iam:PassRole",
    "*",
    "s3:Get?bject",
];
const RESOURCES: [&str; 7] = [
    "*",
    "arn:aws:s3:::in/*",
    "arn:aws:s3:::out/*",
    "arn:aws:s3:::*",
    "arn:aws:s3:::in/secret/*",
    "arn:aws:s3:::in",
    "arn:aws:s3:::b/${aws:username}/*",
];
const SIDS: [&str; 7] = [
    "A",
    "B",
    "AllowUseOfKmsKey",
    "AllowA2IReadInput",
    "AllowSageMakerToAssumeRole",
    "Enable IAM User Permissions",
    "",
];

fn pick<const N: usize>(pool: [&'static str; N]) -> impl Strategy<Value = String> {
    proptest::sample::select(pool.to_vec()).prop_map(str::to_string)
}

fn list_of<const N: usize>(pool: [&'static str; N], max: usize) -> impl Strategy<Value = Value> {
    proptest::collection::vec(pick(pool), 1..=max).prop_map(|v| {
        if v.len() == 1 {
            Value::String(v[0].clone())
        } else {
            Value::Array(v.into_iter().map(Value::String).collect())
        }
    })
}

fn principal() -> impl Strategy<Value = Value> {
    let aws = list_of(
        [
            "arn:aws:iam::111122223333:role/A2IFlowRole",
            "arn:aws:iam::111122223333:role/Other",
            "111122223333",
            "arn:aws:iam::111122223333:root",
            "444455556666",
            "*",
        ],
        3,
    );
    let service = list_of(["sagemaker.amazonaws.com", "lambda.amazonaws.com"], 2);
    prop_oneof![
        1 => Just(json!("*")),
        3 => aws.prop_map(|v| json!({"AWS": v})),
        3 => service.prop_map(|v| json!({"Service": v})),
        1 => (list_of(["arn:aws:iam::111122223333:role/Other", "111122223333"], 2), list_of(["lambda.amazonaws.com", "sagemaker.amazonaws.com"], 2))
            .prop_map(|(a, s)| json!({"AWS": a, "Service": s})),
    ]
}

fn condition() -> impl Strategy<Value = Value> {
    let value = prop_oneof![
        pick(["111122223333", "vpc-1", "true", "o-123"]).prop_map(Value::String),
        Just(json!(false)),
        Just(json!(10)),
        proptest::collection::vec(pick(["vpc-1", "vpc-2", "vpc-3"]), 1..3).prop_map(|v| json!(v)),
    ];
    (
        pick([
            "StringEquals",
            "StringLike",
            "Bool",
            "ForAnyValue:StringEquals",
        ]),
        pick(["aws:SourceAccount", "aws:SourceVpc", "aws:SecureTransport"]),
        value,
    )
        .prop_map(|(op, key, v)| json!({ op: { key: v } }))
}

/// One statement as JSON; `allow_only` leaves out Deny.
fn statement(allow_only: bool) -> impl Strategy<Value = Value> {
    let effect = if allow_only {
        Just("Allow").boxed()
    } else {
        prop_oneof![3 => Just("Allow"), 1 => Just("Deny")].boxed()
    };
    (
        proptest::option::of(pick(SIDS)),
        effect,
        proptest::option::weighted(0.6, (any::<bool>(), principal())),
        (any::<bool>(), list_of(ACTIONS, 3)),
        proptest::option::weighted(
            0.8,
            (
                prop_oneof![4 => Just(true), 1 => Just(false)],
                list_of(RESOURCES, 3),
            ),
        ),
        proptest::option::weighted(0.25, condition()),
    )
        .prop_map(
            |(sid, effect, principal, (not_action, actions), resource, condition)| {
                let mut m = Map::new();
                if let Some(sid) = sid {
                    m.insert("Sid".into(), json!(sid));
                }
                m.insert("Effect".into(), json!(effect));
                if let Some((not, p)) = principal {
                    // NotPrincipal only in Deny statements, where AWS allows it.
                    let key = if not && effect == "Deny" {
                        "NotPrincipal"
                    } else {
                        "Principal"
                    };
                    m.insert(key.into(), p);
                }
                m.insert(
                    if not_action { "NotAction" } else { "Action" }.into(),
                    actions,
                );
                if let Some((positive, r)) = resource {
                    m.insert(if positive { "Resource" } else { "NotResource" }.into(), r);
                }
                if let Some(c) = condition {
                    m.insert("Condition".into(), c);
                }
                Value::Object(m)
            },
        )
}

fn document(allow_only: bool) -> impl Strategy<Value = Value> {
    (
        prop_oneof![4 => Just(Some("2012-10-17")), 1 => Just(None), 1 => Just(Some("2008-10-17"))],
        proptest::option::weighted(0.2, Just("key-policy-1")),
        proptest::collection::vec(statement(allow_only), 0..6),
        any::<bool>(),
    )
        .prop_map(|(version, id, statements, single)| {
            let mut m = Map::new();
            if let Some(v) = version {
                m.insert("Version".into(), json!(v));
            }
            if let Some(id) = id {
                m.insert("Id".into(), json!(id));
            }
            let list = if single && statements.len() == 1 {
                statements[0].clone()
            } else {
                Value::Array(statements)
            };
            m.insert("Statement".into(), list);
            Value::Object(m)
        })
}

fn parse_value(v: &Value) -> PolicyDocument {
    PolicyDocument::parse(&v.to_string())
        .unwrap_or_else(|e| panic!("generated document does not parse: {e}\n{v:#}"))
}

/// A small deterministic random source for rewrites, seeded by proptest.
struct Dice(u64);
impl Dice {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

fn shuffled_map(
    m: &Map<String, Value>,
    dice: &mut Dice,
    f: &mut dyn FnMut(&str, &Value, &mut Dice) -> Value,
) -> Value {
    let mut entries: Vec<(String, Value)> =
        m.iter().map(|(k, v)| (k.clone(), f(k, v, dice))).collect();
    dice.shuffle(&mut entries);
    Value::Object(entries.into_iter().collect())
}

/// Rewrite a string-or-list: shuffle, maybe duplicate, string <-> list.
fn rewrite_list(
    v: &Value,
    dice: &mut Dice,
    each: &mut dyn FnMut(&str, &mut Dice) -> String,
) -> Value {
    let mut items: Vec<Value> = match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    for item in items.iter_mut() {
        if let Value::String(s) = item {
            *item = Value::String(each(s, dice));
        }
    }
    dice.shuffle(&mut items);
    if dice.coin() {
        let i = dice.below(items.len());
        items.push(items[i].clone());
    }
    if items.len() == 1 && dice.coin() {
        items.pop().unwrap_or(Value::Null)
    } else {
        Value::Array(items)
    }
}

fn random_case(s: &str, dice: &mut Dice) -> String {
    s.chars()
        .map(|c| {
            if dice.coin() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

fn rewrite_principal(p: &Value, dice: &mut Dice) -> Value {
    match p {
        Value::String(s) if s == "*" && dice.coin() => json!({"AWS": "*"}),
        Value::Object(m) if m.len() == 1 && m.get("AWS") == Some(&json!("*")) && dice.coin() => {
            json!("*")
        }
        Value::Object(m) => shuffled_map(m, dice, &mut |k, v, dice| {
            let aws = k == "AWS";
            rewrite_list(v, dice, &mut |s, dice| {
                if !aws || !dice.coin() {
                    return s.to_string();
                }
                if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
                    format!("arn:aws:iam::{s}:root")
                } else if let Some(id) = s
                    .strip_prefix("arn:aws:iam::")
                    .and_then(|r| r.strip_suffix(":root"))
                {
                    id.to_string()
                } else {
                    s.to_string()
                }
            })
        }),
        other => other.clone(),
    }
}

fn rewrite_statement(s: &Value, dice: &mut Dice) -> Value {
    let Value::Object(m) = s else {
        return s.clone();
    };
    let mut m = m.clone();
    if m.get("Sid") == Some(&json!("")) && dice.coin() {
        m.remove("Sid");
    }
    shuffled_map(&m, dice, &mut |k, v, dice| match k {
        "Effect" => Value::String(random_case(v.as_str().unwrap_or_default(), dice)),
        "Action" | "NotAction" => rewrite_list(v, dice, &mut |s, dice| random_case(s, dice)),
        "Resource" | "NotResource" => rewrite_list(v, dice, &mut |s, _| s.to_string()),
        "Principal" | "NotPrincipal" => rewrite_principal(v, dice),
        "Condition" => match v {
            Value::Object(ops) => shuffled_map(ops, dice, &mut |_, keys, dice| match keys {
                Value::Object(keys) => {
                    let renamed: Map<String, Value> = keys
                        .iter()
                        .map(|(k, v)| {
                            let v = match v {
                                Value::Array(_) | Value::String(_) => {
                                    rewrite_list(v, dice, &mut |s, _| s.to_string())
                                }
                                Value::Bool(b) if dice.coin() => Value::String(b.to_string()),
                                Value::Number(n) if dice.coin() => Value::String(n.to_string()),
                                other => other.clone(),
                            };
                            (random_case(k, dice), v)
                        })
                        .collect();
                    shuffled_map(&renamed, dice, &mut |_, v, _| v.clone())
                }
                other => other.clone(),
            }),
            other => other.clone(),
        },
        _ => v.clone(),
    })
}

/// A rewrite that keeps the meaning (see "When two documents mean the same
/// thing" in `docs/requirements.md`).
fn rewrite_document(doc: &Value, seed: u64) -> Value {
    let mut dice = Dice(seed | 1);
    let Value::Object(m) = doc else {
        return doc.clone();
    };
    let uses_variables = doc.to_string().contains("${");
    let mut m = m.clone();
    let mut statements: Vec<Value> = match m.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(other) => vec![other.clone()],
        None => vec![],
    };
    statements = statements
        .iter()
        .map(|s| rewrite_statement(s, &mut dice))
        .collect();
    dice.shuffle(&mut statements);
    if !statements.is_empty() && dice.coin() {
        let i = dice.below(statements.len());
        statements.push(statements[i].clone());
    }
    let list = if statements.len() == 1 && dice.coin() {
        statements[0].clone()
    } else {
        Value::Array(statements)
    };
    m.insert("Statement".into(), list);
    match m.get("Version").and_then(Value::as_str) {
        Some("2008-10-17") if dice.coin() => {
            m.remove("Version");
        }
        None if dice.coin() => {
            let v = if uses_variables {
                "2008-10-17"
            } else {
                "2012-10-17"
            };
            m.insert("Version".into(), json!(v));
        }
        Some("2012-10-17") if !uses_variables && dice.coin() => {
            m.remove("Version");
        }
        _ => {}
    }
    shuffled_map(&m, &mut dice, &mut |_, v, _| v.clone())
}

fn a2i_additions() -> impl Strategy<Value = Vec<Statement>> {
    let roles = proptest::sample::subsequence(ROLES.to_vec(), 1..=3);
    let buckets = proptest::sample::subsequence(
        vec![
            "arn:aws:s3:::in/*",
            "arn:aws:s3:::in2/*",
            "arn:aws:s3:::b/*",
        ],
        1..=3,
    );
    let out = pick(["arn:aws:s3:::out/*", "arn:aws:s3:::out/reviews/*"]);
    (
        roles,
        buckets,
        out,
        proptest::sample::subsequence(vec![0usize, 1, 2, 3], 1..=4),
    )
        .prop_map(|(roles, buckets, out, which)| {
            let own = |v: Vec<&str>| v.into_iter().map(str::to_string).collect::<Vec<_>>();
            let all = [
                a2i::trust_statement(),
                a2i::key_statement(&own(roles)),
                a2i::read_input_statement(&own(buckets)),
                a2i::write_output_statement(&[out]),
            ];
            which.into_iter().map(|i| all[i].clone()).collect()
        })
}

/// The requirements an addition is meant to meet.
fn requirements_of(addition: &Statement) -> Vec<Requirement> {
    let sid = addition.sid.as_deref().unwrap_or_default();
    let resources = addition.resource.clone().unwrap_or_default();
    match sid {
        a2i::SID_TRUST => vec![Requirement::Trust {
            service: a2i::SAGEMAKER_SERVICE.into(),
            action: a2i::ASSUME_ROLE.into(),
        }],
        a2i::SID_KMS => ROLES
            .iter()
            .filter(|r| addition.to_value().to_string().contains(*r))
            .map(|r| Requirement::KeyGrant {
                principal_arn: r.to_string(),
                actions: a2i::KMS_ACTIONS.iter().map(|a| a.to_string()).collect(),
            })
            .collect(),
        a2i::SID_READ_INPUT => resources
            .into_iter()
            .map(|r| Requirement::Identity {
                action: a2i::READ_ACTION.into(),
                resource: r,
            })
            .collect(),
        a2i::SID_WRITE_OUTPUT => resources
            .into_iter()
            .map(|r| Requirement::Identity {
                action: a2i::WRITE_ACTION.into(),
                resource: r,
            })
            .collect(),
        _ => vec![],
    }
}

fn verdict(req: &Requirement, document: &PolicyDocument) -> Verdict {
    evaluate(
        req,
        &[LabeledDocument {
            label: "doc",
            document,
        }],
        ACCT,
    )
    .verdict
}

fn cors_rule() -> impl Strategy<Value = CorsRule> {
    (
        proptest::option::weighted(0.3, pick(["web", "a2i", "uploads"])),
        proptest::collection::vec(pick(["Authorization", "Content-Type", "*"]), 0..3),
        proptest::collection::vec(pick(["GET", "PUT", "HEAD", "POST", "DELETE"]), 1..3),
        proptest::collection::vec(
            pick(["*", "https://a.example", "https://*.example.org"]),
            1..3,
        ),
        proptest::collection::vec(pick(["ETag", "x-amz-request-id"]), 0..2),
        proptest::option::weighted(0.3, 0..86_400i32),
    )
        .prop_map(
            |(
                id,
                allowed_headers,
                allowed_methods,
                allowed_origins,
                expose_headers,
                max_age_seconds,
            )| CorsRule {
                id,
                allowed_headers,
                allowed_methods,
                allowed_origins,
                expose_headers,
                max_age_seconds,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn equivalence_is_reflexive(v in document(false)) {
        let d = parse_value(&v);
        prop_assert!(equivalent(&d, &d));
        for s in &d.statements {
            prop_assert!(statements_equivalent(s, s));
        }
    }

    #[test]
    fn equivalence_is_symmetric(a in document(false), b in document(false), seed in any::<u64>()) {
        let (da, db) = (parse_value(&a), parse_value(&b));
        prop_assert_eq!(equivalent(&da, &db), equivalent(&db, &da));
        let dr = parse_value(&rewrite_document(&a, seed));
        prop_assert_eq!(equivalent(&da, &dr), equivalent(&dr, &da));
    }

    #[test]
    fn equivalence_survives_meaning_preserving_rewrites(v in document(false), seed in any::<u64>()) {
        let d = parse_value(&v);
        let rewritten = rewrite_document(&v, seed);
        let r = parse_value(&rewritten);
        prop_assert!(equivalent(&d, &r), "not equivalent after rewrite:\n{:#}\n{:#}", v, rewritten);
        prop_assert!(equivalent(&r, &d));
        // What is written back parses to an equivalent document.
        let pretty = PolicyDocument::parse(&d.to_pretty_json()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(equivalent(&d, &pretty));
        prop_assert_eq!(&pretty.raw, &d.raw);
    }

    #[test]
    fn equivalence_notices_an_extra_action(v in document(false), seed in any::<u64>()) {
        let d = parse_value(&v);
        prop_assume!(!d.statements.is_empty());
        let i = (seed as usize) % d.statements.len();
        let mut changed = d.clone();
        let st = &mut changed.statements[i];
        match (&mut st.action, &mut st.not_action) {
            (Some(a), _) | (None, Some(a)) => a.push("ec2:RunInstances".into()),
            (None, None) => unreachable!("the parser requires an action"),
        }
        prop_assert!(!equivalent(&d, &changed));
        prop_assert!(!statements_equivalent(&d.statements[i], &changed.statements[i]));
    }

    #[test]
    fn merge_is_idempotent(v in document(false), additions in a2i_additions()) {
        let d = parse_value(&v);
        let once = merge_statements(&d, &additions);
        let twice = merge_statements(&once.document, &additions);
        prop_assert!(!twice.changed(), "second merge changed: added {:?} replaced {:?}", twice.added, twice.replaced);
        prop_assert_eq!(&twice.document, &once.document);
        // Unchanged means byte-identical.
        if !once.changed() {
            prop_assert_eq!(once.document.to_pretty_json(), d.to_pretty_json());
        }
    }

    #[test]
    fn merge_keeps_every_statement_it_was_not_asked_to_replace(v in document(false), additions in a2i_additions()) {
        let d = parse_value(&v);
        let out = merge_statements(&d, &additions);
        let addition_sids: Vec<&str> = additions.iter().filter_map(|a| a.sid.as_deref()).collect();
        for (i, before) in d.statements.iter().enumerate() {
            let after = &out.document.statements[i];
            if after.raw != before.raw {
                let sid = before.sid.as_deref().unwrap_or_default();
                prop_assert!(!sid.is_empty() && out.replaced.iter().any(|r| r == sid) && addition_sids.contains(&sid),
                    "statement {} changed without being declared replaced", i);
            }
        }
        // Only a replaced statement can be refused (when the replacement narrows it).
        match check_nothing_lost("doc", &d, &out.document, &out.replaced) {
            Ok(()) => {}
            Err(e) => prop_assert!(
                out.replaced.iter().any(|sid| e.to_string().contains(&format!("(`{sid}`) of the current document, which the plan replaces,"))),
                "refused a statement that was not replaced: {}", e
            ),
        }
        if out.replaced.is_empty() {
            prop_assert_eq!(check_nothing_lost("doc", &d, &out.document, &[]), Ok(()));
        }
        prop_assert_eq!(out.document.statements.len(), d.statements.len() + out.added.len());
        // The document written parses back to the same statements.
        let reread = PolicyDocument::parse(&out.document.to_pretty_json()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(reread.statements, out.document.statements.clone());
        prop_assert_eq!(&out.document.version, &d.version);
    }

    #[test]
    fn after_a_merge_every_requirement_is_met(v in document(true), additions in a2i_additions()) {
        let d = parse_value(&v);
        let out = merge_statements(&d, &additions);
        for addition in &additions {
            for req in requirements_of(addition) {
                let got = verdict(&req, &out.document);
                prop_assert!(matches!(got, Verdict::Met { .. }), "{} not met after merge: {:?}", req, got);
            }
        }
    }

    #[test]
    fn after_a_merge_requirements_are_met_unless_a_deny_blocked_them(v in document(false), additions in a2i_additions()) {
        let d = parse_value(&v);
        let out = merge_statements(&d, &additions);
        for addition in &additions {
            for req in requirements_of(addition) {
                let before = verdict(&req, &d);
                let after = verdict(&req, &out.document);
                if !matches!(before, Verdict::Blocked { .. }) {
                    prop_assert!(matches!(after, Verdict::Met { .. }), "{} not met after merge: {:?} (before {:?})", req, after, before);
                }
            }
        }
    }

    #[test]
    fn cors_equivalence_is_reflexive_and_ignores_list_order_and_case(rules in proptest::collection::vec(cors_rule(), 0..5), seed in any::<u64>()) {
        let config = CorsConfiguration { rules };
        prop_assert!(cors_equivalent(&config, &config));
        let mut dice = Dice(seed | 1);
        let mut rewritten = config.clone();
        for r in &mut rewritten.rules {
            dice.shuffle(&mut r.allowed_methods);
            dice.shuffle(&mut r.allowed_origins);
            dice.shuffle(&mut r.allowed_headers);
            r.allowed_methods = r.allowed_methods.iter().map(|m| random_case(m, &mut dice)).collect();
        }
        prop_assert!(cors_equivalent(&config, &rewritten));
        prop_assert!(cors_equivalent(&rewritten, &config));
        let reread = CorsConfiguration::parse(&config.to_pretty_json()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(reread, config);
    }

    #[test]
    fn cors_merge_is_idempotent_keeps_rules_in_order_and_meets_r1(rules in proptest::collection::vec(cors_rule(), 0..6)) {
        let before = CorsConfiguration { rules };
        let once = merge_cors(&before, &a2i::cors_rule());
        prop_assert!(matches!(evaluate_cors(&once.document).verdict, Verdict::Met { .. }), "R1 not met after merge");
        prop_assert_eq!(&once.document.rules[..before.rules.len()], &before.rules[..]);
        prop_assert_eq!(check_cors_nothing_lost("b", &before, &once.document), Ok(()));
        let twice = merge_cors(&once.document, &a2i::cors_rule());
        prop_assert!(!twice.changed());
        prop_assert_eq!(twice.document, once.document);
    }

    #[test]
    fn a_resource_with_a_policy_variable_never_grants_and_never_blocks_for_sure(
        before in "[in/*]{0,4}", after in "[in/*?]{0,4}", escape in 0usize..3,
    ) {
        let escaped = ["", "${*}", "${$}"][escape];
        let resource = format!("arn:aws:s3:::{before}{escaped}${{aws:username}}{after}");
        let statement = |effect: &str| json!({"Effect": effect, "Action": "s3:GetObject", "Resource": resource});
        let granted = json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::in/*"});
        let requirement = Requirement::Identity { action: "s3:GetObject".into(), resource: "arn:aws:s3:::in/*".into() };
        let allow = parse_value(&json!({"Version": "2012-10-17", "Statement": [statement("Allow")]}));
        let d = evaluate(&requirement, &[LabeledDocument { label: "p", document: &allow }], ACCT);
        prop_assert_eq!(&d.verdict, &Verdict::NotMet, "{}: {}", resource, d.reason);
        let deny = parse_value(&json!({"Version": "2012-10-17", "Statement": [granted, statement("Deny")]}));
        let d = evaluate(&requirement, &[LabeledDocument { label: "p", document: &deny }], ACCT);
        prop_assert!(
            matches!(d.verdict, Verdict::Met { .. } | Verdict::Blocked { conditional: true, .. }),
            "{}: {:?} {}", resource, d.verdict, d.reason
        );
    }

    #[test]
    fn an_account_condition_and_its_negation_never_agree(
        pair in 0usize..3, if_exists in any::<bool>(), key in 0usize..2,
        values in proptest::collection::vec(pick([ACCT, "444455556666", "1111*", "4444*", "*", "${aws:PrincipalAccount}", "${aws:resourceaccount}", "11112222333?"]), 1..4),
    ) {
        let (positive, negative) = [
            ("StringEquals", "StringNotEquals"),
            ("StringLike", "StringNotLike"),
            ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"),
        ][pair];
        let suffix = if if_exists { "IfExists" } else { "" };
        let key = ["aws:PrincipalAccount", "AWS:ResourceAccount"][key];
        let requirement = Requirement::Identity { action: "s3:GetObject".into(), resource: "arn:aws:s3:::in/*".into() };
        let met = |operator: &str| {
            let doc = parse_value(&json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::in/*",
                 "Condition": {format!("{operator}{suffix}"): {key: values}}}
            ]}));
            evaluate(&requirement, &[LabeledDocument { label: "p", document: &doc }], ACCT).verdict
        };
        let (yes, no) = (met(positive), met(negative));
        prop_assert!(
            matches!((&yes, &no), (Verdict::Met { .. }, Verdict::NotMet) | (Verdict::NotMet, Verdict::Met { .. })),
            "{:?} / {:?} for {:?}", yes, no, values
        );
    }

    #[test]
    fn overlaps_agrees_with_brute_force(a in "[ab*?]{0,4}", b in "[ab*?]{0,4}") {
        let witnesses = all_strings(8);
        let brute = witnesses.iter().any(|s| matches(&a, s, false) && matches(&b, s, false));
        prop_assert_eq!(overlaps(&a, &b, false), brute, "overlaps({:?}, {:?})", a, b);
    }

    #[test]
    fn matches_agrees_with_a_reference_matcher(p in "[aAb*?]{0,6}", v in "[aAb]{0,8}", ci in any::<bool>()) {
        prop_assert_eq!(matches(&p, &v, ci), reference_match(p.as_bytes(), v.as_bytes(), ci));
    }

    #[test]
    fn covers_is_sound(p in "[ab*?]{0,5}", q in "[ab*?]{0,4}") {
        if covers(&p, &q, false) {
            for s in all_strings(7) {
                if matches(&q, &s, false) {
                    prop_assert!(matches(&p, &s, false), "covers({:?}, {:?}) but {:?} is matched only by the second", p, q, s);
                }
            }
        }
    }

    #[test]
    fn covers_matches_on_literal_requests(p in "[aAb*?]{0,5}", s in "[aAb]{0,6}") {
        prop_assert_eq!(covers(&p, &s, true), matches(&p, &s, true));
        prop_assert_eq!(covers(&p, &s, false), matches(&p, &s, false));
    }
}

/// Every string over `{a, b}` up to `max` characters.
fn all_strings(max: usize) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut layer = vec![String::new()];
    for _ in 0..max {
        layer = layer
            .iter()
            .flat_map(|s| [format!("{s}a"), format!("{s}b")])
            .collect();
        out.extend(layer.iter().cloned());
    }
    out
}

/// Obviously correct (exponential) IAM wildcard matching, for small inputs.
fn reference_match(p: &[u8], v: &[u8], ci: bool) -> bool {
    match (p.first(), v.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            reference_match(&p[1..], v, ci) || (!v.is_empty() && reference_match(p, &v[1..], ci))
        }
        (Some(b'?'), Some(_)) => reference_match(&p[1..], &v[1..], ci),
        (Some(a), Some(b)) => {
            (a == b || (ci && a.eq_ignore_ascii_case(b))) && reference_match(&p[1..], &v[1..], ci)
        }
        _ => false,
    }
}
