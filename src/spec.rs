//! The desired-state file `a2i.toml`: parsing and validation, errors with
//! file, line and key.

use std::path::Path;

/// Which kind of IAM principal.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum PrincipalKind {
    Role,
    User,
}

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
pub fn load(_path: &Path) -> Result<Spec, SpecError> {
    todo!()
}

/// Parse and validate spec text; `file` is used in error messages.
pub fn parse(_text: &str, _file: &str) -> Result<Spec, SpecError> {
    todo!()
}
