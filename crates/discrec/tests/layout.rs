//! The layout CONTRIBUTING.md promises, checked on the sources of every
//! library crate: each crate's modules form a straight line (each uses
//! only modules declared before it in its `lib.rs`, so the crate reads
//! bottom up with no import cycle), and so do the parts of a module kept
//! in a directory (`writer/mod.rs` and its files). Paths count
//! (`crate::m`, `crate::{a, b::{c}}`, `super::m`, and items the crate
//! root re-exports, such as `crate::Error`); methods a later module adds
//! to an earlier type with `impl` cannot be seen here. `unsafe` is kept
//! to one module per crate by `#![deny(unsafe_code)]` at compile time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

struct Crate {
    src: PathBuf,
    /// Modules in the order `lib.rs` (or a directory's `mod.rs`) declares them.
    modules: Vec<String>,
    /// Items the root re-exports, and the module each comes from.
    reexports: HashMap<String, String>,
    /// Paths that name a sibling module: `crate::` and `super::` at a
    /// crate's root, `super::` inside a directory module.
    prefixes: &'static [&'static str],
}

fn load(src: PathBuf) -> Crate {
    load_root(src, "lib.rs", &["crate::", "super::"])
}

fn load_root(src: PathBuf, root: &str, prefixes: &'static [&'static str]) -> Crate {
    let lib = std::fs::read_to_string(src.join(root)).unwrap();
    let mut modules = Vec::new();
    let mut reexports = HashMap::new();
    for line in lib.lines().map(str::trim) {
        let bare = ["pub(crate) ", "pub "].iter().fold(line, |l, p| l.strip_prefix(p).unwrap_or(l));
        if let Some(m) = bare.strip_prefix("mod ").and_then(|m| m.strip_suffix(';')) {
            modules.push(m.to_string());
        } else if let Some(u) = bare.strip_prefix("use ").and_then(|u| u.strip_suffix(';')) {
            if let Some((module, items)) = u.split_once("::") {
                for item in items.trim_matches(|c| c == '{' || c == '}').split(',') {
                    let item = item.trim().rsplit("::").next().unwrap_or("").to_string();
                    reexports.insert(item, module.to_string());
                }
            }
        }
    }
    Crate { src, modules, reexports, prefixes }
}

/// A module's code without comments and without the unit-test module at
/// its end.
fn strip(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// The code of a module, as pieces each with the path prefixes that name
/// a sibling in it: a file, or a directory's `mod.rs` and its files (in
/// which `super::` is the directory module itself, not a sibling).
fn code(c: &Crate, module: &str) -> Vec<(String, &'static [&'static str])> {
    let file = c.src.join(format!("{module}.rs"));
    if file.exists() {
        return vec![(strip(&std::fs::read_to_string(file).unwrap()), c.prefixes)];
    }
    let dir = c.src.join(module);
    let mut out = vec![(strip(&std::fs::read_to_string(dir.join("mod.rs")).unwrap()), c.prefixes)];
    let mut parts: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    parts.sort();
    for part in parts.iter().filter(|p| p.file_name().unwrap() != "mod.rs") {
        let prefixes: &'static [&'static str] = if c.prefixes.contains(&"crate::") { &["crate::"] } else { &[] };
        out.push((strip(&std::fs::read_to_string(part).unwrap()), prefixes));
    }
    out
}

/// The first path segment of each item of a `{...}` group (nested groups
/// included: `{a::{b, c}, d}` gives `a` and `d`).
fn group_heads(group: &str) -> Vec<String> {
    let (mut depth, mut item, mut out) = (0, String::new(), Vec::new());
    for ch in group.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut item));
                continue;
            }
            _ => {}
        }
        if depth == 0 || ch != '{' {
            item.push(ch);
        }
    }
    out.push(item);
    out.iter().map(|i| i.trim().split("::").next().unwrap_or("").trim().to_string()).collect()
}

/// The crate modules `module` uses.
fn uses(c: &Crate, module: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        let m =
            if c.modules.iter().any(|m| m == name) { Some(name) } else { c.reexports.get(name).map(|s| s.as_str()) };
        if let Some(m) = m.filter(|m| *m != module && c.modules.iter().any(|x| x == m)) {
            if !out.iter().any(|o| o == m) {
                out.push(m.to_string());
            }
        }
    };
    for (code, prefixes) in code(c, module) {
        for prefix in prefixes {
            for (i, _) in code.match_indices(prefix) {
                let rest = code[i + prefix.len()..].trim_start();
                if let Some(group) = rest.strip_prefix('{') {
                    let mut depth = 1;
                    let end = group
                        .char_indices()
                        .find(|&(_, ch)| {
                            depth += match ch {
                                '{' => 1,
                                '}' => -1,
                                _ => 0,
                            };
                            depth == 0
                        })
                        .map(|(j, _)| j)
                        .unwrap_or(group.len());
                    for head in group_heads(&group[..end]) {
                        add(&head);
                    }
                } else {
                    let end = rest.find(|ch: char| !(ch.is_alphanumeric() || ch == '_')).unwrap_or(rest.len());
                    add(&rest[..end]);
                }
            }
        }
    }
    out
}

fn check_straight_line(src: PathBuf) {
    check(load(src));
}

/// `c` reads bottom up, and so does each of its modules kept in a directory.
fn check(c: Crate) {
    assert!(!c.modules.is_empty(), "modules read from {}: {:?}", c.src.display(), c.modules);
    let mut wrong = Vec::new();
    for (i, m) in c.modules.iter().enumerate() {
        for used in uses(&c, m) {
            if c.modules.iter().position(|x| *x == used).unwrap() > i {
                wrong.push(format!("{m} uses {used}, declared after it"));
            }
        }
    }
    assert!(wrong.is_empty(), "import cycles or misordered modules in {}: {wrong:#?}", c.src.display());
    for m in &c.modules {
        let dir = c.src.join(m);
        if dir.join("mod.rs").exists() {
            check(load_root(dir, "mod.rs", &["super::"]));
        }
    }
}

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name).join("src")
}

#[test]
fn discrec_modules_form_a_straight_line() {
    check_straight_line(crate_src("discrec"));
}

#[test]
fn mmc_modules_form_a_straight_line() {
    check_straight_line(crate_src("mmc"));
}

#[test]
fn iso_modules_form_a_straight_line() {
    check_straight_line(crate_src("iso"));
}

#[test]
fn cluster_modules_form_a_straight_line() {
    check_straight_line(crate_src("cluster"));
}

#[test]
fn vdrive_modules_form_a_straight_line() {
    check_straight_line(crate_src("vdrive"));
}

#[test]
fn capi_modules_form_a_straight_line() {
    check_straight_line(crate_src("capi"));
}

#[test]
fn a_module_in_a_directory_reads_bottom_up_too() {
    let dir = std::env::temp_dir().join(format!("discrec-layout-dir.{}", std::process::id()));
    std::fs::create_dir_all(dir.join("w")).unwrap();
    std::fs::write(dir.join("lib.rs"), "mod a;\nmod w;\nmod z;\n").unwrap();
    std::fs::write(dir.join("a.rs"), "").unwrap();
    std::fs::write(dir.join("z.rs"), "").unwrap();
    std::fs::write(dir.join("w/mod.rs"), "mod p;\nmod q;\npub use q::Q;\n").unwrap();
    // p uses q (declared after it) and the crate's z (declared after w).
    std::fs::write(dir.join("w/p.rs"), "use super::Q;\nuse crate::z::Z;\nuse crate::a::A;\n").unwrap();
    std::fs::write(dir.join("w/q.rs"), "use super::p::P;\n").unwrap();
    let c = load(dir.clone());
    assert_eq!(uses(&c, "w"), ["z", "a"]);
    let inner = load_root(dir.join("w"), "mod.rs", &["super::"]);
    assert_eq!(uses(&inner, "p"), ["q"]);
    assert_eq!(uses(&inner, "q"), ["p"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_checker_sees_groups_reexports_and_super() {
    let dir = std::env::temp_dir().join(format!("discrec-layout-test.{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("lib.rs"), "mod a;\npub mod b;\npub(crate) mod c;\npub use c::{Thing, Other};\n").unwrap();
    std::fs::write(dir.join("a.rs"), "use crate::{x::{y}, b::{z, w}};\nfn f() -> crate::Thing {}\n").unwrap();
    std::fs::write(dir.join("b.rs"), "// crate::c in a comment\nfn g() { super::a::h(); }\n").unwrap();
    std::fs::write(dir.join("c.rs"), "#[cfg(test)]\nmod tests { use crate::a; }\n").unwrap();
    let c = load(dir.clone());
    assert_eq!(c.modules, ["a", "b", "c"]);
    assert_eq!(uses(&c, "a"), ["b", "c"]);
    assert_eq!(uses(&c, "b"), ["a"]);
    assert!(uses(&c, "c").is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
