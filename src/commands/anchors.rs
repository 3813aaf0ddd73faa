//! Where the results of `--format sarif` point: from a change or a warning
//! of the plan to the lines of the spec whose entries cause it.
//!
//! A change names its target (a bucket, a role, a key, a caller) and the
//! requirements it serves; a warning names its subject (``role `R` ``,
//! ``bucket `B` ``, ``KMS key `K` ``, ``caller `ARN` ``) and requirement. Each
//! requirement comes from one key of an entry: R1, R2 and R9 from
//! `input_buckets`, R3 from `output`, R4 from `role`, R5 from `kms_key`,
//! R6 and R7 from `uses`, R8 from `public_workforce`. An entry found but
//! without that key points at its table's `[[header]]`; nothing found
//! leaves the renderer's fallback, line 1.

use std::path::{Component, Path};

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use crate::model::{PrincipalKind, Target};
use crate::plan::{Change, Warning};
use crate::render::{Anchor, Locate};
use crate::spec::Spec;

/// What may not stand as it is in a URI path.
const URI_PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|');

/// The anchors of one spec, read from `path`.
pub struct SpecAnchors<'a> {
    spec: &'a Spec,
    uri: String,
}

impl<'a> SpecAnchors<'a> {
    pub fn new(spec: &'a Spec, path: &Path) -> Self {
        SpecAnchors {
            spec,
            uri: spec_uri(path),
        }
    }

    /// The anchor of `key` of the table `table` (e.g. `flow_definition[0]`),
    /// or of its header when the key is not written.
    fn at(&self, table: &str, key: &str) -> Option<Anchor> {
        let path = format!("{table}.{key}");
        if let Some(line) = self.spec.lines.get(&path) {
            return Some(Anchor {
                line: *line,
                key: path,
            });
        }
        self.spec.lines.get(table).map(|line| Anchor {
            line: *line,
            key: table.to_string(),
        })
    }

    /// The entries using role `role`, at the key that causes `requirement`.
    fn role(&self, role: &str, requirement: &str) -> Vec<Anchor> {
        let mut found = Vec::new();
        for (i, flow) in self.spec.flow_definitions.iter().enumerate() {
            if flow.role.name != role {
                continue;
            }
            let key = match requirement {
                "R2" => "input_buckets",
                "R3" => "output",
                "R5" => "kms_key",
                "R9" => continue,
                _ => "role",
            };
            found.extend(self.at(&format!("flow_definition[{i}]"), key));
        }
        for (i, preview) in self.spec.template_previews.iter().enumerate() {
            if preview.role.name != role {
                continue;
            }
            let key = match requirement {
                "R9" => "input_buckets",
                "R2" | "R3" | "R5" => continue,
                _ => "role",
            };
            found.extend(self.at(&format!("template_preview[{i}]"), key));
        }
        if found.is_empty() {
            found.extend(self.caller(
                |c| c.kind == PrincipalKind::Role && c.name == role,
                requirement,
            ));
        }
        found
    }

    /// The callers `matches` picks, at the key that causes `requirement`.
    fn caller(
        &self,
        matches: impl Fn(&crate::spec::HumanLoopCaller) -> bool,
        requirement: &str,
    ) -> Vec<Anchor> {
        let mut found = Vec::new();
        for (i, caller) in self.spec.human_loop_callers.iter().enumerate() {
            if !matches(caller) {
                continue;
            }
            let uses_custom = caller.uses.contains(&crate::spec::Use::Custom);
            let key = match requirement {
                "R6" if !uses_custom && caller.public_workforce => "public_workforce",
                "R6" | "R7" => "uses",
                "R8" => "public_workforce",
                _ => "principal",
            };
            found.extend(self.at(&format!("human_loop_caller[{i}]"), key));
        }
        found
    }

    /// The entries reading from or writing to `bucket`.
    fn bucket(&self, bucket: &str, requirement: &str) -> Vec<Anchor> {
        let mut found = Vec::new();
        let input = requirement == "R1" || requirement == "R2" || requirement == "R9";
        for (i, flow) in self.spec.flow_definitions.iter().enumerate() {
            let table = format!("flow_definition[{i}]");
            if flow.input_buckets.iter().any(|b| b == bucket) && (input || found.is_empty()) {
                found.extend(self.at(&table, "input_buckets"));
            }
            if flow.output.bucket == bucket && !input {
                found.extend(self.at(&table, "output"));
            }
        }
        for (i, preview) in self.spec.template_previews.iter().enumerate() {
            if preview.input_buckets.iter().any(|b| b == bucket) {
                found.extend(self.at(&format!("template_preview[{i}]"), "input_buckets"));
            }
        }
        found
    }

    /// The flow definitions naming the key (as written, or by its id or
    /// ARN); failing that, those with a key that `text` names.
    fn key(&self, names: &[&str], text: &str) -> Vec<Anchor> {
        let with_key = || {
            self.spec
                .flow_definitions
                .iter()
                .enumerate()
                .filter_map(|(i, f)| f.kms_key.as_deref().map(|k| (i, f, k)))
        };
        let mut found: Vec<Anchor> = with_key()
            .filter(|(_, _, k)| {
                names
                    .iter()
                    .any(|n| !n.is_empty() && (k == n || k.ends_with(&format!("/{n}"))))
            })
            .filter_map(|(i, _, _)| self.at(&format!("flow_definition[{i}]"), "kms_key"))
            .collect();
        if found.is_empty() {
            found = with_key()
                .filter(|(_, f, _)| text.contains(&format!("flow definition {}", f.name)))
                .filter_map(|(i, _, _)| self.at(&format!("flow_definition[{i}]"), "kms_key"))
                .collect();
        }
        found
    }
}

impl Locate for SpecAnchors<'_> {
    fn uri(&self) -> String {
        self.uri.clone()
    }

    fn change(&self, change: &Change, requirement: &str) -> Vec<Anchor> {
        let found = match &change.target {
            Target::BucketCors { bucket } => self.bucket(bucket, requirement),
            Target::Role { name, .. }
            | Target::TrustPolicy { role: name }
            | Target::InlinePolicy { role: name, .. } => self.role(name, requirement),
            Target::KeyPolicy { key_id, key_arn } => {
                self.key(&[key_id.as_str(), key_arn.as_str()], &change.reason)
            }
            Target::Attachment { kind, name, .. } => {
                self.caller(|c| c.kind == *kind && c.name == *name, requirement)
            }
        };
        dedup(found)
    }

    fn warning(&self, warning: &Warning) -> Vec<Anchor> {
        let requirements: Vec<&str> = warning
            .requirement
            .as_deref()
            .map(|r| r.split(',').map(str::trim).collect())
            .unwrap_or_else(|| vec![""]);
        let Some((kind, name)) = subject(&warning.subject) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for requirement in requirements {
            found.extend(match kind {
                "role" => self.role(name, requirement),
                "bucket" => self.bucket(name, requirement),
                "KMS key" => self.key(&[name], &warning.message),
                "caller" => self.caller(|c| c.arn == name, requirement),
                _ => Vec::new(),
            });
        }
        dedup(found)
    }
}

/// ``role `R` `` into (`role`, `R`).
fn subject(text: &str) -> Option<(&str, &str)> {
    let (kind, rest) = text.split_once(" `")?;
    let name = rest.strip_suffix('`')?;
    Some((kind, name))
}

fn dedup(anchors: Vec<Anchor>) -> Vec<Anchor> {
    let mut out: Vec<Anchor> = Vec::new();
    for a in anchors {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// The spec file as code scanning names it: a relative path with `/`
/// separators (code scanning resolves it against the repository root, so
/// run from there), or a `file://` URI for an absolute path.
pub fn spec_uri(path: &Path) -> String {
    let parts: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => {
                Some(utf8_percent_encode(&p.to_string_lossy(), URI_PATH).to_string())
            }
            Component::ParentDir => Some("..".to_string()),
            _ => None,
        })
        .collect();
    if path.is_absolute() {
        format!("file:///{}", parts.join("/"))
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_paths_become_uris() {
        assert_eq!(spec_uri(Path::new("a2i.toml")), "a2i.toml");
        assert_eq!(spec_uri(Path::new("./deploy/a2i.toml")), "deploy/a2i.toml");
        assert_eq!(
            spec_uri(Path::new("my specs/a2i.toml")),
            "my%20specs/a2i.toml"
        );
        assert_eq!(spec_uri(Path::new("/srv/a2i.toml")), "file:///srv/a2i.toml");
    }

    #[test]
    fn subjects_split_into_kind_and_name() {
        assert_eq!(subject("role `R`"), Some(("role", "R")));
        assert_eq!(subject("KMS key `alias/k`"), Some(("KMS key", "alias/k")));
        assert_eq!(subject("something else"), None);
    }

    #[test]
    fn each_requirement_points_at_the_key_that_causes_it() {
        let text = "account_id = \"123456789012\"\n\n[[flow_definition]]\nname = \"fd\"\nrole = \"R\"\ninput_buckets = [\"in-bucket\"]\noutput = \"s3://out-bucket/x/\"\nkms_key = \"alias/k\"\n\n[[human_loop_caller]]\nprincipal = \"arn:aws:iam::123456789012:user/u\"\nuses = [\"textract\"]\npublic_workforce = true\n\n[[template_preview]]\nrole = \"P\"\ninput_buckets = [\"in-bucket\"]\n";
        let spec = crate::spec::parse(text, "a2i.toml").expect("valid");
        let a = SpecAnchors::new(&spec, Path::new("a2i.toml"));
        let lines = |v: Vec<Anchor>| v.into_iter().map(|a| a.line).collect::<Vec<_>>();
        assert_eq!(lines(a.role("R", "R2")), [6]);
        assert_eq!(lines(a.role("R", "R3")), [7]);
        assert_eq!(lines(a.role("R", "R4")), [5]);
        assert_eq!(lines(a.role("R", "R5")), [8]);
        assert_eq!(lines(a.role("P", "R9")), [17]);
        assert_eq!(lines(a.bucket("in-bucket", "R1")), [6, 17]);
        assert_eq!(lines(a.bucket("out-bucket", "R5")), [7]);
        assert_eq!(lines(a.key(&["alias/k"], "")), [8]);
        let user = |c: &crate::spec::HumanLoopCaller| c.name == "u";
        assert_eq!(lines(a.caller(user, "R7")), [12]);
        assert_eq!(lines(a.caller(user, "R8")), [13]);
        assert_eq!(
            lines(a.caller(user, "R6")),
            [13],
            "R6 comes from public_workforce here"
        );
    }
}
