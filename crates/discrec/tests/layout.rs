//! The layout the README promises, checked on the sources: the modules of
//! this crate form a straight line (each uses only modules declared before
//! it in `src/lib.rs`, so the crate reads bottom up with no cycle), and
//! `unsafe` appears only in `sys`.

use std::path::Path;

fn src() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The modules in the order `lib.rs` declares them.
fn modules() -> Vec<String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod ").or_else(|| l.trim().strip_prefix("mod ")))
        .filter_map(|l| l.strip_suffix(';'))
        .map(str::to_string)
        .collect()
}

/// The code of a module without its unit tests and comments.
fn code(module: &str) -> String {
    let text = std::fs::read_to_string(src().join(format!("{module}.rs"))).unwrap();
    let text = text.split("#[cfg(test)]").next().unwrap();
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The crate modules `module` names: `crate::x` paths and `use crate::{x, ..}`.
fn uses(module: &str, all: &[String]) -> Vec<String> {
    let code = code(module);
    let mut out: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if all.iter().any(|m| m == name) && name != module && !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    };
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                add(item.trim().split("::").next().unwrap_or(""));
            }
        } else {
            let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
            add(&rest[..end]);
        }
    }
    out
}

#[test]
fn modules_form_a_straight_line() {
    let all = modules();
    assert!(all.len() > 10 && all.contains(&"recorder".to_string()), "modules read from lib.rs: {all:?}");
    let mut wrong = Vec::new();
    for (i, m) in all.iter().enumerate() {
        for used in uses(m, &all) {
            let j = all.iter().position(|x| *x == used).unwrap();
            if j > i {
                wrong.push(format!("{m} uses {used}, declared after it"));
            }
        }
    }
    assert!(wrong.is_empty(), "import cycles or misordered modules in src/lib.rs: {wrong:#?}");
}

#[test]
fn unsafe_lives_only_in_sys() {
    for m in modules().iter().filter(|m| *m != "sys") {
        assert!(!code(m).contains("unsafe"), "`unsafe` in {m}.rs; it belongs in sys.rs");
    }
}
