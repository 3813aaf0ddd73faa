//! Through the binary, with AWS failing the way it does: a fault-injecting
//! proxy (`support::fault_proxy`) between `a2i-fix` and moto throttles,
//! fails, resets connections and loses the answers of writes that took
//! effect, each from a seed.
//!
//! | what must be shown | test |
//! |---|---|
//! | the proxy's faults are what the SDK parses as AWS's | `the_proxy_answers_...` |
//! | at 10% and 30% faults, over the `plans/` examples: plan and apply succeed or name the call and the fault, nothing is lost, a rerun converges, rollback restores exactly | `faults_at_10_percent_...`, `faults_at_30_percent_...` |
//! | the same when the SDK gives up after two attempts (exit 1 is common) | `giving_up_after_two_attempts_...` |
//! | every write's answer lost once: apply still succeeds, no error | `a_lost_answer_to_each_write_...` |
//! | ... CreateRole included (its retry hears `EntityAlreadyExists`) | `a_lost_answer_to_create_role_...` |
//!
//! Seeds: a fixed set by default, each over a few examples (an apply
//! through 30% faults waits out the SDK's backoff: 30 to 60 s);
//! `A2I_FIX_FAULT_SEEDS=N` adds N random seeds, each over every example
//! (printed); `A2I_FIX_FAULT_SEED=S` runs only seed `S`, over every example
//! unless it is a default seed. `A2I_FIX_FAULT_TRACE=1` prints each run's
//! exit code and time. A failure
//! names its seed, rate, example and step. The benchmark
//! (`scripts/bench-faults.sh`) is the ignored `bench::fault_benchmark`.

mod bench;
mod story;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_credential_types::Credentials;
use aws_sdk_iam::error::ProvideErrorMetadata;

use crate::support::fault_proxy::{FaultKind, FaultProxy, Faults};
use crate::support::*;
use story::{Bench, Story};

/// The seeds of a run: `A2I_FIX_FAULT_SEED` alone, else `defaults` plus
/// `A2I_FIX_FAULT_SEEDS` random ones.
pub fn seeds(defaults: &[u64]) -> Vec<u64> {
    if let Some(s) = std::env::var("A2I_FIX_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![s];
    }
    let extra: u64 = std::env::var("A2I_FIX_FAULT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut rng = crate::support::fault_proxy::Rng::new(nanos);
    let mut v = defaults.to_vec();
    for _ in 0..extra {
        let s = rng.next() % 1_000_000;
        eprintln!("fault seed {s} (replay: A2I_FIX_FAULT_SEED={s})");
        v.push(s);
    }
    v
}

/// SDK clients straight at `endpoint` with no retries: what one answer is.
async fn raw_clients(
    endpoint: &str,
) -> (
    aws_sdk_iam::Client,
    aws_sdk_sts::Client,
    aws_sdk_s3::Client,
    aws_sdk_kms::Client,
) {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "fault-test",
        ))
        .retry_config(RetryConfig::disabled())
        .load()
        .await;
    let s3 = aws_sdk_s3::config::Builder::from(&config)
        .force_path_style(true)
        .build();
    (
        aws_sdk_iam::Client::new(&config),
        aws_sdk_sts::Client::new(&config),
        aws_sdk_s3::Client::from_conf(s3),
        aws_sdk_kms::Client::new(&config),
    )
}

#[tokio::test]
async fn the_proxy_answers_each_fault_as_aws_does_and_a_lost_answer_still_writes() {
    let moto = Moto::start();
    let seeded = seed_broken_account(&moto, true).await;
    let reader = moto.clients().await;
    let proxy = FaultProxy::start(moto.port, 7, Faults::Off);
    let (iam, sts, s3, kms) = raw_clients(&proxy.endpoint).await;

    // Forwarded as it was.
    iam.get_role()
        .role_name(FLOW_ROLE)
        .send()
        .await
        .expect("GetRole");
    sts.get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    s3.get_bucket_cors()
        .bucket(INPUT)
        .send()
        .await
        .expect("CORS");
    kms.get_key_policy()
        .key_id(&seeded.key_id)
        .policy_name("default")
        .send()
        .await
        .expect("GetKeyPolicy");

    // Throttled: the codes the SDK's retry classifiers know.
    proxy.set(Faults::Always(FaultKind::Throttled));
    let iam_e = iam
        .get_role()
        .role_name(FLOW_ROLE)
        .send()
        .await
        .unwrap_err();
    let sts_e = sts.get_caller_identity().send().await.unwrap_err();
    let s3_e = s3.get_bucket_cors().bucket(INPUT).send().await.unwrap_err();
    let kms_e = kms
        .describe_key()
        .key_id(&seeded.key_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(iam_e.code(), Some("Throttling"), "{iam_e:?}");
    assert_eq!(iam_e.message(), Some("Rate exceeded"));
    assert_eq!(sts_e.code(), Some("Throttling"), "{sts_e:?}");
    assert_eq!(s3_e.code(), Some("SlowDown"), "{s3_e:?}");
    assert_eq!(s3_e.raw_response().map(|r| r.status().as_u16()), Some(503));
    assert_eq!(kms_e.code(), Some("ThrottlingException"), "{kms_e:?}");
    assert_eq!(kms_e.message(), Some("Rate exceeded"));

    // Internal errors: 500 or 503, AWS's codes.
    proxy.set(Faults::Always(FaultKind::Internal));
    for _ in 0..8 {
        let e = iam
            .get_role()
            .role_name(FLOW_ROLE)
            .send()
            .await
            .unwrap_err();
        let status = e.raw_response().map(|r| r.status().as_u16());
        assert!(
            matches!(
                (e.code(), status),
                (Some("ServiceFailure"), Some(500)) | (Some("ServiceUnavailable"), Some(503))
            ),
            "{e:?}"
        );
        let e = s3.get_bucket_cors().bucket(INPUT).send().await.unwrap_err();
        assert!(
            matches!(e.code(), Some("InternalError" | "ServiceUnavailable")),
            "{e:?}"
        );
    }
    let e = sts.get_caller_identity().send().await.unwrap_err();
    assert!(
        matches!(e.code(), Some("InternalFailure" | "ServiceUnavailable")),
        "{e:?}"
    );
    let e = kms
        .describe_key()
        .key_id(&seeded.key_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("KMSInternalException"), "{e:?}");

    // A reset: no answer at all.
    proxy.set(Faults::Always(FaultKind::Reset));
    let e = iam
        .get_role()
        .role_name(FLOW_ROLE)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            aws_sdk_iam::error::SdkError::DispatchFailure(_)
                | aws_sdk_iam::error::SdkError::ResponseError(_)
        ),
        "{e:?}"
    );

    // A lost answer: the client hears a failure, the write took effect;
    // reads pass.
    proxy.set(Faults::Always(FaultKind::LostAnswer));
    iam.get_role()
        .role_name(FLOW_ROLE)
        .send()
        .await
        .expect("a read is not faulted");
    let e = iam
        .put_role_policy()
        .role_name(FLOW_ROLE)
        .policy_name("lost")
        .policy_document(crate::support::seed::WRITE_LOGS)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(e.code(), Some("ServiceFailure" | "ServiceUnavailable")),
        "{e:?}"
    );
    let e = s3
        .put_bucket_cors()
        .bucket(OUTPUT)
        .cors_configuration(
            aws_sdk_s3::types::CorsConfiguration::builder()
                .cors_rules(
                    aws_sdk_s3::types::CorsRule::builder()
                        .allowed_methods("GET")
                        .allowed_origins("*")
                        .build()
                        .expect("a rule"),
                )
                .build()
                .expect("a configuration"),
        )
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(e.code(), Some("InternalError" | "ServiceUnavailable")),
        "{e:?}"
    );
    let account = Account::read(&reader).await;
    assert!(account.inline_policies(FLOW_ROLE).contains_key("lost"));
    assert!(account.cors(OUTPUT).is_some(), "the CORS write took effect");

    let counts = proxy.counts();
    for kind in [
        FaultKind::Throttled,
        FaultKind::Internal,
        FaultKind::Reset,
        FaultKind::LostAnswer,
    ] {
        assert!(counts.get(&kind).copied().unwrap_or(0) > 0, "{counts:?}");
    }
}

/// The stories of `cases` (a seed and the examples it runs) at `rate`, one
/// moto per seed, then every example for each extra seed
/// (`A2I_FIX_FAULT_SEEDS`, `A2I_FIX_FAULT_SEED`); panics listing every
/// problem with its seed.
async fn stories_at(rate: f64, cases: &[(u64, &[&str])], env: Vec<(&'static str, String)>) {
    let defaults: Vec<u64> = cases.iter().map(|(s, _)| *s).collect();
    let mut problems = Vec::new();
    for seed in seeds(&defaults) {
        let examples: &[&str] = cases
            .iter()
            .find(|(s, _)| *s == seed)
            .map(|(_, e)| *e)
            .unwrap_or(&EXAMPLES);
        let moto = Moto::start();
        seed_broken_account(&moto, true).await;
        let reader = moto.clients().await;
        let start = Account::read(&reader).await;
        let proxy = FaultProxy::start(moto.port, seed, Faults::Off);
        let cwd = tempfile::tempdir().expect("temp dir");
        let bench = Bench {
            moto: &moto,
            proxy: &proxy,
            reader: &reader,
            cwd: cwd.path(),
            faults: Faults::Random { rate },
            env: env.clone(),
            label: label(seed, rate, &env),
        };
        let mut failures = 0;
        for name in examples {
            let story: Story = bench.story(name, &start).await;
            failures += story.failures.len();
            problems.extend(story.problems);
        }
        eprintln!(
            "{}: injected {:?} over {} forwarded requests; {failures} failed run(s)",
            bench.label,
            proxy.counts(),
            proxy.forwarded()
        );
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

/// How a story names its run, and how to replay it.
pub fn label(seed: u64, rate: f64, env: &[(&'static str, String)]) -> String {
    format!(
        "seed {seed} (A2I_FIX_FAULT_SEED={seed}) at {:.0}% faults{}",
        rate * 100.0,
        if env.is_empty() {
            String::new()
        } else {
            format!(" with {env:?}")
        }
    )
}

// The default cases are few: at the SDK's own backoff (1 s base, up to
// 20 s) an apply through 30% faults takes 30 to 60 s.

#[tokio::test]
async fn faults_at_10_percent_lose_nothing_name_the_fault_and_converge() {
    stories_at(
        0.10,
        &[(1, &["kms-output.toml", "shared-role.toml"])],
        vec![],
    )
    .await;
}

#[tokio::test]
async fn faults_at_30_percent_lose_nothing_name_the_fault_and_converge() {
    stories_at(0.30, &[(2, &["shared-role.toml"])], vec![]).await;
}

#[tokio::test]
async fn giving_up_after_two_attempts_names_the_call_and_the_fault_and_loses_nothing() {
    stories_at(
        0.30,
        &[(
            3,
            &[
                "custom-task.toml",
                "kms-output.toml",
                "public-workforce.toml",
            ],
        )],
        vec![("AWS_MAX_ATTEMPTS", "2".into())],
    )
    .await;
}

/// Apply `spec` with every write's answer lost once: it must succeed with
/// no error, converge, and roll back exactly.
async fn lost_answers(moto: &Moto, name: &str) {
    let reader = moto.clients().await;
    let start = Account::read(&reader).await;
    let proxy = FaultProxy::start(moto.port, 0, Faults::LoseEachWriteOnce);
    let cwd = tempfile::tempdir().expect("temp dir");
    let backups = tempfile::tempdir().expect("temp dir");
    let spec = example(name);
    let p = |p: &std::path::Path| p.to_str().expect("UTF-8").to_string();
    let what = format!("{name} with every write's answer lost once");
    let out = run(a2i_fix_in(moto, cwd.path())
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .args(["apply", "--yes", "--spec", &p(&spec), "--backup-dir"])
        .arg(backups.path()));
    let lost = proxy.counts().get(&FaultKind::LostAnswer).copied();
    assert!(lost.unwrap_or(0) > 0, "{what}: no write was made");
    out.assert_code(0, &format!("{what}: apply ({lost:?} answers lost)"));
    assert!(
        out.last_line_before_journal()
            .starts_with("Apply complete!"),
        "{what}: {}",
        out.all()
    );
    assert_kept(&start, &Account::read(&reader).await, &what);
    proxy.set(Faults::Off);
    let again = run(a2i_fix_in(moto, cwd.path())
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .args(["plan", "--detailed-exitcode", "--spec", &p(&spec)]));
    assert!(matches!(again.code, Some(0 | 3)), "{what}: {}", again.all());
    let back = run(a2i_fix_in(moto, cwd.path())
        .args(["rollback", &p(&out.journal()), "--yes", "--backup-dir"])
        .arg(cwd.path().join("undo")));
    back.assert_code(0, &format!("{what}: rollback"));
    assert_identical(
        &start,
        &Account::read(&reader).await,
        &format!("{what}: after rollback"),
    );
}

#[tokio::test]
async fn a_lost_answer_to_each_write_is_retried_and_apply_succeeds_without_error() {
    let moto = Moto::start();
    seed_broken_account(&moto, true).await;
    for name in EXAMPLES {
        lost_answers(&moto, name).await;
    }
}

#[tokio::test]
async fn a_lost_answer_to_create_role_is_retried_and_apply_succeeds_without_error() {
    let moto = Moto::start();
    seed_broken_account(&moto, false).await;
    lost_answers(&moto, "custom-task.toml").await;
}
