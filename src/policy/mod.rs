//! The policy engine: IAM policy documents, KMS key policies and S3 CORS
//! configurations — parse, normalise, decide equivalence, decide whether a
//! requirement is already met, merge A2I's additions in, and check limits.
//!
//! This module is pure: it depends on `serde_json` and the standard library
//! only, does no I/O, and knows no SDK type. Everything the planner decides
//! about a document is decided here.
//!
//! (Module-level design decisions are documented in the submodules.)

pub mod a2i;
pub mod cors;
pub mod document;
pub mod equivalence;
pub mod evaluate;
pub mod limits;
pub mod merge;
pub mod wildcard;

pub use cors::{CorsConfiguration, CorsRule};
pub use document::{Effect, PolicyDocument, PolicyError, Principal, Statement};
pub use equivalence::{cors_equivalent, equivalent, statements_equivalent};
pub use evaluate::{
    Decision, LabeledDocument, Requirement, StatementRef, Verdict, evaluate, evaluate_cors,
};
pub use merge::{MergeOutcome, merge_cors, merge_statements};
