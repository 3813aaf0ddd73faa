//! The walk of the spec's TOML tree against its schema: which keys each
//! table takes (the `KEYS_*` tables), their types, and the grammar of each
//! value ([`super::names`]). Every error names the file, the line and the
//! key path (see [`super::location`]).

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::consistency::{AccountMention, Mentions, RoleMention};
use super::kms_key::KmsKeyRef;
use super::location::{Cx, DOCUMENT, join};
use super::names::{AccountId, BucketName, IamPrincipalArn, RoleNameOrArn};
use super::{
    FlowDefinition, HumanLoopCaller, RoleRef, S3Url, Spec, SpecError, TemplatePreview, Use,
};
use crate::model::PrincipalKind;

pub(super) const KEYS_TOP: &[&str] = &[
    "account_id",
    "flow_definition",
    "human_loop_caller",
    "template_preview",
];
pub(super) const KEYS_FLOW: &[&str] = &["name", "role", "input_buckets", "output", "kms_key"];
pub(super) const KEYS_CALLER: &[&str] = &["principal", "uses", "public_workforce"];
pub(super) const KEYS_PREVIEW: &[&str] = &["role", "input_buckets"];

/// Walk the parsed document: build the spec, then check that its entries
/// agree with one another (one account, one spelling and path per role).
pub(super) fn spec(cx: Cx<'_>, root: &DeTable<'_>) -> Result<Spec, SpecError> {
    let mut walk = Walk {
        cx,
        mentions: Mentions::default(),
    };
    let mut spec = walk.document(root)?;
    walk.mentions.check_roles(&cx, &mut spec)?;
    walk.mentions.check_accounts(&cx)?;
    Ok(spec)
}

struct Walk<'a> {
    cx: Cx<'a>,
    /// What later checks compare across tables.
    mentions: Mentions,
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

impl Walk<'_> {
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
                let id = AccountId::parse(value.get_ref())
                    .map_err(|e| self.cx.err(&value.span(), &key, e.to_string()))?;
                Some(id.into_string())
            }
        };

        let mut flow_definitions: Vec<FlowDefinition> = Vec::new();
        for table in self.array_of_tables(&top, "flow_definition", "a `[[flow_definition]]`")? {
            let (flow, name_span) = self.flow_definition(&table)?;
            self.mentions
                .flow_name(&self.cx, &flow.name, &name_span, &table.key_path("name"))?;
            flow_definitions.push(flow);
        }

        let mut human_loop_callers: Vec<HumanLoopCaller> = Vec::new();
        for table in self.array_of_tables(&top, "human_loop_caller", "a `[[human_loop_caller]]`")? {
            let (caller, span) = self.human_loop_caller(&table)?;
            self.mentions
                .caller(&self.cx, &caller.arn, &span, &table.key_path("principal"))?;
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
            self.mentions.accounts.insert(
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
            lines: Default::default(),
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
        let output_url = S3Url::parse(output.get_ref())
            .map_err(|e| self.cx.err(&output.span(), &output_key, e.to_string()))?;

        let kms_key = match self.opt_str(t, "kms_key")? {
            None => None,
            Some(key) => {
                let path = t.key_path("kms_key");
                let parsed = KmsKeyRef::parse(key.get_ref())
                    .map_err(|e| self.cx.err(&key.span(), &path, e.to_string()))?;
                if let Some(account) = parsed.account() {
                    self.mentions.accounts.push(AccountMention {
                        account: account.as_str().to_string(),
                        what: "the KMS key",
                        key: path,
                        span: key.span(),
                    });
                }
                // Kept as written: the state reader resolves it to a key.
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
        let p = IamPrincipalArn::parse(principal.get_ref())
            .map_err(|e| self.cx.err(&principal.span(), &key, e.to_string()))?;
        let account = p.account.into_string();
        if p.kind == PrincipalKind::Role {
            self.mentions.roles.push(RoleMention {
                name: p.name.clone(),
                path: Some(p.path.clone()),
                account: Some(account.clone()),
                key: key.clone(),
                span: principal.span(),
            });
        }
        self.mentions.accounts.push(AccountMention {
            account: account.clone(),
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
            account_id: account,
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
        let written = role.get_ref().clone();
        let parsed = RoleNameOrArn::parse(&written)
            .map_err(|e| self.cx.err(&role.span(), &key, e.to_string()))?;
        // Only an ARN states a path; a bare name takes the one an ARN gives
        // the same role (see `Mentions::check_roles`), else `/`.
        let (r, explicit_path) = match parsed {
            RoleNameOrArn::Name(name) => {
                let r = RoleRef {
                    name: name.into_string(),
                    path: "/".to_string(),
                    account_id: None,
                    written,
                };
                (r, false)
            }
            RoleNameOrArn::Arn(arn) => {
                let r = RoleRef {
                    name: arn.name,
                    path: arn.path,
                    account_id: Some(arn.account.into_string()),
                    written,
                };
                (r, true)
            }
        };
        if let Some(account) = &r.account_id {
            self.mentions.accounts.push(AccountMention {
                account: account.clone(),
                what: "the role",
                key: key.clone(),
                span: role.span(),
            });
        }
        self.mentions.roles.push(RoleMention {
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
            let bucket = BucketName::parse(item.get_ref())
                .map_err(|e| {
                    self.cx
                        .err(&item.span(), &format!("{key}[{i}]"), e.to_string())
                })?
                .into_string();
            if !out.contains(&bucket) {
                out.push(bucket);
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
}

fn a_type(v: &DeValue<'_>) -> String {
    match v {
        DeValue::Integer(_) => "an integer".to_string(),
        DeValue::Array(_) => "an array".to_string(),
        other => format!("a {}", other.type_str()),
    }
}

/// The closest allowed key, if it is close enough to be a likely typo.
pub(super) fn suggest<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (strsim::levenshtein(&key.to_lowercase(), a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}
