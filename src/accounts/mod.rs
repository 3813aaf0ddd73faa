//! The accounts file (`accounts.toml`): which accounts one run plans and
//! applies, how each is reached, in which regions, from which spec; and
//! `--only`, which picks some of them. Pure: parsing, checking, choosing.
//! Reaching the accounts is `commands::accounts`' job; the Organizations
//! listing that writes a file for review is in `organization`.
//!
//! ```toml
//! [defaults]                  # optional; every account may override
//! role = "A2IFixRole"         # assumed in each account: arn:aws:iam::{account_id}:role/A2IFixRole
//! regions = ["us-east-1"]
//! spec = "a2i.toml"           # relative to this file
//!
//! [[account]]
//! account_id = "111111111111"
//! name = "dev"
//! tags = ["dev"]
//! spec = "specs/dev.toml"
//!
//! [[account]]
//! account_id = "222222222222"
//! name = "prod"
//! profile = "prod-admin"      # a profile instead of a role
//! regions = ["us-east-1", "eu-west-1"]
//! ```
//!
//! Decisions:
//! - **Reaching an account.** `role` (a bare name, with an optional path,
//!   or a role ARN in that same account) with an optional `external_id`,
//!   or `profile`; a value on the account replaces the defaults' way
//!   entirely (an account with `profile` does not inherit the defaults'
//!   `role`). With neither, the account is reached with the credentials
//!   a2i-fix runs with, which must then belong to it (the management
//!   account itself, typically). Whatever the way, the account is checked
//!   (GetCallerIdentity) before it is read.
//! - **Spec.** `spec` (a path, relative to the accounts file) or
//!   `discover = true` (the account's flow definitions, read at run time);
//!   an account's own choice replaces the defaults'.
//! - Names and account ids are unique: two entries for one account would
//!   run side by side against it. Regions are AWS region names, at least
//!   one, none twice.
//! - Unknown keys are errors (a misspelt `regoins` must not fall back to
//!   the defaults silently); every error names the file and the line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::aws::AssumeRole;

pub mod organization;
#[cfg(test)]
mod tests;

/// One account of the file, with its defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub account_id: String,
    pub name: String,
    pub access: Access,
    pub regions: Vec<String>,
    pub spec: SpecSource,
    pub tags: Vec<String>,
}

impl Account {
    /// `dev (111111111111)`.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.account_id)
    }
}

/// How an account is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    AssumeRole(AssumeRole),
    Profile(String),
    /// The credentials a2i-fix runs with.
    Ambient,
}

/// Where an account's desired state comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecSource {
    /// A spec file (resolved against the accounts file's directory).
    File(PathBuf),
    /// The account's flow definitions, read at run time.
    Discover,
}

/// A parsed, checked accounts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountsFile {
    pub path: PathBuf,
    pub accounts: Vec<Account>,
}

/// One account in one region: what one plan covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub account: Account,
    pub region: String,
}

impl Target {
    /// `dev (111111111111), us-east-1`.
    pub fn label(&self) -> String {
        format!("{}, {}", self.account.label(), self.region)
    }

    /// A file-name-safe key: `111111111111-us-east-1`.
    pub fn key(&self) -> String {
        format!("{}-{}", self.account.account_id, self.region)
    }
}

/// What is wrong with an accounts file.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("cannot read accounts file `{file}`: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("accounts file `{file}` is not valid: {message}")]
    Syntax { file: String, message: String },
    #[error("accounts file `{file}`, line {line}, {what}: {message}")]
    Invalid {
        file: String,
        line: usize,
        what: String,
        message: String,
    },
    #[error("accounts file `{file}` lists no account: add an [[account]] table per account")]
    Empty { file: String },
    #[error(
        "`--only {value}` names no account and no tag of `{file}`: its accounts are {names}; its tags are {tags}"
    )]
    UnknownSelection {
        value: String,
        file: String,
        names: String,
        tags: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    defaults: Option<Spanned<RawDefaults>>,
    #[serde(default)]
    account: Vec<Spanned<RawAccount>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    role: Option<String>,
    external_id: Option<String>,
    profile: Option<String>,
    regions: Option<Vec<String>>,
    spec: Option<String>,
    discover: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    account_id: toml::Value,
    name: String,
    role: Option<String>,
    external_id: Option<String>,
    profile: Option<String>,
    regions: Option<Vec<String>>,
    spec: Option<String>,
    discover: Option<bool>,
    #[serde(default)]
    tags: Vec<String>,
}

/// Read and check an accounts file.
pub fn load(path: &Path) -> Result<AccountsFile, AccountsError> {
    let text = std::fs::read_to_string(path).map_err(|source| AccountsError::Read {
        file: path.display().to_string(),
        source,
    })?;
    parse(&text, path)
}

/// Check the text of an accounts file read from `path` (relative spec
/// paths are resolved against `path`'s directory).
pub fn parse(text: &str, path: &Path) -> Result<AccountsFile, AccountsError> {
    let file = path.display().to_string();
    let raw: RawFile = toml::from_str(text).map_err(|e| AccountsError::Syntax {
        file: file.clone(),
        message: e.to_string().trim_end().replace('\n', " "),
    })?;
    let base = path.parent().unwrap_or(Path::new(""));
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let (defaults, defaults_line) = match raw.defaults {
        Some(d) => {
            let line = line_of(d.span().start);
            (d.into_inner(), line)
        }
        None => (RawDefaults::default(), 1),
    };
    let invalid = |line: usize, what: &str, message: String| AccountsError::Invalid {
        file: file.clone(),
        line,
        what: what.to_string(),
        message,
    };
    check_way(&defaults.role, &defaults.profile, &defaults.external_id)
        .map_err(|m| invalid(defaults_line, "[defaults]", m))?;
    if defaults.spec.is_some() && defaults.discover == Some(true) {
        return Err(invalid(
            defaults_line,
            "[defaults]",
            "give `spec` or `discover = true`, not both".into(),
        ));
    }
    if raw.account.is_empty() {
        return Err(AccountsError::Empty { file });
    }
    let mut accounts: Vec<Account> = Vec::new();
    for (index, entry) in raw.account.into_iter().enumerate() {
        let line = line_of(entry.span().start);
        let entry = entry.into_inner();
        let what = format!("account[{index}] (`{}`)", entry.name);
        let account = resolve(entry, &defaults, base).map_err(|m| invalid(line, &what, m))?;
        if let Some(other) = accounts.iter().find(|a| a.name == account.name) {
            return Err(invalid(
                line,
                &what,
                format!(
                    "the name is also used by account `{}`: names must be unique",
                    other.account_id
                ),
            ));
        }
        if let Some(other) = accounts.iter().find(|a| a.account_id == account.account_id) {
            return Err(invalid(
                line,
                &what,
                format!(
                    "account `{}` is already listed as `{}`: list each account once (give it several `regions` instead)",
                    account.account_id, other.name
                ),
            ));
        }
        accounts.push(account);
    }
    Ok(AccountsFile {
        path: path.to_path_buf(),
        accounts,
    })
}

/// Role and profile exclude each other; an external id goes with a role.
fn check_way(
    role: &Option<String>,
    profile: &Option<String>,
    external_id: &Option<String>,
) -> Result<(), String> {
    if role.is_some() && profile.is_some() {
        return Err("give `role` or `profile`, not both".into());
    }
    if external_id.is_some() && role.is_none() && profile.is_some() {
        return Err("`external_id` goes with `role`, not with `profile`".into());
    }
    if let Some(id) = external_id
        && (id.len() < 2
            || id.len() > 1224
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c)))
    {
        return Err(format!(
            "`external_id = \"{id}\"` is not a valid external id: 2 to 1224 characters of letters, digits and `+=,.@:/-_`"
        ));
    }
    Ok(())
}

fn resolve(raw: RawAccount, defaults: &RawDefaults, base: &Path) -> Result<Account, String> {
    let account_id = match &raw.account_id {
        toml::Value::String(s) if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.clone()
        }
        toml::Value::String(s) => {
            return Err(format!(
                "`account_id = \"{s}\"` is not an AWS account id: 12 digits"
            ));
        }
        toml::Value::Integer(n) => {
            return Err(format!(
                "write the account id as a string of 12 digits, in quotes: `account_id = \"{n:012}\"` (a number loses leading zeros)"
            ));
        }
        other => {
            return Err(format!(
                "`account_id` must be a string of 12 digits, not {}",
                other.type_str()
            ));
        }
    };
    let name = raw.name.trim().to_string();
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err("`name` must be a non-empty name without control characters".into());
    }
    check_way(&raw.role, &raw.profile, &raw.external_id)?;
    let own_way = raw.role.is_some() || raw.profile.is_some();
    let (role, profile, external_id) = if own_way {
        (raw.role, raw.profile, raw.external_id)
    } else {
        (
            defaults.role.clone(),
            defaults.profile.clone(),
            raw.external_id.or_else(|| defaults.external_id.clone()),
        )
    };
    let access = match (role, profile) {
        (Some(role), _) => Access::AssumeRole(AssumeRole {
            role_arn: role_arn(&role, &account_id)?,
            external_id,
        }),
        (None, Some(profile)) if !profile.trim().is_empty() => Access::Profile(profile),
        (None, Some(_)) => return Err("`profile` is empty".into()),
        (None, None) if external_id.is_some() => {
            return Err("`external_id` is given but no `role` to assume with it".into());
        }
        (None, None) => Access::Ambient,
    };
    let regions = raw
        .regions
        .or_else(|| defaults.regions.clone())
        .ok_or("no `regions`: list the regions to check, here or in [defaults]")?;
    if regions.is_empty() {
        return Err("`regions` is empty: list at least one region".into());
    }
    let mut seen = BTreeSet::new();
    for region in &regions {
        if !is_region(region) {
            return Err(format!(
                "`{region}` is not an AWS region name (such as `us-east-1`)"
            ));
        }
        if !seen.insert(region) {
            return Err(format!("region `{region}` is listed twice"));
        }
    }
    if raw.spec.is_some() && raw.discover == Some(true) {
        return Err("give `spec` or `discover = true`, not both".into());
    }
    let no_spec = || {
        "no spec: give `spec = \"a2i.toml\"` or `discover = true`, here or in [defaults]"
            .to_string()
    };
    let spec = match (raw.spec, raw.discover) {
        (Some(spec), _) => SpecSource::File(base.join(spec)),
        (None, Some(true)) => SpecSource::Discover,
        // `discover = false` turns the defaults' discovery off: a spec file
        // from the defaults, or an error.
        (None, Some(false)) => {
            SpecSource::File(base.join(defaults.spec.as_ref().ok_or_else(no_spec)?))
        }
        (None, None) => match (&defaults.spec, defaults.discover) {
            (Some(spec), _) => SpecSource::File(base.join(spec)),
            (None, Some(true)) => SpecSource::Discover,
            _ => return Err(no_spec()),
        },
    };
    for tag in &raw.tags {
        if tag.trim().is_empty() {
            return Err("a tag is empty".into());
        }
    }
    Ok(Account {
        account_id,
        name,
        access,
        regions,
        spec,
        tags: raw.tags,
    })
}

/// The ARN of `role` in `account_id`: a bare name (`A2IFixRole`, or with a
/// path, `ops/A2IFixRole`) is completed; an ARN must be a role of that
/// account.
fn role_arn(role: &str, account_id: &str) -> Result<String, String> {
    if let Some(rest) = role.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let valid = parts.len() == 5
            && matches!(parts[0], "aws" | "aws-cn" | "aws-us-gov")
            && parts[1] == "iam"
            && parts[2].is_empty()
            && parts[4].starts_with("role/")
            && is_role_path_and_name(&parts[4]["role/".len()..]);
        if !valid {
            return Err(format!(
                "`role = \"{role}\"` is not an IAM role ARN (`arn:aws:iam::ACCOUNT:role/NAME`)"
            ));
        }
        if parts[3] != account_id {
            return Err(format!(
                "`role = \"{role}\"` is in account `{}`, not in this account `{account_id}`: give the role a2i-fix assumes in this account",
                parts[3]
            ));
        }
        return Ok(role.to_string());
    }
    if !is_role_path_and_name(role) {
        return Err(format!(
            "`role = \"{role}\"` is not a role name: 1 to 64 characters of letters, digits and `+=,.@_-`, optionally after a path (`ops/A2IFixRole`)"
        ));
    }
    Ok(format!("arn:aws:iam::{account_id}:role/{role}"))
}

fn is_role_path_and_name(text: &str) -> bool {
    let (path, name) = text.rsplit_once('/').unwrap_or(("", text));
    let name_ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    let path_ok = path.len() <= 510
        && path.split('/').filter(|s| !s.is_empty()).all(|s| {
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
        })
        && !path.contains("//");
    name_ok && path_ok
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `ap-southeast-4`...
fn is_region(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

impl AccountsFile {
    /// The accounts `only` picks (by name or tag; all when `only` is empty),
    /// in file order.
    pub fn select(&self, only: &[String]) -> Result<Vec<&Account>, AccountsError> {
        for value in only {
            let known = self
                .accounts
                .iter()
                .any(|a| &a.name == value || a.tags.contains(value));
            if !known {
                let names: Vec<String> = self
                    .accounts
                    .iter()
                    .map(|a| format!("`{}`", a.name))
                    .collect();
                let tags: BTreeSet<String> = self
                    .accounts
                    .iter()
                    .flat_map(|a| a.tags.iter().map(|t| format!("`{t}`")))
                    .collect();
                return Err(AccountsError::UnknownSelection {
                    value: value.clone(),
                    file: self.path.display().to_string(),
                    names: names.join(", "),
                    tags: if tags.is_empty() {
                        "none".to_string()
                    } else {
                        tags.into_iter().collect::<Vec<_>>().join(", ")
                    },
                });
            }
        }
        Ok(self
            .accounts
            .iter()
            .filter(|a| only.is_empty() || only.iter().any(|v| &a.name == v || a.tags.contains(v)))
            .collect())
    }

    /// Every (account, region) of the selection, in file order.
    pub fn targets(&self, only: &[String]) -> Result<Vec<Target>, AccountsError> {
        Ok(self
            .select(only)?
            .into_iter()
            .flat_map(|a| {
                a.regions.iter().map(|r| Target {
                    account: a.clone(),
                    region: r.clone(),
                })
            })
            .collect())
    }

    /// The account with this id.
    pub fn by_id(&self, account_id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.account_id == account_id)
    }
}
