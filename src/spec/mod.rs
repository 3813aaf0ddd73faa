//! The desired-state file `a2i.toml`: parsing and validation, errors with
//! file, line and key.
//!
//! The format is documented for users in README.md ("The spec file"); the
//! examples in `plans/` are exercised by `tests/it/spec_examples.rs`. What each
//! table leads to (R1-R9) is in `docs/requirements.md` ("Requirements R1-R9")
//! and in [`crate::requirements`].
//!
//! | file | what it holds |
//! |---|---|
//! | `mod.rs` | the spec's types, [`load`] and [`parse`] |
//! | `location.rs` | spans to 1-based lines, key paths, TOML syntax errors |
//! | `walk.rs` | the schema (`KEYS_*`) and the walk of each table against it |
//! | `names.rs` | the grammar of account ids, bucket names, role names, IAM ARNs and S3 URLs, and its errors |
//! | `kms_key.rs` | the grammar of KMS key ids, key and alias ARNs, aliases |
//! | `consistency.rs` | checks across entries: roles, accounts, duplicates |
//!
//! # How it is parsed
//!
//! The text is parsed by `toml` into its spanned document tree
//! ([`toml::de::DeTable`]) and then walked by hand against a small schema
//! (the `KEYS_*` constants in `walk.rs`). Every error names the file, the
//! 1-based line and the key path with array indices
//! (`flow_definition[1].output`), including missing keys (reported on the
//! line of the table's `[[header]]`) and unknown keys (with a "did you mean"
//! suggestion and the list of expected keys). Only the first error is
//! reported.
//!
//! Why not `#[derive(Deserialize)]` with `deny_unknown_fields`, wrapped in
//! `serde_path_to_error`, with `toml::Spanned` fields? Tried: it gives the
//! right line for a missing key and the key path, but the path includes
//! `Spanned`'s internal field (`flow_definition[1].$__serde_spanned_private_value.output`),
//! an unknown key comes as serde's sentence ("unknown field `outptu`,
//! expected one of ...") with no suggestion, and type errors read
//! `invalid type: string "b", expected a sequence` instead of saying what
//! to write (`["b"]`, or the account id in quotes). Getting the current
//! texts back would mean rewriting serde's messages and filtering its paths;
//! the checks across tables would still need key paths built by hand. The
//! walk is about as long and says exactly what the user sees.
//!
//! # Names and the types of the spec's fields
//!
//! Bucket names, role names, IAM ARNs, S3 URLs and KMS key references are
//! parsed into the newtypes of `names.rs` and `kms_key.rs` ([`BucketName`], [`RoleName`],
//! [`IamPrincipalArn`], [`KmsKeyRef`], [`AccountId`]...), whose errors
//! ([`GrammarError`]) say which rule failed. The fields of [`Spec`] stay
//! `String`: the requirements, the state reader, the planner and the tests
//! build and compare specs from string literals, and a newtype there would
//! change every one of them for no check that the walk has not already made.
//! A value in a `Spec` returned by [`parse`] has passed its grammar.
//!
//! # Decisions
//!
//! - **Required keys.** `flow_definition`: `name`, `role`, `input_buckets`,
//!   `output` (`kms_key` optional). `human_loop_caller`: `principal`, `uses`
//!   (`public_workforce` optional, default `false`). `template_preview`:
//!   `role`, `input_buckets`. `input_buckets` is required so that forgetting
//!   it cannot silently drop R1/R2/R9, but it may be `[]` (a task whose input
//!   is not in S3). `uses` must not be empty. A spec with no table at all is
//!   an error ("nothing to check").
//! - **Output prefix.** `s3://b/reviews` and `s3://b/reviews/` mean the same:
//!   A2I writes under `S3OutputPath/<flow definition>/...`, so the prefix is
//!   a folder. [`S3Url::prefix`] is normalised to end with `/` when not empty
//!   (`reviews/`), and the R3 grant is `arn:aws:s3:::b/reviews/*` (not
//!   `b/reviews*`, which would also cover `b/reviews-old/`). No prefix gives
//!   `arn:aws:s3:::b/*`. A prefix may not contain `*`, `?` or `${` (they are
//!   wildcards / policy variables in an IAM resource and would widen the
//!   grant), control characters, or an empty segment (`a//b`).
//! - **Accounts.** a2i-fix changes one account at a time, so every account
//!   id the spec names (`account_id`, role ARNs, caller ARNs, KMS key and
//!   alias ARNs) must be the same. With `account_id` the others must match
//!   it; without it they must match each other. A KMS key in another account
//!   is refused because PutKeyPolicy cannot be called across accounts.
//! - **Partitions.** Role ARNs must be in the `aws` partition (the S3 grants
//!   the tool writes are `arn:aws:s3:::...`); caller ARNs may be `aws`,
//!   `aws-cn` or `aws-us-gov`, and KMS ARNs likewise.
//! - **What is contradictory for a role.** Roles are identified by name
//!   (IAM role names are unique in an account, case-insensitively). Within
//!   one spec, all mentions of one role (flow role, preview role, caller ARN
//!   of kind role) must agree on: the spelling of the name (`A2IFlowRole`
//!   vs `a2iflowrole` are the same IAM role; we refuse to guess which one
//!   the user meant); the path, when two ARNs give one (`/` vs `/service/`);
//!   and the account, when two ARNs give one. A bare name states no path and
//!   no account, so it never contradicts an ARN; its [`RoleRef::path`] is
//!   taken from the ARN that names the same role. Not contradictory: one
//!   role used by several flow definitions, with different keys, buckets or
//!   outputs (its needs are merged), or used both as a flow and a preview
//!   role, or also listed as a caller.
//! - **Duplicates.** Two flow definitions with the same `name` are an error
//!   (the name labels the plan). The same caller principal in two
//!   `[[human_loop_caller]]` tables is an error (put all its `uses` in one
//!   table). Two `[[template_preview]]` tables with one role are merged.
//!   A bucket or a use listed twice in one list is harmless and deduplicated.
//! - **KMS keys.** `alias/aws/...` names an AWS managed key, whose policy
//!   cannot be changed: refused here, before any AWS call.
//! - **Flow definition names** are labels: non-empty, no control
//!   characters (they are printed on the terminal).

use std::path::Path;

use toml::de::DeTable;

mod consistency;
mod kms_key;
mod location;
mod names;
mod walk;

#[cfg(test)]
mod tests;

use crate::model::PrincipalKind;
pub use kms_key::{KeyId, KmsKeyRef};
pub use names::{
    AccountId, BucketName, BucketRule, GrammarError, IamNameRule, IamPrincipalArn, RoleName,
    RoleNameOrArn,
};

use location::{Cx, DOCUMENT};
/// A role named by name or by ARN. `path` is `/` unless an ARN gave one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleRef {
    pub name: String,
    pub path: String,
    /// Account id when given as an ARN.
    pub account_id: Option<String>,
    /// As written in the spec.
    pub written: String,
}

/// An `s3://bucket/prefix/` URL. `prefix` has no leading `/`, may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct S3Url {
    pub bucket: String,
    pub prefix: String,
}

impl S3Url {
    /// The resource A2I writes to (R3): `arn:aws:s3:::BUCKET/PREFIX*`.
    /// `prefix` is empty or ends with `/`, so this is `.../reviews/*`.
    pub fn write_resource(&self) -> String {
        format!("arn:aws:s3:::{}/{}*", self.bucket, self.prefix)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowDefinition {
    pub name: String,
    pub role: RoleRef,
    pub input_buckets: Vec<String>,
    pub output: S3Url,
    /// Key id, key ARN or `alias/...` as written.
    pub kms_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Use {
    Custom,
    Textract,
    Rekognition,
}

impl Use {
    pub fn as_str(self) -> &'static str {
        match self {
            Use::Custom => "custom",
            Use::Textract => "textract",
            Use::Rekognition => "rekognition",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HumanLoopCaller {
    /// Full ARN as written.
    pub arn: String,
    pub kind: PrincipalKind,
    pub name: String,
    pub account_id: String,
    pub uses: Vec<Use>,
    pub public_workforce: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplatePreview {
    pub role: RoleRef,
    pub input_buckets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub account_id: Option<String>,
    pub flow_definitions: Vec<FlowDefinition>,
    pub human_loop_callers: Vec<HumanLoopCaller>,
    pub template_previews: Vec<TemplatePreview>,
    /// `sha256:HEX` of the file's bytes.
    pub hash: String,
    /// The 1-based line of every key of the file, by key path
    /// (`flow_definition[0]` is the line of that table's `[[header]]`,
    /// `flow_definition[0].output` the line of its `output`): where the
    /// results of `plan --format sarif` point.
    pub lines: std::collections::BTreeMap<String, usize>,
}

impl Spec {
    /// The account this spec is bound to: `account_id` if given, else the
    /// account every ARN in the spec names (validation made them agree), else
    /// `None`.
    pub fn bound_account(&self) -> Option<String> {
        if let Some(id) = &self.account_id {
            return Some(id.clone());
        }
        let roles = self
            .flow_definitions
            .iter()
            .map(|f| &f.role)
            .chain(self.template_previews.iter().map(|p| &p.role))
            .filter_map(|r| r.account_id.clone());
        let callers = self.human_loop_callers.iter().map(|c| c.account_id.clone());
        let keys = self
            .flow_definitions
            .iter()
            .filter_map(|f| f.kms_key.as_deref())
            .filter_map(|k| {
                KmsKeyRef::parse(k)
                    .ok()?
                    .account()
                    .map(|a| a.as_str().to_string())
            });
        roles.chain(callers).chain(keys).next()
    }
}

/// What is wrong with a spec, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read spec `{file}`: {message}")]
    Io { file: String, message: String },
    /// `file:line: key: message`
    #[error("{file}:{line}: `{key}`: {message}")]
    Invalid {
        file: String,
        line: usize,
        key: String,
        message: String,
    },
}

/// Read and validate a spec file.
pub fn load(path: &Path) -> Result<Spec, SpecError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| SpecError::Io {
        file: file.clone(),
        message: match e.kind() {
            std::io::ErrorKind::NotFound => {
                "no such file; write one (the examples in `plans/` are a start) or pass `--spec FILE`".to_string()
            }
            _ => format!("{e}; check the path and its permissions"),
        },
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..valid]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            return Err(SpecError::Invalid {
                file,
                line,
                key: DOCUMENT.to_string(),
                message: "the file is not valid UTF-8; save it as UTF-8 text".to_string(),
            });
        }
    };
    parse(&text, &file)
}

/// Parse and validate spec text; `file` is used in error messages.
pub fn parse(text: &str, file: &str) -> Result<Spec, SpecError> {
    let newlines = location::newlines(text);
    let cx = Cx {
        file,
        text,
        newlines: &newlines,
    };
    let root = DeTable::parse(text).map_err(|e| cx.syntax_error(&e))?;
    let mut spec = walk::spec(cx, root.get_ref())?;
    spec.hash = crate::model::digest_bytes(text.as_bytes());
    spec.lines = location::key_lines(cx, root.get_ref());
    Ok(spec)
}

/// Check a bucket name; the error is the message users see.
pub fn check_bucket_name(s: &str) -> Result<(), String> {
    BucketName::parse(s).map(drop).map_err(|e| e.to_string())
}

/// Parse an `s3://bucket/prefix` URL ([`S3Url::parse`]); the error is the
/// message users see.
pub fn parse_s3_url(s: &str) -> Result<S3Url, String> {
    S3Url::parse(s).map_err(|e| e.to_string())
}
