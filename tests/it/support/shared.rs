//! Seeded moto servers for tests that only read. A test that only runs
//! `plan` can share a server with other such tests: [`SeededServer::shared`]
//! starts one server per *kind of state*, seeds it once, and never writes to
//! it again; tests that write take a server of their own
//! ([`SeededServer::start`]). A shared server lives in a `static` and is never
//! dropped: the harness's watchdog kills it when the test binary exits.

use std::future::Future;
use std::sync::OnceLock;

use crate::support::{Account, Moto, Seed, block_on, seed_nothing};

/// A seeded moto server; `key_id` is what the seed function returned
/// (usually the id of the key behind `alias/a2i-output`).
pub struct SeededServer {
    pub moto: Moto,
    pub key_id: String,
    /// The account as seeded ([`Account::read`]), for shared servers.
    baseline: Option<Account>,
}

impl SeededServer {
    /// Start a server of this test's own and seed it.
    pub fn start<F, Fut>(seed: F) -> SeededServer
    where
        F: FnOnce(Seed) -> Fut,
        Fut: Future<Output = String>,
    {
        let moto = Moto::start();
        let key_id = block_on(async {
            let s = moto.seed().await;
            seed(s).await
        });
        SeededServer {
            moto,
            key_id,
            baseline: None,
        }
    }

    /// The server of `cell`, started and seeded by the first test that asks.
    pub fn shared<F, Fut>(cell: &'static OnceLock<SeededServer>, seed: F) -> &'static SeededServer
    where
        F: FnOnce(Seed) -> Fut,
        Fut: Future<Output = String>,
    {
        cell.get_or_init(|| {
            let mut server = SeededServer::start(seed);
            server.baseline = Some(server.read());
            server
        })
    }

    /// Panic unless a shared account still holds exactly what it was seeded
    /// with. Nothing writes to a shared account after seeding, so any
    /// difference was written by the command under test (whichever test ran
    /// it: tests run concurrently, and a write by one fails the others too).
    pub fn assert_unchanged(&self, what: &str) {
        let baseline = self
            .baseline
            .as_ref()
            .unwrap_or_else(|| panic!("`assert_unchanged` on an account that is not shared"));
        assert!(
            baseline
                .get(&format!("key {} policy", self.key_id))
                .is_some(),
            "the account reader missed the seeded key: {baseline:#?}"
        );
        let now = self.read();
        if &now != baseline {
            let changed: Vec<&String> = now
                .0
                .keys()
                .chain(baseline.0.keys())
                .filter(|k| now.get(k) != baseline.get(k))
                .collect();
            panic!("{what} changed the account: {changed:?}");
        }
    }

    /// The whole account as it is now, read on fresh clients.
    pub fn read(&self) -> Account {
        block_on(async { self.moto.seed().await.read().await })
    }

    pub fn key_policy_address(&self) -> String {
        format!("aws_kms_key_policy.{}", self.key_id)
    }
}

/// The "nothing set up" account ([`seed_nothing`]), shared.
pub fn nothing_set_up() -> &'static SeededServer {
    static CELL: OnceLock<SeededServer> = OnceLock::new();
    SeededServer::shared(&CELL, |s| async move { seed_nothing(&s).await })
}
