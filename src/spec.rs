//! The desired-state file `a2i.toml`: parsing and validation, errors with
//! file, line and key.
//!
//! The format is documented for users in README.md ("The spec file"); the examples in
//! `plans/` are exercised by `tests/spec_examples.rs`.
//!
//! # How it is parsed
//!
//! The text is parsed by `toml` into its spanned document tree
//! ([`toml::de::DeTable`]) and then walked by hand against a small schema
//! (the `KEYS_*` constants below). We do not derive `Deserialize` with
//! `deny_unknown_fields`: toml's serde errors carry a byte span but not the
//! key path with array indices (`flow_definition[1].output`), and every error
//! here must name the file, the 1-based line and that path. Walking the tree
//! gives both for every error, including missing keys (reported on the line
//! of the table's `[[header]]`) and unknown keys (with a "did you mean"
//! suggestion). Only the first error is reported.
//!
//! # Decisions where the issue is silent
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

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

pub use crate::model::PrincipalKind;

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
            .filter_map(|k| kms_key_account(k).ok().flatten());
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
    let cx = Cx { file, text };
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => return Err(cx.syntax_error(&e)),
    };
    let mut parser = Parser {
        cx,
        roles: Vec::new(),
        accounts: Vec::new(),
    };
    let mut spec = parser.document(root.get_ref())?;
    parser.check_roles(&mut spec)?;
    parser.check_accounts()?;
    spec.hash = sha256(text.as_bytes());
    Ok(spec)
}

/// `sha256:HEX` of the file's bytes.
fn sha256(bytes: &[u8]) -> String {
    crate::model::digest_bytes(bytes)
}

/// Key path used for errors about the whole document.
const DOCUMENT: &str = "(document)";

const KEYS_TOP: &[&str] = &[
    "account_id",
    "flow_definition",
    "human_loop_caller",
    "template_preview",
];
const KEYS_FLOW: &[&str] = &["name", "role", "input_buckets", "output", "kms_key"];
const KEYS_CALLER: &[&str] = &["principal", "uses", "public_workforce"];
const KEYS_PREVIEW: &[&str] = &["role", "input_buckets"];

/// File name and text, to turn spans into lines.
#[derive(Clone, Copy)]
struct Cx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Cx<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn err(&self, span: &Range<usize>, key: &str, message: impl Into<String>) -> SpecError {
        SpecError::Invalid {
            file: self.file.to_string(),
            line: self.line(span.start),
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// A TOML syntax error: the line from its span, the key path of the
    /// nearest key at or before it (from a best-effort parse).
    fn syntax_error(&self, e: &toml::de::Error) -> SpecError {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        let (recovered, _) = DeTable::parse_recoverable(self.text);
        let mut best: Option<(usize, String)> = None;
        nearest_key(recovered.get_ref(), "", offset, &mut best);
        let key = best
            .map(|(_, path)| path)
            .unwrap_or_else(|| DOCUMENT.to_string());
        let message = format!("invalid TOML: {}", e.message().trim_end());
        SpecError::Invalid {
            file: self.file.to_string(),
            line: self.line(offset),
            key,
            message,
        }
    }
}

/// The path of the key that starts last at or before `offset`.
fn nearest_key(
    table: &DeTable<'_>,
    prefix: &str,
    offset: usize,
    best: &mut Option<(usize, String)>,
) {
    for (key, value) in table.iter() {
        let path = join(prefix, key.get_ref());
        consider(key.span().start, &path, offset, best);
        nearest_in_value(value, &path, offset, best);
    }
}

fn nearest_in_value(
    value: &Spanned<DeValue<'_>>,
    path: &str,
    offset: usize,
    best: &mut Option<(usize, String)>,
) {
    match value.get_ref() {
        DeValue::Table(t) => nearest_key(t, path, offset, best),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                if item.get_ref().is_table() {
                    consider(item.span().start, &item_path, offset, best);
                }
                nearest_in_value(item, &item_path, offset, best);
            }
        }
        _ => {}
    }
}

fn consider(start: usize, path: &str, offset: usize, best: &mut Option<(usize, String)>) {
    if start <= offset && best.as_ref().is_none_or(|(s, _)| start >= *s) {
        *best = Some((start, path.to_string()));
    }
}

/// `prefix.key`, with the key quoted as TOML would need it (`""`, `"a b"`).
fn join(prefix: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    };
    if prefix.is_empty() {
        key
    } else {
        format!("{prefix}.{key}")
    }
}

/// One mention of a role, for the consistency check.
struct RoleMention {
    name: String,
    /// Path when an ARN gave one.
    path: Option<String>,
    account: Option<String>,
    key: String,
    span: Range<usize>,
}

/// One mention of an account id, for the one-account check.
struct AccountMention {
    account: String,
    what: &'static str,
    key: String,
    span: Range<usize>,
}

struct Parser<'a> {
    cx: Cx<'a>,
    roles: Vec<RoleMention>,
    accounts: Vec<AccountMention>,
}

/// A table being read, with its path and span.
struct Table<'t, 'i> {
    table: &'t DeTable<'i>,
    path: String,
    span: Range<usize>,
    /// What the table is called in messages, e.g. ``a `[[flow_definition]]` ``.
    what: &'static str,
}

impl<'t, 'i> Table<'t, 'i> {
    fn key_path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    fn get(&self, key: &str) -> Option<&'t Spanned<DeValue<'i>>> {
        self.table.get(key)
    }
}

type Res<T> = Result<T, SpecError>;

impl Parser<'_> {
    fn document(&mut self, root: &DeTable<'_>) -> Res<Spec> {
        let top = Table {
            table: root,
            path: String::new(),
            span: 0..0,
            what: "the top level",
        };
        self.known_keys(&top, KEYS_TOP)?;

        let account_id = match self.opt_str(&top, "account_id")? {
            None => None,
            Some(value) => {
                let key = top.key_path("account_id");
                if let Err(m) = check_account_id(value.get_ref()) {
                    return Err(self.cx.err(&value.span(), &key, m));
                }
                Some(value.into_inner())
            }
        };

        let mut flow_definitions: Vec<FlowDefinition> = Vec::new();
        let mut flow_lines: BTreeMap<String, usize> = BTreeMap::new();
        for table in self.array_of_tables(&top, "flow_definition", "a `[[flow_definition]]`")? {
            let (flow, name_span) = self.flow_definition(&table)?;
            if let Some(first) = flow_lines.get(&flow.name) {
                return Err(self.cx.err(
                    &name_span,
                    &table.key_path("name"),
                    format!(
                        "flow definition `{}` is already defined at line {first}; give each `[[flow_definition]]` its own name",
                        flow.name
                    ),
                ));
            }
            flow_lines.insert(flow.name.clone(), self.cx.line(name_span.start));
            flow_definitions.push(flow);
        }

        let mut human_loop_callers: Vec<HumanLoopCaller> = Vec::new();
        let mut caller_lines: BTreeMap<String, usize> = BTreeMap::new();
        for table in self.array_of_tables(&top, "human_loop_caller", "a `[[human_loop_caller]]`")? {
            let (caller, span) = self.human_loop_caller(&table)?;
            if let Some(first) = caller_lines.get(&caller.arn) {
                return Err(self.cx.err(
                    &span,
                    &table.key_path("principal"),
                    format!(
                        "caller `{}` is already listed at line {first}; list each caller once, with all its `uses` in one table",
                        caller.arn
                    ),
                ));
            }
            caller_lines.insert(caller.arn.clone(), self.cx.line(span.start));
            human_loop_callers.push(caller);
        }

        let mut template_previews = Vec::new();
        for table in self.array_of_tables(&top, "template_preview", "a `[[template_preview]]`")? {
            template_previews.push(self.template_preview(&table)?);
        }

        if flow_definitions.is_empty()
            && human_loop_callers.is_empty()
            && template_previews.is_empty()
        {
            return Err(self.cx.err(
                &(0..0),
                DOCUMENT,
                "nothing to check: add at least one `[[flow_definition]]`, `[[human_loop_caller]]` or `[[template_preview]]` table (see the examples in `plans/`)",
            ));
        }

        if let Some(id) = &account_id {
            // The anchor of the one-account check goes first.
            let span = top.get("account_id").map(|v| v.span()).unwrap_or(0..0);
            self.accounts.insert(
                0,
                AccountMention {
                    account: id.clone(),
                    what: "`account_id`",
                    key: "account_id".to_string(),
                    span,
                },
            );
        }

        Ok(Spec {
            account_id,
            flow_definitions,
            human_loop_callers,
            template_previews,
            hash: String::new(),
        })
    }

    fn flow_definition(&mut self, t: &Table<'_, '_>) -> Res<(FlowDefinition, Range<usize>)> {
        self.known_keys(t, KEYS_FLOW)?;
        let name = self.req_str(
            t,
            "name",
            "a label for the plan, e.g. `name = \"invoice-review\"`",
        )?;
        let name_key = t.key_path("name");
        if name.get_ref().trim().is_empty() {
            return Err(self.cx.err(
                &name.span(),
                &name_key,
                "is empty; give the flow definition a name",
            ));
        }
        if name.get_ref().chars().any(char::is_control) {
            return Err(self.cx.err(
                &name.span(),
                &name_key,
                "contains control characters; use plain text",
            ));
        }
        let role = self.role(t)?;
        let input_buckets = self.buckets(t)?;

        let output = self.req_str(
            t,
            "output",
            "the flow definition's S3OutputPath, e.g. `output = \"s3://acme-a2i-output/reviews/\"`",
        )?;
        let output_key = t.key_path("output");
        let output_url = parse_s3_url(output.get_ref())
            .map_err(|m| self.cx.err(&output.span(), &output_key, m))?;

        let kms_key = match self.opt_str(t, "kms_key")? {
            None => None,
            Some(key) => {
                let path = t.key_path("kms_key");
                match kms_key_account(key.get_ref()) {
                    Err(m) => return Err(self.cx.err(&key.span(), &path, m)),
                    Ok(Some(account)) => self.accounts.push(AccountMention {
                        account,
                        what: "the KMS key",
                        key: path,
                        span: key.span(),
                    }),
                    Ok(None) => {}
                }
                Some(key.into_inner())
            }
        };

        let flow = FlowDefinition {
            name: name.get_ref().clone(),
            role,
            input_buckets,
            output: output_url,
            kms_key,
        };
        Ok((flow, name.span()))
    }

    fn human_loop_caller(&mut self, t: &Table<'_, '_>) -> Res<(HumanLoopCaller, Range<usize>)> {
        self.known_keys(t, KEYS_CALLER)?;
        let principal = self.req_str(
            t,
            "principal",
            "the ARN of the role or user that starts human loops, e.g. `principal = \"arn:aws:iam::123456789012:role/ml-app\"`",
        )?;
        let key = t.key_path("principal");
        let p = parse_principal_arn(principal.get_ref())
            .map_err(|m| self.cx.err(&principal.span(), &key, m))?;
        if p.kind == PrincipalKind::Role {
            self.roles.push(RoleMention {
                name: p.name.clone(),
                path: Some(p.path.clone()),
                account: Some(p.account.clone()),
                key: key.clone(),
                span: principal.span(),
            });
        }
        self.accounts.push(AccountMention {
            account: p.account.clone(),
            what: "the caller",
            key,
            span: principal.span(),
        });

        let uses_value = self.required(
            t,
            "uses",
            "what the caller does, e.g. `uses = [\"custom\"]`",
        )?;
        let uses_key = t.key_path("uses");
        let items = self.str_array(uses_value, &uses_key)?;
        if items.is_empty() {
            return Err(self.cx.err(
                &uses_value.span(),
                &uses_key,
                "is empty; list what the caller does: `custom`, `textract` and/or `rekognition`",
            ));
        }
        let mut uses = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let u = match item.get_ref().as_str() {
                "custom" => Use::Custom,
                "textract" => Use::Textract,
                "rekognition" => Use::Rekognition,
                other => {
                    return Err(self.cx.err(
                        &item.span(),
                        &format!("{uses_key}[{i}]"),
                        format!("unknown use `{other}`; expected one of `custom`, `textract`, `rekognition`"),
                    ));
                }
            };
            uses.push(u);
        }
        uses.sort();
        uses.dedup();

        let public_workforce = match t.get("public_workforce") {
            None => false,
            Some(v) => match v.get_ref() {
                DeValue::Boolean(b) => *b,
                other => {
                    return Err(self.cx.err(
                        &v.span(),
                        &t.key_path("public_workforce"),
                        format!(
                            "expected a boolean (`true` or `false`), found {}",
                            a_type(other)
                        ),
                    ));
                }
            },
        };

        let caller = HumanLoopCaller {
            arn: principal.get_ref().clone(),
            kind: p.kind,
            name: p.name,
            account_id: p.account,
            uses,
            public_workforce,
        };
        Ok((caller, principal.span()))
    }

    fn template_preview(&mut self, t: &Table<'_, '_>) -> Res<TemplatePreview> {
        self.known_keys(t, KEYS_PREVIEW)?;
        let role = self.role(t)?;
        let input_buckets = self.buckets(t)?;
        Ok(TemplatePreview {
            role,
            input_buckets,
        })
    }

    /// The `role` key of a flow definition or template preview.
    fn role(&mut self, t: &Table<'_, '_>) -> Res<RoleRef> {
        let role = self.req_str(
            t,
            "role",
            "a role name or role ARN, e.g. `role = \"A2IFlowRole\"`",
        )?;
        let key = t.key_path("role");
        let (r, explicit_path) =
            parse_role(role.get_ref()).map_err(|m| self.cx.err(&role.span(), &key, m))?;
        if let Some(account) = &r.account_id {
            self.accounts.push(AccountMention {
                account: account.clone(),
                what: "the role",
                key: key.clone(),
                span: role.span(),
            });
        }
        self.roles.push(RoleMention {
            name: r.name.clone(),
            path: explicit_path.then(|| r.path.clone()),
            account: r.account_id.clone(),
            key,
            span: role.span(),
        });
        Ok(r)
    }

    /// The `input_buckets` key: a list of valid bucket names, deduplicated.
    fn buckets(&mut self, t: &Table<'_, '_>) -> Res<Vec<String>> {
        let value = self.required(
            t,
            "input_buckets",
            "the buckets holding the task input, e.g. `input_buckets = [\"acme-a2i-input\"]` (or `[]` when the input is not in S3)",
        )?;
        let key = t.key_path("input_buckets");
        let mut out: Vec<String> = Vec::new();
        for (i, item) in self.str_array(value, &key)?.into_iter().enumerate() {
            check_bucket_name(item.get_ref())
                .map_err(|m| self.cx.err(&item.span(), &format!("{key}[{i}]"), m))?;
            if !out.contains(item.get_ref()) {
                out.push(item.into_inner());
            }
        }
        Ok(out)
    }

    /// Error on the first key (in file order) that `allowed` does not list.
    fn known_keys(&self, t: &Table<'_, '_>, allowed: &[&str]) -> Res<()> {
        let mut unknown: Vec<&Spanned<std::borrow::Cow<'_, str>>> = t
            .table
            .keys()
            .filter(|k| !allowed.contains(&k.get_ref().as_ref()))
            .collect();
        unknown.sort_by_key(|k| k.span().start);
        if let Some(k) = unknown.first() {
            let name = k.get_ref().as_ref();
            let expected = allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let hint = match suggest(name, allowed) {
                Some(s) => format!("did you mean `{s}`? "),
                None => String::new(),
            };
            return Err(self.cx.err(
                &k.span(),
                &t.key_path(name),
                format!(
                    "unknown key in {}; {hint}expected one of {expected}",
                    t.what
                ),
            ));
        }
        Ok(())
    }

    fn required<'t, 'i>(
        &self,
        t: &Table<'t, 'i>,
        key: &str,
        what: &str,
    ) -> Res<&'t Spanned<DeValue<'i>>> {
        t.get(key).ok_or_else(|| {
            self.cx.err(
                &t.span,
                &t.key_path(key),
                format!("missing in {}; add {what}", t.what),
            )
        })
    }

    fn req_str(&self, t: &Table<'_, '_>, key: &str, what: &str) -> Res<Spanned<String>> {
        let value = self.required(t, key, what)?;
        self.string(value, &t.key_path(key))
    }

    fn opt_str(&self, t: &Table<'_, '_>, key: &str) -> Res<Option<Spanned<String>>> {
        match t.get(key) {
            None => Ok(None),
            Some(value) => self.string(value, &t.key_path(key)).map(Some),
        }
    }

    fn string(&self, value: &Spanned<DeValue<'_>>, key: &str) -> Res<Spanned<String>> {
        match value.get_ref() {
            DeValue::String(s) => Ok(Spanned::new(value.span(), s.to_string())),
            DeValue::Integer(_) if key == "account_id" => Err(self.cx.err(
                &value.span(),
                key,
                "expected a string, found an integer; write the account id in quotes (`account_id = \"123456789012\"`) so that leading zeros are kept",
            )),
            other => Err(self.cx.err(&value.span(), key, format!("expected a string, found {}", a_type(other)))),
        }
    }

    fn str_array(&self, value: &Spanned<DeValue<'_>>, key: &str) -> Res<Vec<Spanned<String>>> {
        let items = match value.get_ref() {
            DeValue::Array(items) => items,
            DeValue::String(s) => {
                return Err(self.cx.err(
                    &value.span(),
                    key,
                    format!("expected an array of strings, found a string; write `[\"{s}\"]`"),
                ));
            }
            other => {
                return Err(self.cx.err(
                    &value.span(),
                    key,
                    format!("expected an array of strings, found {}", a_type(other)),
                ));
            }
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| self.string(item, &format!("{key}[{i}]")))
            .collect()
    }

    fn array_of_tables<'t, 'i>(
        &self,
        top: &Table<'t, 'i>,
        key: &str,
        what: &'static str,
    ) -> Res<Vec<Table<'t, 'i>>> {
        let Some(value) = top.get(key) else {
            return Ok(Vec::new());
        };
        let wrong = |found: &str| {
            self.cx.err(
                &value.span(),
                key,
                format!(
                    "expected an array of tables (write each one as `[[{key}]]`), found {found}"
                ),
            )
        };
        let items = match value.get_ref() {
            DeValue::Array(items) => items,
            other => return Err(wrong(&a_type(other))),
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.get_ref() {
                DeValue::Table(table) => {
                    out.push(Table {
                        table,
                        path: format!("{key}[{i}]"),
                        span: item.span(),
                        what,
                    });
                }
                other => {
                    return Err(self.cx.err(
                        &item.span(),
                        &format!("{key}[{i}]"),
                        format!("expected a table (`[[{key}]]`), found {}", a_type(other)),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// The same role must not be given contradictory settings; a bare name
    /// takes the path an ARN gives the same role.
    fn check_roles(&self, spec: &mut Spec) -> Res<()> {
        // lower-case name -> index of the first mention, first explicit path, first account.
        let mut seen: BTreeMap<String, (usize, Option<usize>, Option<usize>)> = BTreeMap::new();
        for (i, m) in self.roles.iter().enumerate() {
            let entry = seen.entry(m.name.to_lowercase()).or_insert((i, None, None));
            let first = &self.roles[entry.0];
            if first.name != m.name {
                return Err(self.cx.err(
                    &m.span,
                    &m.key,
                    format!(
                        "role `{}` is written `{}` at line {} (`{}`); IAM role names are case-insensitive, so both name one role: spell it the same way everywhere",
                        m.name,
                        first.name,
                        self.cx.line(first.span.start),
                        first.key
                    ),
                ));
            }
            if let Some(path) = &m.path {
                match entry.1 {
                    None => entry.1 = Some(i),
                    Some(j) => {
                        let other = &self.roles[j];
                        if other.path.as_ref() != Some(path) {
                            return Err(self.cx.err(
                                &m.span,
                                &m.key,
                                format!(
                                    "role `{}` has path `{}` here but `{}` at line {} (`{}`); a role has one path: use the same ARN in both places",
                                    m.name,
                                    path,
                                    other.path.as_deref().unwrap_or("/"),
                                    self.cx.line(other.span.start),
                                    other.key
                                ),
                            ));
                        }
                    }
                }
            }
            if let Some(account) = &m.account {
                match entry.2 {
                    None => entry.2 = Some(i),
                    Some(j) => {
                        let other = &self.roles[j];
                        if other.account.as_ref() != Some(account) {
                            return Err(self.cx.err(
                                &m.span,
                                &m.key,
                                format!(
                                    "role `{}` is in account `{}` here but in account `{}` at line {} (`{}`); a2i-fix works on one account at a time",
                                    m.name,
                                    account,
                                    other.account.as_deref().unwrap_or(""),
                                    self.cx.line(other.span.start),
                                    other.key
                                ),
                            ));
                        }
                    }
                }
            }
        }
        // Bare names take the path an ARN gave.
        let paths: BTreeMap<String, String> = seen
            .iter()
            .filter_map(|(lower, (_, p, _))| {
                p.and_then(|j| self.roles[j].path.clone())
                    .map(|p| (lower.clone(), p))
            })
            .collect();
        let refs = spec
            .flow_definitions
            .iter_mut()
            .map(|f| &mut f.role)
            .chain(spec.template_previews.iter_mut().map(|p| &mut p.role));
        for r in refs {
            if let Some(p) = paths.get(&r.name.to_lowercase()) {
                r.path = p.clone();
            }
        }
        Ok(())
    }

    /// Every account id in the spec must be the same.
    fn check_accounts(&self) -> Res<()> {
        let Some(anchor) = self.accounts.first() else {
            return Ok(());
        };
        for m in &self.accounts[1..] {
            if m.account != anchor.account {
                let fix = if m.what == "the KMS key" {
                    "a2i-fix changes one account at a time and PutKeyPolicy cannot be called across accounts: use a key in the same account, or grant R5 in the key's account yourself"
                } else {
                    "a2i-fix changes one account at a time: use one spec per account"
                };
                return Err(self.cx.err(
                    &m.span,
                    &m.key,
                    format!(
                        "{} is in account `{}`, but {}; {fix}",
                        m.what,
                        m.account,
                        if anchor.key == "account_id" {
                            format!(
                                "`account_id` is `{}` (line {})",
                                anchor.account,
                                self.cx.line(anchor.span.start)
                            )
                        } else {
                            format!(
                                "{} at line {} (`{}`) is in account `{}`",
                                anchor.what,
                                self.cx.line(anchor.span.start),
                                anchor.key,
                                anchor.account
                            )
                        }
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn a_type(v: &DeValue<'_>) -> String {
    match v {
        DeValue::Integer(_) => "an integer".to_string(),
        DeValue::Array(_) => "an array".to_string(),
        other => format!("a {}", other.type_str()),
    }
}

/// The closest allowed key, if it is close enough to be a likely typo.
fn suggest<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (edit_distance(&key.to_lowercase(), a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// `account_id`: exactly 12 digits.
pub fn check_account_id(s: &str) -> Result<(), String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not an AWS account id; write the 12 digits, e.g. `123456789012`"
        ))
    }
}

/// S3 general purpose bucket naming rules.
pub fn check_bucket_name(s: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("`{s}` is not a valid S3 bucket name: {why}"));
    if s.starts_with("s3://") || s.starts_with("arn:") {
        return bad("write the bare bucket name, e.g. `acme-a2i-input`");
    }
    if s.len() < 3 || s.len() > 63 {
        return bad("it must be 3 to 63 characters long");
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        let why = if c.is_ascii_uppercase() {
            "it must be lowercase".to_string()
        } else {
            format!("`{c}` is not allowed (only lowercase letters, digits, `.` and `-`)")
        };
        return bad(&why);
    }
    let first = s.as_bytes()[0];
    let last = s.as_bytes()[s.len() - 1];
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return bad("it must start and end with a letter or digit");
    }
    if s.contains("..") {
        return bad("it must not contain two adjacent dots");
    }
    if s.contains(".-") || s.contains("-.") {
        return bad("a dot must not be next to a hyphen");
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return bad("it must not look like an IP address");
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if s.starts_with(prefix) {
            return bad(&format!("it must not start with `{prefix}` (reserved)"));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if s.ends_with(suffix) {
            return bad(&format!("it must not end with `{suffix}` (reserved)"));
        }
    }
    Ok(())
}

/// IAM role and user names: 1-64 of `[A-Za-z0-9+=,.@_-]`.
fn check_iam_name(name: &str, what: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err(format!("a {what} name must be 1 to 64 characters long"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c)))
    {
        return Err(format!(
            "`{c}` is not allowed in a {what} name (letters, digits and `+=,.@_-` only)"
        ));
    }
    Ok(())
}

/// IAM paths: `/` or `/a/b/`, printable ASCII, at most 512 characters.
fn check_iam_path(path: &str) -> Result<(), String> {
    let ok = path.len() <= 512
        && path.starts_with('/')
        && path.ends_with('/')
        && !path.contains("//")
        && path.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!("`{path}` is not a valid IAM path"))
    }
}

/// The parts of an IAM ARN `arn:PARTITION:iam::ACCOUNT:KIND/PATH/NAME`.
struct IamArn {
    partition: String,
    account: String,
    kind: String,
    path: String,
    name: String,
}

fn parse_iam_arn(s: &str) -> Result<IamArn, String> {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" {
        return Err(format!("`{s}` is not an ARN"));
    }
    let (partition, service, region, account, resource) =
        (parts[1], parts[2], parts[3], parts[4], parts[5]);
    if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov") {
        return Err(format!(
            "`{s}`: unknown partition `{partition}` (expected `aws`, `aws-cn` or `aws-us-gov`)"
        ));
    }
    if service == "sts" && resource.starts_with("assumed-role/") {
        let role = resource.split('/').nth(1).unwrap_or("NAME");
        return Err(format!(
            "`{s}` is a session, not a role; give the role's IAM ARN, `arn:{partition}:iam::{account}:role/{role}` (with its path if it has one)"
        ));
    }
    if service != "iam" {
        return Err(format!(
            "`{s}` is not an IAM ARN (service `{service}`, expected `iam`)"
        ));
    }
    if !region.is_empty() {
        return Err(format!(
            "`{s}`: IAM ARNs have no region; write `arn:{partition}:iam::{account}:...`"
        ));
    }
    check_account_id(account)
        .map_err(|_| format!("`{s}`: `{account}` is not a 12-digit account id"))?;
    let Some((kind, rest)) = resource.split_once('/') else {
        return Err(format!(
            "`{s}` names no role or user (expected `role/NAME` or `user/NAME` after the account id)"
        ));
    };
    let (path, name) = match rest.rfind('/') {
        Some(i) => (format!("/{}", &rest[..=i]), &rest[i + 1..]),
        None => ("/".to_string(), rest),
    };
    Ok(IamArn {
        partition: partition.to_string(),
        account: account.to_string(),
        kind: kind.to_string(),
        path,
        name: name.to_string(),
    })
}

/// A role name or `arn:aws:iam::ACCT:role/PATH/NAME`. The bool says whether
/// the path was given (by an ARN).
pub(crate) fn parse_role(s: &str) -> Result<(RoleRef, bool), String> {
    if !s.starts_with("arn:") {
        check_iam_name(s, "role")
            .map_err(|m| format!("`{s}` is not a role name or role ARN: {m}"))?;
        let r = RoleRef {
            name: s.to_string(),
            path: "/".to_string(),
            account_id: None,
            written: s.to_string(),
        };
        return Ok((r, false));
    }
    let arn = parse_iam_arn(s)?;
    if arn.partition != "aws" {
        return Err(format!(
            "`{s}`: only the `aws` partition is supported for roles (the grants use `arn:aws:s3:::`)"
        ));
    }
    if arn.kind != "role" {
        return Err(format!(
            "`{s}` is not a role ARN (expected `arn:aws:iam::ACCOUNT:role/NAME`)"
        ));
    }
    check_iam_name(&arn.name, "role").map_err(|m| format!("`{s}`: {m}"))?;
    check_iam_path(&arn.path).map_err(|m| format!("`{s}`: {m}"))?;
    let r = RoleRef {
        name: arn.name,
        path: arn.path,
        account_id: Some(arn.account),
        written: s.to_string(),
    };
    Ok((r, true))
}

/// A caller principal: a role or user ARN.
pub(crate) struct PrincipalArn {
    pub kind: PrincipalKind,
    pub name: String,
    pub path: String,
    pub account: String,
}

pub(crate) fn parse_principal_arn(s: &str) -> Result<PrincipalArn, String> {
    if !s.starts_with("arn:") {
        return Err(format!(
            "`{s}` is not an ARN; give the caller's full ARN, e.g. `arn:aws:iam::123456789012:role/{s}` or `arn:aws:iam::123456789012:user/{s}`"
        ));
    }
    let arn = parse_iam_arn(s)?;
    let kind = match arn.kind.as_str() {
        "role" => PrincipalKind::Role,
        "user" => PrincipalKind::User,
        other => {
            return Err(format!(
                "`{s}` is a `{other}`; a caller must be a role or a user (`...:role/NAME` or `...:user/NAME`)"
            ));
        }
    };
    let what = if kind == PrincipalKind::Role {
        "role"
    } else {
        "user"
    };
    check_iam_name(&arn.name, what).map_err(|m| format!("`{s}`: {m}"))?;
    check_iam_path(&arn.path).map_err(|m| format!("`{s}`: {m}"))?;
    Ok(PrincipalArn {
        kind,
        name: arn.name,
        path: arn.path,
        account: arn.account,
    })
}

/// `s3://bucket`, `s3://bucket/`, `s3://bucket/a/b` or `s3://bucket/a/b/`.
/// The prefix is normalised to end with `/` when not empty.
pub fn parse_s3_url(s: &str) -> Result<S3Url, String> {
    let Some(rest) = s.strip_prefix("s3://") else {
        return Err(format!(
            "`{s}` is not an `s3://` URL; write the flow definition's S3OutputPath, e.g. `s3://acme-a2i-output/reviews/`"
        ));
    };
    let (bucket, prefix) = match rest.split_once('/') {
        Some((b, p)) => (b, p),
        None => (rest, ""),
    };
    if bucket.is_empty() {
        return Err(format!(
            "`{s}` names no bucket; write `s3://BUCKET/PREFIX/`"
        ));
    }
    check_bucket_name(bucket).map_err(|m| format!("in `{s}`: {m}"))?;
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.starts_with('/') || trimmed.contains("//") {
        return Err(format!(
            "`{s}` has an empty path segment (`//`); remove the extra `/`"
        ));
    }
    if trimmed.contains(['*', '?']) || trimmed.contains("${") {
        return Err(format!(
            "`{s}`: the prefix must not contain `*`, `?` or `${{` (in an IAM resource they are wildcards or variables and would widen the grant)"
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(format!("`{s}`: the prefix contains control characters"));
    }
    if trimmed.len() > 1000 {
        return Err(format!("`{s}`: the prefix is too long"));
    }
    let prefix = if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    };
    Ok(S3Url {
        bucket: bucket.to_string(),
        prefix,
    })
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_key_id(s: &str) -> bool {
    is_uuid(s)
        || s.strip_prefix("mrk-")
            .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

fn check_alias_name(s: &str, whole: &str) -> Result<(), String> {
    let Some(name) = s.strip_prefix("alias/") else {
        return Err(format!("`{whole}` is not a KMS alias"));
    };
    if name.is_empty()
        || s.len() > 256
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
    {
        return Err(format!(
            "`{whole}`: an alias name is `alias/` followed by letters, digits, `/`, `_` and `-` (256 characters at most)"
        ));
    }
    if name.starts_with("aws/") {
        return Err(format!(
            "`{whole}` is an AWS managed key: its key policy cannot be changed; encrypt the output with a customer managed key"
        ));
    }
    Ok(())
}

/// Validate a `kms_key`: key id, key ARN, `alias/NAME` or alias ARN.
/// Returns the account of an ARN.
pub fn kms_key_account(s: &str) -> Result<Option<String>, String> {
    if is_key_id(s) {
        return Ok(None);
    }
    if s.starts_with("alias/") {
        check_alias_name(s, s)?;
        return Ok(None);
    }
    let usage = "a key id (`1234abcd-12ab-34cd-56ef-1234567890ab`), key ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID`), alias (`alias/NAME`) or alias ARN";
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "kms" {
        return Err(format!("`{s}` is not a KMS key; expected {usage}"));
    }
    let (partition, region, account, resource) = (parts[1], parts[3], parts[4], parts[5]);
    if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov") {
        return Err(format!(
            "`{s}`: unknown partition `{partition}` (expected `aws`, `aws-cn` or `aws-us-gov`)"
        ));
    }
    if !is_region(region) {
        return Err(format!(
            "`{s}`: `{region}` is not a region (e.g. `us-east-1`)"
        ));
    }
    check_account_id(account)
        .map_err(|_| format!("`{s}`: `{account}` is not a 12-digit account id"))?;
    if let Some(id) = resource.strip_prefix("key/") {
        if !is_key_id(id) {
            return Err(format!(
                "`{s}`: `{id}` is not a key id (a UUID such as `1234abcd-12ab-34cd-56ef-1234567890ab`)"
            ));
        }
    } else if resource.starts_with("alias/") {
        check_alias_name(resource, s)?;
    } else {
        return Err(format!("`{s}` is not a KMS key; expected {usage}"));
    }
    Ok(Some(account.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid flow definition table, to build documents from.
    const FLOW: &str = r#"
[[flow_definition]]
name = "invoice-review"
role = "A2IFlowRole"
input_buckets = ["acme-a2i-input"]
output = "s3://acme-a2i-output/reviews/"
"#;

    fn ok(text: &str) -> Spec {
        match parse(text, "a2i.toml") {
            Ok(spec) => spec,
            Err(e) => panic!("expected a valid spec, got: {e}\n---\n{text}"),
        }
    }

    /// Parse `text`, expect an `Invalid` error; return (line, key, message).
    fn invalid(text: &str) -> (usize, String, String) {
        match parse(text, "a2i.toml") {
            Ok(spec) => panic!("expected an error, got {spec:?}\n---\n{text}"),
            Err(SpecError::Invalid {
                file,
                line,
                key,
                message,
            }) => {
                assert_eq!(file, "a2i.toml");
                (line, key, message)
            }
            Err(e) => panic!("expected an Invalid error, got {e:?}"),
        }
    }

    /// Assert the error is on `line`, about `key`, with `needle` in its message.
    #[track_caller]
    fn assert_invalid(text: &str, line: usize, key: &str, needle: &str) {
        let (l, k, m) = invalid(text);
        assert_eq!((l, k.as_str()), (line, key), "message: {m}\n---\n{text}");
        assert!(
            m.contains(needle),
            "message `{m}` does not contain `{needle}`\n---\n{text}"
        );
    }

    /// A flow definition with one key replaced (or removed with `None`).
    fn flow_with(key: &str, value: Option<&str>) -> String {
        let mut out = String::from("[[flow_definition]]\n");
        for (k, v) in [
            ("name", "\"invoice-review\""),
            ("role", "\"A2IFlowRole\""),
            ("input_buckets", "[\"acme-a2i-input\"]"),
            ("output", "\"s3://acme-a2i-output/reviews/\""),
        ] {
            if k == key {
                if let Some(value) = value {
                    out.push_str(&format!("{k} = {value}\n"));
                }
            } else {
                out.push_str(&format!("{k} = {v}\n"));
            }
        }
        if let ("kms_key", Some(value)) = (key, value) {
            out.push_str(&format!("kms_key = {value}\n"));
        }
        out
    }

    // ---- the happy path ----------------------------------------------------

    #[test]
    fn the_example_of_the_issue_parses_into_the_expected_spec() {
        let text = r#"account_id = "111122223333"          # optional

[[flow_definition]]
name = "invoice-review"
role = "A2IFlowRole"
input_buckets = ["acme-a2i-input"]
output = "s3://acme-a2i-output/reviews/"
kms_key = "alias/a2i-output"

[[human_loop_caller]]
principal = "arn:aws:iam::111122223333:role/ml-app"
uses = ["custom", "textract", "rekognition"]
public_workforce = false

[[template_preview]]
role = "A2IPreviewRole"
input_buckets = ["acme-a2i-input"]
"#;
        let spec = ok(text);
        assert_eq!(spec.account_id.as_deref(), Some("111122223333"));
        assert_eq!(
            spec.flow_definitions,
            vec![FlowDefinition {
                name: "invoice-review".into(),
                role: RoleRef {
                    name: "A2IFlowRole".into(),
                    path: "/".into(),
                    account_id: None,
                    written: "A2IFlowRole".into()
                },
                input_buckets: vec!["acme-a2i-input".into()],
                output: S3Url {
                    bucket: "acme-a2i-output".into(),
                    prefix: "reviews/".into()
                },
                kms_key: Some("alias/a2i-output".into()),
            }]
        );
        assert_eq!(
            spec.human_loop_callers,
            vec![HumanLoopCaller {
                arn: "arn:aws:iam::111122223333:role/ml-app".into(),
                kind: PrincipalKind::Role,
                name: "ml-app".into(),
                account_id: "111122223333".into(),
                uses: vec![Use::Custom, Use::Textract, Use::Rekognition],
                public_workforce: false,
            }]
        );
        assert_eq!(spec.template_previews.len(), 1);
        assert_eq!(spec.template_previews[0].role.name, "A2IPreviewRole");
        assert_eq!(spec.hash, crate::model::digest(text));
    }

    #[test]
    fn hash_is_the_sha256_of_the_file_bytes_and_changes_with_them() {
        let a = ok(FLOW);
        let b = ok(&format!("{FLOW}# a comment\n"));
        assert_eq!(a.hash, crate::model::digest(FLOW));
        assert!(a.hash.starts_with("sha256:") && a.hash.len() == 7 + 64);
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn public_workforce_defaults_to_false_and_uses_are_deduplicated() {
        let spec = ok(r#"
[[human_loop_caller]]
principal = "arn:aws:iam::123456789012:user/alice"
uses = ["textract", "custom", "textract"]
"#);
        let caller = &spec.human_loop_callers[0];
        assert!(!caller.public_workforce);
        assert_eq!(caller.uses, vec![Use::Custom, Use::Textract]);
        assert_eq!(caller.kind, PrincipalKind::User);
        assert_eq!(caller.name, "alice");
    }

    #[test]
    fn a_bucket_listed_twice_is_kept_once() {
        let spec = ok(&flow_with(
            "input_buckets",
            Some(r#"["acme-a2i-input", "acme-a2i-input", "acme-a2i-b"]"#),
        ));
        assert_eq!(
            spec.flow_definitions[0].input_buckets,
            ["acme-a2i-input", "acme-a2i-b"]
        );
    }

    #[test]
    fn input_buckets_may_be_empty() {
        let spec = ok(&flow_with("input_buckets", Some("[]")));
        assert!(spec.flow_definitions[0].input_buckets.is_empty());
    }

    #[test]
    fn inline_tables_are_accepted_like_array_tables() {
        let spec = ok(
            r#"template_preview = [{ role = "A2IPreviewRole", input_buckets = ["acme-a2i-input"] }]"#,
        );
        assert_eq!(spec.template_previews[0].input_buckets, ["acme-a2i-input"]);
    }

    // ---- error format --------------------------------------------------------

    #[test]
    fn error_message_names_file_line_and_key() {
        let text = format!("{FLOW}outptu = \"s3://x\"\n");
        let Err(e) = parse(&text, "plans/x.toml") else {
            panic!("expected an error")
        };
        assert_eq!(
            e.to_string(),
            "plans/x.toml:7: `flow_definition[0].outptu`: unknown key in a `[[flow_definition]]`; did you mean `output`? expected one of `name`, `role`, `input_buckets`, `output`, `kms_key`"
        );
    }

    #[test]
    fn error_message_for_a_missing_key_points_at_the_table_header() {
        let text = format!(
            "account_id = \"123456789012\"\n\n{}",
            flow_with("output", None)
        );
        let Err(e) = parse(&text, "a2i.toml") else {
            panic!("expected an error")
        };
        assert_eq!(
            e.to_string(),
            "a2i.toml:3: `flow_definition[0].output`: missing in a `[[flow_definition]]`; add the flow definition's S3OutputPath, e.g. `output = \"s3://acme-a2i-output/reviews/\"`"
        );
    }

    #[test]
    fn load_reports_a_missing_file_as_io_error() {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("tempdir: {e}"),
        };
        let path = dir.path().join("a2i.toml");
        match load(&path) {
            Err(SpecError::Io { file, message }) => {
                assert_eq!(file, path.display().to_string());
                assert!(message.contains("--spec"), "{message}");
            }
            other => panic!("expected an Io error, got {other:?}"),
        }
    }

    #[test]
    fn load_reads_a_file_and_hashes_its_bytes() {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("tempdir: {e}"),
        };
        let path = dir.path().join("a2i.toml");
        if let Err(e) = std::fs::write(&path, FLOW) {
            panic!("write: {e}");
        }
        match load(&path) {
            Ok(spec) => assert_eq!(spec.hash, crate::model::digest(FLOW)),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn load_reports_invalid_utf8_with_its_line() {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("tempdir: {e}"),
        };
        let path = dir.path().join("a2i.toml");
        if let Err(e) = std::fs::write(&path, b"account_id = \"1\"\n# \xff\n") {
            panic!("write: {e}");
        }
        match load(&path) {
            Err(SpecError::Invalid { line, message, .. }) => {
                assert_eq!(line, 2);
                assert!(message.contains("UTF-8"), "{message}");
            }
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }

    // ---- TOML syntax -------------------------------------------------------

    #[test]
    fn a_syntax_error_names_its_line_and_the_nearest_key() {
        let text = format!("{FLOW}kms_key = \"alias/a2i\n");
        assert_invalid(&text, 7, "flow_definition[0].kms_key", "invalid TOML");
    }

    #[test]
    fn a_duplicate_key_is_a_syntax_error_on_its_second_line() {
        let text = format!("{FLOW}name = \"again\"\n");
        let (line, _, message) = invalid(&text);
        assert_eq!(line, 7);
        assert!(message.contains("invalid TOML"), "{message}");
    }

    // ---- unknown keys, at every level --------------------------------------

    #[test]
    fn unknown_keys_are_errors_at_every_level() {
        assert_invalid(
            &format!("acount_id = \"123456789012\"\n{FLOW}"),
            1,
            "acount_id",
            "did you mean `account_id`?",
        );
        assert_invalid(
            &format!("{FLOW}\n[[flow_definitions]]\nname = \"x\"\n"),
            8,
            "flow_definitions",
            "did you mean `flow_definition`?",
        );
        assert_invalid(
            &format!("{FLOW}input_bucket = [\"a\"]\n"),
            7,
            "flow_definition[0].input_bucket",
            "did you mean `input_buckets`?",
        );
        assert_invalid(
            "[[human_loop_caller]]\nprincipal = \"arn:aws:iam::123456789012:role/ml-app\"\nuses = [\"custom\"]\npublic = true\n",
            4,
            "human_loop_caller[0].public",
            "unknown key in a `[[human_loop_caller]]`",
        );
        assert_invalid(
            "[[template_preview]]\nrole = \"A2IPreviewRole\"\ninput_buckets = []\noutput = \"s3://b/\"\n",
            4,
            "template_preview[0].output",
            "expected one of `role`, `input_buckets`",
        );
        // A sub-table of a flow definition is an unknown key too.
        assert_invalid(
            &format!("{FLOW}\n[flow_definition.tags]\nteam = \"ml\"\n"),
            8,
            "flow_definition[0].tags",
            "unknown key",
        );
    }

    #[test]
    fn unknown_keys_that_need_quotes_are_quoted_in_the_key_path() {
        assert_invalid(&format!("\"\" = 1\n{FLOW}"), 1, "\"\"", "unknown key");
        assert_invalid(
            &format!("{FLOW}\"kms key\" = 1\n"),
            7,
            "flow_definition[0].\"kms key\"",
            "unknown key",
        );
    }

    #[test]
    fn the_first_unknown_key_in_file_order_is_reported() {
        let text = format!("{FLOW}zzz = 1\naaa = 2\n");
        assert_invalid(&text, 7, "flow_definition[0].zzz", "unknown key");
    }

    #[test]
    fn unknown_key_in_the_second_table_names_its_index() {
        let text = format!("{FLOW}{FLOW}role_arn = \"x\"\n");
        let text = text.replacen("invoice-review", "other", 1);
        assert_invalid(&text, 13, "flow_definition[1].role_arn", "unknown key");
    }

    // ---- wrong types --------------------------------------------------------

    #[test]
    fn wrong_types_are_errors_naming_expected_and_found() {
        assert_invalid(
            &flow_with("name", Some("42")),
            2,
            "flow_definition[0].name",
            "expected a string, found an integer",
        );
        assert_invalid(
            &flow_with("role", Some("[\"A2IFlowRole\"]")),
            3,
            "flow_definition[0].role",
            "expected a string, found an array",
        );
        assert_invalid(
            &flow_with("input_buckets", Some("\"acme-a2i-input\"")),
            4,
            "flow_definition[0].input_buckets",
            "write `[\"acme-a2i-input\"]`",
        );
        assert_invalid(
            &flow_with("input_buckets", Some("[\"acme-a2i-input\", 7]")),
            4,
            "flow_definition[0].input_buckets[1]",
            "expected a string, found an integer",
        );
        assert_invalid(
            &flow_with("output", Some("true")),
            5,
            "flow_definition[0].output",
            "found a boolean",
        );
        assert_invalid(
            &flow_with("kms_key", Some("1.5")),
            6,
            "flow_definition[0].kms_key",
            "found a float",
        );
        assert_invalid(
            "[[human_loop_caller]]\nprincipal = \"arn:aws:iam::123456789012:role/ml-app\"\nuses = \"custom\"\n",
            3,
            "human_loop_caller[0].uses",
            "expected an array of strings",
        );
        assert_invalid(
            "[[human_loop_caller]]\nprincipal = \"arn:aws:iam::123456789012:role/ml-app\"\nuses = [\"custom\"]\npublic_workforce = \"yes\"\n",
            4,
            "human_loop_caller[0].public_workforce",
            "expected a boolean",
        );
        assert_invalid(
            &format!("account_id = 123456789012\n{FLOW}"),
            1,
            "account_id",
            "in quotes",
        );
        assert_invalid(
            &format!("account_id = 1979-05-27\n{FLOW}"),
            1,
            "account_id",
            "found a datetime",
        );
    }

    #[test]
    fn a_single_table_where_an_array_of_tables_is_expected_is_an_error() {
        let text = FLOW.replace("[[flow_definition]]", "[flow_definition]");
        assert_invalid(
            &text,
            2,
            "flow_definition",
            "write each one as `[[flow_definition]]`",
        );
        assert_invalid(
            "human_loop_caller = [\"arn\"]\n",
            1,
            "human_loop_caller[0]",
            "expected a table",
        );
    }

    // ---- missing keys -------------------------------------------------------

    #[test]
    fn every_required_flow_definition_key_is_reported_when_missing() {
        for key in ["name", "role", "input_buckets", "output"] {
            let text = format!("account_id = \"123456789012\"\n{}", flow_with(key, None));
            assert_invalid(
                &text,
                2,
                &format!("flow_definition[0].{key}"),
                "missing in a `[[flow_definition]]`",
            );
        }
    }

    #[test]
    fn required_caller_and_preview_keys_are_reported_when_missing() {
        assert_invalid(
            "[[human_loop_caller]]\nuses = [\"custom\"]\n",
            1,
            "human_loop_caller[0].principal",
            "missing",
        );
        assert_invalid(
            "\n\n[[human_loop_caller]]\nprincipal = \"arn:aws:iam::123456789012:role/ml-app\"\n",
            3,
            "human_loop_caller[0].uses",
            "missing",
        );
        assert_invalid(
            "[[template_preview]]\ninput_buckets = []\n",
            1,
            "template_preview[0].role",
            "missing",
        );
        assert_invalid(
            "[[template_preview]]\nrole = \"A2IPreviewRole\"\n",
            1,
            "template_preview[0].input_buckets",
            "or `[]`",
        );
    }

    #[test]
    fn a_spec_with_nothing_to_check_is_an_error() {
        assert_invalid("", 1, DOCUMENT, "nothing to check");
        assert_invalid(
            "account_id = \"123456789012\"\n",
            1,
            DOCUMENT,
            "nothing to check",
        );
        assert_invalid(
            "flow_definition = []\nhuman_loop_caller = []\n",
            1,
            DOCUMENT,
            "nothing to check",
        );
    }

    // ---- names ---------------------------------------------------------------

    #[test]
    fn an_empty_or_blank_flow_definition_name_is_an_error() {
        assert_invalid(
            &flow_with("name", Some("\"\"")),
            2,
            "flow_definition[0].name",
            "is empty",
        );
        assert_invalid(
            &flow_with("name", Some("\"   \"")),
            2,
            "flow_definition[0].name",
            "is empty",
        );
        assert_invalid(
            &flow_with("name", Some("\"a\\u001b[31m\"")),
            2,
            "flow_definition[0].name",
            "control characters",
        );
    }

    #[test]
    fn duplicate_flow_definition_names_are_an_error_naming_the_first_line() {
        let text = format!("{FLOW}{FLOW}");
        assert_invalid(
            &text,
            9,
            "flow_definition[1].name",
            "already defined at line 3",
        );
    }

    #[test]
    fn the_same_caller_twice_is_an_error() {
        let caller = "[[human_loop_caller]]\nprincipal = \"arn:aws:iam::123456789012:role/ml-app\"\nuses = [\"custom\"]\n";
        let text = format!("{caller}{caller}");
        assert_invalid(
            &text,
            5,
            "human_loop_caller[1].principal",
            "already listed at line 2",
        );
    }

    #[test]
    fn two_previews_with_one_role_are_accepted() {
        let spec = ok(
            "[[template_preview]]\nrole = \"P\"\ninput_buckets = [\"bucket-a\"]\n[[template_preview]]\nrole = \"P\"\ninput_buckets = [\"bucket-b\"]\n",
        );
        assert_eq!(spec.template_previews.len(), 2);
    }

    // ---- account ids -----------------------------------------------------------

    #[test]
    fn account_id_must_be_twelve_digits() {
        for bad in [
            "12345678901",
            "1234567890123",
            "12345678901a",
            "",
            " 123456789012",
            "１２３４５６７８９０１２",
        ] {
            let text = format!("account_id = \"{bad}\"\n{FLOW}");
            assert_invalid(&text, 1, "account_id", "is not an AWS account id");
        }
        assert!(check_account_id("012345678901").is_ok());
    }

    #[test]
    fn a_role_arn_in_another_account_than_account_id_is_an_error() {
        let text = format!(
            "account_id = \"111122223333\"\n{}",
            flow_with(
                "role",
                Some("\"arn:aws:iam::444455556666:role/A2IFlowRole\"")
            )
        );
        assert_invalid(
            &text,
            4,
            "flow_definition[0].role",
            "the role is in account `444455556666`, but `account_id` is `111122223333` (line 1)",
        );
    }

    #[test]
    fn a_caller_in_another_account_than_account_id_is_an_error() {
        let text = "account_id = \"111122223333\"\n[[human_loop_caller]]\nprincipal = \"arn:aws:iam::444455556666:user/bob\"\nuses = [\"custom\"]\n";
        assert_invalid(
            text,
            3,
            "human_loop_caller[0].principal",
            "the caller is in account `444455556666`",
        );
    }

    #[test]
    fn a_kms_key_arn_in_another_account_is_an_error() {
        let text = format!(
            "account_id = \"111122223333\"\n{}",
            flow_with(
                "kms_key",
                Some(
                    "\"arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab\""
                )
            )
        );
        assert_invalid(
            &text,
            7,
            "flow_definition[0].kms_key",
            "PutKeyPolicy cannot be called across accounts",
        );
    }

    #[test]
    fn without_account_id_all_arns_must_name_one_account() {
        let text = format!(
            "{}[[human_loop_caller]]\nprincipal = \"arn:aws:iam::444455556666:role/ml-app\"\nuses = [\"custom\"]\n",
            flow_with(
                "role",
                Some("\"arn:aws:iam::111122223333:role/A2IFlowRole\"")
            )
        );
        assert_invalid(
            &text,
            7,
            "human_loop_caller[0].principal",
            "but the role at line 3 (`flow_definition[0].role`) is in account `111122223333`",
        );
    }

    #[test]
    fn matching_accounts_bind_the_spec_to_that_account() {
        let text = format!(
            "{}[[human_loop_caller]]\nprincipal = \"arn:aws:iam::111122223333:role/ml-app\"\nuses = [\"custom\"]\n",
            flow_with(
                "role",
                Some("\"arn:aws:iam::111122223333:role/A2IFlowRole\"")
            )
        );
        let spec = ok(&text);
        assert_eq!(spec.account_id, None);
        assert_eq!(spec.bound_account().as_deref(), Some("111122223333"));
        assert_eq!(ok(FLOW).bound_account(), None);
    }

    // ---- bucket names --------------------------------------------------------

    #[test]
    fn valid_bucket_names_are_accepted() {
        for name in [
            "abc",
            "acme-a2i-input",
            "my.bucket.name",
            "a1b2",
            "1bucket",
            &"a".repeat(63),
            "192.168.1.1a",
        ] {
            assert_eq!(check_bucket_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn invalid_bucket_names_are_refused_with_the_rule_they_break() {
        let cases = [
            ("ab", "3 to 63"),
            (&"a".repeat(64) as &str, "3 to 63"),
            ("Acme-input", "lowercase"),
            ("acme_input", "`_` is not allowed"),
            ("acme input", "` ` is not allowed"),
            ("-acme", "start and end"),
            ("acme-", "start and end"),
            (".acme", "start and end"),
            ("acme..input", "two adjacent dots"),
            ("acme.-input", "next to a hyphen"),
            ("192.168.5.4", "IP address"),
            ("xn--acme", "`xn--`"),
            ("sthree-acme", "`sthree-`"),
            ("amzn-s3-demo-bucket", "`amzn-s3-demo-`"),
            ("acme-s3alias", "`-s3alias`"),
            ("acme--ol-s3", "`--ol-s3`"),
            ("acme.mrap", "`.mrap`"),
            ("acme--x-s3", "`--x-s3`"),
            ("acme--table-s3", "`--table-s3`"),
            ("s3://acme", "bare bucket name"),
            ("arn:aws:s3:::acme", "bare bucket name"),
        ];
        for (name, why) in cases {
            match check_bucket_name(name) {
                Ok(()) => panic!("`{name}` was accepted"),
                Err(m) => assert!(m.contains(why), "`{name}`: `{m}` does not say `{why}`"),
            }
        }
    }

    #[test]
    fn an_invalid_input_bucket_names_its_index_and_line() {
        let text = format!(
            "{FLOW}\n[[template_preview]]\nrole = \"P\"\ninput_buckets = [\n  \"acme-a2i-input\",\n  \"Acme_Bad\",\n]\n"
        );
        assert_invalid(
            &text,
            12,
            "template_preview[0].input_buckets[1]",
            "not a valid S3 bucket name",
        );
    }

    // ---- output URLs -------------------------------------------------------------

    #[test]
    fn output_prefix_is_normalised_to_a_folder() {
        let cases = [
            ("s3://acme-a2i-output", "", "arn:aws:s3:::acme-a2i-output/*"),
            (
                "s3://acme-a2i-output/",
                "",
                "arn:aws:s3:::acme-a2i-output/*",
            ),
            (
                "s3://acme-a2i-output/reviews",
                "reviews/",
                "arn:aws:s3:::acme-a2i-output/reviews/*",
            ),
            (
                "s3://acme-a2i-output/reviews/",
                "reviews/",
                "arn:aws:s3:::acme-a2i-output/reviews/*",
            ),
            (
                "s3://acme-a2i-output/a/b/c//",
                "a/b/c/",
                "arn:aws:s3:::acme-a2i-output/a/b/c/*",
            ),
        ];
        for (url, prefix, resource) in cases {
            match parse_s3_url(url) {
                Ok(u) => {
                    assert_eq!(u.bucket, "acme-a2i-output", "{url}");
                    assert_eq!(u.prefix, prefix, "{url}");
                    assert_eq!(u.write_resource(), resource, "{url}");
                }
                Err(m) => panic!("{url}: {m}"),
            }
        }
    }

    #[test]
    fn an_output_that_is_not_an_s3_url_is_an_error() {
        let cases = [
            (
                "https://acme-a2i-output.s3.amazonaws.com/reviews/",
                "not an `s3://` URL",
            ),
            ("acme-a2i-output/reviews", "not an `s3://` URL"),
            ("S3://acme-a2i-output/", "not an `s3://` URL"),
            (
                "arn:aws:s3:::acme-a2i-output/reviews/*",
                "not an `s3://` URL",
            ),
            ("s3://", "names no bucket"),
            ("s3:///reviews", "names no bucket"),
            ("s3://Acme/reviews", "not a valid S3 bucket name"),
            ("s3://acme-a2i-output//reviews", "empty path segment"),
            ("s3://acme-a2i-output/a//b/", "empty path segment"),
            ("s3://acme-a2i-output/re*views/", "must not contain"),
            ("s3://acme-a2i-output/re?/", "must not contain"),
            ("s3://acme-a2i-output/${aws:username}/", "must not contain"),
            ("s3://acme-a2i-output/a\tb/", "control characters"),
        ];
        for (url, why) in cases {
            match parse_s3_url(url) {
                Ok(u) => panic!("`{url}` was accepted as {u:?}"),
                Err(m) => assert!(m.contains(why), "`{url}`: `{m}` does not say `{why}`"),
            }
        }
        assert_invalid(
            &flow_with("output", Some("\"acme-a2i-output/reviews/\"")),
            5,
            "flow_definition[0].output",
            "not an `s3://` URL",
        );
    }

    // ---- roles -------------------------------------------------------------------

    #[test]
    fn a_role_arn_gives_name_path_and_account() {
        let spec = ok(&flow_with(
            "role",
            Some("\"arn:aws:iam::123456789012:role/service-role/a2i/A2IFlowRole\""),
        ));
        let role = &spec.flow_definitions[0].role;
        assert_eq!(role.name, "A2IFlowRole");
        assert_eq!(role.path, "/service-role/a2i/");
        assert_eq!(role.account_id.as_deref(), Some("123456789012"));
        assert_eq!(
            role.written,
            "arn:aws:iam::123456789012:role/service-role/a2i/A2IFlowRole"
        );
    }

    #[test]
    fn malformed_roles_are_refused() {
        let cases = [
            ("A2I Flow Role", "` ` is not allowed in a role name"),
            ("role/A2IFlowRole", "`/` is not allowed"),
            ("", "1 to 64"),
            (&"r".repeat(65) as &str, "1 to 64"),
            (
                "arn:aws:iam::123456789012:user/A2IFlowRole",
                "not a role ARN",
            ),
            (
                "arn:aws:iam::123456789012:group/A2IFlowRole",
                "not a role ARN",
            ),
            (
                "arn:aws:iam:us-east-1:123456789012:role/A2IFlowRole",
                "IAM ARNs have no region",
            ),
            (
                "arn:aws:iam::12345678901:role/A2IFlowRole",
                "not a 12-digit account id",
            ),
            ("arn:aws:s3:::acme", "not an IAM ARN"),
            (
                "arn:aws-cn:iam::123456789012:role/A2IFlowRole",
                "only the `aws` partition",
            ),
            (
                "arn:aws-foo:iam::123456789012:role/A2IFlowRole",
                "unknown partition",
            ),
            ("arn:aws:iam::123456789012:role/", "1 to 64"),
            (
                "arn:aws:iam::123456789012:role/bad path/A2IFlowRole",
                "not a valid IAM path",
            ),
            (
                "arn:aws:iam::123456789012:A2IFlowRole",
                "names no role or user",
            ),
            (
                "arn:aws:sts::123456789012:assumed-role/A2IFlowRole/session",
                "is a session",
            ),
            ("arn:aws:iam", "not an ARN"),
        ];
        for (role, why) in cases {
            match parse_role(role) {
                Ok(r) => panic!("`{role}` was accepted as {r:?}"),
                Err(m) => assert!(m.contains(why), "`{role}`: `{m}` does not say `{why}`"),
            }
        }
        assert_invalid(
            &flow_with("role", Some("\"A2I/Flow\"")),
            3,
            "flow_definition[0].role",
            "not a role name or role ARN",
        );
    }

    #[test]
    fn role_names_with_every_allowed_character_are_accepted() {
        for name in ["A2IFlowRole", "a+b=c,d.e@f_g-h", &"r".repeat(64)] {
            assert!(parse_role(name).is_ok(), "{name}");
        }
    }

    // ---- callers ---------------------------------------------------------------

    #[test]
    fn caller_principals_must_be_role_or_user_arns() {
        let cases = [
            ("ml-app", "is not an ARN"),
            (
                "arn:aws:iam::123456789012:group/admins",
                "a caller must be a role or a user",
            ),
            ("arn:aws:iam::123456789012:root", "names no role or user"),
            (
                "arn:aws:sts::123456789012:assumed-role/ml-app/i-0abc",
                "arn:aws:iam::123456789012:role/ml-app",
            ),
            (
                "arn:aws:iam::123456789012:user/bad name",
                "not allowed in a user name",
            ),
            (
                "arn:aws:iam::ACCOUNT:user/alice",
                "not a 12-digit account id",
            ),
            (
                "arn:aws:lambda:us-east-1:123456789012:function:f",
                "not an IAM ARN",
            ),
        ];
        for (arn, why) in cases {
            match parse_principal_arn(arn) {
                Ok(p) => panic!("`{arn}` was accepted as {:?} {}", p.kind, p.name),
                Err(m) => assert!(m.contains(why), "`{arn}`: `{m}` does not say `{why}`"),
            }
        }
        assert_invalid(
            "[[human_loop_caller]]\nprincipal = \"arn:aws:iam::123456789012:group/admins\"\nuses = [\"custom\"]\n",
            2,
            "human_loop_caller[0].principal",
            "must be a role or a user",
        );
    }

    #[test]
    fn caller_arns_in_other_partitions_and_with_paths_are_accepted() {
        for (arn, kind, name) in [
            (
                "arn:aws-cn:iam::123456789012:user/alice",
                PrincipalKind::User,
                "alice",
            ),
            (
                "arn:aws-us-gov:iam::123456789012:role/apps/ml-app",
                PrincipalKind::Role,
                "ml-app",
            ),
        ] {
            match parse_principal_arn(arn) {
                Ok(p) => assert_eq!((p.kind, p.name.as_str()), (kind, name)),
                Err(m) => panic!("{arn}: {m}"),
            }
        }
    }

    #[test]
    fn uses_must_be_known_and_not_empty() {
        let caller = |uses: &str| {
            format!(
                "[[human_loop_caller]]\nprincipal = \"arn:aws:iam::123456789012:role/ml-app\"\nuses = {uses}\n"
            )
        };
        assert_invalid(&caller("[]"), 3, "human_loop_caller[0].uses", "is empty");
        assert_invalid(
            &caller("[\"custom\", \"comprehend\"]"),
            3,
            "human_loop_caller[0].uses[1]",
            "unknown use `comprehend`",
        );
        assert_invalid(
            &caller("[\"Custom\"]"),
            3,
            "human_loop_caller[0].uses[0]",
            "expected one of `custom`, `textract`, `rekognition`",
        );
    }

    // ---- KMS keys ------------------------------------------------------------------

    #[test]
    fn every_form_of_kms_key_is_accepted() {
        let cases = [
            ("1234abcd-12ab-34cd-56ef-1234567890ab", None),
            ("mrk-1234abcd12ab34cd56ef1234567890ab", None),
            ("alias/a2i-output", None),
            ("alias/team/a2i_output", None),
            (
                "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                Some("123456789012"),
            ),
            (
                "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab",
                Some("123456789012"),
            ),
            (
                "arn:aws:kms:eu-central-1:123456789012:alias/a2i-output",
                Some("123456789012"),
            ),
        ];
        for (key, account) in cases {
            assert_eq!(kms_key_account(key), Ok(account.map(String::from)), "{key}");
        }
    }

    #[test]
    fn malformed_kms_keys_are_refused() {
        let cases = [
            ("a2i-output", "is not a KMS key"),
            ("1234abcd-12ab-34cd-56ef-1234567890a", "is not a KMS key"),
            ("alias/", "an alias name is"),
            ("alias/a2i output", "an alias name is"),
            ("alias/aws/s3", "AWS managed key"),
            (
                "arn:aws:kms:us-east-1:123456789012:alias/aws/s3",
                "AWS managed key",
            ),
            (
                "arn:aws:kms:us-east-1:123456789012:key/not-a-uuid",
                "is not a key id",
            ),
            (
                "arn:aws:kms:useast1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "is not a region",
            ),
            (
                "arn:aws:kms:us-east-1:1234:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "12-digit account id",
            ),
            (
                "arn:aws:kms:us-east-1:123456789012:grant/abc",
                "is not a KMS key",
            ),
            ("arn:aws:iam::123456789012:role/x", "is not a KMS key"),
            (
                "arn:aws-xx:kms:us-east-1:123456789012:alias/a",
                "unknown partition",
            ),
        ];
        for (key, why) in cases {
            match kms_key_account(key) {
                Ok(a) => panic!("`{key}` was accepted ({a:?})"),
                Err(m) => assert!(m.contains(why), "`{key}`: `{m}` does not say `{why}`"),
            }
        }
        assert_invalid(
            &flow_with("kms_key", Some("\"alias/aws/s3\"")),
            6,
            "flow_definition[0].kms_key",
            "AWS managed key",
        );
    }

    // ---- contradictory roles -------------------------------------------------

    fn two_flows(role_a: &str, role_b: &str) -> String {
        format!(
            "{}{}",
            flow_with("role", Some(&format!("\"{role_a}\""))),
            flow_with("role", Some(&format!("\"{role_b}\"")))
                .replace("invoice-review", "receipt-review")
        )
    }

    #[test]
    fn one_role_spelled_in_two_cases_is_contradictory() {
        assert_invalid(
            &two_flows("A2IFlowRole", "a2iflowrole"),
            8,
            "flow_definition[1].role",
            "is written `A2IFlowRole` at line 3",
        );
    }

    #[test]
    fn one_role_with_two_paths_is_contradictory() {
        let text = two_flows(
            "arn:aws:iam::123456789012:role/A2IFlowRole",
            "arn:aws:iam::123456789012:role/service-role/A2IFlowRole",
        );
        assert_invalid(
            &text,
            8,
            "flow_definition[1].role",
            "has path `/service-role/` here but `/` at line 3",
        );
    }

    #[test]
    fn one_role_in_two_accounts_is_contradictory() {
        let text = two_flows(
            "arn:aws:iam::111122223333:role/A2IFlowRole",
            "arn:aws:iam::444455556666:role/A2IFlowRole",
        );
        assert_invalid(
            &text,
            8,
            "flow_definition[1].role",
            "is in account `444455556666` here but in account `111122223333` at line 3",
        );
    }

    #[test]
    fn a_caller_role_arn_with_another_path_than_the_flow_role_is_contradictory() {
        let text = format!(
            "{}[[human_loop_caller]]\nprincipal = \"arn:aws:iam::123456789012:role/apps/A2IFlowRole\"\nuses = [\"custom\"]\n",
            flow_with(
                "role",
                Some("\"arn:aws:iam::123456789012:role/A2IFlowRole\"")
            )
        );
        assert_invalid(
            &text,
            7,
            "human_loop_caller[0].principal",
            "has path `/apps/` here",
        );
    }

    #[test]
    fn a_preview_role_spelled_differently_from_the_flow_role_is_contradictory() {
        let text =
            format!("{FLOW}[[template_preview]]\nrole = \"A2IFLOWROLE\"\ninput_buckets = []\n");
        assert_invalid(
            &text,
            8,
            "template_preview[0].role",
            "IAM role names are case-insensitive",
        );
    }

    #[test]
    fn a_bare_role_name_takes_the_path_of_an_arn_for_the_same_role() {
        let text = format!(
            "{}[[template_preview]]\nrole = \"arn:aws:iam::123456789012:role/a2i/A2IFlowRole\"\ninput_buckets = []\n",
            flow_with("role", Some("\"A2IFlowRole\""))
        );
        let spec = ok(&text);
        assert_eq!(spec.flow_definitions[0].role.path, "/a2i/");
        assert_eq!(
            spec.flow_definitions[0].role.account_id, None,
            "a bare name states no account"
        );
        assert_eq!(spec.template_previews[0].role.path, "/a2i/");
    }

    #[test]
    fn a_shared_role_with_different_keys_buckets_and_outputs_is_not_contradictory() {
        let a = flow_with("kms_key", Some("\"alias/key-a\""));
        let b = flow_with("kms_key", Some("\"alias/key-b\""))
            .replace("invoice-review", "receipt-review")
            .replace("acme-a2i-input", "acme-a2i-receipts")
            .replace("reviews/", "receipts/");
        let spec = ok(&format!("{a}{b}"));
        assert_eq!(spec.flow_definitions.len(), 2);
    }

    #[test]
    fn a_role_named_by_name_and_by_arn_is_not_contradictory() {
        let spec = ok(&two_flows(
            "A2IFlowRole",
            "arn:aws:iam::123456789012:role/A2IFlowRole",
        ));
        assert_eq!(
            spec.flow_definitions[0].role.name,
            spec.flow_definitions[1].role.name
        );
    }

    // ---- helpers ---------------------------------------------------------------

    #[test]
    fn suggestions_are_offered_only_for_near_misses() {
        assert_eq!(suggest("kms_keys", KEYS_FLOW), Some("kms_key"));
        assert_eq!(suggest("Role", KEYS_FLOW), Some("role"));
        assert_eq!(suggest("tags", KEYS_FLOW), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
