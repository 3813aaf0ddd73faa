//! `accounts --from-organization`: the active accounts of an AWS
//! Organization (ListAccounts, every page), written as an accounts file for
//! the user to review before the first run.
//!
//! Decisions:
//! - Only `ACTIVE` accounts: a suspended or closed account cannot be
//!   reached, and a pending one is not set up yet. How many were left out is
//!   said in the file's header.
//! - Names come from Organizations; two accounts with one name get their id
//!   added (`sandbox-111111111111`), since names must be unique in the file.
//! - Every account gets the same `role` (from `--role`), `regions` and
//!   `spec`, in `[defaults]`: one place to change them.

use std::collections::BTreeMap;

use serde::Serialize;

/// One account as Organizations lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAccount {
    pub id: String,
    pub name: String,
    /// `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`...
    pub status: String,
}

/// Every account of the organization, all pages.
pub async fn list_accounts(
    client: &aws_sdk_organizations::Client,
) -> anyhow::Result<Vec<OrgAccount>> {
    let mut pages = client.list_accounts().into_paginator().send();
    let mut accounts = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            let denied = e
                .as_service_error()
                .map(|s| {
                    use aws_sdk_organizations::error::ProvideErrorMetadata;
                    s.code().unwrap_or_default().to_string()
                })
                .unwrap_or_default();
            let hint = match denied.as_str() {
                "AWSOrganizationsNotInUseException" => {
                    "these credentials' account is not in an organization: run this with credentials of the organization's management account (or a delegated administrator)"
                }
                "AccessDeniedException" => {
                    "run this with credentials of the organization's management account (or a delegated administrator) that may call organizations:ListAccounts"
                }
                _ => "check the credentials and the region, then run it again",
            };
            anyhow::anyhow!(
                "organizations:ListAccounts failed: {}: {hint}",
                aws_sdk_organizations::error::DisplayErrorContext(&e)
            )
        })?;
        for account in page.accounts() {
            accounts.push(OrgAccount {
                id: account.id().unwrap_or_default().to_string(),
                name: account.name().unwrap_or_default().to_string(),
                status: account
                    .status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            });
        }
    }
    Ok(accounts)
}

/// What the written file says for every account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDefaults {
    pub role: String,
    pub external_id: Option<String>,
    pub regions: Vec<String>,
    pub spec: String,
}

#[derive(Serialize)]
struct OutFile<'a> {
    defaults: OutDefaults<'a>,
    account: Vec<OutAccount>,
}

#[derive(Serialize)]
struct OutDefaults<'a> {
    role: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    regions: &'a [String],
    spec: &'a str,
}

#[derive(Serialize)]
struct OutAccount {
    account_id: String,
    name: String,
    tags: Vec<String>,
}

/// The accounts file for the active accounts of `accounts`, with a header
/// saying where it came from and what to review.
pub fn accounts_file(accounts: &[OrgAccount], defaults: &FileDefaults) -> String {
    let active: Vec<&OrgAccount> = accounts.iter().filter(|a| a.status == "ACTIVE").collect();
    let left_out = accounts.len() - active.len();
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for account in &active {
        *names.entry(account.name.trim()).or_default() += 1;
    }
    let file = OutFile {
        defaults: OutDefaults {
            role: &defaults.role,
            external_id: defaults.external_id.as_deref(),
            regions: &defaults.regions,
            spec: &defaults.spec,
        },
        account: active
            .iter()
            .map(|a| {
                let name = a.name.trim();
                let name = if name.is_empty() || names.get(name).copied().unwrap_or(0) > 1 {
                    if name.is_empty() {
                        a.id.clone()
                    } else {
                        format!("{name}-{}", a.id)
                    }
                } else {
                    name.to_string()
                };
                OutAccount {
                    account_id: a.id.clone(),
                    name,
                    tags: Vec::new(),
                }
            })
            .collect(),
    };
    let body = toml::to_string(&file).unwrap_or_default();
    let skipped = if left_out == 0 {
        String::new()
    } else {
        format!("# {left_out} account(s) that are not ACTIVE were left out.\n")
    };
    format!(
        "# Accounts of the AWS Organization, written by `a2i-fix accounts --from-organization`.\n\
         # {} active account(s). Review before the first run: remove the accounts a2i-fix\n\
         # must not touch, give each its `spec` (or `discover = true`), and add `tags`\n\
         # to select accounts with `--only`.\n{skipped}\n{body}",
        active.len()
    )
}
