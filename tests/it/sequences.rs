//! Model-based, seeded random sequences of runs against moto: the tool must
//! stay correct across runs, not only in one.
//!
//! Each sequence has its own resources (names carry `q<N>`), a seeded random
//! source, and 8 to 14 steps drawn from: a spec change (flow definitions,
//! previews and callers added, removed or changed, over small pools of
//! roles, buckets and keys so that entries share them); a foreign edit (the
//! SDK, directly: reordered or equivalently rewritten statements, unrelated
//! statements, someone else's statement under A2I's Sid, a hand edit of A2I's
//! own statement, a CORS rule, the owned policy deleted); an apply; a saved
//! plan made stale by a foreign edit before it is applied (refused, nothing
//! written); a rollback of the last apply's journal (it puts back exactly
//! what that apply changed, or, when something changed since, is refused
//! with nothing written). After every apply, read back through a second SDK
//! client:
//!
//! 1. the next `plan --detailed-exitcode` has no changes;
//! 2. every (principal, action, resource, condition) granted just before the
//!    apply, and every CORS rule and attachment, is still there;
//! 3. every grant an earlier apply made (and no foreign edit or rollback
//!    took away since) is still there;
//! 4. every need of the spec (R1..R9) is met, judged by an oracle written
//!    here (a need granted only under a hand-added Condition is left to the
//!    tool's warning: it cannot grant it without overriding that Condition);
//! 5. a second `apply --yes` writes nothing, byte for byte.
//!
//! A failure prints the seed, the steps taken, the spec and every check that
//! failed. Environment:
//! - `A2I_FIX_SEQUENCE_SEED=N` replays seed `N` alone (`N,M,...` several);
//! - `A2I_FIX_SEQUENCES=N` runs `N` random seeds after the default ones
//!   (their seeds are printed: replay one with the variable above).
//!
//! `cargo test --test it sequences -- --nocapture` shows every step. The
//! sequences share two moto servers (one Python process each, so two cores
//! are used); each sequence's resources are its own.

mod foreign;
mod model;
mod replay;
mod run;
mod world;

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::Instant;

use crate::support::{Moto, block_on};

/// The seeds of the normal suite: together they take every kind of step
/// (spec changes, every kind of foreign edit, applies of the spec and of a
/// fresh saved plan, stale saved plans, rollbacks that succeed and rollbacks
/// refused).
const DEFAULT_SEEDS: [u64; 7] = [2, 12, 14, 22, 26, 38, 43];

/// The numbers in variable `name` (comma-separated), if it is set.
fn env_numbers(name: &str) -> Option<Vec<u64>> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .unwrap_or_else(|e| panic!("{name}=`{value}`: `{n}` is not a number: {e}"))
            })
            .collect(),
    )
}

/// The seeds to run: the replayed ones alone, or the defaults plus the
/// requested random ones.
fn seeds() -> Vec<u64> {
    if let Some(seeds) = env_numbers("A2I_FIX_SEQUENCE_SEED") {
        return seeds;
    }
    let mut seeds = DEFAULT_SEEDS.to_vec();
    let extra = env_numbers("A2I_FIX_SEQUENCES").map_or(0, |n| n.iter().sum());
    let mut dice = model::Dice::new(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    for _ in 0..extra {
        seeds.push(dice.next_u64() % 1_000_000_000);
    }
    seeds
}

/// Run one sequence; `Err` is its report.
fn sequence(moto: &Moto, n: usize, seed: u64) -> Result<Vec<String>, String> {
    let log: run::Log = Rc::new(RefCell::new(Vec::new()));
    let spec = Rc::new(RefCell::new(String::new()));
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        block_on(async {
            let mut seq = run::Sequence::start(moto, n, seed, log.clone()).await;
            let mut dice = model::Dice::new(seed.rotate_left(17));
            let count = 8 + dice.below(7);
            let result = seq.run_steps(count).await;
            *spec.borrow_mut() = seq.spec_text();
            result.map(|()| seq.features.iter().cloned().collect::<Vec<_>>())
        })
    }));
    let steps = log.borrow().join("\n");
    let replay = format!("replay: A2I_FIX_SEQUENCE_SEED={seed} cargo test --test it sequences");
    match outcome {
        Ok(Ok(features)) => Ok(features),
        Ok(Err(f)) => Err(format!(
            "seed {seed}: step {} failed {}\n  ({replay})\nsteps:\n{steps}\nspec at the failure:\n{}\n{}",
            f.step,
            f.check,
            spec.borrow(),
            f.detail
        )),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!(
                "seed {seed}: panicked: {message}\n  ({replay})\nsteps:\n{steps}"
            ))
        }
    }
}

/// Sequences run on this many moto servers at once (each server runs its
/// share one after another): moto is one Python process, so a second one is
/// what uses a second core.
const SERVERS: usize = 2;

#[test]
fn seeded_sequences_of_runs_keep_the_account_right() {
    let seeds = seeds();
    let started = Instant::now();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..SERVERS)
            .map(|w| {
                let share: Vec<u64> = seeds.iter().copied().skip(w).step_by(SERVERS).collect();
                scope.spawn(move || {
                    if share.is_empty() {
                        return vec![];
                    }
                    let moto = Moto::start();
                    let mut failures = Vec::new();
                    for (n, seed) in share.into_iter().enumerate() {
                        let started = Instant::now();
                        match sequence(&moto, n, seed) {
                            Ok(features) => eprintln!(
                                "seed {seed}: passed in {:.1?}; exercised: {}",
                                started.elapsed(),
                                features.join(", ")
                            ),
                            Err(report) => {
                                eprintln!("{report}");
                                failures.push(report);
                            }
                        }
                    }
                    failures
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a worker thread"))
            .collect()
    });
    eprintln!("{} sequence(s) in {:.1?}", seeds.len(), started.elapsed());
    assert!(
        failures.is_empty(),
        "{} sequence(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
