//! Through the binary, over moto: the judgements that look at the whole
//! account and at what earlier runs did. A grant made by an earlier apply is
//! never taken back by a later one, a statement someone else owns (or edited
//! by hand) under A2I's Sid is kept as it is, a caller is judged by what its
//! policies allow rather than by their names, and an AWS managed bucket key
//! needs nothing.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::*;

const FLOW_A: &str = "FlowRoleA";
const FLOW_B: &str = "FlowRoleB";

fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT_ID}:role/{name}")
}

fn write_spec(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("a2i.toml");
    std::fs::write(&path, text).expect("writing the spec");
    path
}

fn flow(name: &str, role: &str, prefix: &str, key: Option<&str>) -> String {
    let key = key
        .map(|k| format!("kms_key = \"{k}\"\n"))
        .unwrap_or_default();
    format!(
        "[[flow_definition]]\nname = \"{name}\"\nrole = \"{role}\"\ninput_buckets = [\"{INPUT}\"]\noutput = \"s3://{OUTPUT}/{prefix}/\"\n{key}\n"
    )
}

fn apply_yes(moto: &Moto, spec: &Path, cwd: &Path) -> Output {
    let spec = spec.to_str().expect("a UTF-8 path");
    let backups = cwd.join("backups");
    run(a2i_fix_in(moto, cwd).args([
        "apply",
        "--yes",
        "--spec",
        spec,
        "--backup-dir",
        backups.to_str().expect("a UTF-8 path"),
    ]))
}

fn plan_is_empty(moto: &Moto, spec: &Path, cwd: &Path) -> Output {
    run(a2i_fix_in(moto, cwd).args([
        "plan",
        "--json",
        "--spec",
        spec.to_str().expect("a UTF-8 path"),
    ]))
    .expect_code(0)
}

fn statements(document: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(document).expect("a JSON document");
    match &v["Statement"] {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

fn strings_of(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn a2i_statement_under_a_fallback_sid_keeps_every_role_and_settles() {
    // Someone else's statement already has A2I's documented Sid.
    let moto = Moto::start();
    let s = moto.seed().await;
    s.bucket(INPUT).await;
    s.bucket(OUTPUT).await;
    s.role(FLOW_A, SAGEMAKER_TRUST).await;
    s.role(FLOW_B, SAGEMAKER_TRUST).await;
    let foreign = json!({"Sid": "AllowUseOfKmsKey", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT_ID}:root")},
        "Action": "kms:Decrypt", "Resource": "*"});
    let root = json!({"Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT_ID}:root")},
        "Action": "kms:*", "Resource": "*"});
    let policy = json!({"Version": "2012-10-17", "Statement": [root, foreign]});
    let (key_id, _) = s.key(Some(&policy.to_string())).await;
    s.alias(KEY_ALIAS, &key_id).await;
    let cwd = tempfile::tempdir().expect("a temp dir");

    // Run 1: flow role A on the key.
    let spec = write_spec(cwd.path(), &flow("a", FLOW_A, "a", Some(KEY_ALIAS)));
    apply_yes(&moto, &spec, cwd.path()).expect_code(0);
    // Run 2: flow role B joins on the same key; then every later plan is
    // empty, and the A2I statement names both roles.
    let both = format!(
        "{}{}",
        flow("a", FLOW_A, "a", Some(KEY_ALIAS)),
        flow("b", FLOW_B, "b", Some(KEY_ALIAS))
    );
    let spec = write_spec(cwd.path(), &both);
    apply_yes(&moto, &spec, cwd.path()).expect_code(0);
    for _ in 0..2 {
        let out = plan_is_empty(&moto, &spec, cwd.path());
        assert_eq!(out.json()["changes"], json!([]), "{}", out.all());
        apply_yes(&moto, &spec, cwd.path()).expect_code(0);
    }
    let reader = moto.clients().await;
    let account = Account::read(&reader).await;
    let written = statements(&account.key_policy(&key_id));
    assert!(
        written.contains(&foreign),
        "the foreign statement is kept: {written:#?}"
    );
    let ours: Vec<&Value> = written
        .iter()
        .filter(|st| st["Sid"] == "AllowUseOfKmsKeyA2IFix")
        .collect();
    assert_eq!(ours.len(), 1, "{written:#?}");
    let mut principals = strings_of(&ours[0]["Principal"]["AWS"]);
    principals.sort();
    assert_eq!(principals, [role_arn(FLOW_A), role_arn(FLOW_B)]);
}

#[tokio::test]
async fn a_hand_edited_a2i_statement_is_kept_and_no_output_loses_its_grant() {
    let moto = Moto::start();
    let s = moto.seed().await;
    s.bucket(INPUT).await;
    s.bucket(OUTPUT).await;
    s.role(FLOW_A, SAGEMAKER_TRUST).await;
    let cwd = tempfile::tempdir().expect("a temp dir");
    let spec = write_spec(cwd.path(), &flow("a", FLOW_A, "a", None));
    apply_yes(&moto, &spec, cwd.path()).expect_code(0);

    // The owner adds an action by hand to A2I's write statement.
    let reader = moto.clients().await;
    let owned = Account::read(&reader).await.inline_policies(FLOW_A)[OWNED].clone();
    let mut doc: Value = serde_json::from_str(&owned).expect("JSON");
    for st in doc["Statement"].as_array_mut().expect("a list") {
        if st["Sid"] == "AllowA2IWriteOutput" {
            st["Action"] = json!(["s3:PutObject", "s3:PutObjectAcl"]);
        }
    }
    s.inline_policy(FLOW_A, OWNED, &doc.to_string()).await;
    let edited = statements(&doc.to_string());

    // A second flow writes elsewhere: A2I's new grant goes beside it.
    let spec = write_spec(
        cwd.path(),
        &format!(
            "{}{}",
            flow("a", FLOW_A, "a", None),
            flow("b", FLOW_A, "b", None)
        ),
    );
    apply_yes(&moto, &spec, cwd.path()).expect_code(0);
    let after = statements(&Account::read(&reader).await.inline_policies(FLOW_A)[OWNED]);
    for st in &edited {
        assert!(after.contains(st), "{st} was kept: {after:#?}");
    }
    let beside: Vec<&Value> = after
        .iter()
        .filter(|st| st["Sid"] == "AllowA2IWriteOutputA2IFix")
        .collect();
    assert_eq!(beside.len(), 1, "{after:#?}");
    assert!(strings_of(&beside[0]["Resource"]).contains(&format!("arn:aws:s3:::{OUTPUT}/b/*")));
    let out = plan_is_empty(&moto, &spec, cwd.path());
    assert_eq!(out.json()["changes"], json!([]), "{}", out.all());

    // A Condition added by hand: kept, never re-granted without it; the
    // need it restricts is a warning.
    let mut doc: Value =
        serde_json::from_str(&Account::read(&reader).await.inline_policies(FLOW_A)[OWNED])
            .expect("JSON");
    for st in doc["Statement"].as_array_mut().expect("a list") {
        if st["Sid"] == "AllowA2IWriteOutputA2IFix" {
            st["Condition"] = json!({"Bool": {"aws:SecureTransport": "true"}});
        }
    }
    s.inline_policy(FLOW_A, OWNED, &doc.to_string()).await;
    let out = plan_is_empty(&moto, &spec, cwd.path());
    let json = out.json();
    assert_eq!(json["changes"], json!([]), "{}", out.all());
    let warnings = json["warnings"].as_array().expect("warnings");
    assert!(
        warnings.iter().any(|w| w["requirement"] == "R3"
            && w["message"]
                .as_str()
                .unwrap_or("")
                .contains("aws:SecureTransport")),
        "{json:#}"
    );
}

fn caller_spec(uses: &str) -> String {
    format!(
        "[[human_loop_caller]]\nprincipal = \"arn:aws:iam::{ACCOUNT_ID}:role/{CALLER_ROLE}\"\nuses = {uses}\n"
    )
}

#[tokio::test]
async fn a_caller_whose_policies_already_allow_what_a2i_needs_gets_no_attachment() {
    let moto = Moto::start();
    let s = moto.seed().await;
    s.role(CALLER_ROLE, LAMBDA_TRUST).await;
    s.user("admin-bot").await;
    let cwd = tempfile::tempdir().expect("a temp dir");

    // IntegratedAPIAccess holds everything FullAccess grants: no R6 change.
    s.attach_role_policy(CALLER_ROLE, INTEGRATED_API).await;
    let spec = write_spec(cwd.path(), &caller_spec("[\"custom\", \"textract\"]"));
    let out = plan_is_empty(&moto, &spec, cwd.path());
    assert_eq!(out.json()["changes"], json!([]), "{}", out.all());

    // The public workforce needs the Mechanical Turk policy on top: R8 only.
    let spec = write_spec(
        cwd.path(),
        &format!("{}public_workforce = true\n", caller_spec("[\"custom\"]")),
    );
    let json = plan_is_empty(&moto, &spec, cwd.path()).json();
    let addresses: Vec<&str> = json["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["address"].as_str())
        .collect();
    assert_eq!(addresses.len(), 1, "{json:#}");
    assert!(
        addresses[0].ends_with("AmazonSageMakerMechanicalTurkAccess"),
        "{json:#}"
    );

    // AdministratorAccess (or any policy allowing the actions) covers all.
    let admin = "arn:aws:iam::aws:policy/AdministratorAccess";
    s.attach_role_policy(CALLER_ROLE, admin).await;
    let spec = write_spec(
        cwd.path(),
        &format!(
            "{}public_workforce = true\n",
            caller_spec("[\"custom\", \"rekognition\"]")
        ),
    );
    let out = plan_is_empty(&moto, &spec, cwd.path());
    assert_eq!(out.json()["changes"], json!([]), "{}", out.all());

    // An inline policy that allows everything works the same for a user.
    let allow_all =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    s.c.iam
        .put_user_policy()
        .user_name("admin-bot")
        .policy_name("everything")
        .policy_document(allow_all)
        .send()
        .await
        .expect("put user policy");
    let spec = write_spec(
        cwd.path(),
        &format!(
            "[[human_loop_caller]]\nprincipal = \"arn:aws:iam::{ACCOUNT_ID}:user/admin-bot\"\nuses = [\"custom\", \"textract\"]\n"
        ),
    );
    let out = plan_is_empty(&moto, &spec, cwd.path());
    assert_eq!(out.json()["changes"], json!([]), "{}", out.all());
}

#[tokio::test]
async fn a_caller_without_the_actions_still_gets_the_policy_attached() {
    let moto = Moto::start();
    let s = moto.seed().await;
    s.role(CALLER_ROLE, LAMBDA_TRUST).await;
    // Close, but narrower than FullAccess: only the human loop actions.
    let loops = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sagemaker:*HumanLoop","sagemaker:*HumanLoops"],"Resource":"*"}]}"#;
    s.inline_policy(CALLER_ROLE, "loops", loops).await;
    let cwd = tempfile::tempdir().expect("a temp dir");
    let spec = write_spec(cwd.path(), &caller_spec("[\"custom\"]"));
    let json = plan_is_empty(&moto, &spec, cwd.path()).json();
    let changes = json["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 1, "{json:#}");
    assert_eq!(changes[0]["requirements"], json!(["R6"]));
}

#[tokio::test]
async fn an_aws_managed_bucket_key_needs_nothing_and_gives_no_warning() {
    let moto = Moto::start();
    let s = moto.seed().await;
    s.bucket(INPUT).await;
    s.bucket(OUTPUT).await;
    s.bucket_kms_encryption(OUTPUT, "alias/aws/s3").await;
    s.bucket_kms_encryption(
        INPUT,
        &format!("arn:aws:kms:{REGION}:{ACCOUNT_ID}:alias/aws/s3"),
    )
    .await;
    s.role(FLOW_A, SAGEMAKER_TRUST).await;
    let cwd = tempfile::tempdir().expect("a temp dir");
    let spec = write_spec(cwd.path(), &flow("a", FLOW_A, "a", None));
    apply_yes(&moto, &spec, cwd.path()).expect_code(0);
    let out = run(a2i_fix_in(&moto, cwd.path()).args([
        "plan",
        "--detailed-exitcode",
        "--json",
        "--spec",
        spec.to_str().expect("UTF-8"),
    ]));
    let json = out.json();
    assert_eq!(json["warnings"], json!([]), "{json:#}");
    out.assert_code(0, "every need met, nothing to warn about");
}

fn warnings_on(json: &Value, requirement: &str) -> Vec<String> {
    json["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter(|w| w["requirement"] == requirement)
        .filter_map(|w| w["message"].as_str().map(String::from))
        .collect()
}

#[tokio::test]
async fn a_bucket_policy_deny_is_a_warning_on_the_need_it_blocks() {
    let moto = Moto::start();
    let s = moto.seed().await;
    s.bucket(INPUT).await;
    s.bucket(OUTPUT).await;
    s.role(FLOW_A, SAGEMAKER_TRUST).await;
    let vpc_only = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "OnlyThroughTheVpc", "Effect": "Deny", "Principal": "*",
        "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{INPUT}/*"),
        "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}}]});
    s.c.s3
        .put_bucket_policy()
        .bucket(INPUT)
        .policy(vpc_only.to_string())
        .send()
        .await
        .expect("put bucket policy");
    let cwd = tempfile::tempdir().expect("a temp dir");
    let spec = write_spec(cwd.path(), &flow("a", FLOW_A, "a", None));
    let json = plan_is_empty(&moto, &spec, cwd.path()).json();
    let r2 = warnings_on(&json, "R2");
    assert_eq!(r2.len(), 1, "{json:#}");
    assert!(r2[0].contains("bucket policy"), "{}", r2[0]);
    assert!(r2[0].contains("aws:SourceVpce"), "{}", r2[0]);
    assert!(r2[0].contains(FLOW_A), "{}", r2[0]);
    // The output is not denied: R3 is still granted; the denied read is not.
    let policy = json["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["address"] == format!("aws_iam_role_policy.{FLOW_A}:{OWNED}"))
        .expect("the owned policy");
    assert_eq!(policy["requirements"], json!(["R3"]), "{json:#}");
    assert!(
        json["api_calls"]["s3:GetBucketPolicy"].as_u64() == Some(2),
        "{json:#}"
    );
    // With --detailed-exitcode: changes first (2); after apply, 3.
    apply_yes(&moto, &spec, cwd.path()).expect_code(0);
    run(a2i_fix_in(&moto, cwd.path()).args([
        "plan",
        "--detailed-exitcode",
        "--spec",
        spec.to_str().expect("UTF-8"),
    ]))
    .expect_code(3);
}

#[tokio::test]
async fn conditions_aws_satisfies_count_and_a_variable_in_a_deny_may_match() {
    let moto = Moto::start();
    let s = moto.seed().await;
    s.bucket(INPUT).await;
    s.bucket(OUTPUT).await;
    s.role(FLOW_A, SAGEMAKER_TRUST).await;
    // The grants hold only for resources of the role's own account: that is
    // every bucket the spec names, so they are met.
    let same_account = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{INPUT}/*"),
         "Condition": {"StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}}},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": format!("arn:aws:s3:::{OUTPUT}/a/*"),
         "Condition": {"StringEquals": {"aws:ResourceAccount": ACCOUNT_ID}}}]});
    s.inline_policy(FLOW_A, "own-account-only", &same_account.to_string())
        .await;
    s.put_cors(INPUT, &[cors_rule(&["GET"], &["*"])]).await;
    let cwd = tempfile::tempdir().expect("a temp dir");
    let spec = write_spec(cwd.path(), &flow("a", FLOW_A, "a", None));
    let out = run(a2i_fix_in(&moto, cwd.path()).args([
        "plan",
        "--detailed-exitcode",
        "--json",
        "--spec",
        spec.to_str().expect("UTF-8"),
    ]));
    let json = out.json();
    assert_eq!(json["changes"], json!([]), "{json:#}");
    assert_eq!(json["warnings"], json!([]), "{json:#}");
    out.assert_code(0, "every need met");

    // A Deny on a per-user prefix may match the output: it is reported.
    let per_user = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "s3:PutObject",
         "Resource": format!("arn:aws:s3:::{OUTPUT}/${{aws:username}}/*")}]});
    s.inline_policy(FLOW_A, "per-user", &per_user.to_string())
        .await;
    let json = plan_is_empty(&moto, &spec, cwd.path()).json();
    let r3 = warnings_on(&json, "R3");
    assert_eq!(r3.len(), 1, "{json:#}");
    assert!(r3[0].contains("per-user"), "{}", r3[0]);
}

#[tokio::test]
async fn apply_refuses_a_plan_that_would_narrow_a_statement_even_when_declared() {
    let moto = Moto::start();
    let s = moto.seed().await;
    s.bucket(INPUT).await;
    s.bucket(OUTPUT).await;
    s.role(FLOW_A, SAGEMAKER_TRUST).await;
    s.role(FLOW_B, SAGEMAKER_TRUST).await;
    let root = json!({"Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT_ID}:root")},
        "Action": "kms:*", "Resource": "*"});
    let earlier = json!({"Sid": "AllowUseOfKmsKey", "Effect": "Allow",
        "Principal": {"AWS": role_arn(FLOW_B)},
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
        "Resource": "*"});
    let policy = json!({"Version": "2012-10-17", "Statement": [root, earlier]});
    let (key_id, _) = s.key(Some(&policy.to_string())).await;
    s.alias(KEY_ALIAS, &key_id).await;
    let cwd = tempfile::tempdir().expect("a temp dir");
    let spec = write_spec(cwd.path(), &flow("a", FLOW_A, "a", Some(KEY_ALIAS)));
    let file = cwd.path().join("plan.json");
    run(a2i_fix_in(&moto, cwd.path()).args([
        "plan",
        "--spec",
        spec.to_str().expect("UTF-8"),
        "--out",
        file.to_str().expect("UTF-8"),
    ]))
    .expect_code(0);
    let mut plan = a2i_fix::saved::load_saved_plan(&file).expect("the saved plan loads");
    let change = plan
        .changes
        .iter_mut()
        .find(|c| c.address.starts_with("aws_kms_key_policy."))
        .expect("a key policy change");
    // The plan keeps role B beside A; the crafted one drops B and says it
    // replaces the statement.
    let planned: Value =
        serde_json::from_str(change.after.as_deref().expect("after")).expect("JSON");
    let ours = statements(&planned.to_string())
        .into_iter()
        .find(|st| st["Sid"] == "AllowUseOfKmsKey")
        .expect("A2I's statement");
    let mut principals = strings_of(&ours["Principal"]["AWS"]);
    principals.sort();
    assert_eq!(principals, [role_arn(FLOW_A), role_arn(FLOW_B)]);
    let mut crafted = planned.clone();
    for st in crafted["Statement"].as_array_mut().expect("a list") {
        if st["Sid"] == "AllowUseOfKmsKey" {
            st["Principal"] = json!({"AWS": role_arn(FLOW_A)});
        }
    }
    let after = crafted.to_string();
    change.after_digest = a2i_fix::model::fingerprint(Some(&after));
    change.after = Some(after);
    change.replaced_sids = vec!["AllowUseOfKmsKey".into()];
    let crafted_file = cwd.path().join("crafted.json");
    a2i_fix::saved::write_saved_plan(&crafted_file, &plan).expect("writing the crafted plan");

    let reader = moto.clients().await;
    let before = Account::read(&reader).await;
    let out = run(a2i_fix_in(&moto, cwd.path()).args([
        "apply",
        crafted_file.to_str().expect("UTF-8"),
        "--yes",
        "--backup-dir",
        cwd.path().join("backups").to_str().expect("UTF-8"),
    ]))
    .expect_code(1);
    assert!(
        out.stderr.contains("apply refused before any write"),
        "{}",
        out.all()
    );
    assert!(
        out.stderr
            .contains(&format!("would lose principal `{}`", role_arn(FLOW_B))),
        "{}",
        out.all()
    );
    assert_untouched(&before, &Account::read(&reader).await, "a narrowing plan");
}
