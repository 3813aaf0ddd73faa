//! Unit tests of the spec: whole documents in, a spec or `file:line: key:
//! message` out.

use super::walk::{KEYS_FLOW, suggest};
use super::*;
use crate::model::PrincipalKind;

/// A valid flow definition table, to build documents from.
const FLOW: &str = r#"
[[flow_definition]]
name = "invoice-review"
role = "A2IFlowRole"
input_buckets = ["acme-a2i-input"]
output = "s3://acme-a2i-output/reviews/"
"#;

fn ok(text: &str) -> Spec {
    match parse(text, "a2i.toml") {
        Ok(spec) => spec,
        Err(e) => panic!("expected a valid spec, got: {e}\n---\n{text}"),
    }
}

/// Parse `text`, expect an `Invalid` error; return (line, key, message).
fn invalid(text: &str) -> (usize, String, String) {
    match parse(text, "a2i.toml") {
        Ok(spec) => panic!("expected an error, got {spec:?}\n---\n{text}"),
        Err(SpecError::Invalid {
            file,
            line,
            key,
            message,
        }) => {
            assert_eq!(file, "a2i.toml");
            (line, key, message)
        }
        Err(e) => panic!("expected an Invalid error, got {e:?}"),
    }
}

/// Assert the error is on `line`, about `key`, with `needle` in its message.
#[track_caller]
fn assert_invalid(text: &str, line: usize, key: &str, needle: &str) {
    let (l, k, m) = invalid(text);
    assert_eq!((l, k.as_str()), (line, key), "message: {m}\n---\n{text}");
    assert!(
        m.contains(needle),
        "message `{m}` does not contain `{needle}`\n---\n{text}"
    );
}

/// A flow definition with one key replaced (or removed with `None`).
fn flow_with(key: &str, value: Option<&str>) -> String {
    let mut out = String::from("[[flow_definition]]\n");
    for (k, v) in [
        ("name", "\"invoice-review\""),
        ("role", "\"A2IFlowRole\""),
        ("input_buckets", "[\"acme-a2i-input\"]"),
        ("output", "\"s3://acme-a2i-output/reviews/\""),
    ] {
        if k == key {
            if let Some(value) = value {
                out.push_str(&format!("{k} = {value}\n"));
            }
        } else {
            out.push_str(&format!("{k} = {v}\n"));
        }
    }
    if let ("kms_key", Some(value)) = (key, value) {
        out.push_str(&format!("kms_key = {value}\n"));
    }
    out
}

// ---- the happy path ----------------------------------------------------

#[test]
fn a_spec_with_every_table_parses_into_the_expected_spec() {
    let text = r#"account_id = "111122223333"          # optional

[[flow_definition]]
name = "invoice-review"
role = "A2IFlowRole"
input_buckets = ["acme-a2i-input"]
output = "s3://acme-a2i-output/reviews/"
kms_key = "alias/a2i-output"

[[human_loop_caller]]
principal = "arn:aws:iam::111122223333:role/ml-app"
uses = ["custom", "textract", "rekognition"]
public_workforce = false

[[template_preview]]
role = "A2IPreviewRole"
input_buckets = ["acme-a2i-input"]
"#;
    let spec = ok(text);
    assert_eq!(spec.account_id.as_deref(), Some("111122223333"));
    assert_eq!(
        spec.flow_definitions,
        vec![FlowDefinition {
            name: "invoice-review".into(),
            role: RoleRef {
                name: "A2IFlowRole".into(),
                path: "/".into(),
                account_id: None,
                written: "A2IFlowRole".into()
            },
            input_buckets: vec!["acme-a2i-input".into()],
            output: S3Url {
                bucket: "acme-a2i-output".into(),
                prefix: "reviews/".into()
            },
            kms_key: Some("alias/a2i-output".into()),
        }]
    );
    assert_eq!(
        spec.human_loop_callers,
        vec![HumanLoopCaller {
            arn: "arn:aws:iam::111122223333:role/ml-app".into(),
            kind: PrincipalKind::Role,
            name: "ml-app".into(),
            account_id: "111122223333".into(),
            uses: vec![Use::Custom, Use::Textract, Use::Rekognition],
            public_workforce: false,
        }]
    );
    assert_eq!(spec.template_previews.len(), 1);
    assert_eq!(spec.template_previews[0].role.name, "A2IPreviewRole");
    assert_eq!(spec.hash, crate::model::digest(text));
}

#[test]
fn hash_is_the_sha256_of_the_file_bytes_and_changes_with_them() {
    let a = ok(FLOW);
    let b = ok(&format!("{FLOW}# a comment\n"));
    assert_eq!(a.hash, crate::model::digest(FLOW));
    assert!(a.hash.starts_with("sha256:") && a.hash.len() == 7 + 64);
    assert_ne!(a.hash, b.hash);
}

#[test]
fn public_workforce_defaults_to_false_and_uses_are_deduplicated() {
    let spec = ok(r#"
[[human_loop_caller]]
principal = "arn:aws:iam::123456789012:user/alice"
uses = ["textract", "custom", "textract"]
"#);
    let caller = &spec.human_loop_callers[0];
    assert!(!caller.public_workforce);
    assert_eq!(caller.uses, vec![Use::Custom, Use::Textract]);
    assert_eq!(caller.kind, PrincipalKind::User);
    assert_eq!(caller.name, "alice");
}

#[test]
fn a_bucket_listed_twice_is_kept_once() {
    let spec = ok(&flow_with(
        "input_buckets",
        Some(r#"["acme-a2i-input", "acme-a2i-input", "acme-a2i-b"]"#),
    ));
    assert_eq!(
        spec.flow_definitions[0].input_buckets,
        ["acme-a2i-input", "acme-a2i-b"]
    );
}

#[test]
fn input_buckets_may_be_empty() {
    let spec = ok(&flow_with("input_buckets", Some("[]")));
    assert!(spec.flow_definitions[0].input_buckets.is_empty());
}

#[test]
fn inline_tables_are_accepted_like_array_tables() {
    let spec = ok(
        r#"template_preview = [{ role = "A2IPreviewRole", input_buckets = ["acme-a2i-input"] }]"#,
    );
    assert_eq!(spec.template_previews[0].input_buckets, ["acme-a2i-input"]);
}

// ---- error format --------------------------------------------------------

#[test]
fn error_message_names_file_line_and_key() {
    let text = format!("{FLOW}outptu = \"s3://x\"\n");
    let Err(e) = parse(&text, "plans/x.toml") else {
        panic!("expected an error")
    };
    assert_eq!(
        e.to_string(),
        "plans/x.toml:7: `flow_definition[0].outptu`: unknown key in a `[[flow_definition]]`; did you mean `output`? expected one of `name`, `role`, `input_buckets`, `output`, `kms_key`"
    );
}

#[test]
fn error_message_for_a_missing_key_points_at_the_table_header() {
    let text = format!(
        "account_id = \"123456789012\"\n\n{}",
        flow_with("output", None)
    );
    let Err(e) = parse(&text, "a2i.toml") else {
        panic!("expected an error")
    };
    assert_eq!(
        e.to_string(),
        "a2i.toml:3: `flow_definition[0].output`: missing in a `[[flow_definition]]`; add the flow definition's S3OutputPath, e.g. `output = \"s3://acme-a2i-output/reviews/\"`"
    );
}

#[test]
fn load_reports_a_missing_file_as_io_error() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    let path = dir.path().join("a2i.toml");
    match load(&path) {
        Err(SpecError::Io { file, message }) => {
            assert_eq!(file, path.display().to_string());
            assert!(message.contains("--spec"), "{message}");
        }
        other => panic!("expected an Io error, got {other:?}"),
    }
}

#[test]
fn load_reads_a_file_and_hashes_its_bytes() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    let path = dir.path().join("a2i.toml");
    if let Err(e) = std::fs::write(&path, FLOW) {
        panic!("write: {e}");
    }
    match load(&path) {
        Ok(spec) => assert_eq!(spec.hash, crate::model::digest(FLOW)),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn load_reports_invalid_utf8_with_its_line() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    let path = dir.path().join("a2i.toml");
    if let Err(e) = std::fs::write(&path, b"account_id = \"1\"\n# \xff\n") {
        panic!("write: {e}");
    }
    match load(&path) {
        Err(SpecError::Invalid { line, message, .. }) => {
            assert_eq!(line, 2);
            assert!(message.contains("UTF-8"), "{message}");
        }
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

// ---- TOML syntax -------------------------------------------------------

#[test]
fn a_syntax_error_names_its_line_and_the_nearest_key() {
    let text = format!("{FLOW}kms_key = \"alias/a2i\n");
    assert_invalid(&text, 7, "flow_definition[0].kms_key", "invalid TOML");
}

#[test]
fn a_duplicate_key_is_a_syntax_error_on_its_second_line() {
    let text = format!("{FLOW}name = \"again\"\n");
    let (line, _, message) = invalid(&text);
    assert_eq!(line, 7);
    assert!(message.contains("invalid TOML"), "{message}");
}

// ---- unknown keys, at every level --------------------------------------

#[test]
fn unknown_keys_are_errors_at_every_level() {
    assert_invalid(
        &format!("acount_id = \"123456789012\"\n{FLOW}"),
        1,
        "acount_id",
        "did you mean `account_id`?",
    );
    assert_invalid(
        &format!("{FLOW}\n[[flow_definitions]]\nname = \"x\"\n"),
        8,
        "flow_definitions",
        "did you mean `flow_definition`?",
    );
    assert_invalid(
        &format!("{FLOW}input_bucket = [\"a\"]\n"),
        7,
        "flow_definition[0].input_bucket",
        "did you mean `input_buckets`?",
    );
    assert_invalid(
        "[[human_loop_caller]]\nprincipal = \"arn:aws:iam::123456789012:role/ml-app\"\nuses = [\"custom\"]\npublic = true\n",
        4,
        "human_loop_caller[0].public",
        "unknown key in a `[[human_loop_caller]]`",
    );
    assert_invalid(
        "[[template_preview]]\nrole = \"A2IPreviewRole\"\ninput_buckets = []\noutput = \"s3://b/\"\n",
        4,
        "template_preview[0].output",
        "expected one of `role`, `input_buckets`",
    );
    // A sub-table of a flow definition is an unknown key too.
    assert_invalid(
        &format!("{FLOW}\n[flow_definition.tags]\nteam = \"ml\"\n"),
        8,
        "flow_definition[0].tags",
        "unknown key",
    );
}

#[test]
fn unknown_keys_that_need_quotes_are_quoted_in_the_key_path() {
    assert_invalid(&format!("\"\" = 1\n{FLOW}"), 1, "\"\"", "unknown key");
    assert_invalid(
        &format!("{FLOW}\"kms key\" = 1\n"),
        7,
        "flow_definition[0].\"kms key\"",
        "unknown key",
    );
}

#[test]
fn the_first_unknown_key_in_file_order_is_reported() {
    let text = format!("{FLOW}zzz = 1\naaa = 2\n");
    assert_invalid(&text, 7, "flow_definition[0].zzz", "unknown key");
}

#[test]
fn unknown_key_in_the_second_table_names_its_index() {
    let text = format!("{FLOW}{FLOW}role_arn = \"x\"\n");
    let text = text.replacen("invoice-review", "other", 1);
    assert_invalid(&text, 13, "flow_definition[1].role_arn", "unknown key");
}

// ---- wrong types --------------------------------------------------------

#[test]
fn wrong_types_are_errors_naming_expected_and_found() {
    assert_invalid(
        &flow_with("name", Some("42")),
        2,
        "flow_definition[0].name",
        "expected a string, found an integer",
    );
    assert_invalid(
        &flow_with("role", Some("[\"A2IFlowRole\"]")),
        3,
        "flow_definition[0].role",
        "expected a string, found an array",
    );
    assert_invalid(
        &flow_with("input_buckets", Some("\"acme-a2i-input\"")),
        4,
        "flow_definition[0].input_buckets",
        "write `[\"acme-a2i-input\"]`",
    );
    assert_invalid(
        &flow_with("input_buckets", Some("[\"acme-a2i-input\", 7]")),
        4,
        "flow_definition[0].input_buckets[1]",
        "expected a string, found an integer",
    );
    assert_invalid(
        &flow_with("output", Some("true")),
        5,
        "flow_definition[0].output",
        "found a boolean",
    );
    assert_invalid(
        &flow_with("kms_key", Some("1.5")),
        6,
        "flow_definition[0].kms_key",
        "found a float",
    );
    assert_invalid(
        "[[human_loop_caller]]\nprincipal = \"arn:aws:iam::123456789012:role/ml-app\"\nuses = \"custom\"\n",
        3,
        "human_loop_caller[0].uses",
        "expected an array of strings",
    );
    assert_invalid(
        "[[human_loop_caller]]\nprincipal = \"arn:aws:iam::123456789012:role/ml-app\"\nuses = [\"custom\"]\npublic_workforce = \"yes\"\n",
        4,
        "human_loop_caller[0].public_workforce",
        "expected a boolean",
    );
    assert_invalid(
        &format!("account_id = 123456789012\n{FLOW}"),
        1,
        "account_id",
        "in quotes",
    );
    assert_invalid(
        &format!("account_id = 1979-05-27\n{FLOW}"),
        1,
        "account_id",
        "found a datetime",
    );
}

#[test]
fn a_single_table_where_an_array_of_tables_is_expected_is_an_error() {
    let text = FLOW.replace("[[flow_definition]]", "[flow_definition]");
    assert_invalid(
        &text,
        2,
        "flow_definition",
        "write each one as `[[flow_definition]]`",
    );
    assert_invalid(
        "human_loop_caller = [\"arn\"]\n",
        1,
        "human_loop_caller[0]",
        "expected a table",
    );
}

// ---- missing keys -------------------------------------------------------

#[test]
fn every_required_flow_definition_key_is_reported_when_missing() {
    for key in ["name", "role", "input_buckets", "output"] {
        let text = format!("account_id = \"123456789012\"\n{}", flow_with(key, None));
        assert_invalid(
            &text,
            2,
            &format!("flow_definition[0].{key}"),
            "missing in a `[[flow_definition]]`",
        );
    }
}

#[test]
fn required_caller_and_preview_keys_are_reported_when_missing() {
    assert_invalid(
        "[[human_loop_caller]]\nuses = [\"custom\"]\n",
        1,
        "human_loop_caller[0].principal",
        "missing",
    );
    assert_invalid(
        "\n\n[[human_loop_caller]]\nprincipal = \"arn:aws:iam::123456789012:role/ml-app\"\n",
        3,
        "human_loop_caller[0].uses",
        "missing",
    );
    assert_invalid(
        "[[template_preview]]\ninput_buckets = []\n",
        1,
        "template_preview[0].role",
        "missing",
    );
    assert_invalid(
        "[[template_preview]]\nrole = \"A2IPreviewRole\"\n",
        1,
        "template_preview[0].input_buckets",
        "or `[]`",
    );
}

#[test]
fn a_spec_with_nothing_to_check_is_an_error() {
    assert_invalid("", 1, DOCUMENT, "nothing to check");
    assert_invalid(
        "account_id = \"123456789012\"\n",
        1,
        DOCUMENT,
        "nothing to check",
    );
    assert_invalid(
        "flow_definition = []\nhuman_loop_caller = []\n",
        1,
        DOCUMENT,
        "nothing to check",
    );
}

// ---- names ---------------------------------------------------------------

#[test]
fn an_empty_or_blank_flow_definition_name_is_an_error() {
    assert_invalid(
        &flow_with("name", Some("\"\"")),
        2,
        "flow_definition[0].name",
        "is empty",
    );
    assert_invalid(
        &flow_with("name", Some("\"   \"")),
        2,
        "flow_definition[0].name",
        "is empty",
    );
    assert_invalid(
        &flow_with("name", Some("\"a\\u001b[31m\"")),
        2,
        "flow_definition[0].name",
        "control characters",
    );
}

#[test]
fn duplicate_flow_definition_names_are_an_error_naming_the_first_line() {
    let text = format!("{FLOW}{FLOW}");
    assert_invalid(
        &text,
        9,
        "flow_definition[1].name",
        "already defined at line 3",
    );
}

#[test]
fn the_same_caller_twice_is_an_error() {
    let caller = "[[human_loop_caller]]\nprincipal = \"arn:aws:iam::123456789012:role/ml-app\"\nuses = [\"custom\"]\n";
    let text = format!("{caller}{caller}");
    assert_invalid(
        &text,
        5,
        "human_loop_caller[1].principal",
        "already listed at line 2",
    );
}

#[test]
fn two_previews_with_one_role_are_accepted() {
    let spec = ok(
        "[[template_preview]]\nrole = \"P\"\ninput_buckets = [\"bucket-a\"]\n[[template_preview]]\nrole = \"P\"\ninput_buckets = [\"bucket-b\"]\n",
    );
    assert_eq!(spec.template_previews.len(), 2);
}

// ---- account ids -----------------------------------------------------------

#[test]
fn account_id_must_be_twelve_digits() {
    for bad in [
        "12345678901",
        "1234567890123",
        "12345678901a",
        "",
        " 123456789012",
        "１２３４５６７８９０１２",
    ] {
        let text = format!("account_id = \"{bad}\"\n{FLOW}");
        assert_invalid(&text, 1, "account_id", "is not an AWS account id");
    }
    assert!(AccountId::parse("012345678901").is_ok());
}

#[test]
fn a_role_arn_in_another_account_than_account_id_is_an_error() {
    let text = format!(
        "account_id = \"111122223333\"\n{}",
        flow_with(
            "role",
            Some("\"arn:aws:iam::444455556666:role/A2IFlowRole\"")
        )
    );
    assert_invalid(
        &text,
        4,
        "flow_definition[0].role",
        "the role is in account `444455556666`, but `account_id` is `111122223333` (line 1)",
    );
}

#[test]
fn a_caller_in_another_account_than_account_id_is_an_error() {
    let text = "account_id = \"111122223333\"\n[[human_loop_caller]]\nprincipal = \"arn:aws:iam::444455556666:user/bob\"\nuses = [\"custom\"]\n";
    assert_invalid(
        text,
        3,
        "human_loop_caller[0].principal",
        "the caller is in account `444455556666`",
    );
}

#[test]
fn a_kms_key_arn_in_another_account_is_an_error() {
    let text = format!(
        "account_id = \"111122223333\"\n{}",
        flow_with(
            "kms_key",
            Some("\"arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab\"")
        )
    );
    assert_invalid(
        &text,
        7,
        "flow_definition[0].kms_key",
        "PutKeyPolicy cannot be called across accounts",
    );
}

#[test]
fn without_account_id_all_arns_must_name_one_account() {
    let text = format!(
        "{}[[human_loop_caller]]\nprincipal = \"arn:aws:iam::444455556666:role/ml-app\"\nuses = [\"custom\"]\n",
        flow_with(
            "role",
            Some("\"arn:aws:iam::111122223333:role/A2IFlowRole\"")
        )
    );
    assert_invalid(
        &text,
        7,
        "human_loop_caller[0].principal",
        "but the role at line 3 (`flow_definition[0].role`) is in account `111122223333`",
    );
}

#[test]
fn matching_accounts_bind_the_spec_to_that_account() {
    let text = format!(
        "{}[[human_loop_caller]]\nprincipal = \"arn:aws:iam::111122223333:role/ml-app\"\nuses = [\"custom\"]\n",
        flow_with(
            "role",
            Some("\"arn:aws:iam::111122223333:role/A2IFlowRole\"")
        )
    );
    let spec = ok(&text);
    assert_eq!(spec.account_id, None);
    assert_eq!(spec.bound_account().as_deref(), Some("111122223333"));
    assert_eq!(ok(FLOW).bound_account(), None);
}

// ---- bucket names --------------------------------------------------------

#[test]
fn valid_bucket_names_are_accepted() {
    for name in [
        "abc",
        "acme-a2i-input",
        "my.bucket.name",
        "a1b2",
        "1bucket",
        &"a".repeat(63),
        "192.168.1.1a",
    ] {
        assert_eq!(check_bucket_name(name), Ok(()), "{name}");
    }
}

#[test]
fn invalid_bucket_names_are_refused_with_the_rule_they_break() {
    let cases = [
        ("ab", "3 to 63"),
        (&"a".repeat(64) as &str, "3 to 63"),
        ("Acme-input", "lowercase"),
        ("acme_input", "`_` is not allowed"),
        ("acme input", "` ` is not allowed"),
        ("-acme", "start and end"),
        ("acme-", "start and end"),
        (".acme", "start and end"),
        ("acme..input", "two adjacent dots"),
        ("acme.-input", "next to a hyphen"),
        ("192.168.5.4", "IP address"),
        ("xn--acme", "`xn--`"),
        ("sthree-acme", "`sthree-`"),
        ("amzn-s3-demo-bucket", "`amzn-s3-demo-`"),
        ("acme-s3alias", "`-s3alias`"),
        ("acme--ol-s3", "`--ol-s3`"),
        ("acme.mrap", "`.mrap`"),
        ("acme--x-s3", "`--x-s3`"),
        ("acme--table-s3", "`--table-s3`"),
        ("s3://acme", "bare bucket name"),
        ("arn:aws:s3:::acme", "bare bucket name"),
    ];
    for (name, why) in cases {
        match check_bucket_name(name) {
            Ok(()) => panic!("`{name}` was accepted"),
            Err(m) => assert!(m.contains(why), "`{name}`: `{m}` does not say `{why}`"),
        }
    }
}

#[test]
fn an_invalid_input_bucket_names_its_index_and_line() {
    let text = format!(
        "{FLOW}\n[[template_preview]]\nrole = \"P\"\ninput_buckets = [\n  \"acme-a2i-input\",\n  \"Acme_Bad\",\n]\n"
    );
    assert_invalid(
        &text,
        12,
        "template_preview[0].input_buckets[1]",
        "not a valid S3 bucket name",
    );
}

// ---- output URLs -------------------------------------------------------------

#[test]
fn output_prefix_is_normalised_to_a_folder() {
    let cases = [
        ("s3://acme-a2i-output", "", "arn:aws:s3:::acme-a2i-output/*"),
        (
            "s3://acme-a2i-output/",
            "",
            "arn:aws:s3:::acme-a2i-output/*",
        ),
        (
            "s3://acme-a2i-output/reviews",
            "reviews/",
            "arn:aws:s3:::acme-a2i-output/reviews/*",
        ),
        (
            "s3://acme-a2i-output/reviews/",
            "reviews/",
            "arn:aws:s3:::acme-a2i-output/reviews/*",
        ),
        (
            "s3://acme-a2i-output/a/b/c//",
            "a/b/c/",
            "arn:aws:s3:::acme-a2i-output/a/b/c/*",
        ),
    ];
    for (url, prefix, resource) in cases {
        match parse_s3_url(url) {
            Ok(u) => {
                assert_eq!(u.bucket, "acme-a2i-output", "{url}");
                assert_eq!(u.prefix, prefix, "{url}");
                assert_eq!(u.write_resource(), resource, "{url}");
            }
            Err(m) => panic!("{url}: {m}"),
        }
    }
}

#[test]
fn an_output_that_is_not_an_s3_url_is_an_error() {
    let cases = [
        (
            "https://acme-a2i-output.s3.amazonaws.com/reviews/",
            "not an `s3://` URL",
        ),
        ("acme-a2i-output/reviews", "not an `s3://` URL"),
        ("S3://acme-a2i-output/", "not an `s3://` URL"),
        (
            "arn:aws:s3:::acme-a2i-output/reviews/*",
            "not an `s3://` URL",
        ),
        ("s3://", "names no bucket"),
        ("s3:///reviews", "names no bucket"),
        ("s3://Acme/reviews", "not a valid S3 bucket name"),
        ("s3://acme-a2i-output//reviews", "empty path segment"),
        ("s3://acme-a2i-output/a//b/", "empty path segment"),
        ("s3://acme-a2i-output/re*views/", "must not contain"),
        ("s3://acme-a2i-output/re?/", "must not contain"),
        ("s3://acme-a2i-output/${aws:username}/", "must not contain"),
        ("s3://acme-a2i-output/a\tb/", "control characters"),
    ];
    for (url, why) in cases {
        match parse_s3_url(url) {
            Ok(u) => panic!("`{url}` was accepted as {u:?}"),
            Err(m) => assert!(m.contains(why), "`{url}`: `{m}` does not say `{why}`"),
        }
    }
    assert_invalid(
        &flow_with("output", Some("\"acme-a2i-output/reviews/\"")),
        5,
        "flow_definition[0].output",
        "not an `s3://` URL",
    );
}

// ---- roles -------------------------------------------------------------------

#[test]
fn a_role_arn_gives_name_path_and_account() {
    let spec = ok(&flow_with(
        "role",
        Some("\"arn:aws:iam::123456789012:role/service-role/a2i/A2IFlowRole\""),
    ));
    let role = &spec.flow_definitions[0].role;
    assert_eq!(role.name, "A2IFlowRole");
    assert_eq!(role.path, "/service-role/a2i/");
    assert_eq!(role.account_id.as_deref(), Some("123456789012"));
    assert_eq!(
        role.written,
        "arn:aws:iam::123456789012:role/service-role/a2i/A2IFlowRole"
    );
}

#[test]
fn malformed_roles_are_refused() {
    let cases = [
        ("A2I Flow Role", "` ` is not allowed in a role name"),
        ("role/A2IFlowRole", "`/` is not allowed"),
        ("", "1 to 64"),
        (&"r".repeat(65) as &str, "1 to 64"),
        (
            "arn:aws:iam::123456789012:user/A2IFlowRole",
            "not a role ARN",
        ),
        (
            "arn:aws:iam::123456789012:group/A2IFlowRole",
            "not a role ARN",
        ),
        (
            "arn:aws:iam:us-east-1:123456789012:role/A2IFlowRole",
            "IAM ARNs have no region",
        ),
        (
            "arn:aws:iam::12345678901:role/A2IFlowRole",
            "not a 12-digit account id",
        ),
        ("arn:aws:s3:::acme", "not an IAM ARN"),
        (
            "arn:aws-cn:iam::123456789012:role/A2IFlowRole",
            "only the `aws` partition",
        ),
        (
            "arn:aws-foo:iam::123456789012:role/A2IFlowRole",
            "unknown partition",
        ),
        ("arn:aws:iam::123456789012:role/", "1 to 64"),
        (
            "arn:aws:iam::123456789012:role/bad path/A2IFlowRole",
            "not a valid IAM path",
        ),
        (
            "arn:aws:iam::123456789012:A2IFlowRole",
            "names no role or user",
        ),
        (
            "arn:aws:sts::123456789012:assumed-role/A2IFlowRole/session",
            "is a session",
        ),
        ("arn:aws:iam", "not an ARN"),
    ];
    for (role, why) in cases {
        match RoleNameOrArn::parse(role).map_err(|e| e.to_string()) {
            Ok(r) => panic!("`{role}` was accepted as {r:?}"),
            Err(m) => assert!(m.contains(why), "`{role}`: `{m}` does not say `{why}`"),
        }
    }
    assert_invalid(
        &flow_with("role", Some("\"A2I/Flow\"")),
        3,
        "flow_definition[0].role",
        "not a role name or role ARN",
    );
}

#[test]
fn role_names_with_every_allowed_character_are_accepted() {
    for name in ["A2IFlowRole", "a+b=c,d.e@f_g-h", &"r".repeat(64)] {
        assert!(RoleNameOrArn::parse(name).is_ok(), "{name}");
    }
}

// ---- callers ---------------------------------------------------------------

#[test]
fn caller_principals_must_be_role_or_user_arns() {
    let cases = [
        ("ml-app", "is not an ARN"),
        (
            "arn:aws:iam::123456789012:group/admins",
            "a caller must be a role or a user",
        ),
        ("arn:aws:iam::123456789012:root", "names no role or user"),
        (
            "arn:aws:sts::123456789012:assumed-role/ml-app/i-0abc",
            "arn:aws:iam::123456789012:role/ml-app",
        ),
        (
            "arn:aws:iam::123456789012:user/bad name",
            "not allowed in a user name",
        ),
        (
            "arn:aws:iam::ACCOUNT:user/alice",
            "not a 12-digit account id",
        ),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:f",
            "not an IAM ARN",
        ),
    ];
    for (arn, why) in cases {
        match IamPrincipalArn::parse(arn).map_err(|e| e.to_string()) {
            Ok(p) => panic!("`{arn}` was accepted as {:?} {}", p.kind, p.name),
            Err(m) => assert!(m.contains(why), "`{arn}`: `{m}` does not say `{why}`"),
        }
    }
    assert_invalid(
        "[[human_loop_caller]]\nprincipal = \"arn:aws:iam::123456789012:group/admins\"\nuses = [\"custom\"]\n",
        2,
        "human_loop_caller[0].principal",
        "must be a role or a user",
    );
}

#[test]
fn caller_arns_with_paths_are_accepted() {
    match IamPrincipalArn::parse("arn:aws:iam::123456789012:role/apps/ml-app") {
        Ok(p) => assert_eq!((p.kind, p.name.as_str()), (PrincipalKind::Role, "ml-app")),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn arns_in_other_partitions_are_refused_up_front() {
    // The grants and the AWS managed policies are named in `aws`: a spec
    // for another partition would never converge, so it is refused.
    for arn in [
        "arn:aws-cn:iam::123456789012:user/alice",
        "arn:aws-us-gov:iam::123456789012:role/apps/ml-app",
    ] {
        let message = IamPrincipalArn::parse(arn).unwrap_err().to_string();
        assert!(
            message.contains("only the `aws` partition is supported (not `aws-"),
            "{message}"
        );
    }
    let key =
        "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab";
    let message = KmsKeyRef::parse(key).unwrap_err().to_string();
    assert!(message.contains("only the `aws` partition"), "{message}");
}

#[test]
fn uses_must_be_known_and_not_empty() {
    let caller = |uses: &str| {
        format!(
            "[[human_loop_caller]]\nprincipal = \"arn:aws:iam::123456789012:role/ml-app\"\nuses = {uses}\n"
        )
    };
    assert_invalid(&caller("[]"), 3, "human_loop_caller[0].uses", "is empty");
    assert_invalid(
        &caller("[\"custom\", \"comprehend\"]"),
        3,
        "human_loop_caller[0].uses[1]",
        "unknown use `comprehend`",
    );
    assert_invalid(
        &caller("[\"Custom\"]"),
        3,
        "human_loop_caller[0].uses[0]",
        "expected one of `custom`, `textract`, `rekognition`",
    );
}

// ---- KMS keys ------------------------------------------------------------------

#[test]
fn every_form_of_kms_key_is_accepted() {
    let cases = [
        ("1234abcd-12ab-34cd-56ef-1234567890ab", None),
        ("mrk-1234abcd12ab34cd56ef1234567890ab", None),
        ("alias/a2i-output", None),
        ("alias/team/a2i_output", None),
        (
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            Some("123456789012"),
        ),
        (
            "arn:aws:kms:eu-central-1:123456789012:alias/a2i-output",
            Some("123456789012"),
        ),
    ];
    for (key, account) in cases {
        let parsed = KmsKeyRef::parse(key).map(|k| k.account().map(|a| a.as_str().to_string()));
        assert_eq!(parsed, Ok(account.map(String::from)), "{key}");
    }
}

#[test]
fn malformed_kms_keys_are_refused() {
    let cases = [
        ("a2i-output", "is not a KMS key"),
        ("1234abcd-12ab-34cd-56ef-1234567890a", "is not a KMS key"),
        ("alias/", "an alias name is"),
        ("alias/a2i output", "an alias name is"),
        ("alias/aws/s3", "AWS managed key"),
        (
            "arn:aws:kms:us-east-1:123456789012:alias/aws/s3",
            "AWS managed key",
        ),
        (
            "arn:aws:kms:us-east-1:123456789012:key/not-a-uuid",
            "is not a key id",
        ),
        (
            "arn:aws:kms:useast1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "is not a region",
        ),
        (
            "arn:aws:kms:us-east-1:1234:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "12-digit account id",
        ),
        (
            "arn:aws:kms:us-east-1:123456789012:grant/abc",
            "is not a KMS key",
        ),
        ("arn:aws:iam::123456789012:role/x", "is not a KMS key"),
        (
            "arn:aws-xx:kms:us-east-1:123456789012:alias/a",
            "unknown partition",
        ),
    ];
    for (key, why) in cases {
        match KmsKeyRef::parse(key).map_err(|e| e.to_string()) {
            Ok(a) => panic!("`{key}` was accepted ({a:?})"),
            Err(m) => assert!(m.contains(why), "`{key}`: `{m}` does not say `{why}`"),
        }
    }
    assert_invalid(
        &flow_with("kms_key", Some("\"alias/aws/s3\"")),
        6,
        "flow_definition[0].kms_key",
        "AWS managed key",
    );
}

// ---- contradictory roles -------------------------------------------------

fn two_flows(role_a: &str, role_b: &str) -> String {
    format!(
        "{}{}",
        flow_with("role", Some(&format!("\"{role_a}\""))),
        flow_with("role", Some(&format!("\"{role_b}\"")))
            .replace("invoice-review", "receipt-review")
    )
}

#[test]
fn one_role_spelled_in_two_cases_is_contradictory() {
    assert_invalid(
        &two_flows("A2IFlowRole", "a2iflowrole"),
        8,
        "flow_definition[1].role",
        "is written `A2IFlowRole` at line 3",
    );
}

#[test]
fn one_role_with_two_paths_is_contradictory() {
    let text = two_flows(
        "arn:aws:iam::123456789012:role/A2IFlowRole",
        "arn:aws:iam::123456789012:role/service-role/A2IFlowRole",
    );
    assert_invalid(
        &text,
        8,
        "flow_definition[1].role",
        "has path `/service-role/` here but `/` at line 3",
    );
}

#[test]
fn one_role_in_two_accounts_is_contradictory() {
    let text = two_flows(
        "arn:aws:iam::111122223333:role/A2IFlowRole",
        "arn:aws:iam::444455556666:role/A2IFlowRole",
    );
    assert_invalid(
        &text,
        8,
        "flow_definition[1].role",
        "is in account `444455556666` here but in account `111122223333` at line 3",
    );
}

#[test]
fn a_caller_role_arn_with_another_path_than_the_flow_role_is_contradictory() {
    let text = format!(
        "{}[[human_loop_caller]]\nprincipal = \"arn:aws:iam::123456789012:role/apps/A2IFlowRole\"\nuses = [\"custom\"]\n",
        flow_with(
            "role",
            Some("\"arn:aws:iam::123456789012:role/A2IFlowRole\"")
        )
    );
    assert_invalid(
        &text,
        7,
        "human_loop_caller[0].principal",
        "has path `/apps/` here",
    );
}

#[test]
fn a_preview_role_spelled_differently_from_the_flow_role_is_contradictory() {
    let text = format!("{FLOW}[[template_preview]]\nrole = \"A2IFLOWROLE\"\ninput_buckets = []\n");
    assert_invalid(
        &text,
        8,
        "template_preview[0].role",
        "IAM role names are case-insensitive",
    );
}

#[test]
fn a_bare_role_name_takes_the_path_of_an_arn_for_the_same_role() {
    let text = format!(
        "{}[[template_preview]]\nrole = \"arn:aws:iam::123456789012:role/a2i/A2IFlowRole\"\ninput_buckets = []\n",
        flow_with("role", Some("\"A2IFlowRole\""))
    );
    let spec = ok(&text);
    assert_eq!(spec.flow_definitions[0].role.path, "/a2i/");
    assert_eq!(
        spec.flow_definitions[0].role.account_id, None,
        "a bare name states no account"
    );
    assert_eq!(spec.template_previews[0].role.path, "/a2i/");
}

#[test]
fn a_shared_role_with_different_keys_buckets_and_outputs_is_not_contradictory() {
    let a = flow_with("kms_key", Some("\"alias/key-a\""));
    let b = flow_with("kms_key", Some("\"alias/key-b\""))
        .replace("invoice-review", "receipt-review")
        .replace("acme-a2i-input", "acme-a2i-receipts")
        .replace("reviews/", "receipts/");
    let spec = ok(&format!("{a}{b}"));
    assert_eq!(spec.flow_definitions.len(), 2);
}

#[test]
fn a_role_named_by_name_and_by_arn_is_not_contradictory() {
    let spec = ok(&two_flows(
        "A2IFlowRole",
        "arn:aws:iam::123456789012:role/A2IFlowRole",
    ));
    assert_eq!(
        spec.flow_definitions[0].role.name,
        spec.flow_definitions[1].role.name
    );
}

// ---- helpers ---------------------------------------------------------------

#[test]
fn grammar_errors_name_the_rule_that_failed() {
    assert_eq!(
        BucketName::parse("Acme-input"),
        Err(GrammarError::BucketName {
            value: "Acme-input".into(),
            rule: BucketRule::Uppercase
        })
    );
    assert_eq!(
        RoleName::parse(""),
        Err(GrammarError::RoleName {
            value: String::new(),
            rule: IamNameRule::Length { what: "role" }
        })
    );
    assert!(matches!(
        IamPrincipalArn::parse("arn:aws:iam::123456789012:user/a b"),
        Err(GrammarError::ArnName {
            rule: IamNameRule::Character {
                what: "user",
                c: ' '
            },
            ..
        })
    ));
    assert!(matches!(
        KmsKeyRef::parse("alias/aws/s3"),
        Err(GrammarError::ManagedKey { .. })
    ));
    assert_eq!(
        KmsKeyRef::parse("arn:aws:kms:us-east-1:123456789012:alias/a")
            .ok()
            .and_then(|k| k.account().cloned()),
        AccountId::parse("123456789012").ok()
    );
}

#[test]
fn suggestions_are_offered_only_for_near_misses() {
    assert_eq!(suggest("kms_keys", KEYS_FLOW), Some("kms_key"));
    assert_eq!(suggest("Role", KEYS_FLOW), Some("role"));
    assert_eq!(suggest("tags", KEYS_FLOW), None);
    assert_eq!(strsim::levenshtein("kitten", "sitting"), 3);
}
