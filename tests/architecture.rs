//! The source tree's rules, checked on the source itself: no import cycle between library
//! modules, and no stepping loop outside the two `Simulation`s (every caller, the CLI, sweeps,
//! tests and benches included, drives a model through its `Simulation`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("source folder") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Library modules by path (`hydro::sim`), with their source up to the first `#[cfg(test)]`
/// (unit tests may import anything) and without comments.
fn library_modules() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut mods = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).expect("under src").with_extension("");
        let mut parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts == ["main"] || parts == ["lib"] || parts[0] == "cli" {
            continue;
        }
        if parts.last().map(String::as_str) == Some("mod") {
            parts.pop();
        }
        let text = std::fs::read_to_string(&f).expect("source file");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let code: String = code
            .lines()
            .map(|l| l.split("//").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        mods.insert(parts.join("::"), code);
    }
    mods
}

/// The longest module path that is a prefix of `path`.
fn resolve(mods: &BTreeMap<String, String>, path: &str) -> Option<String> {
    let mut parts: Vec<&str> = path.split("::").collect();
    while !parts.is_empty() {
        let m = parts.join("::");
        if mods.contains_key(&m) {
            return Some(m);
        }
        parts.pop();
    }
    None
}

/// Module -> the modules its code names through `crate::` or `super::` paths.
fn import_graph(mods: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut g = BTreeMap::new();
    for (m, code) in mods {
        let parent: Vec<&str> = {
            let mut p: Vec<&str> = m.split("::").collect();
            p.pop();
            p
        };
        let mut targets = BTreeSet::new();
        let bytes = code.as_bytes();
        for (head, base) in [("crate::", Vec::new()), ("super::", parent.clone())] {
            let mut at = 0;
            while let Some(i) = code[at..].find(head) {
                let start = at + i + head.len();
                let mut end = start;
                while end < bytes.len()
                    && (bytes[end].is_ascii_alphanumeric()
                        || bytes[end] == b'_'
                        || bytes[end] == b':')
                {
                    end += 1;
                }
                let tail = code[start..end].trim_end_matches(':');
                let mut full: Vec<&str> = base.clone();
                full.extend(tail.split("::").filter(|s| !s.is_empty()));
                // `use crate::{a::b, c}` groups: resolve each item.
                if code[end..].starts_with('{') && tail.is_empty() {
                    let close = code[end..].find('}').map_or(end, |c| end + c);
                    for item in code[end + 1..close].split(',') {
                        let item = item.split_whitespace().next().unwrap_or_default();
                        if let Some(t) = resolve(mods, item) {
                            targets.insert(t);
                        }
                    }
                } else if let Some(t) = resolve(mods, &full.join("::")) {
                    targets.insert(t);
                }
                at = end.max(start);
            }
        }
        targets.remove(m);
        g.insert(m.clone(), targets);
    }
    g
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        for w in &t.g[v] {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn library_modules_have_no_import_cycle() {
    let mods = library_modules();
    let g = import_graph(&mods);
    let edges: usize = g.values().map(BTreeSet::len).sum();
    eprintln!("{} modules, {edges} import edges", mods.len());
    // The checker itself must see the structure: the simulation imports its backends.
    assert!(g["hydro::sim"].contains("hydro::cpu") && g["lif::sim"].contains("lif::gpu"));
    let c = cycles(&g);
    assert!(c.is_empty(), "import cycles: {c:?}");
}

#[test]
fn the_cycle_checker_finds_a_cycle() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.insert("a".into(), ["b".to_string()].into());
    g.insert("b".into(), ["c".to_string()].into());
    g.insert("c".into(), ["a".to_string()].into());
    g.insert("d".into(), ["a".to_string()].into());
    let c = cycles(&g);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].len(), 3);
}

/// The backends' stepping entry points are called by the two simulations only.
#[test]
fn only_the_simulations_step_the_backends() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for d in ["src", "tests", "benches"] {
        rust_files(&root.join(d), &mut files);
    }
    let allowed = ["src/hydro/sim.rs", "src/lif/sim.rs"];
    let mut offenders = Vec::new();
    for f in &files {
        let rel = f
            .strip_prefix(root)
            .expect("in the repo")
            .to_string_lossy()
            .replace('\\', "/");
        if allowed.contains(&rel.as_str()) || rel == "tests/architecture.rs" {
            continue;
        }
        let text = std::fs::read_to_string(f).expect("source");
        for (i, line) in text.lines().enumerate() {
            // A module's own unit tests (after its `#[cfg(test)]`, at the end of the file by
            // convention) may step its backend directly: they drive nothing.
            if rel.starts_with("src/") && line.trim() == "#[cfg(test)]" {
                break;
            }
            let code = line.split("//").next().unwrap_or_default();
            // A backend's own `fn advance` may loop over its steps; calling it is the driver's.
            let calls = code.contains(".advance(") || code.contains(".advance_replicas(");
            if calls && !code.contains("fn advance") {
                offenders.push(format!("{rel}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    // The GPU backend's trait method forwards to its batch method: not a driver loop.
    offenders.retain(|o| !o.starts_with("src/hydro/gpu.rs"));
    assert!(
        offenders.is_empty(),
        "stepping outside the Simulations:\n{}",
        offenders.join("\n")
    );
}

/// The functions of `text` as (name, first line, length in lines): a function starts at a line
/// whose first token after the indentation and qualifiers is `fn`, and ends at the first later
/// line that is its indentation followed by `}` (rustfmt's layout). A declaration without a
/// body (a trait method) is skipped. scripts/longest_functions.py lists the same.
fn function_lengths(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let indent = &line[..line.len() - line.trim_start().len()];
        let mut rest = line.trim_start();
        for q in [
            "pub(crate) ",
            "pub(super) ",
            "pub ",
            "const ",
            "async ",
            "unsafe ",
        ] {
            rest = rest.strip_prefix(q).unwrap_or(rest);
        }
        let Some(sig) = rest.strip_prefix("fn ") else {
            continue;
        };
        let name: String = sig
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // The line that opens the body, unless a `;` ends the declaration first.
        let Some(open) = (i..lines.len())
            .find(|&j| lines[j].contains('{') || lines[j].trim_end().ends_with(';'))
        else {
            continue;
        };
        if !lines[open].contains('{') {
            continue;
        }
        let body = lines[open].trim_end();
        if body.ends_with('}') && body.matches('{').count() == body.matches('}').count() {
            out.push((name, i + 1, open - i + 1));
            continue;
        }
        let end = (open + 1..lines.len()).find(|&k| {
            lines[k].starts_with(indent)
                && ["}", "})", "});", "},"].contains(&lines[k][indent.len()..].trim_end())
        });
        if let Some(k) = end {
            out.push((name, i + 1, k - i + 1));
        }
    }
    out
}

/// No function needs a scroll to read: every function in src/ and python/src is under 120
/// lines (long ones are split into named stages).
#[test]
fn no_function_is_longer_than_120_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("python/src"), &mut files);
    let mut long = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("source");
        for (name, line, n) in function_lengths(&text) {
            if n >= 120 {
                long.push(format!("{}:{line} {name}: {n} lines", f.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions of 120 lines or more:\n{}",
        long.join("\n")
    );
}

/// The length rule's own check: a 130-line function is found, a 5-line one is not flagged.
#[test]
fn the_length_check_finds_a_long_function() {
    let body = "    let x = 1;\n".repeat(128);
    let text = format!("pub fn long() {{\n{body}}}\n\nfn short() {{\n    1;\n}}\n");
    let found = function_lengths(&text);
    assert_eq!(found[0], ("long".to_string(), 1, 130));
    assert_eq!(found[1], ("short".to_string(), 132, 3));
}

/// Model names and run statuses are enums (`config::Model`, `progress::Status`); their
/// spellings appear only where they are (de)serialised, never in a comparison or a match.
#[test]
fn models_and_statuses_are_not_compared_as_strings() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("python/src"), &mut files);
    let names = [
        "hydro",
        "lif",
        "running",
        "complete",
        "interrupted",
        "failed",
    ];
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("source");
        for (i, line) in text.lines().enumerate() {
            if line.trim() == "#[cfg(test)]" {
                break;
            }
            let code = line.split("//").next().unwrap_or_default();
            for n in names {
                let q = format!("\"{n}\"");
                let compared = [
                    format!("== {q}"),
                    format!("!= {q}"),
                    format!("== Some({q})"),
                    format!("!= Some({q})"),
                    format!("Some({q}) =>"),
                    format!("Some({q}) |"),
                    format!("{q} =>"),
                    format!("{q} |"),
                ];
                if compared.iter().any(|p| code.contains(p.as_str())) {
                    found.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "string comparisons of models or statuses:\n{}",
        found.join("\n")
    );
}
