//! Many accounts in one run, through the binary, against an AWS
//! Organization in moto: member accounts created with Organizations,
//! reached by assuming a role in each (moto keeps each account's IAM, S3
//! and KMS apart), one of them refused by STS (through a proxy answering
//! `AccessDenied`, since moto lets any role be assumed). Every effect is
//! read back through clients of the member account itself.

use std::path::{Path, PathBuf};

use a2i_fix::aws::{self, AssumeRole, Clients};

use crate::support::fault_proxy::{FaultProxy, Faults};
use crate::support::*;

/// The role a2i-fix assumes in each member account.
const FIX_ROLE: &str = "A2IFixRole";

/// Create the organization and `names.len()` member accounts; their ids.
async fn organization(base: &Clients, names: &[&str]) -> Vec<String> {
    base.organizations
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .expect("create organization");
    let mut ids = Vec::new();
    for name in names {
        let created = base
            .organizations
            .create_account()
            .account_name(*name)
            .email(format!("{name}@example.com"))
            .send()
            .await
            .expect("create account");
        let request = created
            .create_account_status()
            .and_then(|s| s.id())
            .expect("a request id")
            .to_string();
        let status = base
            .organizations
            .describe_create_account_status()
            .create_account_request_id(request)
            .send()
            .await
            .expect("create account status");
        ids.push(
            status
                .create_account_status()
                .and_then(|s| s.account_id())
                .expect("an account id")
                .to_string(),
        );
    }
    ids
}

/// Clients of a member account, straight to moto (never through the proxy).
async fn member(moto: &Moto, base: &Clients, account_id: &str) -> Clients {
    let role = AssumeRole {
        role_arn: format!("arn:aws:iam::{account_id}:role/{FIX_ROLE}"),
        external_id: None,
    };
    aws::assume_role(base, &moto.options(), &role)
        .await
        .expect("assuming the role in the member account")
}

fn spec_for(account_id: &str) -> String {
    format!(
        "[[flow_definition]]\nname = \"review\"\nrole = \"A2IFlowRole\"\ninput_buckets = [\"in-{account_id}\"]\noutput = \"s3://out-{account_id}/reviews/\"\n"
    )
}

/// Buckets of a member account; the input bucket keeps a CORS rule of its
/// own that must survive.
async fn seed_buckets(c: &Clients, account_id: &str) {
    let seed = Seed { c: c.clone() };
    seed.bucket_with_cors(
        &format!("in-{account_id}"),
        &[cors_rule(&["PUT"], &["https://upload.example"])],
    )
    .await;
    seed.bucket(&format!("out-{account_id}")).await;
}

struct Org {
    moto: Moto,
    base: Clients,
    dir: tempfile::TempDir,
    /// name -> account id
    ids: Vec<(String, String)>,
}

impl Org {
    fn id(&self, name: &str) -> &str {
        &self
            .ids
            .iter()
            .find(|(n, _)| n == name)
            .expect("a member")
            .1
    }

    async fn member(&self, name: &str) -> Clients {
        member(&self.moto, &self.base, self.id(name)).await
    }
}

/// Five members: `broken` (role trusting Lambda, no grants, bucket without
/// A2I's CORS), `fresh` (buckets only: the role is created), `right`
/// (made right by a first apply), `denied` (AssumeRole refused) and
/// `missing` (its spec names a bucket that does not exist).
async fn five_accounts() -> Org {
    let moto = Moto::start();
    let base = moto.clients().await;
    let names = ["broken", "fresh", "right", "denied", "missing"];
    let ids = organization(&base, &names).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut file = String::from("[defaults]\nrole = \"A2IFixRole\"\nregions = [\"us-east-1\"]\n");
    for (name, id) in names.iter().zip(&ids) {
        let c = member(&moto, &base, id).await;
        match *name {
            "broken" => {
                seed_buckets(&c, id).await;
                Seed { c: c.clone() }.role(FLOW_ROLE, LAMBDA_TRUST).await;
            }
            "fresh" | "right" | "denied" => seed_buckets(&c, id).await,
            // Only the input bucket is missing, so the error is that one.
            _ => Seed { c: c.clone() }.bucket(&format!("out-{id}")).await,
        }
        std::fs::write(dir.path().join(format!("{name}.toml")), spec_for(id)).expect("spec");
        let tags = if matches!(*name, "broken" | "fresh" | "right") {
            "[\"ok\"]"
        } else {
            "[]"
        };
        file.push_str(&format!(
            "\n[[account]]\naccount_id = \"{id}\"\nname = \"{name}\"\nspec = \"{name}.toml\"\ntags = {tags}\n"
        ));
    }
    std::fs::write(dir.path().join("accounts.toml"), file).expect("accounts file");
    let org = Org {
        moto,
        base,
        dir,
        ids: names.iter().map(|n| n.to_string()).zip(ids).collect(),
    };
    // `right`: made right by a2i-fix itself, alone.
    let out = run(a2i_fix_in(&org.moto, org.dir.path()).args([
        "apply",
        "--accounts",
        "accounts.toml",
        "--only",
        "right",
        "--yes",
    ]));
    out.assert_code(0, "making `right` right");
    org
}

/// The binary in the organization's directory, through `proxy`, which
/// refuses to let anyone assume the role in `denied`.
fn a2i_fix_via(org: &Org, proxy: &FaultProxy) -> std::process::Command {
    let mut cmd = a2i_fix_in(&org.moto, org.dir.path());
    cmd.env("AWS_ENDPOINT_URL", &proxy.endpoint);
    cmd
}

fn denying_proxy(org: &Org) -> FaultProxy {
    let proxy = FaultProxy::start(org.moto.port, 1, Faults::Off);
    proxy.deny(
        "sts:AssumeRole",
        "RoleArn",
        &format!("arn:aws:iam::{}:role/{FIX_ROLE}", org.id("denied")),
    );
    proxy
}

fn journals_in(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    found.retain(|p| p.extension().is_some_and(|x| x == "jsonl"));
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn one_run_plans_applies_and_rolls_back_five_accounts() {
    let org = five_accounts().await;
    let proxy = denying_proxy(&org);
    let before_broken = Account::read(&org.member("broken").await).await;
    let before_fresh = Account::read(&org.member("fresh").await).await;
    let before_right = Account::read(&org.member("right").await).await;
    let management_before = Account::read(&org.base).await;

    // The combined plan: one section per account, then the table; the
    // denied and the missing account fail without stopping the others.
    let out = run(a2i_fix_via(&org, &proxy).args([
        "plan",
        "--accounts",
        "accounts.toml",
        "--detailed-exitcode",
    ]));
    out.assert_code(1, "plan with two accounts failing");
    for name in ["broken", "fresh", "right", "denied", "missing"] {
        let header = format!("=== {name} ({}), us-east-1 ===", org.id(name));
        assert!(
            out.stdout.contains(&header),
            "no section `{header}`:\n{}",
            out.all()
        );
    }
    assert!(out.stdout.contains("ACCOUNT"), "{}", out.all());
    assert!(
        out.stdout
            .contains("5 target(s): 2 with changes, 1 up to date, 2 failed."),
        "{}",
        out.all()
    );
    let denied_arn = format!("arn:aws:iam::{}:role/{FIX_ROLE}", org.id("denied"));
    assert!(
        out.stdout
            .contains(&format!("cannot assume role `{denied_arn}`")),
        "{}",
        out.all()
    );
    assert!(out.stdout.contains("AccessDenied"), "{}", out.all());
    assert!(
        out.stdout.contains(&format!("in-{}", org.id("missing"))),
        "the missing bucket is named:\n{}",
        out.all()
    );
    assert!(
        out.stderr.contains("2 of 5 target(s) could not be planned"),
        "{}",
        out.all()
    );

    // The selected accounts alone, as one JSON document.
    let out = run(a2i_fix_via(&org, &proxy).args([
        "plan",
        "--accounts",
        "accounts.toml",
        "--only",
        "ok",
        "--json",
        "--detailed-exitcode",
    ]));
    out.assert_code(2, "changes pending in the selected accounts");
    let doc = out.json();
    assert_eq!(doc["kind"], "a2i-fix-accounts-plan");
    let targets = doc["targets"].as_array().expect("targets");
    let by_name = |name: &str| {
        targets
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no target {name}"))
    };
    assert_eq!(targets.len(), 3);
    assert_eq!(
        by_name("right")["plan"]["changes"].as_array().map(Vec::len),
        Some(0)
    );
    assert_eq!(by_name("broken")["plan"]["account_id"], org.id("broken"));
    let fresh_actions: Vec<&str> = by_name("fresh")["plan"]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["action"].as_str())
        .collect();
    assert!(fresh_actions.contains(&"create"), "{fresh_actions:?}");
    assert_eq!(doc["summary"]["with_changes"], 2);

    // Apply everything: the failing accounts are reported, the others
    // applied, one journal each, under a run directory.
    let out = run(a2i_fix_via(&org, &proxy).args([
        "apply",
        "--accounts",
        "accounts.toml",
        "--yes",
        "--backup-dir",
        "backups",
    ]));
    out.assert_code(1, "apply with two accounts failing");
    assert!(
        out.stderr.contains("2 of 5 target(s) failed"),
        "{}",
        out.all()
    );
    let backups = org.dir.path().join("backups");
    for name in ["broken", "fresh"] {
        let dir = backups.join(format!("{}-us-east-1", org.id(name)));
        assert_eq!(journals_in(&dir).len(), 1, "one journal for {name}");
    }
    assert!(journals_in(&backups.join(format!("{}-us-east-1", org.id("right")))).is_empty());
    let after_broken = Account::read(&org.member("broken").await).await;
    assert_kept(&before_broken, &after_broken, "broken after apply");
    let cors = after_broken
        .cors(&format!("in-{}", org.id("broken")))
        .expect("CORS");
    assert_eq!(cors.len(), 2, "its own rule and A2I's: {cors:?}");
    assert!(
        after_broken
            .trust(FLOW_ROLE)
            .unwrap()
            .contains("sagemaker.amazonaws.com")
    );
    let after_fresh = Account::read(&org.member("fresh").await).await;
    assert!(
        after_fresh.trust(FLOW_ROLE).is_some(),
        "the flow role was created"
    );
    assert_untouched(
        &before_right,
        &Account::read(&org.member("right").await).await,
        "right",
    );
    // Each account's writes stayed in it: the management account has no
    // flow role, and no member's bucket.
    assert_untouched(
        &management_before,
        &Account::read(&org.base).await,
        "management",
    );

    // Converged: the next plan of the reachable accounts is empty.
    let out = run(a2i_fix_via(&org, &proxy).args([
        "plan",
        "--accounts",
        "accounts.toml",
        "--only",
        "ok",
        "--detailed-exitcode",
    ]));
    out.assert_code(0, "nothing left to change");

    // Roll back the whole run from its directory.
    let runs: Vec<PathBuf> = std::fs::read_dir(backups.join("runs"))
        .expect("a run directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run_dir = runs[0].display().to_string();
    let out = run(a2i_fix_via(&org, &proxy).args([
        "rollback",
        &run_dir,
        "--accounts",
        "accounts.toml",
        "--yes",
        "--backup-dir",
        "backups",
    ]));
    out.assert_code(0, "rollback of the run");
    assert_identical(
        &before_broken,
        &Account::read(&org.member("broken").await).await,
        "broken after rollback",
    );
    assert_identical(
        &before_fresh,
        &Account::read(&org.member("fresh").await).await,
        "fresh after rollback",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn saved_plans_per_account_apply_as_shown_and_a_stale_one_is_refused() {
    let org = five_accounts().await;
    let proxy = denying_proxy(&org);
    let out = run(a2i_fix_via(&org, &proxy).args([
        "plan",
        "--accounts",
        "accounts.toml",
        "--only",
        "ok",
        "--out",
        "plans",
    ]));
    out.assert_code(0, "plan --out DIR");
    let plans = org.dir.path().join("plans");
    let mut saved: Vec<String> = std::fs::read_dir(&plans)
        .expect("plans dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    saved.sort();
    let mut expected: Vec<String> = ["broken", "fresh", "right"]
        .iter()
        .map(|n| format!("{}-us-east-1.plan.json", org.id(n)))
        .collect();
    expected.sort();
    assert_eq!(saved, expected);

    // Someone changes `broken` after the review: its plan is stale.
    let broken = org.member("broken").await;
    let bucket = format!("in-{}", org.id("broken"));
    Seed { c: broken.clone() }
        .put_cors(
            &bucket,
            &[cors_rule(&["GET"], &["https://changed.example"])],
        )
        .await;
    let before_broken = Account::read(&broken).await;
    let out = run(a2i_fix_via(&org, &proxy).args([
        "apply",
        "plans",
        "--accounts",
        "accounts.toml",
        "--yes",
        "--backup-dir",
        "backups",
    ]));
    out.assert_code(1, "one stale plan");
    assert!(out.stdout.contains("changed since"), "{}", out.all());
    assert_untouched(
        &before_broken,
        &Account::read(&broken).await,
        "stale broken",
    );
    // The other account's saved plan was applied as shown.
    let fresh = Account::read(&org.member("fresh").await).await;
    assert!(
        fresh.trust(FLOW_ROLE).is_some(),
        "fresh applied from its saved plan"
    );

    // Without `--yes` and without a terminal to ask on: refused, nothing
    // written (the saved plans of `broken` and `right` are still there).
    let before_fresh = Account::read(&org.member("fresh").await).await;
    let out =
        run(a2i_fix_via(&org, &proxy).args(["apply", "plans", "--accounts", "accounts.toml"]));
    out.assert_code(1, "no terminal to confirm on");
    assert!(out.stderr.contains("--yes"), "{}", out.all());
    assert_untouched(
        &before_fresh,
        &Account::read(&org.member("fresh").await).await,
        "unconfirmed",
    );

    // One account's journal, rolled back alone: the account is the one the
    // journal names, reached as the file says.
    let fresh_dir = org
        .dir
        .path()
        .join("backups")
        .join(format!("{}-us-east-1", org.id("fresh")));
    let journal = journals_in(&fresh_dir).pop().expect("the journal of fresh");
    let out = run(a2i_fix_via(&org, &proxy)
        .args(["rollback"])
        .arg(&journal)
        .args(["--accounts", "accounts.toml", "--yes"]));
    out.assert_code(0, "rollback of one account's journal");
    let fresh = Account::read(&org.member("fresh").await).await;
    assert!(
        fresh.trust(FLOW_ROLE).is_none(),
        "the created role is deleted again"
    );

    // A plan edited after it was written stops the whole run before
    // anything is read or written.
    let broken_plan = plans.join(format!("{}-us-east-1.plan.json", org.id("broken")));
    let text = std::fs::read_to_string(&broken_plan).unwrap();
    let edited = text.replacen("https://", "https://evil.", 1);
    assert_ne!(text, edited, "the plan has an origin to edit");
    std::fs::write(&broken_plan, &edited).unwrap();
    let before_broken = Account::read(&broken).await;
    let out = run(a2i_fix_via(&org, &proxy).args([
        "apply",
        "plans",
        "--accounts",
        "accounts.toml",
        "--yes",
    ]));
    out.assert_code(1, "an edited plan");
    assert!(
        out.stderr.contains("was edited after it was written"),
        "{}",
        out.all()
    );
    assert!(
        out.stdout.is_empty(),
        "nothing planned or applied: {}",
        out.all()
    );
    assert_untouched(&before_broken, &Account::read(&broken).await, "edited plan");
    std::fs::write(&broken_plan, &text).unwrap();

    // A valid plan of an account the file does not list stops it too.
    let mut foreign = a2i_fix::saved::parse_saved_plan("broken", &text).expect("a valid plan");
    foreign.account_id = "999999999999".into();
    std::fs::write(
        plans.join("999999999999-us-east-1.plan.json"),
        a2i_fix::saved::to_saved_json(&foreign),
    )
    .unwrap();
    let out = run(a2i_fix_via(&org, &proxy).args([
        "apply",
        "plans",
        "--accounts",
        "accounts.toml",
        "--yes",
    ]));
    out.assert_code(1, "a plan of an unknown account");
    assert!(
        out.stderr
            .contains("is for account `999999999999`, which `accounts.toml` does not list"),
        "{}",
        out.all()
    );
    assert!(
        out.stdout.is_empty(),
        "nothing planned or applied: {}",
        out.all()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_from_organization_lists_the_active_accounts() {
    let moto = Moto::start();
    let base = moto.clients().await;
    let ids = organization(&base, &["dev", "prod", "gone"]).await;
    base.organizations
        .close_account()
        .account_id(&ids[2])
        .send()
        .await
        .expect("close account");
    let dir = tempfile::tempdir().unwrap();
    let out = run(a2i_fix_in(&moto, dir.path()).args([
        "accounts",
        "--from-organization",
        "--role",
        FIX_ROLE,
        "--regions",
        "us-east-1,eu-west-1",
    ]));
    out.assert_code(0, "accounts --from-organization");
    let file = a2i_fix::accounts::load(&dir.path().join("accounts.toml")).expect("a valid file");
    let listed: Vec<&str> = file
        .accounts
        .iter()
        .map(|a| a.account_id.as_str())
        .collect();
    assert_eq!(listed, [ACCOUNT_ID, ids[0].as_str(), ids[1].as_str()]);
    assert_eq!(file.accounts[1].name, "dev");
    assert_eq!(file.accounts[1].regions, ["us-east-1", "eu-west-1"]);
    // Not replaced without `--force`.
    let again = run(a2i_fix_in(&moto, dir.path()).args([
        "accounts",
        "--from-organization",
        "--role",
        FIX_ROLE,
        "--regions",
        "us-east-1",
    ]));
    again.assert_code(1, "existing file");
    assert!(again.stderr.contains("--force"), "{}", again.all());
}

/// The management account reached with the run's own credentials and with
/// a profile; an entry whose credentials reach another account than its
/// `account_id` is refused, naming both.
#[tokio::test(flavor = "multi_thread")]
async fn profiles_and_the_run_s_own_credentials_are_checked_against_the_account_id() {
    let moto = Moto::start();
    let seed = moto.seed().await;
    seed.bucket("mgmt-in").await;
    seed.bucket("mgmt-out").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a2i.toml"),
        "[[flow_definition]]\nname = \"review\"\nrole = \"A2IFlowRole\"\ninput_buckets = [\"mgmt-in\"]\noutput = \"s3://mgmt-out/reviews/\"\n",
    )
    .unwrap();
    // A profile with the same static keys as the run (moto's account).
    let config = dir.path().join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile mgmt]\naws_access_key_id = {ACCESS_KEY_ID}\naws_secret_access_key = {SECRET_ACCESS_KEY}\nregion = {REGION}\n"
        ),
    )
    .unwrap();
    // Plan with this accounts file.
    let plan = |file: String, extra: &[&str]| {
        std::fs::write(dir.path().join("accounts.toml"), file).unwrap();
        let mut cmd = a2i_fix_in(&moto, dir.path());
        cmd.env("AWS_CONFIG_FILE", &config)
            .args(["plan", "--accounts", "accounts.toml"])
            .args(extra);
        run(&mut cmd)
    };
    let own = format!(
        "[defaults]\nregions = [\"{REGION}\"]\nspec = \"a2i.toml\"\n\n\
         [[account]]\naccount_id = \"{ACCOUNT_ID}\"\nname = \"own\"\n\n"
    );
    // One account listed twice is refused before anything is read.
    let dup = format!("[[account]]\naccount_id = \"{ACCOUNT_ID}\"\nname = \"dup\"\n");
    let out = plan(format!("{own}{dup}"), &[]);
    out.assert_code(1, "an account listed twice");
    assert!(
        out.stderr.contains("`accounts.toml`, line 9"),
        "{}",
        out.all()
    );
    assert!(
        out.stderr.contains("already listed as `own`"),
        "{}",
        out.all()
    );

    let elsewhere =
        "[[account]]\naccount_id = \"999999999999\"\nname = \"elsewhere\"\nprofile = \"mgmt\"\n";
    let out = plan(format!("{own}{elsewhere}"), &["--detailed-exitcode"]);
    out.assert_code(1, "one entry reaches another account");
    assert!(
        out.stdout.contains(&format!(
            "the credentials for `elsewhere` belong to account `{ACCOUNT_ID}`"
        )),
        "{}",
        out.all()
    );
    assert!(
        out.stdout.contains("not to `999999999999`"),
        "{}",
        out.all()
    );
    assert!(
        out.stdout
            .contains(&format!("=== own ({ACCOUNT_ID}), {REGION} ===")),
        "{}",
        out.all()
    );
    // The account reached by the profile, alone: planned.
    let by_profile = format!(
        "[[account]]\naccount_id = \"{ACCOUNT_ID}\"\nname = \"by-profile\"\nprofile = \"mgmt\"\nregions = [\"{REGION}\"]\nspec = \"a2i.toml\"\n"
    );
    let out = plan(by_profile, &["--detailed-exitcode"]);
    out.assert_code(2, "planned through the profile");
    assert!(
        out.stdout.contains("1 target(s): 1 with changes"),
        "{}",
        out.all()
    );
}

/// Usage errors of the many-account commands, before any AWS call.
#[test]
fn many_account_usage_errors_say_what_to_do() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join("plans")).unwrap();
    std::fs::write(
        home.path().join("accounts.toml"),
        "[[account]]\naccount_id = \"111111111111\"\nname = \"dev\"\nregions = [\"us-east-1\"]\nspec = \"a.toml\"\ntags = [\"nonprod\"]\n",
    )
    .unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["apply", "plans"], "is applied with `--accounts FILE`"),
        (&["rollback", "plans"], "rolled back with `--accounts FILE`"),
        (
            &["plan", "--accounts", "accounts.toml", "--only", "prod"],
            "`--only prod` names no account and no tag",
        ),
        (
            &[
                "plan",
                "--accounts",
                "accounts.toml",
                "--format",
                "markdown",
            ],
            "`--accounts` prints text or JSON",
        ),
        (&["plan", "--only", "dev"], "--accounts"),
        (
            &["plan", "--accounts", "missing.toml"],
            "cannot read accounts file `missing.toml`",
        ),
        (
            &["apply", "plans", "--accounts", "accounts.toml", "--yes"],
            "holds no saved plan",
        ),
    ];
    for (args, wanted) in cases {
        let out = run(a2i_fix_without_aws(home.path()).args(*args));
        out.assert_code(1, &args.join(" "));
        assert!(out.stderr.contains(wanted), "{args:?}: {}", out.all());
    }
}

/// An account with `discover = true` is planned from its own flow
/// definitions (SageMaker answered by the fake, reached through
/// `AWS_ENDPOINT_URL_SAGEMAKER`), with the credentials of that account.
#[cfg(feature = "discover")]
#[tokio::test(flavor = "multi_thread")]
async fn an_account_may_be_planned_from_its_flow_definitions() {
    use crate::support::fake_sagemaker::{FakeFlow, FakeSageMaker};
    let moto = Moto::start();
    let base = moto.clients().await;
    let ids = organization(&base, &["disc"]).await;
    let id = &ids[0];
    let c = member(&moto, &base, id).await;
    Seed { c }.bucket(&format!("out-{id}")).await;
    let fake = FakeSageMaker::start(vec![FakeFlow::new(
        "review",
        &format!("arn:aws:iam::{id}:role/A2IFlowRole"),
        &format!("s3://out-{id}/reviews"),
    )]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("accounts.toml"),
        format!(
            "[[account]]\naccount_id = \"{id}\"\nname = \"disc\"\nrole = \"{FIX_ROLE}\"\nregions = [\"{REGION}\"]\ndiscover = true\n"
        ),
    )
    .unwrap();
    let out = run(a2i_fix_in(&moto, dir.path())
        .env("AWS_ENDPOINT_URL_SAGEMAKER", &fake.endpoint)
        .args(["plan", "--accounts", "accounts.toml", "--json"]));
    out.assert_code(0, "plan of a discovered account");
    let doc = out.json();
    let plan = &doc["targets"][0]["plan"];
    assert_eq!(plan["account_id"], id.as_str(), "{}", out.all());
    let addresses: Vec<&str> = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["address"].as_str())
        .collect();
    assert!(
        addresses.contains(&"aws_iam_role.A2IFlowRole"),
        "the flow's role is planned: {addresses:?}"
    );
    assert!(fake.calls("ListFlowDefinitions") >= 1);
}

/// On a terminal, one question for every account: anything but `yes`
/// writes nothing; `yes` applies.
#[tokio::test(flavor = "multi_thread")]
async fn one_question_on_a_terminal_for_every_account() {
    let moto = Moto::start();
    let base = moto.clients().await;
    let ids = organization(&base, &["a", "b"]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut file = format!("[defaults]\nrole = \"{FIX_ROLE}\"\nregions = [\"{REGION}\"]\n");
    let mut members = Vec::new();
    for (name, id) in ["a", "b"].iter().zip(&ids) {
        let c = member(&moto, &base, id).await;
        seed_buckets(&c, id).await;
        std::fs::write(dir.path().join(format!("{name}.toml")), spec_for(id)).unwrap();
        file.push_str(&format!(
            "\n[[account]]\naccount_id = \"{id}\"\nname = \"{name}\"\nspec = \"{name}.toml\"\n"
        ));
        members.push(c);
    }
    std::fs::write(dir.path().join("accounts.toml"), file).unwrap();
    let mut before = Vec::new();
    for c in &members {
        before.push(Account::read(c).await);
    }
    let answer = |text: &str| -> (i32, String) {
        let mut cmd = a2i_fix_in(&moto, dir.path());
        cmd.args([
            "apply",
            "--accounts",
            "accounts.toml",
            "--backup-dir",
            "backups",
        ]);
        let mut session =
            rexpect::session::spawn_command(cmd, Some(60_000)).expect("spawning on a pty");
        session
            .exp_string("Do you want to perform these actions in 2 account(s) and region(s)?")
            .expect("one question for both accounts");
        session.exp_string("Enter a value").expect("the prompt");
        session.send_line(text).expect("answering");
        let rest = session.exp_eof().expect("the end of the output");
        match session.process().wait().expect("the exit status") {
            rexpect::process::WaitStatus::Exited(_, code) => (code, rest),
            other => panic!("answer {text:?}: not a normal exit: {other:?}\n{rest}"),
        }
    };
    let (code, rest) = answer("no");
    assert_eq!(code, 1, "{rest}");
    assert!(
        rest.contains("Apply cancelled. Nothing was written."),
        "{rest}"
    );
    for (c, b) in members.iter().zip(&before) {
        assert_untouched(b, &Account::read(c).await, "answer no");
    }
    let (code, rest) = answer("yes");
    assert_eq!(code, 0, "{rest}");
    for c in &members {
        assert!(Account::read(c).await.trust(FLOW_ROLE).is_some(), "{rest}");
    }
}
