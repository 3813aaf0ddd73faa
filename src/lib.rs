//! a2i-fix: find and fix the AWS permissions that Amazon Augmented AI needs.
//!
//! desired state (`spec`) -> needs (`requirements`) + current state (`state`)
//! -> `plan` (pure) -> `render` / `apply`.

pub mod apply;
pub mod aws;
pub mod commands;
pub mod journal;
pub mod model;
pub mod plan;
pub mod policy;
pub mod render;
pub mod requirements;
pub mod saved;
pub mod spec;
pub mod state;
