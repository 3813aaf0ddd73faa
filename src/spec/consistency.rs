//! Checks across entries, once the walk has read them all: one role is
//! spelled, placed (path) and accounted the same everywhere; every account id
//! is the same; no flow definition name or caller is given twice.

use std::collections::BTreeMap;
use std::ops::Range;

use super::location::Cx;
use super::{Spec, SpecError};

type Res<T> = Result<T, SpecError>;

/// One mention of a role, for the consistency check.
pub(super) struct RoleMention {
    pub(super) name: String,
    /// Path when an ARN gave one.
    pub(super) path: Option<String>,
    pub(super) account: Option<String>,
    pub(super) key: String,
    pub(super) span: Range<usize>,
}

/// One mention of an account id, for the one-account check.
pub(super) struct AccountMention {
    pub(super) account: String,
    pub(super) what: &'static str,
    pub(super) key: String,
    pub(super) span: Range<usize>,
}

/// What the walk saw that later checks compare across tables.
#[derive(Default)]
pub(super) struct Mentions {
    pub(super) roles: Vec<RoleMention>,
    /// The first is the anchor the others must match (`account_id` when given).
    pub(super) accounts: Vec<AccountMention>,
    /// Flow definition name -> line of its first definition.
    flow_names: BTreeMap<String, usize>,
    /// Caller ARN -> line of its first table.
    callers: BTreeMap<String, usize>,
}

impl Mentions {
    /// Two flow definitions with one name are an error: the name labels the plan.
    pub(super) fn flow_name(
        &mut self,
        cx: &Cx<'_>,
        name: &str,
        span: &Range<usize>,
        key: &str,
    ) -> Res<()> {
        if let Some(first) = self.flow_names.get(name) {
            return Err(cx.err(
                span,
                key,
                format!(
                    "flow definition `{name}` is already defined at line {first}; give each `[[flow_definition]]` its own name"
                ),
            ));
        }
        self.flow_names
            .insert(name.to_string(), cx.line(span.start));
        Ok(())
    }

    /// One caller in two tables is an error: its `uses` belong in one table.
    pub(super) fn caller(
        &mut self,
        cx: &Cx<'_>,
        arn: &str,
        span: &Range<usize>,
        key: &str,
    ) -> Res<()> {
        if let Some(first) = self.callers.get(arn) {
            return Err(cx.err(
                span,
                key,
                format!(
                    "caller `{arn}` is already listed at line {first}; list each caller once, with all its `uses` in one table"
                ),
            ));
        }
        self.callers.insert(arn.to_string(), cx.line(span.start));
        Ok(())
    }

    /// The same role must not be given contradictory settings; a bare name
    /// takes the path an ARN gives the same role.
    pub(super) fn check_roles(&self, cx: &Cx<'_>, spec: &mut Spec) -> Res<()> {
        // lower-case name -> index of the first mention, first explicit path, first account.
        let mut seen: BTreeMap<String, (usize, Option<usize>, Option<usize>)> = BTreeMap::new();
        for (i, m) in self.roles.iter().enumerate() {
            let entry = seen.entry(m.name.to_lowercase()).or_insert((i, None, None));
            let first = &self.roles[entry.0];
            if first.name != m.name {
                return Err(cx.err(
                    &m.span,
                    &m.key,
                    format!(
                        "role `{}` is written `{}` at line {} (`{}`); IAM role names are case-insensitive, so both name one role: spell it the same way everywhere",
                        m.name,
                        first.name,
                        cx.line(first.span.start),
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
                            return Err(cx.err(
                                &m.span,
                                &m.key,
                                format!(
                                    "role `{}` has path `{}` here but `{}` at line {} (`{}`); a role has one path: use the same ARN in both places",
                                    m.name,
                                    path,
                                    other.path.as_deref().unwrap_or("/"),
                                    cx.line(other.span.start),
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
                            return Err(cx.err(
                                &m.span,
                                &m.key,
                                format!(
                                    "role `{}` is in account `{}` here but in account `{}` at line {} (`{}`); a2i-fix works on one account at a time",
                                    m.name,
                                    account,
                                    other.account.as_deref().unwrap_or(""),
                                    cx.line(other.span.start),
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
    pub(super) fn check_accounts(&self, cx: &Cx<'_>) -> Res<()> {
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
                return Err(cx.err(
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
                                cx.line(anchor.span.start)
                            )
                        } else {
                            format!(
                                "{} at line {} (`{}`) is in account `{}`",
                                anchor.what,
                                cx.line(anchor.span.start),
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
