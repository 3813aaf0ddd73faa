//! The policy engine: IAM policy documents, KMS key policies and S3 CORS
//! configurations — parse, normalise, decide equivalence, decide whether a
//! requirement is already met, merge A2I's additions in, and check limits.
//!
//! This module is pure: it imports nothing but `std`, `serde`, `serde_json`
//! and `thiserror` (see the `use` lines of each file), does no I/O, and knows
//! no SDK type. Everything the planner decides about a document is decided
//! here.
//!
//! | submodule | owns |
//! |---|---|
//! | [`document`] | the IAM policy grammar (identity, trust and key policies): strict parsing with located errors, writing back exactly what was read |
//! | [`cors`] | S3 CORS configurations |
//! | [`equivalence`] | "means the same thing", through a normal form |
//! | [`wildcard`] | IAM `*`/`?` matching, and covering / overlapping of two patterns |
//! | `variables` | policy variables (`${aws:username}`) in resource patterns: an unknown part |
//! | `scope` | how far one statement reaches on principal, action and resource |
//! | `conditions` | conditions a2i-fix can settle itself (`aws:PrincipalAccount`, `aws:ResourceAccount`) |
//! | [`evaluate`](mod@evaluate) | "already met": met, not met, blocked by a Deny, met only under a condition; with a reason |
//! | [`merge`] | adding A2I's statements and rule without losing or moving anything, idempotently |
//! | [`a2i`] | the least-privilege statements and CORS rule A2I needs |
//! | [`limits`] | AWS size limits, the key-policy lockout guard, nothing-lost guards |
//!
//! The AWS facts these rules follow (requirements R1-R9, equivalence, limits)
//! are in `docs/requirements.md`. Where AWS leaves a choice open, the choice
//! made is written in each submodule's documentation, under "Decisions".
//!
//! Tests: `tests/it/policy_*.rs` (tables, realistic merges, property tests) and a
//! fuzz driver for the parsers that runs on stable:
//! `FUZZ_SECONDS=60 cargo test --test it policy_fuzz -- --ignored --nocapture`.

pub mod a2i;
mod conditions;
pub mod cors;
pub mod document;
pub mod equivalence;
pub mod evaluate;
pub mod limits;
pub mod merge;
mod scope;
mod variables;
pub mod wildcard;

pub use cors::{CorsConfiguration, CorsRule};
pub use document::{Effect, PolicyDocument, PolicyError, Principal, Statement};
pub use equivalence::{cors_equivalent, equivalent, statements_equivalent};
pub use evaluate::{
    Decision, LabeledDocument, Requirement, StatementRef, Verdict, evaluate, evaluate_cors,
};
pub use merge::{MergeOutcome, merge_cors, merge_statements};
