//! A fuzz driver for the policy and CORS parsers that runs on the stable
//! toolchain (cargo-fuzz needs nightly).
//!
//! It feeds random and mutated inputs, grown from a seed corpus of valid
//! documents (`tests/it/fixtures/policy/*.json` and built-in ones), into
//! `PolicyDocument::parse` and `CorsConfiguration::parse`, and every document
//! that parses through equivalence, evaluation, merge and the limit checks.
//! Besides "no panic" it checks invariants: a parsed document is equivalent to
//! itself and to what it writes back, a merge keeps every statement and is
//! idempotent.
//!
//! Run it for a minute (what CI does):
//!
//! ```text
//! FUZZ_SECONDS=60 cargo test --test it policy_fuzz -- --ignored --nocapture
//! ```
//!
//! `FUZZ_SEED=N` replays a run; a failing input is printed, and also written
//! to the directory `FUZZ_ARTIFACTS` when that is set.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use a2i_fix::policy::limits::{
    check_cors, check_cors_nothing_lost, check_inline_policies, check_key_policy,
    check_key_policy_lockout, check_nothing_lost, check_trust_policy,
};
use a2i_fix::policy::wildcard::{covers, matches, overlaps};
use a2i_fix::policy::{
    CorsConfiguration, LabeledDocument, PolicyDocument, Requirement, a2i, cors_equivalent,
    equivalent, evaluate, evaluate_cors, merge_cors, merge_statements, statements_equivalent,
};
use serde_json::Value;

const ROLE: &str = "arn:aws:iam::111122223333:role/A2IFlowRole";

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
}

const TOKENS: &[&str] = &[
    "\"Statement\"",
    "\"Effect\"",
    "\"Allow\"",
    "\"Deny\"",
    "\"deny\"",
    "\"Action\"",
    "\"NotAction\"",
    "\"Resource\"",
    "\"NotResource\"",
    "\"Principal\"",
    "\"NotPrincipal\"",
    "\"Condition\"",
    "\"AWS\"",
    "\"Service\"",
    "\"Federated\"",
    "\"CanonicalUser\"",
    "\"Sid\"",
    "\"Version\"",
    "\"2012-10-17\"",
    "\"2008-10-17\"",
    "\"Id\"",
    "\"*\"",
    "\"?\"",
    "\"**??\"",
    "\"CORSRules\"",
    "\"AllowedMethods\"",
    "\"AllowedOrigins\"",
    "\"AllowedHeaders\"",
    "\"ExposeHeaders\"",
    "\"MaxAgeSeconds\"",
    "\"ID\"",
    "\"GET\"",
    "[]",
    "{}",
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1e999",
    "2147483648",
    "-2147483649",
    "1.5",
    "\"\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"${aws:username}\"",
    "\"kms:*\"",
    "\"s3:Get*\"",
    "\"arn:aws:s3:::*\"",
    "\"111122223333\"",
    "\"arn:aws:iam::111122223333:root\"",
    "\"sagemaker.amazonaws.com\"",
    "\"StringEquals\"",
    "\"aws:SourceAccount\"",
    ",",
    ":",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "\\",
];

fn corpus() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let dir = crate::support::fixture("policy");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if let Ok(bytes) = std::fs::read(&p) {
                out.push(bytes);
            }
        }
    }
    let roles = [
        ROLE.to_string(),
        "arn:aws:iam::111122223333:role/Other".to_string(),
    ];
    let built = merge_statements(
        &PolicyDocument::empty(),
        &[
            a2i::trust_statement(),
            a2i::key_statement(&roles),
            a2i::read_input_statement(&["arn:aws:s3:::in/*".to_string()]),
            a2i::write_output_statement(&["arn:aws:s3:::out/p/*".to_string()]),
        ],
    )
    .document;
    out.push(built.to_pretty_json().into_bytes());
    out.push(
        CorsConfiguration {
            rules: vec![a2i::cors_rule()],
        }
        .to_pretty_json()
        .into_bytes(),
    );
    out.push(
        br#"{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":["111122223333","arn:aws:sts::111122223333:assumed-role/R/s"]},"NotAction":"kms:Put*","NotResource":"arn:aws:kms:*:*:key/x","Condition":{"Null":{"aws:SourceVpc":true},"NumericLessThan":{"s3:max-keys":[1,2.5]}}}]}"#
            .to_vec(),
    );
    out
}

fn mutate(input: &[u8], corpus: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let mut data = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = data.len();
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                const BYTES: &[u8] = b"{}[]\":,*?\\\0\xff a";
                data[i] = BYTES[rng.below(BYTES.len())];
            }
            2 | 3 => {
                let i = rng.below(len + 1);
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                data.splice(i..i, t.iter().copied());
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let j = (i + 1 + rng.below(16)).min(len);
                data.drain(i..j);
            }
            5 if len > 0 => {
                let i = rng.below(len);
                let j = (i + 1 + rng.below(64)).min(len);
                let chunk: Vec<u8> = data[i..j].to_vec();
                let k = rng.below(len + 1);
                data.splice(k..k, chunk);
            }
            6 => {
                let other = &corpus[rng.below(corpus.len())];
                let i = rng.below(len + 1);
                let j = rng.below(other.len() + 1);
                data.truncate(i);
                data.extend_from_slice(&other[j..]);
            }
            7 => data = structural(&data, rng),
            8 if len > 0 => data.truncate(rng.below(len)),
            _ => {
                let depth = 1 + rng.below(300);
                let i = rng.below(len + 1);
                let (open, close) = if rng.coin() {
                    (b'[', b']')
                } else {
                    (b'{', b'}')
                };
                let mut nest = vec![open; depth];
                if rng.coin() {
                    nest.extend(std::iter::repeat_n(close, depth));
                }
                data.splice(i..i, nest);
            }
        }
    }
    data.truncate(64 * 1024);
    data
}

/// Replace, drop or duplicate a node of a JSON input (keeps inputs deep in the grammar).
fn structural(data: &[u8], rng: &mut Rng) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<Value>(data) else {
        return data.to_vec();
    };
    let target = rng.below(count(&v).max(1));
    let mut n = 0;
    edit(&mut v, target, &mut n, rng);
    v.to_string().into_bytes()
}

fn count(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count).sum(),
        Value::Object(m) => m.values().map(count).sum(),
        _ => 0,
    }
}

fn edit(v: &mut Value, target: usize, n: &mut usize, rng: &mut Rng) -> bool {
    if *n == target {
        let current = v.clone();
        *v = match rng.below(8) {
            0 => Value::Null,
            1 => Value::Bool(rng.coin()),
            2 => Value::from(rng.next() as i64),
            3 => Value::String(
                [
                    "*",
                    "",
                    "Allow",
                    "s3:*",
                    "arn:aws:s3:::*",
                    "111122223333",
                    "GET",
                ][rng.below(7)]
                .into(),
            ),
            4 => Value::Array(vec![current.clone(), current]),
            5 => serde_json::json!({ "AWS": current }),
            6 => match current {
                Value::Object(mut m) if !m.is_empty() => {
                    let k = m
                        .keys()
                        .nth(rng.below(m.len()))
                        .cloned()
                        .unwrap_or_default();
                    m.shift_remove(&k);
                    Value::Object(m)
                }
                Value::Array(a) if !a.is_empty() => Value::Array(a[1..].to_vec()),
                other => other,
            },
            _ => Value::Array(vec![]),
        };
        return true;
    }
    *n += 1;
    match v {
        Value::Array(a) => a.iter_mut().any(|x| edit(x, target, n, rng)),
        Value::Object(m) => m.values_mut().any(|x| edit(x, target, n, rng)),
        _ => false,
    }
}

/// Everything a document that parses goes through, with its invariants.
fn exercise(text: &str, previous: &mut Option<PolicyDocument>) {
    if let Ok(d) = PolicyDocument::parse(text) {
        assert!(equivalent(&d, &d), "not equivalent to itself");
        for s in &d.statements {
            assert!(statements_equivalent(s, s));
        }
        for written in [d.to_pretty_json(), d.to_compact_json()] {
            match PolicyDocument::parse(&written) {
                Ok(back) => assert!(
                    equivalent(&d, &back),
                    "written form not equivalent:\n{written}"
                ),
                Err(e) => panic!("written form does not parse: {e}\n{written}"),
            }
        }
        let additions = [
            a2i::trust_statement(),
            a2i::key_statement(&[ROLE.to_string()]),
            a2i::read_input_statement(&["arn:aws:s3:::in/*".to_string()]),
        ];
        let merged = merge_statements(&d, &additions);
        // Only a replaced statement can be refused (when the replacement
        // narrows it).
        if let Err(e) = check_nothing_lost("doc", &d, &merged.document, &merged.replaced) {
            assert!(
                merged
                    .replaced
                    .iter()
                    .any(|sid| e.to_string().contains(&format!(
                        "(`{sid}`) of the current document, which the plan replaces,"
                    ))),
                "refused a statement that was not replaced: {e}"
            );
        }
        assert!(
            !merge_statements(&merged.document, &additions).changed(),
            "merge not idempotent"
        );
        let labeled = [LabeledDocument {
            label: "fuzz",
            document: &d,
        }];
        for req in [
            Requirement::Identity {
                action: "s3:GetObject".into(),
                resource: "arn:aws:s3:::in/*".into(),
            },
            Requirement::Trust {
                service: a2i::SAGEMAKER_SERVICE.into(),
                action: a2i::ASSUME_ROLE.into(),
            },
            Requirement::KeyGrant {
                principal_arn: ROLE.into(),
                actions: a2i::KMS_ACTIONS.iter().map(|a| a.to_string()).collect(),
            },
            Requirement::CorsGetAnyOrigin,
        ] {
            let decision = evaluate(&req, &labeled, "111122223333");
            assert!(!decision.reason.is_empty());
        }
        let _ = check_inline_policies("r", &[&d, &merged.document]);
        let _ = check_trust_policy("r", &d);
        let _ = check_key_policy("k", &d);
        let _ = check_key_policy_lockout("k", &d, &merged.document, "111122223333", Some(ROLE));
        if let Some(p) = previous.as_ref() {
            assert_eq!(
                equivalent(p, &d),
                equivalent(&d, p),
                "equivalence not symmetric"
            );
        }
        *previous = Some(d);
    }
    if let Ok(c) = CorsConfiguration::parse(text) {
        assert!(cors_equivalent(&c, &c));
        let written = c.to_pretty_json();
        assert_eq!(
            CorsConfiguration::parse(&written).as_ref(),
            Ok(&c),
            "CORS written form differs:\n{written}"
        );
        let merged = merge_cors(&c, &a2i::cors_rule());
        assert_eq!(check_cors_nothing_lost("b", &c, &merged.document), Ok(()));
        assert!(!merge_cors(&merged.document, &a2i::cors_rule()).changed());
        let _ = evaluate_cors(&c);
        let _ = check_cors("b", &merged.document);
    }
    // The wildcard functions on pieces of the input.
    let chars: Vec<char> = text.chars().take(96).collect();
    let (a, b): (String, String) = (
        chars[..chars.len() / 2].iter().collect(),
        chars[chars.len() / 2..].iter().collect(),
    );
    let _ = (matches(&a, &b, true), overlaps(&a, &b, false));
    if covers(&a, &b, false) {
        assert!(
            overlaps(&a, &b, false) || b.is_empty() && !matches(&a, "", false),
            "covers without overlap: {a:?} {b:?}"
        );
    }
}

/// Run for `budget`; returns (inputs tried, inputs that parsed as a policy).
fn run(budget: Duration, max_inputs: Option<u64>, seed: u64) -> (u64, u64) {
    let corpus = corpus();
    assert!(!corpus.is_empty(), "empty seed corpus");
    let mut rng = Rng(seed);
    let mut pool: Vec<Vec<u8>> = corpus.clone();
    let mut previous = None;
    let start = Instant::now();
    let (mut tried, mut parsed) = (0u64, 0u64);
    while start.elapsed() < budget && max_inputs.is_none_or(|m| tried < m) {
        let input = match rng.below(20) {
            0 => (0..rng.below(256)).map(|_| rng.next() as u8).collect(),
            _ => {
                let base = &pool[rng.below(pool.len())];
                mutate(base, &corpus, &mut rng)
            }
        };
        let text = String::from_utf8_lossy(&input).into_owned();
        let result = catch_unwind(AssertUnwindSafe(|| exercise(&text, &mut previous)));
        if result.is_err() {
            if let Ok(dir) = std::env::var("FUZZ_ARTIFACTS") {
                let _ = std::fs::create_dir_all(&dir);
                let _ = std::fs::write(format!("{dir}/crash-{seed}-{tried}.json"), &input);
            }
            panic!("panic on input #{tried} (FUZZ_SEED={seed}):\n{text:?}");
        }
        tried += 1;
        // Keep inputs that still parse: they let mutations reach deeper.
        if PolicyDocument::parse(&text).is_ok() || CorsConfiguration::parse(&text).is_ok() {
            parsed += 1;
            if pool.len() < 4096 {
                pool.push(input);
            } else {
                let i = rng.below(pool.len());
                pool[i] = input;
            }
        }
    }
    (tried, parsed)
}

/// A short deterministic run, part of every `cargo test`.
#[test]
fn fuzz_smoke_run_finds_no_panic() {
    let (tried, parsed) = run(Duration::from_secs(30), Some(1500), 0x00A2_1F1C);
    assert_eq!(tried, 1500);
    assert!(
        parsed > 0,
        "no mutated input parsed: the driver is not reaching the engine"
    );
}

/// The CI fuzz run: `FUZZ_SECONDS` (default 60) of random and mutated inputs.
#[test]
#[ignore = "long-running: FUZZ_SECONDS=60 cargo test --test it policy_fuzz -- --ignored --nocapture"]
fn fuzz_parsers() {
    let seconds: u64 = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("fuzzing the policy parsers for {seconds}s, FUZZ_SEED={seed}");
    let (tried, parsed) = run(Duration::from_secs(seconds), None, seed);
    eprintln!("{tried} inputs, {parsed} parsed as a policy or CORS configuration, no panic");
    assert!(tried > 0);
}
