//! The fault benchmark: how often `plan` and `apply --yes` succeed on the
//! first try through 0%, 10% and 30% faults, how long each takes (median
//! and max), and whether anything was ever lost (it must never be). It
//! measures, it asserts nothing about time; it is ignored by default:
//! `scripts/bench-faults.sh` runs it.
//!
//! `A2I_FIX_BENCH_SEEDS=N` seeds per rate (default 3, fixed: 101, 102,
//! ...); `A2I_FIX_BENCH_EXAMPLES=all` runs every `plans/` example per seed
//! (default: `kms-output.toml` and `shared-role.toml`, which between them
//! make every kind of write but CreateRole).

use std::time::Duration;

use super::label;
use super::story::{Bench, Story};
use crate::support::fault_proxy::{FaultProxy, Faults};
use crate::support::*;

fn median_and_max(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let median = v.get(v.len() / 2).copied().unwrap_or_default();
    (median, v.last().copied().unwrap_or_default())
}

#[tokio::test]
#[ignore = "a benchmark: run scripts/bench-faults.sh"]
async fn fault_benchmark() {
    let n: u64 = std::env::var("A2I_FIX_BENCH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let examples: Vec<&str> = if std::env::var("A2I_FIX_BENCH_EXAMPLES").as_deref() == Ok("all") {
        EXAMPLES.to_vec()
    } else {
        vec!["kms-output.toml", "shared-role.toml"]
    };
    let mut rows = Vec::new();
    let mut all_problems = Vec::new();
    for rate in [0.0, 0.10, 0.30] {
        let mut stories: Vec<Story> = Vec::new();
        for seed in 101..101 + n {
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
                env: vec![],
                label: label(seed, rate, &[]),
            };
            for name in &examples {
                let story = bench.story(name, &start).await;
                eprintln!(
                    "{} {name}: plan {} in {:.1?}, apply {} in {:.1?}",
                    bench.label,
                    if story.plan_ok_first { "ok" } else { "FAILED" },
                    story.plan_time,
                    if story.apply_ok_first { "ok" } else { "FAILED" },
                    story.apply_time,
                );
                all_problems.extend(story.problems.iter().cloned());
                stories.push(story);
            }
            eprintln!("{}: injected {:?}", bench.label, proxy.counts());
        }
        let runs = stories.len();
        let plan_ok = stories.iter().filter(|s| s.plan_ok_first).count();
        let apply_ok = stories.iter().filter(|s| s.apply_ok_first).count();
        let lost = stories.iter().filter(|s| s.lost).count();
        let problems = stories.iter().map(|s| s.problems.len()).sum::<usize>();
        let (pm, px) = median_and_max(stories.iter().map(|s| s.plan_time).collect());
        let (am, ax) = median_and_max(stories.iter().map(|s| s.apply_time).collect());
        rows.push(format!(
            "| {:>4.0}% | {runs:>4} | {plan_ok:>2}/{runs:<2} | {:>7.1} | {:>7.1} | {apply_ok:>2}/{runs:<2} | {:>7.1} | {:>7.1} | {:>4} | {problems:>8} |",
            rate * 100.0,
            pm.as_secs_f64(),
            px.as_secs_f64(),
            am.as_secs_f64(),
            ax.as_secs_f64(),
            if lost == 0 { "no".to_string() } else { format!("{lost}!") },
        ));
    }
    println!(
        "\nFault benchmark: {n} seed(s) per rate over {examples:?}; first try, times in seconds\n"
    );
    println!(
        "| faults | runs | plan ok | plan med | plan max | apply ok | apply med | apply max | lost | problems |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    if !all_problems.is_empty() {
        println!(
            "\nProblems ({}):\n\n{}",
            all_problems.len(),
            all_problems.join("\n\n")
        );
    }
}
