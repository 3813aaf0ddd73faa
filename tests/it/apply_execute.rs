//! `apply::execute` against moto: writes land and are read back with an
//! independent client; every refusal happens before any write.

use crate::support::apply::*;
use crate::support::*;
use a2i_fix::apply::{self, ApplyError, ChangeStatus};
use a2i_fix::journal::{self, EndOutcome, StepOutcome};
use a2i_fix::model;
use a2i_fix::plan;
use a2i_fix::saved;

#[tokio::test]
async fn apply_writes_every_change_and_keeps_what_was_there() {
    let moto = Moto::start();
    let account = moto.seed().await;
    let s = broken_account(&account).await;
    let clients = moto.clients().await;
    let plan = fix_plan(&clients, &s).await;
    let dir = tempfile::tempdir().unwrap();

    let report = apply::execute(&clients, &plan, &options(dir.path()))
        .await
        .unwrap();

    assert!(report.is_success(), "{report}");
    assert_eq!(report.counts(), (plan.summary.add, plan.summary.change, 0));
    assert!(
        report
            .to_string()
            .contains("Apply complete! Resources: 4 added, 3 changed, 0 destroyed."),
        "{report}"
    );
    // Read back with the independent client.
    assert_eq!(
        account.cors(INPUT).await,
        Some(vec![
            (
                vec!["PUT".to_string()],
                vec!["https://app.example.com".to_string()]
            ),
            (vec!["GET".to_string()], vec!["*".to_string()]),
        ])
    );
    assert_eq!(
        json(&account.trust(FLOW_ROLE).await.unwrap()),
        json(&trust_after())
    );
    let inline = account.inline_policies(FLOW_ROLE).await;
    assert_eq!(
        inline.get("other").map(|d| json(d)),
        Some(json(OTHER_INLINE)),
        "unrelated inline policy kept"
    );
    assert_eq!(inline.get(OWNED).map(|d| json(d)), Some(json(&s3_grants())));
    assert_eq!(
        json(&account.trust(PREVIEW_ROLE).await.unwrap()),
        json(&sagemaker_trust())
    );
    assert_eq!(
        account
            .inline_policies(PREVIEW_ROLE)
            .await
            .get(OWNED)
            .map(|d| json(d)),
        Some(json(&s3_grants()))
    );
    assert_eq!(
        account.user_policies(CALLER).await,
        vec![FULL_ACCESS.to_string()]
    );
    assert_eq!(
        json(&account.read_key_policy(&s.key_id).await),
        json(&key_after(&s.role_arn))
    );

    // One call per change, no more.
    let calls = clients.counter.snapshot();
    for op in [
        "iam:CreateRole",
        "iam:UpdateAssumeRolePolicy",
        "iam:AttachUserPolicy",
        "kms:PutKeyPolicy",
        "s3:PutBucketCors",
    ] {
        assert_eq!(calls.get(op), Some(&1), "{op}: {calls:?}");
    }
    assert_eq!(calls.get("iam:PutRolePolicy"), Some(&2), "{calls:?}");

    // The journal records every step, its previous document and its outcome.
    let files = files_in(dir.path());
    assert_eq!(files.len(), 1);
    assert_eq!(report.journal.as_deref(), Some(files[0].as_path()));
    let j = journal::read_journal(&files[0]).unwrap();
    assert_eq!(j.header.account_id, ACCOUNT_ID);
    assert_eq!(j.header.plan_digest, plan::plan_digest(&plan));
    assert_eq!(j.end, Some(EndOutcome::Complete));
    assert_eq!(j.steps.len(), plan.changes.len());
    for step in &j.steps {
        assert_eq!(step.outcome, StepOutcome::Applied, "{}", step.address);
        assert!(step.verified_fingerprint.is_some(), "{}", step.address);
        let change = plan
            .changes
            .iter()
            .find(|c| c.target == step.target)
            .unwrap();
        assert_eq!(step.previous_fingerprint, change.before_fingerprint);
        assert_eq!(
            model::fingerprint(step.previous.as_deref()),
            change.before_fingerprint
        );
        assert_eq!(step.writing, change.after);
    }
    // Steps are in write order: the role is created first, CORS written last.
    assert_eq!(
        j.steps.first().map(|s| s.address.as_str()),
        Some("aws_iam_role.A2IPreviewRole")
    );
    assert_eq!(
        j.steps.last().map(|s| s.address.as_str()),
        Some("aws_s3_bucket_cors_configuration.acme-a2i-input")
    );
}

#[tokio::test]
async fn dry_run_lists_the_calls_in_order_and_writes_nothing() {
    let moto = Moto::start();
    let account = moto.seed().await;
    let s = broken_account(&account).await;
    let clients = moto.clients().await;
    let plan = fix_plan(&clients, &s).await;
    let before = account.read().await;
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.dry_run = true;

    let report = apply::execute(&clients, &plan, &opts).await.unwrap();

    let calls: Vec<String> = report.calls.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        calls,
        vec![
            "iam:CreateRole role=A2IPreviewRole path=/".to_string(),
            "iam:UpdateAssumeRolePolicy role=A2IFlowRole".to_string(),
            "iam:PutRolePolicy role=A2IFlowRole policy=a2i-fix-permissions".to_string(),
            "iam:PutRolePolicy role=A2IPreviewRole policy=a2i-fix-permissions".to_string(),
            "iam:AttachUserPolicy user=ml-app policy_arn=arn:aws:iam::aws:policy/AmazonAugmentedAIFullAccess".to_string(),
            format!("kms:PutKeyPolicy key={} policy=default", s.key_id),
            "s3:PutBucketCors bucket=acme-a2i-input".to_string(),
        ]
    );
    assert!(
        report
            .to_string()
            .contains("1. iam:CreateRole role=A2IPreviewRole path=/"),
        "{report}"
    );
    assert!(report.outcomes.is_empty());
    assert!(
        files_in(dir.path()).is_empty(),
        "a dry run writes no journal"
    );
    assert_eq!(account.read().await, before);
    let writes: Vec<_> = clients
        .counter
        .snapshot()
        .into_keys()
        .filter(|op| !op.contains(":Get") && !op.contains(":List"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[tokio::test]
async fn a_stale_saved_plan_is_refused_naming_the_changed_resource_and_nothing_is_written() {
    let moto = Moto::start();
    let account = moto.seed().await;
    let s = broken_account(&account).await;
    let clients = moto.clients().await;
    let plan = fix_plan(&clients, &s).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.json");
    saved::write_saved_plan(&file, &plan).unwrap();

    // Someone rewrites the trust policy with the same meaning (other spacing,
    // other key order): still a change since the plan.
    let rewritten = r#"{ "Statement": [ { "Action": "sts:AssumeRole", "Principal": { "Service": "lambda.amazonaws.com" }, "Effect": "Allow" } ], "Version": "2012-10-17" }"#;
    account
        .c
        .iam
        .update_assume_role_policy()
        .role_name(FLOW_ROLE)
        .policy_document(rewritten)
        .send()
        .await
        .unwrap();
    let before = account.read().await;

    let loaded = saved::load_saved_plan(&file).unwrap();
    let mut opts = options(&dir.path().join("backups"));
    opts.saved_plan = Some(file.clone());
    let err = apply::execute(&clients, &loaded, &opts).await.unwrap_err();

    let ApplyError::Stale { resources, .. } = &err else {
        panic!("expected stale, got {err}")
    };
    let named: Vec<&str> = resources.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(named, vec!["aws_iam_role.A2IFlowRole"]);
    let message = err.to_string();
    assert!(message.starts_with("saved plan is stale"), "{message}");
    assert!(message.contains("`aws_iam_role.A2IFlowRole`"), "{message}");
    assert!(message.contains(&file.display().to_string()), "{message}");
    assert_eq!(account.read().await, before, "nothing written");
    assert!(files_in(&dir.path().join("backups")).is_empty());
}

#[tokio::test]
async fn a_saved_plan_round_trips_and_an_edited_one_is_refused() {
    let moto = Moto::start();
    let account = moto.seed().await;
    let s = broken_account(&account).await;
    let clients = moto.clients().await;
    let plan = fix_plan(&clients, &s).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.json");
    saved::write_saved_plan(&file, &plan).unwrap();

    // Edited by hand: the caller widens the S3 grant.
    let text = std::fs::read_to_string(&file).unwrap();
    let edited = text.replacen("s3:GetObject", "s3:*", 1);
    assert_ne!(text, edited);
    let edited_file = dir.path().join("edited.json");
    std::fs::write(&edited_file, edited).unwrap();
    let err = saved::load_saved_plan(&edited_file).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "saved plan `{}` was edited after it was written: change `aws_iam_role_policy.A2IFlowRole:a2i-fix-permissions` no longer matches its digest; plan again",
            edited_file.display()
        )
    );

    // The unedited plan applies.
    let loaded = saved::load_saved_plan(&file).unwrap();
    assert_eq!(loaded, plan);
    saved::check_account(&loaded, ACCOUNT_ID, REGION).unwrap();
    let report = apply::execute(&clients, &loaded, &options(&dir.path().join("b")))
        .await
        .unwrap();
    assert!(report.is_success(), "{report}");
}

#[tokio::test]
async fn a_plan_for_another_account_is_refused_and_nothing_is_written() {
    let moto = Moto::start();
    let account = moto.seed().await;
    let s = broken_account(&account).await;
    let clients = moto.clients().await;
    let plan = fix_plan(&clients, &s).await;
    let before = account.read().await;
    let dir = tempfile::tempdir().unwrap();

    let mut other = plan.clone();
    other.account_id = "111122223333".into();
    let err = apply::execute(&clients, &other, &options(dir.path()))
        .await
        .unwrap_err();
    assert!(matches!(err, ApplyError::WrongAccount { .. }), "{err}");
    assert!(saved::check_account(&other, ACCOUNT_ID, REGION).is_err());

    let mut opts = options(dir.path());
    opts.expected_account_id = Some("111122223333".into());
    let err = apply::execute(&clients, &plan, &opts).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the spec is for account 111122223333, but the credentials in use are for account 123456789012: use the profile for account 111122223333"
    );

    let mut other_region = plan.clone();
    other_region.region = "eu-west-1".into();
    let err = apply::execute(&clients, &other_region, &options(dir.path()))
        .await
        .unwrap_err();
    assert!(matches!(err, ApplyError::WrongAccount { .. }), "{err}");

    assert_eq!(account.read().await, before);
    assert!(files_in(dir.path()).is_empty());
}

#[tokio::test]
async fn lockout_size_and_nothing_lost_guards_each_refuse_before_any_write() {
    let moto = Moto::start();
    let account = moto.seed().await;
    let s = broken_account(&account).await;
    let clients = moto.clients().await;
    let before = account.read().await;

    // A key policy that narrows the root statement (declared as replaced,
    // so nothing is "lost"): nobody could change the key policy again.
    let lockout = pretty(serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT_ID}:root")},
        "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*"}]}));
    // An inline policy over 10,240 characters (whitespace not counted).
    let resources: Vec<String> = (0..400)
        .map(|i| format!("arn:aws:s3:::acme-a2i-input-{i:04}/*"))
        .collect();
    let huge = pretty(serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "AllowA2IReadInput", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": resources}]}));
    // A CORS configuration that loses the existing rule.
    let cors_lost = pretty(
        serde_json::json!({"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]}),
    );
    // A trust policy that loses the Lambda statement.
    let trust_lost = sagemaker_trust();

    let mut key_change = change(&clients, key_target(&s), &lockout).await;
    key_change.replaced_sids = vec!["Enable IAM User Permissions".to_string()];
    let plan = plan_of(vec![
        key_change,
        change(&clients, flow_owned(), &huge).await,
        change(&clients, cors_target(), &cors_lost).await,
        change(&clients, flow_trust(), &trust_lost).await,
    ]);
    let dir = tempfile::tempdir().unwrap();
    let err = apply::execute(&clients, &plan, &options(dir.path()))
        .await
        .unwrap_err();

    let ApplyError::Refused(refusals) = &err else {
        panic!("expected refusals, got {err}")
    };
    let mut named: Vec<&str> = refusals.iter().map(|r| r.address.as_str()).collect();
    named.sort();
    let mut expected = vec![
        format!("aws_kms_key_policy.{}", s.key_id),
        "aws_iam_role_policy.A2IFlowRole:a2i-fix-permissions".to_string(),
        "aws_s3_bucket_cors_configuration.acme-a2i-input".to_string(),
        "aws_iam_role.A2IFlowRole".to_string(),
    ];
    expected.sort();
    assert_eq!(named, expected, "{err}");
    let message = err.to_string();
    assert!(
        message.starts_with("apply refused before any write:"),
        "{message}"
    );
    assert!(
        message.contains("10240") || message.contains("10,240"),
        "{message}"
    );
    assert_eq!(account.read().await, before, "nothing written");
    assert!(files_in(dir.path()).is_empty());
    let writes: Vec<_> = clients
        .counter
        .snapshot()
        .into_keys()
        .filter(|op| op.contains(":Put") || op.contains(":Update"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[tokio::test]
async fn a_bucket_removed_between_plan_and_apply_is_refused_before_any_write() {
    let moto = Moto::start();
    let account = moto.seed().await;
    let s = broken_account(&account).await;
    let clients = moto.clients().await;
    let plan = fix_plan(&clients, &s).await;
    account
        .c
        .s3
        .delete_bucket_cors()
        .bucket(INPUT)
        .send()
        .await
        .unwrap();
    account
        .c
        .s3
        .delete_bucket()
        .bucket(INPUT)
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();

    let err = apply::execute(&clients, &plan, &options(dir.path()))
        .await
        .unwrap_err();

    let message = err.to_string();
    assert!(
        message.contains("aws_s3_bucket_cors_configuration.acme-a2i-input"),
        "{message}"
    );
    assert!(err.report().is_none());
    assert_eq!(
        account.trust(FLOW_ROLE).await.map(|t| json(&t)),
        Some(json(LAMBDA_TRUST)),
        "nothing written"
    );
    assert!(files_in(dir.path()).is_empty());
}

#[tokio::test]
async fn an_interrupt_before_the_first_write_writes_nothing_and_says_so() {
    let moto = Moto::start();
    let account = moto.seed().await;
    let s = broken_account(&account).await;
    let clients = moto.clients().await;
    let plan = fix_plan(&clients, &s).await;
    let before = account.read().await;
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path());
    opts.interrupt.trigger();

    let err = apply::execute(&clients, &plan, &opts).await.unwrap_err();

    let report = err.report().expect("a report");
    assert!(report.interrupted);
    assert!(
        report
            .outcomes
            .iter()
            .all(|o| o.status == ChangeStatus::NotAttempted)
    );
    assert!(
        report.to_string().contains("Apply interrupted!"),
        "{report}"
    );
    assert_eq!(account.read().await, before);
    let j = journal::read_journal(&files_in(dir.path())[0]).unwrap();
    assert!(j.steps.is_empty());
    assert_eq!(j.end, Some(EndOutcome::Interrupted));
}

#[tokio::test]
async fn an_empty_plan_writes_no_journal() {
    let moto = Moto::start();
    let clients = moto.clients().await;
    let dir = tempfile::tempdir().unwrap();
    let report = apply::execute(&clients, &plan_of(vec![]), &options(dir.path()))
        .await
        .unwrap();
    assert!(report.is_success());
    assert!(report.outcomes.is_empty());
    assert!(files_in(dir.path()).is_empty());
}

#[tokio::test]
async fn identify_names_the_connected_account() {
    let moto = Moto::start();
    let clients = moto.clients().await;
    let me = apply::identify(&clients).await.unwrap();
    assert_eq!(me.account_id, ACCOUNT_ID);
    assert!(
        me.arn.starts_with("arn:aws:") && me.arn.contains(ACCOUNT_ID),
        "{}",
        me.arn
    );
    assert_eq!(
        clients.counter.snapshot().get("sts:GetCallerIdentity"),
        Some(&1)
    );
}
