//! The limits ("Limits" in `docs/requirements.md`) and the safety guards run
//! before any write.

use a2i_fix::policy::limits::{
    CORS_BYTES_LIMIT, CORS_RULES_LIMIT, INLINE_POLICIES_LIMIT, KEY_POLICY_LIMIT, LimitError,
    TRUST_POLICY_LIMIT, check_cors, check_cors_nothing_lost, check_inline_policies,
    check_key_policy, check_key_policy_lockout, check_managed_policy_count, check_nothing_lost,
    check_trust_policy, cors_xml_size, iam_size,
};
use a2i_fix::policy::{CorsConfiguration, CorsRule, PolicyDocument, a2i, merge_statements};

const ACCT: &str = "111122223333";

fn parse(text: &str) -> PolicyDocument {
    PolicyDocument::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// A document whose compact JSON is exactly `size` characters.
fn identity_doc_of_size(size: usize) -> PolicyDocument {
    let empty = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::"}]}"#;
    let pad = size
        .checked_sub(empty.len())
        .unwrap_or_else(|| panic!("size {size} too small"));
    let d = parse(&empty.replace(
        "arn:aws:s3:::",
        &format!("arn:aws:s3:::{}", "b".repeat(pad)),
    ));
    assert_eq!(iam_size(&d), size);
    d
}

#[test]
fn inline_policies_of_a_role_are_counted_together_up_to_the_limit() {
    let half = INLINE_POLICIES_LIMIT / 2;
    let (a, b) = (identity_doc_of_size(half), identity_doc_of_size(half));
    assert_eq!(check_inline_policies("R", &[&a, &b]), Ok(()));
    let c = identity_doc_of_size(half + 1);
    let err = check_inline_policies("R", &[&a, &c]);
    assert!(
        matches!(&err, Err(LimitError::TooLarge { size, limit: INLINE_POLICIES_LIMIT, .. }) if *size == INLINE_POLICIES_LIMIT + 1),
        "{err:?}"
    );
    let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        msg.contains("role `R`") && msg.contains("10241") && msg.contains("10240"),
        "{msg}"
    );
}

#[test]
fn whitespace_is_not_counted_in_iam_sizes() {
    let compact = parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
    );
    let spaced = parse(&compact.to_pretty_json());
    assert!(spaced.to_pretty_json().len() > compact.to_compact_json().len());
    assert_eq!(iam_size(&spaced), iam_size(&compact));
}

#[test]
fn trust_policy_over_2048_characters_is_refused() {
    let mut services: Vec<String> = Vec::new();
    let mut doc = PolicyDocument::empty();
    while iam_size(&doc) <= TRUST_POLICY_LIMIT {
        services.push(format!("service{}.amazonaws.com", services.len()));
        let list = services
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(",");
        doc = parse(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":[{list}]}},"Action":"sts:AssumeRole"}}]}}"#
        ));
        if iam_size(&doc) <= TRUST_POLICY_LIMIT {
            assert_eq!(check_trust_policy("R", &doc), Ok(()));
        }
    }
    let err = check_trust_policy("R", &doc);
    assert!(
        matches!(
            err,
            Err(LimitError::TooLarge {
                limit: TRUST_POLICY_LIMIT,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(
        err.err()
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("trust policy of role `R`")
    );
}

#[test]
fn key_policy_is_counted_in_bytes_of_what_is_written() {
    let roles: Vec<String> = (0..700)
        .map(|i| format!("arn:aws:iam::{ACCT}:role/flow-role-number-{i:04}"))
        .collect();
    let small = merge_statements(
        &PolicyDocument::empty(),
        &[a2i::key_statement(&roles[..10])],
    )
    .document;
    assert_eq!(check_key_policy("k", &small), Ok(()));
    let big = merge_statements(&PolicyDocument::empty(), &[a2i::key_statement(&roles)]).document;
    assert!(big.to_pretty_json().len() > KEY_POLICY_LIMIT);
    let err = check_key_policy("k", &big);
    assert!(
        matches!(&err, Err(LimitError::TooLarge { size, .. }) if *size == big.to_pretty_json().len()),
        "{err:?}"
    );
}

#[test]
fn cors_limits_rules_and_xml_bytes() {
    let rule = |i: usize| CorsRule {
        id: Some(format!("rule-{i}")),
        allowed_methods: vec!["GET".into()],
        allowed_origins: vec![format!("https://site{i}.example")],
        ..CorsRule::default()
    };
    let hundred = CorsConfiguration {
        rules: (0..CORS_RULES_LIMIT).map(rule).collect(),
    };
    assert_eq!(check_cors("b", &hundred), Ok(()));
    let more = CorsConfiguration {
        rules: (0..=CORS_RULES_LIMIT).map(rule).collect(),
    };
    let err = check_cors("b", &more);
    assert!(
        matches!(
            err,
            Err(LimitError::TooMany {
                count: 101,
                limit: 100,
                ..
            })
        ),
        "{err:?}"
    );
    let fat = CorsConfiguration {
        rules: (0..10)
            .map(|i| CorsRule {
                allowed_headers: (0..300).map(|h| format!("x-header-{i}-{h:04}")).collect(),
                ..rule(i)
            })
            .collect(),
    };
    assert!(cors_xml_size(&fat) > CORS_BYTES_LIMIT);
    assert!(matches!(
        check_cors("b", &fat),
        Err(LimitError::TooLarge {
            limit: CORS_BYTES_LIMIT,
            ..
        })
    ));
}

#[test]
fn cors_xml_size_counts_tags_and_escapes() {
    let one = CorsConfiguration {
        rules: vec![a2i::cors_rule()],
    };
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?><CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>"#;
    assert_eq!(cors_xml_size(&one), xml.len());
    let amp = CorsConfiguration {
        rules: vec![CorsRule {
            allowed_origins: vec!["https://a&b".into()],
            ..a2i::cors_rule()
        }],
    };
    assert_eq!(cors_xml_size(&amp), xml.len() - 1 + "https://a&amp;b".len());
}

#[test]
fn managed_policies_are_limited_to_ten() {
    assert_eq!(check_managed_policy_count("role `R`", 10), Ok(()));
    let err = check_managed_policy_count("role `R`", 11);
    assert!(
        matches!(
            err,
            Err(LimitError::TooMany {
                count: 11,
                limit: 10,
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn key_policy_lockout_table() {
    let root_kms_all = r#"{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}"#;
    let id_put = r#"{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:Put*","Resource":"*"}"#;
    let star = r#"{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"*","Resource":"*"}"#;
    let admin = r#"{"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/KeyAdmin"},"Action":["kms:PutKeyPolicy","kms:Describe*"],"Resource":"*"}"#;
    let use_only = r#"{"Sid":"Use","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}"#;
    let deny_put = r#"{"Sid":"NoPolicyChanges","Effect":"Deny","Principal":"*","Action":"kms:PutKeyPolicy","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalTag/team":"sec"}}}"#;
    let doc = |s: &[&str]| {
        parse(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
            s.join(",")
        ))
    };
    let admin_arn = Some("arn:aws:iam::111122223333:role/KeyAdmin");
    let session = Some("arn:aws:sts::111122223333:assumed-role/KeyAdmin/alice");
    #[rustfmt::skip]
    let rows: Vec<(&str, PolicyDocument, PolicyDocument, Option<&str>, bool)> = vec![
        ("root kept", doc(&[root_kms_all]), doc(&[root_kms_all, use_only]), None, true),
        ("root lost", doc(&[root_kms_all]), doc(&[use_only]), None, false),
        ("root via account id and kms:Put* lost", doc(&[id_put]), doc(&[use_only]), None, false),
        ("root via * kept under another form", doc(&[star]), doc(&[id_put]), None, true),
        ("a new deny takes it away", doc(&[root_kms_all]), doc(&[root_kms_all, deny_put]), None, false),
        ("before did not allow it: nothing to keep", doc(&[use_only]), doc(&[use_only]), None, true),
        ("caller kept", doc(&[admin]), doc(&[admin, use_only]), admin_arn, true),
        ("caller lost", doc(&[admin, root_kms_all]), doc(&[root_kms_all]), admin_arn, false),
        ("caller as an assumed-role session lost", doc(&[admin]), doc(&[use_only]), session, false),
        ("caller without rights before: nothing to keep", doc(&[use_only]), doc(&[use_only]), admin_arn, true),
    ];
    for (name, before, after, caller, ok) in rows {
        let r = check_key_policy_lockout("k", &before, &after, ACCT, caller);
        assert_eq!(r.is_ok(), ok, "{name}: {r:?}");
        if let Err(e) = r {
            assert!(
                e.to_string().contains("kms:PutKeyPolicy") && e.to_string().contains("key `k`"),
                "{name}: {e}"
            );
        }
    }
}

#[test]
fn nothing_lost_notices_a_dropped_statement_even_when_declared_replaced() {
    let before = parse(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:GetObject","Resource":"*"},{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#,
    );
    let reordered = parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:ListBucket"],"Resource":"*"},{"Sid":"A","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
    );
    assert_eq!(check_nothing_lost("p", &before, &reordered, &[]), Ok(()));
    let without_a = parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#,
    );
    for replaced in [vec![], vec!["A".to_string()]] {
        let err = check_nothing_lost("p", &before, &without_a, &replaced);
        assert!(
            matches!(&err, Err(LimitError::Unsafe { message, .. })
                if message.contains("statement 0 (`A`)") && message.contains("would be lost") && message.contains("nothing was written")),
            "{err:?}"
        );
    }
    let without_unnamed = parse(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
    );
    assert!(check_nothing_lost("p", &before, &without_unnamed, &["A".to_string()]).is_err());
}

/// The A2I identity statement as it is before a rewrite.
const A2I_BEFORE: &str = r#"{"Sid":"A2IData","Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::in/*","arn:aws:s3:::out/*"]}"#;

fn one(statement: &str) -> PolicyDocument {
    parse(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Other","Effect":"Allow","Action":"sqs:*","Resource":"*"}},{statement}]}}"#
    ))
}

#[test]
fn a_statement_may_be_widened_under_its_sid_but_never_narrowed() {
    let key_before = format!(
        r#"{{"Sid":"A2IKey","Effect":"Allow","Principal":{{"AWS":["arn:aws:iam::{ACCT}:role/A","{ACCT}"]}},"Action":"kms:Decrypt","Resource":"*"}}"#
    );
    #[rustfmt::skip]
    let rows: Vec<(&str, String, String, Option<&str>)> = vec![
        ("one more resource", A2I_BEFORE.into(),
            r#"{"Sid":"A2IData","Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::in/*","arn:aws:s3:::out/*","arn:aws:s3:::more/*"]}"#.into(), None),
        ("one more action, in another case", A2I_BEFORE.into(),
            r#"{"Sid":"A2IData","Effect":"Allow","Action":["S3:GETOBJECT","s3:PutObject","s3:ListBucket"],"Resource":["arn:aws:s3:::out/*","arn:aws:s3:::in/*"]}"#.into(), None),
        ("a resource removed", A2I_BEFORE.into(),
            r#"{"Sid":"A2IData","Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::in/*","arn:aws:s3:::more/*"]}"#.into(),
            Some("would lose resource `arn:aws:s3:::out/*`")),
        ("an action removed", A2I_BEFORE.into(),
            r#"{"Sid":"A2IData","Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::in/*","arn:aws:s3:::out/*"]}"#.into(),
            Some("would lose action `s3:putobject`")),
        ("a wider pattern does not stand for a value", A2I_BEFORE.into(),
            r#"{"Sid":"A2IData","Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::in/*","arn:aws:s3:::out/*"]}"#.into(),
            Some("would lose action `s3:getobject`")),
        ("same Sid but Deny", A2I_BEFORE.into(),
            r#"{"Sid":"A2IData","Effect":"Deny","Action":["s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::in/*","arn:aws:s3:::out/*"]}"#.into(),
            Some("would change its effect")),
        ("a condition added", A2I_BEFORE.into(),
            r#"{"Sid":"A2IData","Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::in/*","arn:aws:s3:::out/*"],"Condition":{"Bool":{"aws:SecureTransport":"true"}}}"#.into(),
            Some("would change its condition")),
        ("Resource turned into NotResource", A2I_BEFORE.into(),
            r#"{"Sid":"A2IData","Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"NotResource":["arn:aws:s3:::in/*","arn:aws:s3:::out/*"]}"#.into(),
            Some("would change its `NotResource`")),
        ("another Sid does not widen it", A2I_BEFORE.into(),
            r#"{"Sid":"A2IData2","Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::in/*","arn:aws:s3:::out/*","arn:aws:s3:::more/*"]}"#.into(),
            Some("would be lost")),
        ("one more principal, the root written as its ARN", key_before.clone(),
            format!(r#"{{"Sid":"A2IKey","Effect":"Allow","Principal":{{"AWS":["arn:aws:iam::{ACCT}:root","arn:aws:iam::{ACCT}:role/A","arn:aws:iam::{ACCT}:role/B"]}},"Action":"kms:Decrypt","Resource":"*"}}"#),
            None),
        ("a principal removed", key_before.clone(),
            format!(r#"{{"Sid":"A2IKey","Effect":"Allow","Principal":{{"AWS":["{ACCT}","arn:aws:iam::{ACCT}:role/B"]}},"Action":"kms:Decrypt","Resource":"*"}}"#),
            Some("would lose principal `arn:aws:iam::111122223333:role/A`")),
        ("a principal moved to another key", key_before.clone(),
            format!(r#"{{"Sid":"A2IKey","Effect":"Allow","Principal":{{"AWS":"{ACCT}","Service":"arn:aws:iam::{ACCT}:role/A"}},"Action":"kms:Decrypt","Resource":"*"}}"#),
            Some("would lose principal `arn:aws:iam::111122223333:role/A`")),
    ];
    for (name, before, after, want) in rows {
        let (before, after) = (one(&before), one(&after));
        let r = check_nothing_lost("p", &before, &after, &["A2IData".into(), "A2IKey".into()]);
        match (want, &r) {
            (None, Ok(())) => {}
            (Some(text), Err(LimitError::Unsafe { message, .. }))
                if message.contains(text)
                    && message.contains("statement 1 (`A2I")
                    && message.contains("nothing was written") => {}
            _ => panic!("{name}: expected {want:?}, got {r:?}"),
        }
    }
}

#[test]
fn cors_nothing_lost_requires_every_rule_in_the_same_order() {
    let before = CorsConfiguration::parse(
        r#"{"CORSRules":[{"ID":"a","AllowedMethods":["GET"],"AllowedOrigins":["https://a"]},{"ID":"b","AllowedMethods":["PUT"],"AllowedOrigins":["*"]}]}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut appended = before.clone();
    appended.rules.push(a2i::cors_rule());
    assert_eq!(check_cors_nothing_lost("b", &before, &appended), Ok(()));
    let mut swapped = before.clone();
    swapped.rules.swap(0, 1);
    assert!(check_cors_nothing_lost("b", &before, &swapped).is_err());
    let mut dropped = before.clone();
    dropped.rules.remove(0);
    let err = check_cors_nothing_lost("b", &before, &dropped);
    assert!(
        matches!(&err, Err(LimitError::Unsafe { message, .. }) if message.contains("rule 0")),
        "{err:?}"
    );
}
