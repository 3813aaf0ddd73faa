//! Helpers for the tests that run the real `a2i-fix` binary against moto
//! (`tests/cli_apply*.rs`): building the command, a realistically broken
//! account for every `plans/` example, an independent read-back of the
//! whole account with plain SDK calls (never through `state`, so a bug there
//! cannot hide a bug in apply), comparisons (what was there is kept, by the
//! policy module's equivalence; a rollback restores documents byte for
//! byte), and a proxy that holds requests to freeze the binary at a
//! chosen moment.
//!
//! Include it beside `common` with
//! `mod common; #[path = "common/cli.rs"] mod cli;`.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use a2i_fix::aws::Clients;
use a2i_fix::plan::{Change, Target};
use a2i_fix::policy::{self, CorsConfiguration, CorsRule, PolicyDocument};
use a2i_fix::spec::PrincipalKind;

use crate::common::{LAMBDA_TRUST, Moto};

// ---------------------------------------------------------------------------
// Running the binary.

/// `a2i-fix` pointed at `moto`, run in `cwd` (so that the default backup
/// directory, if a test forgets `--backup-dir`, is a temp dir too). No colour;
/// verification and the KMS retry budget are short, so that a failing test
/// fails in seconds. Standard input is left to the caller (see [`run`]).
pub fn a2i_fix(moto: &Moto, cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_a2i-fix"));
    moto.configure(&mut cmd);
    cmd.current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("A2I_FIX_VERIFY_SECONDS", "10")
        .env("A2I_FIX_KMS_RETRY_SECONDS", "5");
    cmd
}

/// What a finished run printed.
#[derive(Debug)]
pub struct Output {
    /// `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Everything, for assertion messages.
    pub fn all(&self) -> String {
        format!(
            "exit code: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// Panics, showing the output, unless the exit code is `code`.
    pub fn expect_code(&self, code: i32, what: &str) -> &Self {
        assert_eq!(self.code, Some(code), "{what}:\n{}", self.all());
        self
    }

    /// The `Plan: N to add, M to change, D to destroy.` line, as numbers.
    pub fn plan_summary(&self) -> (usize, usize, usize) {
        plan_summary(&self.stdout).unwrap_or_else(|| panic!("no `Plan:` line:\n{}", self.all()))
    }

    /// The journal named by the `Journal: PATH (...)` line.
    pub fn journal(&self) -> PathBuf {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix("Journal: "))
            .and_then(|rest| rest.split(" (`").next())
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("no `Journal:` line:\n{}", self.all()))
    }

    /// The last line that is not the `Journal:` line.
    pub fn last_line_before_journal(&self) -> &str {
        self.stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty() && !l.starts_with("Journal: "))
            .unwrap_or("")
    }

    /// The per-change lines of an apply report: `(address, status)` where
    /// status is `applied`, `failed` or `not attempted`.
    pub fn report_statuses(&self) -> Vec<(String, String)> {
        self.stdout
            .lines()
            .filter_map(|l| {
                let (address, rest) = l.split_once(": ")?;
                if address.contains(' ') || !address.contains('.') {
                    return None;
                }
                let status = ["applied (", "failed (", "not attempted"]
                    .iter()
                    .find(|s| rest.starts_with(**s))?;
                Some((
                    address.to_string(),
                    status.trim_end_matches(" (").to_string(),
                ))
            })
            .collect()
    }
}

/// Parse `Plan: N to add, M to change, D to destroy.` out of a rendered plan.
pub fn plan_summary(text: &str) -> Option<(usize, usize, usize)> {
    let line = text.lines().find(|l| l.starts_with("Plan: "))?;
    let nums: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    match nums.as_slice() {
        [a, c, d] => Some((*a, *c, *d)),
        _ => None,
    }
}

/// Run to completion with standard input closed (not a terminal), as a
/// pipeline would.
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null());
    output_of(cmd)
}

/// Run to completion with `input` on a pipe as standard input.
pub fn run_with_stdin(cmd: &mut Command, input: &str) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("starting a2i-fix");
    if let Some(mut stdin) = child.stdin.take() {
        // The binary may refuse before reading: a closed pipe is fine.
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().expect("waiting for a2i-fix");
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn output_of(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("running a2i-fix");
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `plans/NAME` in this repository.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("plans")
        .join(name)
}

/// Every `plans/*.toml` example.
pub const EXAMPLES: [&str; 6] = [
    "custom-task.toml",
    "kms-output.toml",
    "public-workforce.toml",
    "rekognition.toml",
    "shared-role.toml",
    "textract.toml",
];

/// The files in `dir` (journals), sorted; none when it does not exist.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut v: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------
// A broken account for every example.

pub const INPUT: &str = "acme-a2i-input";
pub const RECEIPTS: &str = "acme-a2i-receipts";
pub const OUTPUT: &str = "acme-a2i-output";
pub const FLOW_ROLE: &str = "A2IFlowRole";
pub const PREVIEW_ROLE: &str = "A2IPreviewRole";
pub const CALLER_ROLE: &str = "ml-app";
pub const CALLER_USER: &str = "invoice-bot";
pub const KEY_ALIAS: &str = "alias/a2i-output";
pub const S3_READ_ONLY: &str = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess";

/// An unrelated inline policy of the flow role (must survive every apply).
pub const WRITE_LOGS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["logs:CreateLogStream","logs:PutLogEvents"],"Resource":"arn:aws:logs:us-east-1:123456789012:log-group:/acme/*"}]}"#;

/// Key policy: the root statement plus an unrelated grant (must survive).
pub fn seeded_key_policy() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Id":"key-default-1","Statement":[{{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{acct}:root"}},"Action":"kms:*","Resource":"*"}},{{"Sid":"AuditorsMayDescribe","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{acct}:role/{CALLER_ROLE}"}},"Action":["kms:DescribeKey","kms:GetKeyPolicy"],"Resource":"*"}}]}}"#,
        acct = crate::common::ACCOUNT_ID
    )
}

/// What [`seed_broken_account`] created that tests need to name.
pub struct Seeded {
    pub key_id: String,
}

/// One account that every `plans/` example finds broken (the names of
/// `plans/README.md`), with something unrelated on each resource that every
/// apply must keep:
/// - `acme-a2i-input`: a CORS rule for an upload page (ID, headers, max age);
/// - `acme-a2i-receipts`: a CORS rule allowing GET, but not from `*`;
/// - `acme-a2i-output`: exists;
/// - `A2IFlowRole` (unless `with_flow_role` is false) and `A2IPreviewRole`:
///   trust only Lambda; the flow role has an inline policy for its logs;
/// - caller role `ml-app` and caller user `invoice-bot`: an unrelated
///   managed policy each;
/// - the key behind `alias/a2i-output`: root statement and an auditors'
///   statement.
pub async fn seed_broken_account(moto: &Moto, with_flow_role: bool) -> Seeded {
    let seed = moto.seed().await;
    let upload = CorsRule {
        id: Some("web-uploads".into()),
        allowed_headers: vec!["*".into()],
        allowed_methods: vec!["PUT".into(), "POST".into()],
        allowed_origins: vec!["https://upload.acme.example".into()],
        expose_headers: vec!["ETag".into()],
        max_age_seconds: Some(3000),
    };
    seed.bucket_with_cors(INPUT, &[upload]).await;
    seed.bucket_with_cors(
        RECEIPTS,
        &[crate::common::cors_rule(
            &["GET"],
            &["https://receipts.acme.example"],
        )],
    )
    .await;
    seed.bucket(OUTPUT).await;
    if with_flow_role {
        seed.role(FLOW_ROLE, LAMBDA_TRUST).await;
        seed.inline_policy(FLOW_ROLE, "write-logs", WRITE_LOGS)
            .await;
    }
    seed.role(PREVIEW_ROLE, LAMBDA_TRUST).await;
    seed.role(CALLER_ROLE, LAMBDA_TRUST).await;
    seed.attach_role_policy(CALLER_ROLE, S3_READ_ONLY).await;
    seed.user(CALLER_USER).await;
    seed.attach_user_policy(CALLER_USER, S3_READ_ONLY).await;
    let (key_id, _) = seed.key(Some(&seeded_key_policy())).await;
    seed.alias(KEY_ALIAS, &key_id).await;
    Seeded { key_id }
}

// ---------------------------------------------------------------------------
// Reading the whole account back, independently of `state`.

/// One document (or attachment list) as AWS returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Doc {
    /// A policy document's exact text (URL-decoded where IAM encodes it).
    Policy(String),
    Cors(CorsConfiguration),
    /// Managed policy ARNs attached to a role or user.
    Attached(BTreeSet<String>),
}

/// Every document of the account, by a key naming it:
/// `bucket NAME cors`, `role NAME trust`, `role NAME inline POLICY`,
/// `role NAME attached`, `user NAME attached`, `key ID policy`.
/// A key that is missing is a document that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account(pub BTreeMap<String, Doc>);

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn sdk_rule(r: &aws_sdk_s3::types::CorsRule) -> CorsRule {
    CorsRule {
        id: r.id().map(str::to_string),
        allowed_headers: r.allowed_headers().to_vec(),
        allowed_methods: r.allowed_methods().to_vec(),
        allowed_origins: r.allowed_origins().to_vec(),
        expose_headers: r.expose_headers().to_vec(),
        max_age_seconds: r.max_age_seconds(),
    }
}

/// The key of `target`'s document in an [`Account`].
pub fn key_of(target: &Target) -> String {
    match target {
        Target::BucketCors { bucket } => format!("bucket {bucket} cors"),
        Target::Role { name, .. } | Target::TrustPolicy { role: name } => {
            format!("role {name} trust")
        }
        Target::InlinePolicy { role, policy_name } => format!("role {role} inline {policy_name}"),
        Target::KeyPolicy { key_id, .. } => format!("key {key_id} policy"),
        Target::Attachment { kind, name, .. } => match kind {
            PrincipalKind::Role => format!("role {name} attached"),
            PrincipalKind::User => format!("user {name} attached"),
        },
    }
}

impl Account {
    /// Read every bucket's CORS, every role (trust, inline, attached), every
    /// user's attachments and every key's policy.
    pub async fn read(c: &Clients) -> Account {
        let mut m = BTreeMap::new();
        let buckets = c.s3.list_buckets().send().await.expect("list buckets");
        for b in buckets.buckets() {
            let name = b.name().unwrap_or_default().to_string();
            match c.s3.get_bucket_cors().bucket(&name).send().await {
                Ok(out) => {
                    let rules = out.cors_rules().iter().map(sdk_rule).collect();
                    m.insert(
                        format!("bucket {name} cors"),
                        Doc::Cors(CorsConfiguration { rules }),
                    );
                }
                Err(e) => {
                    let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&e);
                    assert_eq!(
                        code,
                        Some("NoSuchCORSConfiguration"),
                        "get CORS of {name}: {e:?}"
                    );
                }
            }
        }
        let roles = c
            .iam
            .list_roles()
            .max_items(1000)
            .send()
            .await
            .expect("list roles");
        for r in roles.roles() {
            let name = r.role_name().to_string();
            let role = c
                .iam
                .get_role()
                .role_name(&name)
                .send()
                .await
                .expect("get role");
            let trust = role
                .role
                .and_then(|r| r.assume_role_policy_document)
                .unwrap_or_default();
            m.insert(format!("role {name} trust"), Doc::Policy(decode(&trust)));
            let inline = c
                .iam
                .list_role_policies()
                .role_name(&name)
                .max_items(1000)
                .send()
                .await
                .expect("list role policies");
            for p in inline.policy_names() {
                let doc = c
                    .iam
                    .get_role_policy()
                    .role_name(&name)
                    .policy_name(p)
                    .send()
                    .await
                    .expect("get role policy");
                m.insert(
                    format!("role {name} inline {p}"),
                    Doc::Policy(decode(&doc.policy_document)),
                );
            }
            let attached = c
                .iam
                .list_attached_role_policies()
                .role_name(&name)
                .max_items(1000)
                .send()
                .await
                .expect("list attached role policies");
            m.insert(
                format!("role {name} attached"),
                Doc::Attached(
                    attached
                        .attached_policies()
                        .iter()
                        .filter_map(|p| p.policy_arn.clone())
                        .collect(),
                ),
            );
        }
        let users = c
            .iam
            .list_users()
            .max_items(1000)
            .send()
            .await
            .expect("list users");
        for u in users.users() {
            let name = u.user_name().to_string();
            let attached = c
                .iam
                .list_attached_user_policies()
                .user_name(&name)
                .max_items(1000)
                .send()
                .await
                .expect("list attached user policies");
            m.insert(
                format!("user {name} attached"),
                Doc::Attached(
                    attached
                        .attached_policies()
                        .iter()
                        .filter_map(|p| p.policy_arn.clone())
                        .collect(),
                ),
            );
        }
        let keys = c.kms.list_keys().send().await.expect("list keys");
        for k in keys.keys() {
            let id = k.key_id().unwrap_or_default().to_string();
            let policy = c
                .kms
                .get_key_policy()
                .key_id(&id)
                .policy_name("default")
                .send()
                .await
                .expect("get key policy");
            m.insert(
                format!("key {id} policy"),
                Doc::Policy(policy.policy.unwrap_or_default()),
            );
        }
        Account(m)
    }

    pub fn get(&self, key: &str) -> Option<&Doc> {
        self.0.get(key)
    }
}

fn parse_policy(key: &str, text: &str) -> PolicyDocument {
    PolicyDocument::parse(text).unwrap_or_else(|e| panic!("{key}: not a policy ({e}): {text}"))
}

/// Nothing was written: every document is byte for byte what it was.
pub fn assert_untouched(before: &Account, after: &Account, what: &str) {
    assert_identical(before, after, &format!("{what}: something was written"));
}

/// The same documents, byte for byte (what a rollback must achieve: it
/// writes back the exact text the journal recorded); panics listing every
/// difference.
pub fn assert_identical(expected: &Account, actual: &Account, what: &str) {
    let keys: BTreeSet<&String> = expected.0.keys().chain(actual.0.keys()).collect();
    let diffs: Vec<String> = keys
        .into_iter()
        .filter(|k| expected.0.get(*k) != actual.0.get(*k))
        .map(|k| {
            format!(
                "`{k}`:\n    expected {:?}\n    found    {:?}",
                expected.0.get(k),
                actual.0.get(k)
            )
        })
        .collect();
    assert!(
        diffs.is_empty(),
        "{what}; documents differ:\n  {}",
        diffs.join("\n  ")
    );
}

/// Everything that was there before is still there: every document still
/// exists, every statement of every policy has an equivalent statement in
/// the new document, every CORS rule an equivalent rule (in the same
/// relative order), every attachment is still attached.
pub fn assert_kept(before: &Account, after: &Account, what: &str) {
    let mut lost = Vec::new();
    for (k, old) in &before.0 {
        let Some(new) = after.0.get(k) else {
            lost.push(format!("`{k}` no longer exists"));
            continue;
        };
        match (old, new) {
            (Doc::Policy(o), Doc::Policy(n)) => {
                let (o, n) = (parse_policy(k, o), parse_policy(k, n));
                for s in &o.statements {
                    if !n
                        .statements
                        .iter()
                        .any(|t| policy::statements_equivalent(s, t))
                    {
                        lost.push(format!("`{k}`: statement {s:?} is gone"));
                    }
                }
            }
            (Doc::Cors(o), Doc::Cors(n)) => {
                // In order: S3 uses the first matching rule.
                let mut rest = n.rules.iter();
                for r in &o.rules {
                    if !rest.any(|t| policy::equivalence::cors_rules_equivalent(r, t)) {
                        lost.push(format!("`{k}`: CORS rule {r:?} is gone or moved"));
                    }
                }
            }
            (Doc::Attached(o), Doc::Attached(n)) => {
                for arn in o.difference(n) {
                    lost.push(format!("`{k}`: `{arn}` was detached"));
                }
            }
            _ => lost.push(format!("`{k}` changed kind")),
        }
    }
    assert!(lost.is_empty(), "{what}:\n  {}", lost.join("\n  "));
}

/// The document `change` writes is what AWS now holds (by equivalence; an
/// attachment: attached).
pub fn assert_written(account: &Account, change: &Change) {
    let key = key_of(&change.target);
    let after = change
        .after
        .as_deref()
        .unwrap_or_else(|| panic!("`{}` writes nothing", change.address));
    let found = account.get(&key);
    match (&change.target, found) {
        (Target::Attachment { policy_arn, .. }, Some(Doc::Attached(arns))) => {
            assert!(
                arns.contains(policy_arn),
                "`{}`: `{policy_arn}` is not attached: {arns:?}",
                change.address
            );
        }
        (Target::BucketCors { .. }, Some(Doc::Cors(config))) => {
            let wanted = CorsConfiguration::parse(after)
                .unwrap_or_else(|e| panic!("`{}`: after is not CORS: {e}", change.address));
            assert!(
                policy::cors_equivalent(&wanted, config),
                "`{}`: AWS holds {config:?}, the plan wrote {after}",
                change.address
            );
        }
        (_, Some(Doc::Policy(text))) => {
            assert!(
                policy::equivalent(&parse_policy(&key, after), &parse_policy(&key, text)),
                "`{}`: AWS holds {text}, the plan wrote {after}",
                change.address
            );
        }
        (_, other) => panic!(
            "`{}`: expected its document under `{key}`, found {other:?}",
            change.address
        ),
    }
}

// ---------------------------------------------------------------------------
// A proxy that freezes the binary.

/// A TCP proxy in front of moto that forwards every request until `hold`
/// returns true; from then on each new request (or chunk of one) is held
/// until [`HoldingProxy::release`]: the binary waits on it as on a hung AWS
/// endpoint. It never changes bytes.
pub struct HoldingProxy {
    pub endpoint: String,
    held: Arc<AtomicUsize>,
    flags: Flags,
}

/// `shutdown`: stop everything; `released`: forward what is held, and hold
/// nothing more.
#[derive(Clone)]
struct Flags {
    shutdown: Arc<AtomicBool>,
    released: Arc<AtomicBool>,
}

type Hold = Arc<dyn Fn() -> bool + Send + Sync>;

impl HoldingProxy {
    pub fn start(upstream_port: u16, hold: Hold) -> HoldingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let held = Arc::new(AtomicUsize::new(0));
        let flags = Flags {
            shutdown: Arc::new(AtomicBool::new(false)),
            released: Arc::new(AtomicBool::new(false)),
        };
        let (h, f) = (held.clone(), flags.clone());
        std::thread::spawn(move || {
            while !f.shutdown.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let (hold, h, f) = (hold.clone(), h.clone(), f.clone());
                        std::thread::spawn(move || serve(client, upstream_port, hold, h, f));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => return,
                }
            }
        });
        HoldingProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            held,
            flags,
        }
    }

    /// How many requests have been held.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// Forward what is held and everything after it.
    pub fn release(&self) {
        self.flags.released.store(true, Ordering::SeqCst);
    }
}

impl Drop for HoldingProxy {
    fn drop(&mut self) {
        self.flags.shutdown.store(true, Ordering::SeqCst);
    }
}

fn serve(client: TcpStream, upstream_port: u16, hold: Hold, held: Arc<AtomicUsize>, flags: Flags) {
    let _ = client.set_nonblocking(false);
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
        return;
    };
    let (Ok(client_in), Ok(upstream_in)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let f = flags.clone();
    std::thread::spawn(move || pump(upstream_in, client, &f, None));
    pump(client_in, upstream, &flags, Some((&*hold, &held)));
}

fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    flags: &Flags,
    hold: Option<(&(dyn Fn() -> bool + Send + Sync), &AtomicUsize)>,
) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 16 * 1024];
    while !flags.shutdown.load(Ordering::SeqCst) {
        match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if let Some((hold, held)) = hold
                    && !flags.released.load(Ordering::SeqCst)
                    && hold()
                {
                    held.fetch_add(1, Ordering::SeqCst);
                    while !flags.released.load(Ordering::SeqCst) {
                        if flags.shutdown.load(Ordering::SeqCst) {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}
