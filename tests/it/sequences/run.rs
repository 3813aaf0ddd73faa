//! One sequence: set up its account, then run its steps (spec changes,
//! foreign edits, applies, saved plans made stale, rollbacks), checking the
//! account after each apply. A check that fails ends the sequence with a
//! [`Failure`] naming the step and the check.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use a2i_fix::policy::CorsRule;
use serde_json::Value;

use super::foreign;
use super::model::{BUCKETS, Dice, KEYS, Names, Need, SpecModel};
use super::world::{self, Grant, Verdict};
use crate::support::{
    Account, LAMBDA_TRUST, Moto, Output, SAGEMAKER_TRUST, Seed, a2i_fix_in, files_in,
    root_only_key_policy, run,
};

/// A check that did not hold.
#[derive(Debug)]
pub struct Failure {
    pub step: usize,
    /// The first check that failed, e.g. `check 1 (the next plan is empty)`.
    pub check: String,
    /// Every check that failed at that step, with what was found.
    pub detail: String,
}

/// The step log, shared with the driver so that it survives a panic.
pub type Log = Rc<RefCell<Vec<String>>>;

/// The last apply that wrote something, for the rollback step.
pub(super) struct LastApply {
    pub(super) journal: PathBuf,
    pub(super) before: Account,
    pub(super) after: Account,
}

pub struct Sequence<'a> {
    pub(super) moto: &'a Moto,
    pub(super) seed: u64,
    pub(super) s: Seed,
    pub(super) names: Names,
    pub(super) dice: Dice,
    pub(super) spec: SpecModel,
    pub(super) dir: tempfile::TempDir,
    pub(super) log: Log,
    pub(super) step: usize,
    /// Grants some apply wrote that no foreign edit or rollback removed since.
    pub(super) tracked: BTreeSet<Grant>,
    pub(super) last_apply: Option<LastApply>,
    /// What the sequence exercised, to choose default seeds that cover
    /// every kind of step.
    pub features: BTreeSet<String>,
}

pub(super) fn failure(step: usize, failures: Vec<(String, String)>) -> Result<(), Failure> {
    let Some((check, _)) = failures.first() else {
        return Ok(());
    };
    Err(Failure {
        step,
        check: check.clone(),
        detail: failures
            .iter()
            .map(|(c, d)| format!("{c}:\n{d}"))
            .collect::<Vec<_>>()
            .join("\n\n"),
    })
}

pub(super) fn lines<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| format!("    {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl<'a> Sequence<'a> {
    /// Seed the sequence's account and its first spec.
    pub async fn start(moto: &'a Moto, n: usize, seed: u64, log: Log) -> Sequence<'a> {
        let s = moto.seed().await;
        let mut dice = Dice::new(seed);
        let mut names = Names { n, keys: vec![] };
        let mut setup = Vec::new();
        for i in 0..BUCKETS {
            let bucket = names.bucket(i);
            s.bucket(&bucket).await;
            if dice.chance(1, 2) {
                let rule = CorsRule {
                    id: Some(format!("upload-{i}")),
                    allowed_headers: vec!["*".into()],
                    allowed_methods: vec!["PUT".into(), "POST".into()],
                    allowed_origins: vec![format!("https://upload-{i}.example")],
                    max_age_seconds: Some(3000),
                    ..CorsRule::default()
                };
                s.put_cors(&bucket, &[rule]).await;
                setup.push(format!("b{i} has an upload CORS rule"));
            }
        }
        s.role(&names.role(0), LAMBDA_TRUST).await;
        s.inline_policy(
            &names.role(0),
            "write-logs",
            crate::support::seed::WRITE_LOGS,
        )
        .await;
        let sagemaker = dice.chance(1, 3);
        s.role(
            &names.role(1),
            if sagemaker {
                SAGEMAKER_TRUST
            } else {
                LAMBDA_TRUST
            },
        )
        .await;
        if sagemaker {
            setup.push("role1 already trusts SageMaker".into());
        }
        s.role(&names.auditor(), LAMBDA_TRUST).await;
        s.role(&names.caller_role(), LAMBDA_TRUST).await;
        s.user(&names.caller_user()).await;
        for k in 0..KEYS {
            let mut policy: Value = serde_json::from_str(&root_only_key_policy()).expect("JSON");
            if dice.chance(1, 3) {
                policy["Statement"]
                    .as_array_mut()
                    .expect("a list")
                    .push(serde_json::json!({
                        "Sid": "AllowUseOfKmsKey", "Effect": "Allow",
                        "Principal": {"AWS": names.auditor_arn()},
                        "Action": "kms:Decrypt", "Resource": "*"
                    }));
                setup.push(format!("key{k} has someone else's AllowUseOfKmsKey"));
            }
            let (id, arn) = s.key(Some(&policy.to_string())).await;
            s.alias(&names.alias(k), &id).await;
            names.keys.push((id, arn));
        }
        let mut spec = SpecModel::default();
        for _ in 0..1 + dice.below(2) {
            let f = spec.new_flow(&mut dice);
            spec.flows.push(f);
        }
        if dice.chance(1, 3) {
            spec.previews.push(SpecModel::new_preview(&mut dice));
        }
        if dice.chance(1, 3) {
            let user = dice.chance(1, 2);
            spec.callers.push(SpecModel::new_caller(user, &mut dice));
        }
        let dir = tempfile::tempdir().expect("a temp dir");
        let seq = Sequence {
            moto,
            seed,
            s,
            names,
            dice,
            spec,
            dir,
            log,
            step: 0,
            tracked: BTreeSet::new(),
            last_apply: None,
            features: BTreeSet::new(),
        };
        seq.note(format!(
            "setup: {}",
            if setup.is_empty() {
                "nothing unusual".to_string()
            } else {
                setup.join(", ")
            }
        ));
        seq.note(format!("spec: {}", seq.spec.describe()));
        seq.write_spec();
        seq
    }

    pub(super) fn note(&self, line: String) {
        let line = format!("  {:>2}. {line}", self.step);
        eprintln!("seed {} |{line}", self.seed);
        self.log.borrow_mut().push(line);
    }

    pub(super) fn spec_path(&self) -> PathBuf {
        self.dir.path().join("a2i.toml")
    }

    fn write_spec(&self) {
        std::fs::write(self.spec_path(), self.spec.toml(&self.names)).expect("writing a2i.toml");
    }

    /// The spec as it is now, for failure reports.
    pub fn spec_text(&self) -> String {
        self.spec.toml(&self.names)
    }

    pub(super) async fn read(&self) -> Account {
        world::read(&self.s.c, &self.names).await
    }

    pub(super) fn a2i_fix(&self, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
        let mut cmd = a2i_fix_in(self.moto, self.dir.path());
        for a in args {
            cmd.arg(a);
        }
        run(&mut cmd)
    }

    pub(super) fn backups(&self, what: &str) -> PathBuf {
        self.dir
            .path()
            .join(format!("backups-{}-{what}", self.step))
    }

    /// Forget tracked grants that `account` no longer holds (a foreign edit
    /// or a rollback took them away).
    pub(super) fn retrack(&mut self, account: &Account) {
        let now = world::grants(account);
        self.tracked
            .retain(|g| now.iter().any(|n| world::covers(n, g)));
    }

    // -----------------------------------------------------------------------
    // Steps.

    /// Run `count` random steps, then an apply if the last step was none.
    pub async fn run_steps(&mut self, count: usize) -> Result<(), Failure> {
        let mut last_was_apply = false;
        for _ in 0..count {
            self.step += 1;
            let kind = self.dice.weighted(&[3, 3, 3, 1, 1]);
            last_was_apply = false;
            match kind {
                0 => self.spec_change(),
                1 => self.foreign_edit().await,
                3 => self.saved_plan().await?,
                4 if self.last_apply.is_some() => self.rollback().await?,
                _ => {
                    self.note("apply".into());
                    self.apply_and_check(None).await?;
                    last_was_apply = true;
                }
            }
        }
        if !last_was_apply {
            self.step += 1;
            self.note("apply (the last step)".into());
            self.apply_and_check(None).await?;
        }
        Ok(())
    }

    fn spec_change(&mut self) {
        let what = self.spec.change(&mut self.dice);
        self.write_spec();
        self.features.insert("spec change".into());
        self.note(format!("spec change: {what} => {}", self.spec.describe()));
    }

    async fn foreign_edit(&mut self) {
        let before = self.read().await;
        let n = self.step;
        let what = foreign::edit(&self.s, &before, &self.names, &mut self.dice, n).await;
        let (kind, what) = what.unwrap_or_else(|| ("none", "(nothing to edit)".into()));
        self.features.insert(format!("foreign: {kind}"));
        self.note(format!("foreign edit: {what}"));
    }

    /// `apply --yes` (of the spec, or of `plan_file`), then checks 1 to 5.
    pub(super) async fn apply_and_check(
        &mut self,
        plan_file: Option<&Path>,
    ) -> Result<(), Failure> {
        self.features.insert(
            if plan_file.is_some() {
                "apply of a fresh saved plan"
            } else {
                "apply"
            }
            .into(),
        );
        let spec = self.spec_path();
        let backups = self.backups("apply");
        let before = self.read().await;
        // Only foreign edits and rollbacks changed the account since the
        // last apply: what they took away is no longer the tool's to keep.
        self.retrack(&before);
        let out = match plan_file {
            Some(file) => self.a2i_fix(&[&"apply", &file, &"--yes", &"--backup-dir", &backups]),
            None => self.a2i_fix(&[
                &"apply",
                &"--yes",
                &"--spec",
                &spec,
                &"--backup-dir",
                &backups,
            ]),
        };
        if out.code != Some(0) {
            return failure(
                self.step,
                vec![("the apply succeeds".into(), indent(&out.all()))],
            );
        }
        let after = self.read().await;
        let written = world::diff(&before, &after);
        self.note(format!(
            "  wrote {} document(s){}",
            written.len(),
            if written.is_empty() {
                String::new()
            } else {
                format!(":\n{}", lines(&written))
            }
        ));
        let mut failures: Vec<(String, String)> = Vec::new();

        // 2. Nothing that was granted before the apply is lost.
        let (old, new) = (world::grants(&before), world::grants(&after));
        let lost = world::lost(&old, &new);
        if !lost.is_empty() {
            failures.push((
                "check 2 (nothing granted before the apply is lost)".into(),
                format!(
                    "  no longer granted:\n{}\n  what the apply changed:\n{}",
                    lines(&lost),
                    lines(&written)
                ),
            ));
        }
        // 3. Nothing an earlier apply granted is lost.
        let lost = world::lost(&self.tracked, &new);
        if !lost.is_empty() {
            failures.push((
                "check 3 (no grant an earlier apply made is lost)".into(),
                format!("  no longer granted:\n{}", lines(&lost)),
            ));
        }
        self.tracked.extend(new.difference(&old).cloned());
        // 4. Every need of the spec is met (the oracle).
        let needs = super::model::needs(&self.spec, &self.names);
        let mut unmet: Vec<String> = Vec::new();
        for need in &needs {
            match world::judge(&after, need) {
                Verdict::Met => {}
                Verdict::Conditional => {
                    self.features
                        .insert("need met only under a condition".into());
                    self.note(format!(
                        "  left to a warning (granted under a Condition only): {need:?}"
                    ));
                }
                Verdict::Unmet => unmet.push(format!("{need:?}: {}", where_to_look(&after, need))),
            }
        }
        if !unmet.is_empty() {
            failures.push((
                "check 4 (every need of the spec is met)".into(),
                format!("  unmet:\n{}", lines(&unmet)),
            ));
        }
        // 1. The next plan has no changes.
        // 0: every need met; 3: nothing to change, but needs left that no
        // change can meet (a hand-added condition, say). 2 would be changes.
        let plan = self.a2i_fix(&[&"plan", &"--spec", &spec, &"--detailed-exitcode"]);
        if !matches!(plan.code, Some(0 | 3)) {
            failures.push((
                "check 1 (the next plan has no changes)".into(),
                indent(&plan.all()),
            ));
        }
        // 5. A second apply writes nothing.
        let again_dir = self.backups("again");
        let again = self.a2i_fix(&[
            &"apply",
            &"--yes",
            &"--spec",
            &spec,
            &"--backup-dir",
            &again_dir,
        ]);
        let after_again = self.read().await;
        let rewritten = world::diff(&after, &after_again);
        if again.code != Some(0) || !rewritten.is_empty() {
            failures.push((
                "check 5 (a second apply changes nothing)".into(),
                format!(
                    "  written by the second apply:\n{}\n{}",
                    lines(&rewritten),
                    indent(&again.all())
                ),
            ));
        }
        if let Some(journal) = files_in(&backups).pop() {
            self.last_apply = Some(LastApply {
                journal,
                before,
                after,
            });
        }
        // Check 1 is the one to read first when several fail: the order of
        // the brief, 1 to 5.
        failures.sort_by(|a, b| a.0.cmp(&b.0));
        failure(self.step, failures)
    }
}

pub(super) fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The document a need is judged on, for the failure report.
fn where_to_look(account: &Account, need: &Need) -> String {
    let key = match need {
        Need::Cors { bucket } => format!("bucket {bucket} cors"),
        Need::S3 { role, .. } => {
            let inline = account.inline_policies(role);
            return format!(
                "inline policies {}",
                inline
                    .iter()
                    .map(|(n, t)| format!("{n}: {}", world::compact(t)))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        Need::Trust { role } => format!("role {role} trust"),
        Need::Kms { key_id, .. } => format!("key {key_id} policy"),
        Need::Attached {
            user: true, name, ..
        } => format!("user {name} attached"),
        Need::Attached { name, .. } => format!("role {name} attached"),
    };
    world::show(account.get(&key))
}
