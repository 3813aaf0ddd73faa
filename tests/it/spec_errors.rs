//! The wording of spec errors, as users see them: one snapshot of a
//! representative broken spec per error kind. A change here is a
//! user-visible change.

use a2i_fix::spec;

const FLOW: &str = r#"[[flow_definition]]
name = "invoice-review"
role = "A2IFlowRole"
input_buckets = ["acme-a2i-input"]
output = "s3://acme-a2i-output/reviews/"
"#;

const CALLER: &str = r#"[[human_loop_caller]]
principal = "arn:aws:iam::123456789012:role/ml-app"
uses = ["custom"]
"#;

/// Each broken spec with a short description, and the error it gives.
fn render(cases: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (what, text) in cases {
        let message = match spec::parse(text, "a2i.toml") {
            Ok(_) => "(no error)".to_string(),
            Err(e) => e.to_string(),
        };
        out.push_str(&format!("# {what}\n{message}\n\n"));
    }
    out
}

#[test]
fn structural_errors_read_well() {
    let cases = vec![
        ("unknown key", format!("{FLOW}outptu = \"s3://b/\"\n")),
        (
            "missing key",
            FLOW.replace("output = \"s3://acme-a2i-output/reviews/\"\n", ""),
        ),
        (
            "wrong type",
            FLOW.replace("[\"acme-a2i-input\"]", "\"acme-a2i-input\""),
        ),
        (
            "account id as integer",
            format!("account_id = 123456789012\n{FLOW}"),
        ),
        (
            "single table instead of array",
            FLOW.replace("[[flow_definition]]", "[flow_definition]"),
        ),
        ("toml syntax", format!("{FLOW}kms_key = \"alias/x\n")),
        (
            "nothing to check",
            "account_id = \"123456789012\"\n".to_string(),
        ),
        ("duplicate flow name", format!("{FLOW}\n{FLOW}")),
        ("duplicate caller", format!("{CALLER}\n{CALLER}")),
    ];
    insta::assert_snapshot!(render(&cases));
}

#[test]
fn value_errors_read_well() {
    let cases = vec![
        ("empty name", FLOW.replace("\"invoice-review\"", "\"\"")),
        ("bucket name", FLOW.replace("acme-a2i-input", "Acme_Input")),
        (
            "output not s3 url",
            FLOW.replace(
                "s3://acme-a2i-output/reviews/",
                "https://acme-a2i-output.s3.amazonaws.com/",
            ),
        ),
        ("output wildcard", FLOW.replace("reviews/", "reviews/*")),
        (
            "role name",
            FLOW.replace("\"A2IFlowRole\"", "\"A2I Flow Role\""),
        ),
        (
            "role arn of a user",
            FLOW.replace(
                "\"A2IFlowRole\"",
                "\"arn:aws:iam::123456789012:user/A2IFlowRole\"",
            ),
        ),
        (
            "caller session arn",
            CALLER.replace(
                "arn:aws:iam::123456789012:role/ml-app",
                "arn:aws:sts::123456789012:assumed-role/ml-app/i-0abc",
            ),
        ),
        (
            "caller not an arn",
            CALLER.replace("arn:aws:iam::123456789012:role/ml-app", "ml-app"),
        ),
        (
            "unknown use",
            CALLER.replace("\"custom\"", "\"comprehend\""),
        ),
        ("empty uses", CALLER.replace("[\"custom\"]", "[]")),
        ("account id", format!("account_id = \"1234\"\n{FLOW}")),
        ("kms key", format!("{FLOW}kms_key = \"a2i-output\"\n")),
        (
            "aws managed key",
            format!("{FLOW}kms_key = \"alias/aws/s3\"\n"),
        ),
    ];
    insta::assert_snapshot!(render(&cases));
}

#[test]
fn consistency_errors_read_well() {
    let second = FLOW.replace("invoice-review", "receipt-review");
    let cases = vec![
        (
            "role in another account than account_id",
            format!(
                "account_id = \"111122223333\"\n{}",
                FLOW.replace(
                    "\"A2IFlowRole\"",
                    "\"arn:aws:iam::444455556666:role/A2IFlowRole\""
                )
            ),
        ),
        (
            "caller in another account than the role",
            format!(
                "{}{CALLER}",
                FLOW.replace(
                    "\"A2IFlowRole\"",
                    "\"arn:aws:iam::111122223333:role/A2IFlowRole\""
                )
            ),
        ),
        (
            "key in another account",
            format!(
                "account_id = \"123456789012\"\n{FLOW}kms_key = \"arn:aws:kms:us-east-1:444455556666:alias/a2i\"\n"
            ),
        ),
        (
            "role in two cases",
            format!("{FLOW}{}", second.replace("A2IFlowRole", "a2iflowrole")),
        ),
        (
            "role with two paths",
            format!(
                "{}{}",
                FLOW.replace(
                    "\"A2IFlowRole\"",
                    "\"arn:aws:iam::123456789012:role/A2IFlowRole\""
                ),
                second.replace(
                    "\"A2IFlowRole\"",
                    "\"arn:aws:iam::123456789012:role/service-role/A2IFlowRole\""
                )
            ),
        ),
        (
            "role in two accounts",
            format!(
                "{}{}",
                FLOW.replace(
                    "\"A2IFlowRole\"",
                    "\"arn:aws:iam::111122223333:role/A2IFlowRole\""
                ),
                second.replace(
                    "\"A2IFlowRole\"",
                    "\"arn:aws:iam::444455556666:role/A2IFlowRole\""
                )
            ),
        ),
    ];
    insta::assert_snapshot!(render(&cases));
}
