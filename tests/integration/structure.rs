//! The shape of `src/`: imports point one way. A file that names a path into another file
//! (`use crate::…`, `use super::…`, a child module's items, or the same paths written inline)
//! depends on it; no file may depend, directly or through others, on a file that depends on it.
//! A cycle means two files that can only be read, changed and tested together.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file of the library crate, by module path (`src/lib.rs` is the root, `[]`).
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).expect("under src");
            let mut segments: Vec<String> = relative
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
            let file = segments.pop().expect("a file name");
            match file.as_str() {
                // The binary is its own crate: it imports the library, never the reverse.
                "main.rs" if segments.is_empty() => continue,
                "lib.rs" if segments.is_empty() => {}
                "mod.rs" => {}
                other => segments.push(other.trim_end_matches(".rs").to_owned()),
            }
            found.insert(segments, path);
        }
    }
    found
}

/// The text with comments and string literals blanked, so only code is searched.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if !escaped && c == '"' {
                        break;
                    }
                    escaped = !escaped && c == '\\';
                }
                out.push_str("\"\"");
            }
            // A char literal (not a lifetime): skip it whole.
            '\'' if matches!(chars.clone().nth(1), Some('\'')) => {
                chars.next();
                chars.next();
                out.push_str("' '");
            }
            other => out.push(other),
        }
    }
    out
}

/// The code without its inline test modules (`#[cfg(test)] mod tests { … }`): their
/// `super` is the file itself, and test code is not the crate's structure.
fn without_test_modules(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let inline = after.trim_start().starts_with("mod ")
            && after
                .find('{')
                .is_some_and(|b| after.find(';').is_none_or(|s| b < s));
        if !inline {
            out.push_str("#[cfg(test)]");
            rest = after;
            continue;
        }
        let open = after.find('{').expect("checked");
        let mut depth = 0;
        let mut end = after.len();
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Expand `use` trees (`a::{b, c::{d}}`) into paths.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.split(" as ").next().unwrap_or(tree).trim().to_owned()];
    };
    let prefix = tree[..open].trim_end_matches("::");
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand)
        .map(|p| match p.as_str() {
            "self" => prefix.to_owned(),
            _ if prefix.is_empty() => p,
            _ => format!("{prefix}::{p}"),
        })
        .collect()
}

/// The paths a file names: every `use` (expanded) and every inline `crate::…`/`super::…`.
fn paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        rest = &rest[at + 4..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let end = rest.find(';').unwrap_or(rest.len());
        found.extend(expand(&rest[..end]));
        rest = &rest[end..];
    }
    for root in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(root) {
            let start = from + at;
            from = start + root.len();
            if code[..start]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
            {
                continue;
            }
            let end = code[start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| start + e);
            let path = code[start..end].trim_end_matches(':');
            // `super::{…}` is a use tree, read above.
            if path.contains("::") {
                found.push(path.to_owned());
            }
        }
    }
    found
}

/// The file a path from module `of` lands in, if it is another file of the crate.
fn target(
    of: &[String],
    path: &str,
    files: &BTreeMap<Vec<String>, PathBuf>,
) -> Option<Vec<String>> {
    let mut segments = path.split("::").filter(|s| !s.is_empty()).peekable();
    let mut base: Vec<String> = match segments.peek().copied() {
        Some("crate") => {
            segments.next();
            Vec::new()
        }
        Some("super" | "self") => {
            // `super` of a file module `a::b` (a/b.rs or a/b/mod.rs) is `a`.
            let mut base = of.to_vec();
            while segments.peek() == Some(&"super") {
                segments.next();
                base.pop();
            }
            if segments.peek() == Some(&"self") {
                segments.next();
            }
            base
        }
        // A path starting with a child module's name (2018 paths).
        Some(first) => {
            let mut child = of.to_vec();
            child.push(first.to_owned());
            if !files.contains_key(&child) {
                return None;
            }
            of.to_vec()
        }
        None => return None,
    };
    let mut best = files.contains_key(&base).then(|| base.clone());
    for segment in segments {
        base.push(segment.to_owned());
        if files.contains_key(&base) {
            best = Some(base.clone());
        } else {
            break;
        }
    }
    best.filter(|b| b.as_slice() != of)
}

/// Every cycle among the files, each as its files in order (one per strongly connected set).
type Graph = BTreeMap<Vec<String>, BTreeSet<Vec<String>>>;

/// Which file depends on which.
fn graph(files: &BTreeMap<Vec<String>, PathBuf>) -> Graph {
    let mut edges = Graph::new();
    for (module, path) in files {
        let text = std::fs::read_to_string(path).expect("a source file is readable");
        let out = edges.entry(module.clone()).or_default();
        for p in paths(&without_test_modules(&code_only(&text))) {
            if let Some(t) = target(module, &p, files) {
                out.insert(t);
            }
        }
    }
    edges
}

fn cycles(src: &Path) -> Vec<Vec<String>> {
    let files = modules(src);
    let edges = graph(&files);
    // Files that reach each other form one cycle (a strongly connected set); the crate is
    // small enough to compute every file's reach.
    let reach = |from: &Vec<String>| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(m) = stack.pop() {
            for next in edges.get(&m).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<_, _> = files.keys().map(|m| (m.clone(), reach(m))).collect();
    let mut grouped = BTreeSet::new();
    let mut found = Vec::new();
    for m in files.keys() {
        if grouped.contains(m) || !reachable[m].contains(m) {
            continue;
        }
        let group: Vec<Vec<String>> = reachable[m]
            .iter()
            .filter(|o| reachable[*o].contains(m))
            .cloned()
            .collect();
        grouped.extend(group.iter().cloned());
        found.push(
            group
                .iter()
                .map(|g| files[g].strip_prefix(src).unwrap().display().to_string())
                .collect(),
        );
    }
    found
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn test_modules_are_left_out() {
    let code = "use super::a::B;\n#[cfg(test)]\nmod tests {\n    use super::*;\n    fn f() { if x { y } }\n}\nfn g() { crate::c::D }\n";
    let mut found = paths(&without_test_modules(code));
    found.sort();
    found.dedup();
    assert_eq!(found, ["crate::c::D", "super::a::B"]);
}

#[test]
fn the_parser_sees_use_trees_and_inline_paths() {
    let code = code_only(
        "use super::{Context, fence::{Fenced, write_status}};\n// use crate::nope;\n\
         let s = \"crate::not_code\"; crate::api::Backup::x(); use state::X as Y;",
    );
    let mut found = paths(&code);
    found.sort();
    assert_eq!(
        found,
        [
            "crate::api::Backup::x",
            "state::X",
            "super::Context",
            "super::fence::Fenced",
            "super::fence::write_status",
        ]
    );
}

/// Imports among the controllers point one way: a kind's folder uses `controller/mod.rs` and the
/// leaves beside it, `mod.rs` uses no kind, and no kind uses another.
#[test]
fn no_import_cycles_among_controller_files() {
    let found: Vec<_> = cycles(&src())
        .into_iter()
        .filter(|c| {
            c.iter()
                .any(|f| f.starts_with("controller/") || f.starts_with("server/"))
        })
        .collect();
    assert!(found.is_empty(), "import cycles: {found:#?}");
}

/// The same rule for the whole of `src/`.
#[test]
fn no_import_cycles_in_src() {
    let found = cycles(&src());
    assert!(found.is_empty(), "import cycles: {found:#?}");
}

/// A file in `controller/<kind>/` uses nothing from another kind's folder.
#[test]
fn no_controller_kind_imports_another() {
    let files = modules(&src());
    // The kind folder a module is in: `controller/<kind>/…` with a `mod.rs`.
    let kind = |m: &[String]| -> Option<String> {
        let folder = m.get(..2)?;
        (folder[0] == "controller" && files.get(folder)?.ends_with("mod.rs"))
            .then(|| folder[1].clone())
    };
    let mut found = Vec::new();
    for (from, targets) in graph(&files) {
        let Some(own) = kind(&from) else { continue };
        for to in targets {
            if kind(&to).is_some_and(|k| k != own) {
                found.push(format!(
                    "{} -> {}",
                    files[&from].display(),
                    files[&to].display()
                ));
            }
        }
    }
    assert!(found.is_empty(), "imports across kinds: {found:#?}");
}
