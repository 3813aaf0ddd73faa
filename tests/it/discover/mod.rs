//! `discover` and `plan --discover` through the binary, against moto (S3,
//! IAM, KMS: the output samples and the account) and the fake SageMaker
//! (flow definitions), reached through `AWS_ENDPOINT_URL_SAGEMAKER`.

mod model;

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::support::fake_sagemaker::{FakeFault, FakeFlow, FakeSageMaker, PUBLIC_CROWD};
use crate::support::*;

const TEXTRACT: &str = "AWS/Textract/AnalyzeDocument/Forms/V1";
const REKOGNITION: &str = "AWS/Rekognition/DetectModerationLabels/Image/V3";
const BROKEN_REASON: &str = "Unable to assume role arn:aws:iam::123456789012:role/A2IFlowRole: SageMaker is not authorized to perform sts:AssumeRole";

/// An account with six flow definitions: Textract, Rekognition, a custom
/// task, a public-workforce one, one with KMS-encrypted output, one Failed.
struct Setup {
    moto: Moto,
    fake: FakeSageMaker,
    dir: tempfile::TempDir,
}

fn flows(key_arn: &str) -> Vec<FakeFlow> {
    let role = flow_role_arn();
    let mut invoice = FakeFlow::new("invoice-review", &role, "s3://acme-a2i-output/textract");
    invoice.managed_source = Some(TEXTRACT.into());
    let mut moderation = FakeFlow::new(
        "moderation-review",
        &role,
        "s3://acme-a2i-output/moderation/",
    );
    moderation.managed_source = Some(REKOGNITION.into());
    let product = FakeFlow::new("product-review", &role, "s3://acme-a2i-output/reviews");
    let mut sentiment = FakeFlow::new("sentiment-review", &role, "s3://acme-a2i-output/sentiment");
    sentiment.workteam_arn = PUBLIC_CROWD.into();
    let mut claims = FakeFlow::new("claims-review", &role, "s3://acme-a2i-output/claims");
    claims.kms_key = Some(key_arn.into());
    let mut broken = FakeFlow::new("broken-review", &role, "s3://acme-a2i-output/broken");
    broken.status = "Failed".into();
    broken.failure_reason = Some(BROKEN_REASON.into());
    vec![invoice, moderation, product, sentiment, claims, broken]
}

/// A result A2I would write.
fn result(input: Value) -> String {
    json!({
        "flowDefinitionArn": "arn:aws:sagemaker:us-east-1:123456789012:flow-definition/x",
        "humanAnswers": [{"answerContent": {"ok": true}, "workerId": "w1"}],
        "humanLoopName": "loop",
        "inputContent": input,
    })
    .to_string()
}

fn setup() -> Setup {
    let moto = Moto::start();
    let key_arn = block_on(async {
        let s = moto.seed().await;
        for b in [INPUT, RECEIPTS, OUTPUT] {
            s.bucket(b).await;
        }
        let (key_id, key_arn) = s.key(None).await;
        s.alias(KEY_ALIAS, &key_id).await;
        let put = |key: &str, body: String| {
            let s3 = s.c.s3.clone();
            let key = key.to_string();
            async move {
                s3.put_object()
                    .bucket(OUTPUT)
                    .key(&key)
                    .body(body.into_bytes().into())
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
            }
        };
        let doc = |bucket: &str| json!({"aiServiceRequest": {"document": {"s3Object": {"bucket": bucket, "name": "invoice.png"}}}});
        put(
            "textract/invoice-review/2026/11/30/10/00/00/loop-a/output.json",
            result(doc(INPUT)),
        )
        .await;
        put(
            "textract/invoice-review/2026/12/01/09/15/42/loop-b/output.json",
            result(doc(RECEIPTS)),
        )
        .await;
        put(
            "moderation/moderation-review/2026/12/01/08/00/00/loop-c/output.json",
            result(json!({"aiServiceRequest": {"image": {"s3Object": {"bucket": INPUT, "name": "photo.jpg"}}}})),
        )
        .await;
        put(
            "reviews/product-review/2026/12/01/07/30/00/loop-d/output.json",
            result(json!({"taskObject": format!("s3://{INPUT}/products/1.jpg")})),
        )
        .await;
        key_arn
    });
    let fake = FakeSageMaker::start(flows(&key_arn));
    let dir = tempfile::tempdir().expect("temp dir");
    Setup { moto, fake, dir }
}

impl Setup {
    fn cmd(&self) -> Command {
        let mut cmd = a2i_fix_in(&self.moto, self.dir.path());
        cmd.env("AWS_ENDPOINT_URL_SAGEMAKER", &self.fake.endpoint);
        cmd
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// `discover` with the samples read and the KMS flow's bucket given.
    fn discover(&self, out: &Path) -> Output {
        run(self
            .cmd()
            .args(["discover", "--sample-output", "--input-bucket"])
            .arg(format!("claims-review={RECEIPTS}"))
            .arg("--out")
            .arg(out))
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn snapshot_filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"\b\d{4}-\d{2}-\d{2}\b", "[DATE]"),
        (r"/\S*?/a2i\.toml", "[DIR]/a2i.toml"),
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[KEY_ID]",
        ),
    ]
}

#[test]
fn discover_writes_the_expected_file_and_validate_accepts_it() {
    let s = setup();
    let out = s.path("a2i.toml");
    let o = s.discover(&out).expect_code(0);
    let text = read(&out);
    insta::with_settings!({
        filters => snapshot_filters(),
        snapshot_path => "../snapshots",
        description => "a2i-fix discover --sample-output --input-bucket claims-review=acme-a2i-receipts",
        omit_expression => true,
    }, {
        insta::assert_snapshot!("discover_file", text);
        insta::assert_snapshot!("discover_report", o.stdout);
    });
    // Values read back from the file, not from the report.
    let spec = a2i_fix::spec::load(&out).expect("the written file loads");
    let by_name = |n: &str| {
        spec.flow_definitions
            .iter()
            .find(|f| f.name == n)
            .unwrap_or_else(|| panic!("no flow `{n}` in the file"))
    };
    assert_eq!(
        by_name("invoice-review").input_buckets,
        [RECEIPTS, INPUT],
        "newest result first"
    );
    assert_eq!(by_name("moderation-review").input_buckets, [INPUT]);
    assert_eq!(by_name("product-review").input_buckets, [INPUT]);
    assert_eq!(by_name("claims-review").input_buckets, [RECEIPTS]);
    assert!(by_name("sentiment-review").input_buckets.is_empty());
    assert!(
        by_name("claims-review")
            .kms_key
            .as_deref()
            .is_some_and(|k| k.starts_with("arn:aws:kms:"))
    );
    assert_eq!(by_name("invoice-review").output.prefix, "textract/");
    assert_eq!(spec.account_id.as_deref(), Some(ACCOUNT_ID));
    assert!(
        o.stdout.contains("R4"),
        "the Failed flow's fix is named:\n{}",
        o.all()
    );
    let v = run(s.cmd().args(["validate", "--spec"]).arg(&out)).expect_code(0);
    assert!(v.stdout.contains("6 flow definition(s)"), "{}", v.all());
    // Pagination: six flows on pages of two.
    assert_eq!(s.fake.calls("ListFlowDefinitions"), 3);
    assert_eq!(s.fake.calls("DescribeFlowDefinition"), 6);
}

#[test]
fn the_fake_sagemaker_fits_the_service_model() {
    let s = setup();
    s.discover(&s.path("a2i.toml")).expect_code(0);
    // A missing flow definition, and a page size the SDK sets itself.
    block_on(async {
        let c = clients_for(&s.fake.endpoint).await;
        let missing = c
            .sagemaker
            .describe_flow_definition()
            .flow_definition_name("nope")
            .send()
            .await;
        assert!(
            missing
                .as_ref()
                .err()
                .and_then(|e| e.as_service_error())
                .is_some_and(|e| e.is_resource_not_found()),
            "{missing:?}"
        );
        let page = c
            .sagemaker
            .list_flow_definitions()
            .max_results(1)
            .send()
            .await
            .expect("a page");
        assert_eq!(page.flow_definition_summaries().len(), 1);
        assert!(page.next_token().is_some());
    });
    s.fake.fail("ListFlowDefinitions", FakeFault::Denied);
    run(s.cmd().args(["discover", "--out", "-"])).expect_code(1);
    model::assert_fits_model(&s.fake);
}

fn changes_of(o: &Output) -> (Value, Value) {
    let plan = o.json();
    (plan["changes"].clone(), plan["warnings"].clone())
}

#[test]
fn plan_discover_plans_the_same_as_plan_on_the_written_file() {
    let s = setup();
    let out = s.path("a2i.toml");
    s.discover(&out).expect_code(0);
    let from_file = run(s.cmd().args(["plan", "--json", "--spec"]).arg(&out)).expect_code(0);
    let in_memory = run(s
        .cmd()
        .args([
            "plan",
            "--json",
            "--discover",
            "--sample-output",
            "--input-bucket",
        ])
        .arg(format!("claims-review={RECEIPTS}"))
        .args(["--spec", "no-such-file.toml"]))
    .expect_code(0);
    let (changes, warnings) = changes_of(&from_file);
    assert!(
        changes.as_array().is_some_and(|c| !c.is_empty()),
        "{}",
        from_file.all()
    );
    assert_eq!(changes_of(&in_memory), (changes, warnings));
    assert!(
        !s.path("no-such-file.toml").exists(),
        "plan --discover writes no spec"
    );
    // Both warn about the flows whose input buckets are unknown.
    for o in [&from_file, &in_memory] {
        assert!(
            o.stderr.contains(
                "warning: flow definition `sentiment-review`: its input buckets are unknown"
            ),
            "{}",
            o.all()
        );
        assert!(
            !o.stderr.contains("`product-review`: its input"),
            "{}",
            o.all()
        );
    }
}

#[test]
fn merging_keeps_hand_written_entries_and_comments() {
    let s = setup();
    let out = s.path("a2i.toml");
    let hand = format!(
        "# Our A2I set-up; owner: data team\naccount_id = \"{ACCOUNT_ID}\"\n\n\
         # reviewed by hand, keep\n[[flow_definition]]\nname = \"invoice-review\"\nrole = \"{FLOW_ROLE}\"\n\
         input_buckets = [\"{INPUT}\"] # the scans\noutput = \"s3://{OUTPUT}/textract\"\n\n\
         # an old flow, deleted since\n[[flow_definition]]\nname = \"legacy-review\"\nrole = \"{FLOW_ROLE}\"\ninput_buckets = []\noutput = \"s3://{OUTPUT}/legacy\"\n\n\
         # the app that starts loops\n[[human_loop_caller]]\nprincipal = \"arn:aws:iam::{ACCOUNT_ID}:role/{CALLER_ROLE}\"\nuses = [\"custom\", \"textract\"]\n\n\
         [[template_preview]]\nrole = \"{PREVIEW_ROLE}\" # preview\ninput_buckets = [\"{RECEIPTS}\"]\n"
    );
    std::fs::write(&out, &hand).expect("writing the hand-made file");
    let o = run(s.cmd().args(["discover", "--out"]).arg(&out)).expect_code(0);
    let merged = read(&out);
    for kept in [
        "# Our A2I set-up; owner: data team",
        "# reviewed by hand, keep",
        "# the scans",
        "# an old flow, deleted since",
        "name = \"legacy-review\"",
        "# the app that starts loops",
        "uses = [\"custom\", \"textract\"]",
        "# preview",
    ] {
        assert!(merged.contains(kept), "lost `{kept}`:\n{merged}");
    }
    assert!(o.stdout.contains("`legacy-review`"), "{}", o.all());
    let spec = a2i_fix::spec::load(&out).expect("the merged file loads");
    assert_eq!(spec.flow_definitions.len(), 7);
    assert_eq!(spec.human_loop_callers.len(), 1);
    assert_eq!(spec.template_previews.len(), 1);
    let invoice = &spec.flow_definitions[0];
    assert_eq!(invoice.name, "invoice-review");
    assert_eq!(
        invoice.role.written,
        flow_role_arn(),
        "the role comes from AWS"
    );
    assert_eq!(
        invoice.input_buckets,
        [INPUT],
        "the hand-listed bucket is kept"
    );
    // Running it again changes nothing.
    run(s.cmd().args(["discover", "--out"]).arg(&out)).expect_code(0);
    assert_eq!(read(&out), merged);
}

#[test]
fn without_sample_output_and_without_terminal_no_result_is_read() {
    let s = setup();
    let out = s.path("a2i.toml");
    let o = run(s.cmd().args(["discover", "--out"]).arg(&out)).expect_code(0);
    assert!(
        o.stdout.contains("--sample-output"),
        "says how to enable it:\n{}",
        o.all()
    );
    let spec = a2i_fix::spec::load(&out).expect("loads");
    assert!(
        spec.flow_definitions
            .iter()
            .all(|f| f.input_buckets.is_empty())
    );
    assert_eq!(a2i_fix::discover::unknown_input_flows(&read(&out)).len(), 6);
}

#[test]
fn denied_sagemaker_calls_are_clear_errors_and_write_nothing() {
    let s = setup();
    let out = s.path("a2i.toml");
    s.fake.fail("ListFlowDefinitions", FakeFault::Denied);
    let o = run(s.cmd().args(["discover", "--out"]).arg(&out)).expect_code(1);
    assert!(
        o.stderr
            .contains("error: access denied calling SageMaker `ListFlowDefinitions`"),
        "{}",
        o.all()
    );
    assert!(
        o.stderr.contains("`sagemaker:ListFlowDefinitions`"),
        "{}",
        o.all()
    );
    assert!(!out.exists());

    let s = setup();
    s.fake.fail("DescribeFlowDefinition", FakeFault::Denied);
    let o = run(s.cmd().args(["plan", "--discover"])).expect_code(1);
    assert!(
        o.stderr
            .contains("`DescribeFlowDefinition` on flow definition `"),
        "{}",
        o.all()
    );
    assert!(
        o.stderr.contains("`sagemaker:DescribeFlowDefinition`"),
        "{}",
        o.all()
    );
}

#[test]
fn throttled_sagemaker_calls_are_retried_then_clear_errors() {
    let s = setup();
    let out = s.path("a2i.toml");
    s.fake.fail("DescribeFlowDefinition", FakeFault::Throttled);
    let o = run(s
        .cmd()
        .env("AWS_MAX_ATTEMPTS", "2")
        .args(["discover", "--out"])
        .arg(&out))
    .expect_code(1);
    assert!(
        o.stderr
            .contains("error: SageMaker throttled `DescribeFlowDefinition` on flow definition `"),
        "{}",
        o.all()
    );
    assert!(
        o.stderr.contains("`ThrottlingException`: Rate exceeded"),
        "{}",
        o.all()
    );
    assert!(o.stderr.contains("wait a minute"), "{}", o.all());
    assert!(s.fake.calls("DescribeFlowDefinition") >= 2, "retried");
    assert!(!out.exists());
}

#[test]
fn bad_input_bucket_flags_are_refused_and_nothing_is_written() {
    let s = setup();
    let o = run(s
        .cmd()
        .args(["discover", "--input-bucket", "invoice-review"]))
    .expect_code(1);
    assert!(o.stderr.contains("FLOW=BUCKET"), "{}", o.all());
    let o = run(s
        .cmd()
        .args(["discover", "--input-bucket", "no-such-flow=acme-a2i-input"]))
    .expect_code(1);
    assert!(o.stderr.contains("`no-such-flow`"), "{}", o.all());
    assert!(
        o.stderr.contains("`invoice-review`"),
        "lists the real ones:\n{}",
        o.all()
    );
    let o = run(s.cmd().args(["plan", "--sample-output"])).expect_code(1);
    assert!(o.stderr.contains("`--discover`"), "{}", o.all());
    assert!(!s.path("a2i.toml").exists());
}
