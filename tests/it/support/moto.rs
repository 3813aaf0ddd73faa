//! A moto server (the local AWS emulator) per test, SDK clients pointed at
//! it, and the environment for the CLI binary.
//!
//! One server **per test** (`Moto::start()`), killed when the guard drops.
//! Measured here: moto starts in ~0.6 s and its first IAM call takes ~1.3 s
//! more (it loads the AWS-managed policies), so a test pays ~2 s. In exchange
//! every test has its own account: the `plans/` examples use fixed names
//! (`acme-a2i-input`, `A2IFlowRole`, `ml-app`), API call counts are exact, and
//! apply/rollback tests can compare whole accounts without seeing each
//! other's writes. A shared server would need unique names everywhere and
//! could not count calls per test.
//!
//! The server runs under a tiny `sh` watchdog that holds the read end of a
//! pipe from the test process: when the guard drops, or the test process dies
//! without unwinding, the pipe closes and the watchdog kills moto. No server
//! outlives its test binary.
//!
//! Where moto comes from: `$MOTO_SERVER`, else `.venv/bin/moto_server` at the
//! repository root, else `moto_server` on `PATH`. Missing => the test fails,
//! saying how to install it (`scripts/test.sh` does it for you).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use a2i_fix::aws::{self, AwsOptions, Clients};

use crate::support::seed::Seed;
use crate::support::{ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY};

/// A moto server on a free loopback port; killed on drop.
pub struct Moto {
    watchdog: Child,
    pub port: u16,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    /// Holds the server log and the (absent) AWS config files.
    dir: tempfile::TempDir,
}

/// Where the moto server binary is, or a panic saying how to get it.
pub fn moto_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MOTO_SERVER").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "MOTO_SERVER=`{}` is not a file",
            path.display()
        );
        return path;
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    if venv.is_file() {
        return venv;
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("moto_server");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "moto server not found: these tests need a local AWS emulator.\n\
         Install it with `python3 -m venv .venv && .venv/bin/pip install \"moto[server]\"` \
         at the repository root, or run the whole suite with `scripts/test.sh`, \
         or point `MOTO_SERVER` at a `moto_server` binary."
    )
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
    listener
        .local_addr()
        .expect("reading the bound address")
        .port()
}

const WATCHDOG: &str = r#"
"$0" -H 127.0.0.1 -p "$1" & pid=$!
trap 'kill $pid 2>/dev/null' EXIT HUP INT TERM
read -r _ || true
kill $pid 2>/dev/null
wait $pid 2>/dev/null
"#;

impl Moto {
    /// Start a fresh server and wait until it answers HTTP.
    pub fn start() -> Moto {
        let binary = moto_binary();
        let dir = tempfile::tempdir().expect("creating a temp dir");
        let mut last_log = String::new();
        // A port taken between `free_port` and moto's bind: try another.
        for _ in 0..3 {
            let port = free_port();
            let log_path = dir.path().join(format!("moto-{port}.log"));
            let log = std::fs::File::create(&log_path).expect("creating the moto log");
            let mut watchdog = Command::new("sh")
                .arg("-c")
                .arg(WATCHDOG)
                .arg(&binary)
                .arg(port.to_string())
                .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
                .stdin(Stdio::piped())
                .stdout(log.try_clone().expect("cloning the log handle"))
                .stderr(log)
                .spawn()
                .expect("starting sh for moto server");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if answers_http(port) {
                    return Moto {
                        watchdog,
                        port,
                        endpoint: format!("http://127.0.0.1:{port}"),
                        dir,
                    };
                }
                let exited = matches!(watchdog.try_wait(), Ok(Some(_)));
                if exited || Instant::now() > deadline {
                    let _ = watchdog.kill();
                    let _ = watchdog.wait();
                    last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!(
            "moto server `{}` did not start; its log:\n{last_log}",
            binary.display()
        );
    }

    /// Options for `aws::connect*` pointing at this server.
    pub fn options(&self) -> AwsOptions {
        AwsOptions {
            profile: None,
            region: Some(REGION.into()),
            endpoint_url: Some(self.endpoint.clone()),
            ..AwsOptions::default()
        }
    }

    /// A fresh, independent client set with its own call counter.
    pub async fn clients(&self) -> Clients {
        clients_for(&self.endpoint).await
    }

    /// Seed helpers, on their own client set (their calls are not counted
    /// in the clients under test).
    pub async fn seed(&self) -> Seed {
        Seed {
            c: self.clients().await,
        }
    }

    /// A directory of this server's that holds no AWS files.
    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    /// Environment for a child process (the CLI) talking to this server.
    /// Config and credentials files point at files that do not exist, so a
    /// developer's own `~/.aws` never leaks in; IMDS is disabled.
    pub fn env(&self) -> Vec<(String, String)> {
        let none = |name: &str| self.dir.path().join(name).display().to_string();
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY_ID.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), SECRET_ACCESS_KEY.into()),
            ("AWS_REGION".into(), REGION.into()),
            ("AWS_CONFIG_FILE".into(), none("no-aws-config")),
            (
                "AWS_SHARED_CREDENTIALS_FILE".into(),
                none("no-aws-credentials"),
            ),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ]
    }

    /// Remove every inherited `AWS_*` variable from `cmd` and set [`Moto::env`].
    pub fn configure(&self, cmd: &mut Command) {
        scrub_aws_env(cmd);
        cmd.envs(self.env());
    }
}

/// Remove every `AWS_*` variable the test process inherited from `cmd`.
pub fn scrub_aws_env(cmd: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(name);
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Closing the pipe makes the watchdog kill moto and exit.
        drop(self.watchdog.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.watchdog.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
    }
}

fn answers_http(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}

/// Clients pointed at `endpoint` (moto, or a stand-in such as the fake KMS)
/// with the test credentials, built the way the CLI builds them, so API calls
/// are counted by the SDK interceptor.
pub async fn clients_for(endpoint: &str) -> Clients {
    let options = AwsOptions {
        profile: None,
        region: Some(REGION.into()),
        endpoint_url: Some(endpoint.to_string()),
        ..AwsOptions::default()
    };
    aws::connect_with_credentials(&options, ACCESS_KEY_ID, SECRET_ACCESS_KEY)
        .await
        .expect("building clients")
}
