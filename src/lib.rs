//! a2i-fix: find and fix the AWS permissions that Amazon Augmented AI needs.
//!
//! ```text
//! spec (a2i.toml) ──> requirements (what A2I needs) ──┐
//!                                                     ├──> plan (pure) ──> render (text / JSON)
//! aws ──> state (the only SDK reads) ─────────────────┘        ├────────> apply (the only SDK writes, journal)
//!                                                              └────────> export (Terraform)
//! ```
//!
//! Every layer speaks the vocabulary of [`model`] (targets, actions,
//! addresses, digests) and judges documents with [`policy`]; neither imports
//! anything else of the crate. [`commands`] wires the layers into what the
//! binary runs. README.md ("Development") draws the same map, one line per
//! module, and `tests/it/architecture.rs` keeps it true.
//!
//! The public surface: the layer modules below (their inner files are
//! private; each module's root re-exports what callers use), and at the root
//! the types a caller of the library needs most.

pub mod accounts;
pub mod apply;
pub mod aws;
pub mod commands;
#[cfg(feature = "discover")]
pub mod discover;
pub mod export;
pub mod journal;
pub mod model;
pub mod plan;
pub mod policy;
pub mod render;
pub mod requirements;
pub mod saved;
pub mod spec;
pub mod state;

pub use apply::{ApplyError, ApplyOptions, ApplyReport};
pub use aws::{AwsOptions, Clients};
pub use commands::Outcome;
pub use model::{Action, PrincipalKind, Target};
pub use plan::{Change, Plan, PlanError, Warning, build_plan};
pub use requirements::{Needs, derive};
pub use spec::{Spec, SpecError};
pub use state::{AccountState, read_state};
