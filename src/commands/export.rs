//! `export`: the plan's changes as infrastructure as code (Terraform),
//! computed now or loaded from a saved plan; nothing is written to AWS.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use super::{Connection, Console, Outcome, read_and_plan};
use crate::{apply, export as iac, saved, state};

/// The infrastructure-as-code formats `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Terraform,
}

/// `export` options.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// A plan saved with `plan --out`; without it the plan is computed
    /// from `spec`.
    pub plan_file: Option<PathBuf>,
    pub spec: PathBuf,
    pub format: ExportFormat,
    /// Write `a2i-fix.tf` into this directory (created if missing) instead
    /// of printing the configuration.
    pub out: Option<PathBuf>,
}

/// The file `export --out DIR` writes.
pub const EXPORT_FILE_NAME: &str = "a2i-fix.tf";

/// `export [PLANFILE]`: read the account and build the plan (or load a
/// saved one), and write its changes as infrastructure as code (nothing is
/// written to AWS).
pub async fn export(
    connection: &Connection,
    options: &ExportOptions,
    console: &mut Console<'_>,
) -> anyhow::Result<Outcome> {
    // A saved plan is exported exactly as saved; a plan is computed now
    // otherwise. Either way the attributes of the roles whose trust policy
    // it changes are read now (GetRole): the bulk read `plan` may use has
    // no description or maximum session duration.
    let (clients, plan) = match &options.plan_file {
        Some(file) => {
            let plan = saved::load_saved_plan(file)?;
            let clients = connection.connect().await?;
            let identity = apply::identify(&clients).await?;
            saved::check_account(&plan, &identity.account_id, &clients.region)?;
            (clients, plan)
        }
        None => {
            let (clients, _, _, plan) =
                read_and_plan(connection, &options.spec, console.spinner).await?;
            (clients, plan)
        }
    };
    let names: Vec<&str> = plan
        .changes
        .iter()
        .filter_map(|c| match &c.target {
            crate::model::Target::TrustPolicy { role } => Some(role.as_str()),
            _ => None,
        })
        .collect();
    let roles = state::role_attributes(&clients, names)
        .await
        .context("failed to read the roles the plan changes")?;
    if plan.changes.is_empty() {
        writeln!(
            console.err,
            "No changes: A2I's permissions need nothing a2i-fix can write, so there is nothing to export."
        )?;
        return Ok(Outcome::Success);
    }
    let context = iac::ExportContext {
        roles: roles
            .into_iter()
            .map(|(name, r)| {
                let facts = iac::RoleFacts {
                    path: r.path,
                    description: r.description,
                    max_session_duration: r.max_session_duration,
                    permissions_boundary: r.permissions_boundary,
                    tags: r.tags,
                };
                (name, facts)
            })
            .collect(),
    };
    let text = match options.format {
        ExportFormat::Terraform => iac::terraform(&plan, &context)?,
    };
    let imports = plan
        .changes
        .iter()
        .filter(|c| c.action == crate::model::Action::Update)
        .count();
    match &options.out {
        None => {
            console.out.write_all(text.as_bytes())?;
            console.out.flush()?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create directory `{}`", dir.display()))?;
            let file = dir.join(EXPORT_FILE_NAME);
            // Written whole or not at all: a temp file in the same
            // directory, renamed over the old one.
            let mut tmp = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("cannot write into `{}`", dir.display()))?;
            tmp.write_all(text.as_bytes())
                .and_then(|()| tmp.as_file().sync_all())
                .with_context(|| format!("cannot write `{}`", file.display()))?;
            tmp.persist(&file)
                .with_context(|| format!("cannot write `{}`", file.display()))?;
            writeln!(
                console.err,
                "Wrote {} resource(s) ({imports} to import) to `{}`. Review it, add it to your configuration, and run `terraform plan`: it shows the imports and A2I's additions only.",
                plan.changes.len(),
                file.display()
            )?;
        }
    }
    Ok(Outcome::Success)
}
