//! The module map README.md draws is kept true by these tests: which module
//! may use which (no cycle), no code file grows past the size a reader can
//! hold, and the repository speaks only of itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Who may use whom, by top-level module of the library. A module not listed
/// here fails the test: add it, with its place in the layers, to this table
/// and to README.md's module map.
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("policy", &["model"]),
    ("spec", &["model"]),
    ("requirements", &["model", "spec", "policy"]),
    ("aws", &["model"]),
    ("accounts", &["aws"]),
    ("state", &["model", "requirements", "policy", "aws"]),
    ("discover", &["spec", "aws", "state"]),
    ("plan", &["model", "requirements", "state", "policy"]),
    ("render", &["model", "plan", "policy"]),
    ("journal", &["model", "policy"]),
    ("saved", &["model", "plan"]),
    ("export", &["model", "plan", "policy"]),
    (
        "apply",
        &["model", "plan", "state", "journal", "policy", "aws"],
    ),
    (
        "commands",
        &[
            "model",
            "policy",
            "spec",
            "requirements",
            "aws",
            "state",
            "plan",
            "render",
            "journal",
            "saved",
            "apply",
            "discover",
            "export",
            "accounts",
        ],
    ),
];

/// Code files may be at most this long; files that hold only tests may be
/// longer (tables of cases read well long).
const MAX_CODE_LINES: usize = 650;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every file below `dir` (sorted) whose extension is one of `extensions`;
/// a missing `dir` has none.
fn files_below(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            files_below(&path, extensions, out);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.contains(&e))
        {
            out.push(path);
        }
    }
}

/// Every Rust file of the library and binary.
fn rust_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    files_below(&src_dir(), &["rs"], &mut files);
    assert!(!files.is_empty(), "no Rust file under `src/`");
    files
}

/// The top-level module a file under `src/` belongs to (`None` for the crate
/// root and the binary).
fn top_module(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src_dir()).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    match first.strip_suffix(".rs") {
        Some("lib") | Some("main") => None,
        Some(stem) => Some(stem.to_string()),
        None => Some(first),
    }
}

/// `crate::X` uses in code (comments and doc comments skipped), grouped
/// imports (`use crate::{a, b::c};`, over several lines too) included.
fn crate_uses(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut uses = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            // Top-level items of the group: split on commas at depth 0.
            let mut depth = 0;
            let mut start = 0;
            for (at, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        uses.insert(ident(&group[start..at]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        uses.insert(ident(&group[start..at]));
                        start = at + 1;
                    }
                    _ => {}
                }
            }
        } else {
            uses.insert(ident(after));
        }
        rest = after;
    }
    uses.remove("");
    uses.remove("self");
    uses
}

/// Every edge `module -> used module` in the library.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = rust_files();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(module) = top_module(&file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("readable source file");
        let entry = graph.entry(module.clone()).or_default();
        for used in crate_uses(&text) {
            if used != module {
                entry.insert(used);
            }
        }
    }
    graph
}

#[test]
fn modules_use_only_the_layers_below_them() {
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(m, deps)| (*m, deps.iter().copied().collect()))
        .collect();
    let mut wrong = Vec::new();
    for (module, uses) in module_graph() {
        let Some(may) = allowed.get(module.as_str()) else {
            wrong.push(format!(
                "module `{module}` is not in the layer table: add it to ALLOWED and to README.md's module map"
            ));
            continue;
        };
        for used in uses {
            if !may.contains(used.as_str()) {
                wrong.push(format!("`{module}` uses `crate::{used}`, which it may not"));
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn the_module_graph_has_no_cycle() {
    let graph = module_graph();
    // Depth-first search with colours: an edge to a grey node is a cycle.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        grey: &mut Vec<String>,
        black: &mut BTreeSet<String>,
    ) -> Result<(), Vec<String>> {
        if black.contains(node) {
            return Ok(());
        }
        if let Some(at) = grey.iter().position(|g| g == node) {
            let mut cycle = grey[at..].to_vec();
            cycle.push(node.to_string());
            return Err(cycle);
        }
        grey.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, grey, black)?;
        }
        grey.pop();
        black.insert(node.to_string());
        Ok(())
    }
    let mut black = BTreeSet::new();
    for node in graph.keys() {
        if let Err(cycle) = visit(node, &graph, &mut Vec::new(), &mut black) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_layer_table_itself_has_no_cycle_and_model_is_a_leaf() {
    let table: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    assert!(
        table["model"].is_empty(),
        "`model` must import nothing of the crate"
    );
    // Every allowed edge points to a module listed earlier: a topological order.
    for (i, (module, deps)) in ALLOWED.iter().enumerate() {
        for dep in *deps {
            let at = ALLOWED.iter().position(|(m, _)| m == dep);
            assert!(
                at.is_some_and(|at| at < i),
                "`{module}` may use `{dep}`, which is not listed before it"
            );
        }
    }
}

#[test]
fn the_checker_sees_uses_and_ignores_comments() {
    let text = "use crate::plan::{Change, Plan};\n// crate::apply in a comment\n/// [`crate::spec::Spec`]\nlet x = crate::model::digest(\"\");\nuse crate::{\n    journal::{self, Header},\n    saved,\n};\n";
    let uses: Vec<String> = crate_uses(text).into_iter().collect();
    assert_eq!(uses, ["journal", "model", "plan", "saved"]);
}

#[test]
fn no_code_file_is_longer_than_a_reader_can_hold() {
    let files = rust_files();
    let mut long = Vec::new();
    for file in files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let only_tests = name == "tests.rs" || name.ends_with("_tests.rs");
        let text = std::fs::read_to_string(&file).expect("readable source file");
        let lines = text.lines().count();
        if !only_tests && lines > MAX_CODE_LINES {
            long.push(format!("{} ({lines} lines)", file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "split these files along their seams (or move their tests to a `tests.rs` beside them):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_repository_speaks_only_of_itself() {
    // The patterns are assembled so that this file does not match itself.
    let patterns = [
        ["DOMAIN", ".md"].concat(),
        ["STYLE", ".md"].concat(),
        ["../", "shared"].concat(),
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "tests", "scripts", "docs", "benches", "plans"] {
        files_below(
            &root.join(dir),
            &["rs", "sh", "md", "toml", "py", "json", "snap"],
            &mut files,
        );
    }
    files.push(root.join("README.md"));
    let issue = ["issue", " "].concat();
    let mut found = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            let lower = line.to_lowercase();
            let names_issue_number = lower.match_indices(&issue).any(|(i, _)| {
                lower[i + issue.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit())
            });
            if names_issue_number || patterns.iter().any(|p| line.contains(p.as_str())) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "these lines refer to documents or work items outside the repository; state the fact or point to docs/:\n{}",
        found.join("\n")
    );
}
