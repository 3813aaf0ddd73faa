//! The steps that replay earlier work: a saved plan applied after the
//! account changed under it (refused as stale, nothing written), or applied
//! as it is; and the rollback of the last apply's journal.

use std::collections::BTreeSet;

use a2i_fix::policy::CorsRule;
use serde_json::Value;

use super::foreign::{self, DocRef};
use super::run::{Failure, Sequence, failure, indent, lines};
use super::world;
use crate::support::{Account, Doc};

impl Sequence<'_> {
    /// `plan --out`, then (mostly) an edit of one of its targets, then
    /// `apply PLANFILE`: refused as stale with nothing written; or, without
    /// an edit, applied and checked like any apply.
    pub(super) async fn saved_plan(&mut self) -> Result<(), Failure> {
        let file = self
            .dir
            .path()
            .join(format!("step-{}.plan.json", self.step));
        let spec = self.spec_path();
        let planned = self.a2i_fix(&[&"plan", &"--spec", &spec, &"--json", &"--out", &file]);
        if planned.code != Some(0) {
            return failure(
                self.step,
                vec![("the saved plan is made".into(), indent(&planned.all()))],
            );
        }
        let changes = planned.json()["changes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let account = self.read().await;
        let edit = if changes.is_empty() || self.dice.chance(1, 3) {
            None
        } else {
            self.edit_a_target(&changes, &account).await
        };
        let Some(edit) = edit else {
            self.note(format!(
                "saved plan ({} change(s)), applied unchanged",
                changes.len()
            ));
            return self.apply_and_check(Some(&file)).await;
        };
        self.features.insert("stale saved plan".into());
        self.note(format!(
            "saved plan ({} change(s)), then foreign edit: {edit}; apply of the saved plan",
            changes.len()
        ));
        let before = self.read().await;
        self.retrack(&before);
        let backups = self.backups("stale");
        let out = self.a2i_fix(&[&"apply", &file, &"--yes", &"--backup-dir", &backups]);
        let after = self.read().await;
        let written = world::diff(&before, &after);
        let mut failures = Vec::new();
        if out.code == Some(0) || !out.all().contains("stale") {
            failures.push(("a stale saved plan is refused".into(), indent(&out.all())));
        }
        if !written.is_empty() {
            failures.push((
                "a refused saved plan writes nothing".into(),
                format!("  written:\n{}", lines(&written)),
            ));
        }
        failure(self.step, failures)
    }

    /// Change one target of a saved plan as another actor would; `None`
    /// when no target can be changed that way.
    async fn edit_a_target(&mut self, changes: &[Value], account: &Account) -> Option<String> {
        let mut candidates = Vec::new();
        for c in changes {
            let t = &c["target"];
            let field = |k: &str| t[k].as_str().unwrap_or_default().to_string();
            let doc = match t["type"].as_str() {
                Some("bucket_cors") => Some((None, field("bucket"))),
                Some("role") => Some((None, field("name"))),
                Some("trust_policy") => Some((
                    Some(DocRef::Trust {
                        role: field("role"),
                    }),
                    String::new(),
                )),
                Some("inline_policy") => {
                    let r = DocRef::Inline {
                        role: field("role"),
                        name: field("policy_name"),
                    };
                    r.read(account)
                        .is_some()
                        .then_some((Some(r), String::new()))
                }
                Some("key_policy") => Some((
                    Some(DocRef::Key {
                        key_id: field("key_id"),
                    }),
                    String::new(),
                )),
                _ => None,
            };
            if let Some(d) = doc {
                candidates.push((t["type"].as_str().unwrap_or_default().to_string(), d));
            }
        }
        if candidates.is_empty() {
            return None;
        }
        let (kind, (doc, name)) = candidates[self.dice.below(candidates.len())].clone();
        match (kind.as_str(), doc) {
            ("bucket_cors", _) => {
                let mut rules = match account.get(&format!("bucket {name} cors")) {
                    Some(Doc::Cors(config)) => config.rules.clone(),
                    _ => vec![],
                };
                rules.push(CorsRule {
                    allowed_methods: vec!["HEAD".into()],
                    allowed_origins: vec!["https://stale.example".into()],
                    ..CorsRule::default()
                });
                self.s.put_cors(&name, &rules).await;
                Some(format!("add a CORS rule to `{name}`"))
            }
            ("role", _) => {
                foreign::create_role_first(&self.s, &self.names, &name).await;
                Some(format!("create role `{name}` (Lambda trust) first"))
            }
            (_, Some(r)) => {
                let mut v = r.read(account)?;
                let st = foreign::unrelated(&r, &self.names, self.step);
                if self.dice.chance(1, 2) || !foreign::rewrite_equivalently(&mut v, &mut self.dice)
                {
                    let list = v["Statement"].as_array_mut()?;
                    list.push(st);
                    r.write(&self.s, &v.to_string()).await;
                    Some(format!("add an unrelated statement to `{}`", r.key()))
                } else {
                    r.write(&self.s, &v.to_string()).await;
                    Some(format!("rewrite `{}` equivalently", r.key()))
                }
            }
            _ => None,
        }
    }

    /// Roll back the last apply that wrote: it puts back exactly what that
    /// apply changed when nothing changed since (a document already back as
    /// it was before the apply counts as unchanged: it is done), and is
    /// refused with nothing written otherwise.
    pub(super) async fn rollback(&mut self) -> Result<(), Failure> {
        let last = self.last_apply.take().expect("a journal to roll back");
        let now = self.read().await;
        let changed: Vec<&String> = last
            .before
            .0
            .keys()
            .chain(last.after.0.keys())
            .filter(|k| last.before.get(k) != last.after.get(k))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // A document that is back as it was before the apply (someone
        // deleted what the apply created) needs no undoing: not a change.
        let untouched = changed
            .iter()
            .all(|k| now.get(k) == last.after.get(k) || now.get(k) == last.before.get(k));
        self.note(format!(
            "rollback of the last apply's journal ({} document(s); {})",
            changed.len(),
            if untouched {
                "none changed since: must succeed"
            } else {
                "some changed since: must be refused"
            }
        ));
        let backups = self.backups("rollback");
        let out = self.a2i_fix(&[
            &"rollback",
            &last.journal,
            &"--yes",
            &"--backup-dir",
            &backups,
        ]);
        let after = self.read().await;
        let mut failures = Vec::new();
        if untouched {
            self.features.insert("rollback".into());
            if out.code != Some(0) {
                failures.push(("the rollback succeeds".into(), indent(&out.all())));
            }
            let wrong: Vec<String> = changed
                .iter()
                .filter(|k| after.get(k) != last.before.get(k))
                .map(|k| {
                    format!(
                        "`{k}`:\n      expected {}\n      found    {}",
                        world::show(last.before.get(k)),
                        world::show(after.get(k))
                    )
                })
                .collect();
            if !wrong.is_empty() {
                failures.push((
                    "the rollback puts back what the apply changed".into(),
                    lines(&wrong),
                ));
            }
            let others: Vec<String> = world::diff(&now, &after)
                .into_iter()
                .filter(|d| !changed.iter().any(|k| d.starts_with(&format!("`{k}`"))))
                .collect();
            if !others.is_empty() {
                failures.push((
                    "the rollback touches only what the apply changed".into(),
                    lines(&others),
                ));
            }
        } else {
            self.features.insert("refused rollback".into());
            if out.code == Some(0) || !out.all().contains("changed since the apply") {
                failures.push((
                    "a rollback of changed resources is refused".into(),
                    indent(&out.all()),
                ));
            }
            let written = world::diff(&now, &after);
            if !written.is_empty() {
                failures.push(("a refused rollback writes nothing".into(), lines(&written)));
            }
        }
        self.retrack(&after);
        failure(self.step, failures)
    }
}
