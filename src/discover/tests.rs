use serde_json::json;

use super::evidence::buckets_in_text;
use super::*;

fn flow(name: &str) -> FlowFound {
    FlowFound {
        name: name.to_string(),
        arn: format!("arn:aws:sagemaker:us-east-1:123456789012:flow-definition/{name}"),
        status: "Active".to_string(),
        failure_reason: None,
        role_arn: "arn:aws:iam::123456789012:role/A2IFlowRole".to_string(),
        output: "s3://acme-a2i-output/reviews".to_string(),
        kms_key: None,
        source: RequestSource::Custom,
        workteam_arn: None,
        input_buckets: Vec::new(),
        samples_note: None,
    }
}

fn discovered(flows: Vec<FlowFound>) -> Discovered {
    Discovered {
        account_id: Some("123456789012".to_string()),
        region: "us-east-1".to_string(),
        date: "2026-12-01".to_string(),
        flows,
        skipped: Vec::new(),
    }
}

#[test]
fn textract_and_rekognition_results_name_their_bucket() {
    let textract = json!({"inputContent": {"aiServiceRequest": {"document": {"s3Object": {"bucket": "acme-a2i-input", "name": "a.png"}}}}});
    assert_eq!(
        buckets_in_output(&textract, &RequestSource::Textract),
        ["acme-a2i-input"]
    );
    let rekognition = json!({"inputContent": {"aiServiceRequest": {"image": {"s3Object": {"bucket": "acme-images", "name": "a.png"}}}}});
    assert_eq!(
        buckets_in_output(&rekognition, &RequestSource::Rekognition),
        ["acme-images"]
    );
    // The Textract path is not read for a Rekognition flow.
    assert!(buckets_in_output(&textract, &RequestSource::Rekognition).is_empty());
}

#[test]
fn custom_results_name_buckets_by_url_anywhere_in_the_input() {
    let result = json!({"inputContent": {
        "taskObject": "s3://acme-a2i-input/cats/1.jpg",
        "more": ["https://acme-receipts.s3.us-east-1.amazonaws.com/r.png?X-Amz-Signature=1",
                 {"deep": "see https://s3.eu-west-1.amazonaws.com/path-style-bucket/k.png"}],
        "virtual": "https://my.dotted.bucket.s3.amazonaws.com/k",
        "dash": "https://s3-us-west-2.amazonaws.com/old-style/k",
        "again": "s3://acme-a2i-input/other.jpg",
        "not_s3": "https://example.com/s3://",
        "bad": "s3://Not_A_Bucket/k"
    }});
    assert_eq!(
        buckets_in_output(&result, &RequestSource::Custom),
        [
            "acme-a2i-input",
            "acme-receipts",
            "path-style-bucket",
            "my.dotted.bucket",
            "old-style"
        ]
    );
}

#[test]
fn input_content_given_as_json_text_is_parsed() {
    let result = json!({"inputContent": "{\"taskObject\": \"s3://acme-a2i-input/x.jpg\"}"});
    assert_eq!(
        buckets_in_output(&result, &RequestSource::Custom),
        ["acme-a2i-input"]
    );
    assert!(buckets_in_output(&json!({"humanAnswers": []}), &RequestSource::Custom).is_empty());
}

#[test]
fn urls_in_plain_text() {
    assert_eq!(buckets_in_text("s3://b-1"), ["b-1"]);
    assert!(buckets_in_text("https://s3.amazonaws.com/").is_empty());
    assert!(buckets_in_text("https://example.com/x").is_empty());
}

#[test]
fn failure_reasons_point_at_requirements() {
    let hint = |r: &str| failure_hint(r).map(|h| h.requirements);
    assert_eq!(
        hint("Unable to assume role arn:aws:iam::123456789012:role/A2IFlowRole"),
        Some(vec!["R4"])
    );
    assert_eq!(
        hint("Access denied calling kms:GenerateDataKey on the output key"),
        Some(vec!["R5"])
    );
    assert_eq!(
        hint("The role cannot write to S3 output path s3://b/p (s3:PutObject denied)"),
        Some(vec!["R3"])
    );
    assert_eq!(
        hint("The role cannot read input objects from S3 (s3:GetObject)"),
        Some(vec!["R2"])
    );
    assert_eq!(hint("Workteam does not exist"), None);
}

#[test]
fn public_workforce_is_judged_by_the_arn_path_not_the_account() {
    let mut f = flow("f");
    f.workteam_arn =
        Some("arn:aws:sagemaker:us-west-2:394669845002:workteam/public-crowd/default".into());
    assert!(f.public_workforce());
    f.workteam_arn =
        Some("arn:aws:sagemaker:us-west-2:394669845002:workteam/private-crowd/team".into());
    assert!(!f.public_workforce());
}

#[test]
fn input_bucket_flags_are_checked() {
    assert_eq!(
        parse_input_bucket("invoice-review=acme-a2i-input"),
        Ok(("invoice-review".into(), "acme-a2i-input".into()))
    );
    assert!(
        parse_input_bucket("invoice-review")
            .unwrap_err()
            .contains("FLOW=BUCKET")
    );
    assert!(parse_input_bucket("=b").is_err());
    assert!(
        parse_input_bucket("f=Bad_Bucket")
            .unwrap_err()
            .contains("Bad_Bucket")
    );
}

#[test]
fn a_new_file_loads_and_marks_unknown_inputs() {
    let mut known = flow("invoice-review");
    known.source = RequestSource::Textract;
    known.add_input(
        "acme-a2i-input",
        Evidence::Sample {
            key: "reviews/invoice-review/2026/output.json".into(),
        },
    );
    let mut keyed = flow("claims-review");
    keyed.kms_key =
        Some("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab".into());
    let (text, notes) = render(None, &discovered(vec![keyed, known])).expect("renders");
    let spec = crate::spec::parse(&text, "t").expect("loads");
    assert_eq!(spec.flow_definitions.len(), 2);
    assert_eq!(spec.account_id.as_deref(), Some("123456789012"));
    assert_eq!(notes.added, ["claims-review", "invoice-review"]);
    assert_eq!(unknown_input_flows(&text), ["claims-review"]);
    assert!(text.contains("# from DescribeFlowDefinition invoice-review (RoleArn), 2026-12-01"));
    assert!(text.contains("# [[human_loop_caller]]"), "{text}");
}

#[test]
fn merging_keeps_hand_written_entries_and_comments_and_replaces_its_own() {
    let existing = "\
# my notes
account_id = \"123456789012\"

# the invoice flow, reviewed by Ana
[[flow_definition]]
name = \"invoice-review\"
role = \"OldRole\" # old
input_buckets = [\"hand-bucket\"]
output = \"s3://old/out\"
kms_key = \"alias/old\"

[[human_loop_caller]]
principal = \"arn:aws:iam::123456789012:role/ml-app\" # the app
uses = [\"textract\"]

[[flow_definition]]
name = \"gone-review\"
role = \"A2IFlowRole\"
input_buckets = []
output = \"s3://acme-a2i-output/gone\"
";
    let mut f = flow("invoice-review");
    f.add_input("acme-a2i-input", Evidence::Flag);
    let d = discovered(vec![f]);
    let (first, notes) = render(Some(existing), &d).expect("merges");
    assert_eq!(notes.updated, ["invoice-review"]);
    assert_eq!(notes.not_in_account, ["gone-review"]);
    for kept in [
        "# my notes",
        "# the invoice flow, reviewed by Ana",
        "# the app",
        "# old",
        "gone-review",
    ] {
        assert!(first.contains(kept), "lost `{kept}`:\n{first}");
    }
    let spec = crate::spec::parse(&first, "t").expect("loads");
    let inv = &spec.flow_definitions[0];
    assert_eq!(inv.role.name, "A2IFlowRole");
    assert_eq!(inv.input_buckets, ["hand-bucket", "acme-a2i-input"]);
    assert_eq!(inv.kms_key, None);
    assert_eq!(spec.human_loop_callers.len(), 1);
    // A second run changes nothing: discover's comments are replaced, not stacked.
    let (second, _) = render(Some(&first), &d).expect("merges again");
    assert_eq!(first, second);
}

#[test]
fn another_account_in_the_file_is_refused() {
    let err = render(
        Some("account_id = \"111111111111\"\n"),
        &discovered(vec![flow("f")]),
    )
    .unwrap_err();
    assert!(err.contains("`111111111111`"), "{err}");
}

#[test]
fn aws_managed_keys_are_left_out_with_a_comment() {
    let mut f = flow("f");
    f.kms_key = Some("alias/aws/s3".into());
    let (text, _) = render(None, &discovered(vec![f])).expect("renders");
    assert!(
        crate::spec::parse(&text, "t")
            .expect("loads")
            .flow_definitions[0]
            .kms_key
            .is_none()
    );
    assert!(text.contains("AWS managed key `alias/aws/s3`"));
}

#[test]
fn a_flow_the_spec_refuses_is_left_out_with_why() {
    let mut f = flow("bad");
    f.output = "https://not-s3/x".into();
    let (_, notes) = render(None, &discovered(vec![flow("good"), f])).expect("renders");
    assert_eq!(notes.left_out.len(), 1);
    assert_eq!(notes.left_out[0].0, "bad");
    assert!(
        notes.left_out[0].1.contains("output"),
        "{:?}",
        notes.left_out
    );
}

#[test]
fn unknown_marker_after_the_value_counts_and_listed_buckets_win() {
    let text = "[[flow_definition]]\nname = \"a\"\nrole = \"R\"\ninput_buckets = [] # UNKNOWN\noutput = \"s3://b\"\n\n[[flow_definition]]\nname = \"b\"\nrole = \"R\"\n# UNKNOWN once\ninput_buckets = [\"x\"]\noutput = \"s3://b\"\n";
    assert_eq!(unknown_input_flows(text), ["a"]);
    assert!(unknown_input_flows("not toml [").is_empty());
}
