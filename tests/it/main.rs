//! The integration tests, as one test binary: one module per topic (the
//! former `tests/*.rs` files), so that `cargo test` links the AWS SDKs once
//! instead of once per file. Select a topic by its module path, e.g.
//! `cargo test --test it plan_build::`.
//!
//! `support` holds what the topics share (moto server, seeding, reading the
//! account back, running the binary).

mod support;

mod accounts;
mod apply_converges;
mod apply_execute;
mod apply_kms_retry;
mod apply_lost_answers;
mod apply_rollback;
mod architecture;
mod cli_apply;
mod cli_errors;
mod cli_resilience;
mod commands;
#[cfg(feature = "discover")]
mod discover;
mod export_terraform;
mod faults;
mod iac_ownership;
mod judge_account;
mod kill_points;
mod plan_api_calls;
mod plan_build;
mod plan_cases;
mod plan_examples;
mod plan_formats;
mod plan_snapshots;
mod policy_equivalence;
mod policy_evaluate;
mod policy_fuzz;
mod policy_limits;
mod policy_merge;
mod policy_parse;
mod policy_properties;
mod policy_smoke;
mod render_snapshots;
mod sequences;
mod spec_errors;
mod spec_examples;
mod spec_props;
mod state_bulk;
mod state_connect;
mod state_read;
