//! The doors of discrec: every public call of the Rust library, and what
//! C, Python and the command line have for it, as the README's table
//! "Every door" says. `cargo xtask doors` prints the calls; the tests here
//! fail when a public call is in no row, when a row gives a call neither a
//! C nor a Python counterpart without saying why it is Rust-only, when a
//! C function or Python name the table names does not exist or is called
//! by no test, and when the header or the stubs have a call the table
//! does not name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A public call of the `discrec` crate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    /// The module it is defined in, from the crate root (`drive`,
    /// `writer::source`).
    pub module: String,
    /// How the table names it: `Type::method` or `module::function`.
    pub name: String,
}

fn parse(path: &Path) -> Result<syn::File, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    syn::parse_file(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn is_pub(v: &syn::Visibility) -> bool {
    matches!(v, syn::Visibility::Public(_))
}

/// The file of module `name` declared in `file` (of a module whose own
/// directory is `dir`).
fn module_file(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(format!("{name}.rs")), dir.join(name).join("mod.rs")].into_iter().find(|p| p.exists())
}

/// Every module of the crate at `src` (its `lib.rs`), public or not:
/// (path from the root, file, reachable from outside).
fn modules(src: &Path) -> Result<Vec<(String, PathBuf, bool)>, String> {
    let mut out = vec![(String::new(), src.join("lib.rs"), true)];
    let mut i = 0;
    while i < out.len() {
        let (path, file, public) = out[i].clone();
        let dir = if file.ends_with("lib.rs") || file.ends_with("mod.rs") {
            file.parent().unwrap().to_path_buf()
        } else {
            file.with_extension("")
        };
        for item in parse(&file)?.items {
            if let syn::Item::Mod(m) = item {
                if m.content.is_some() || m.attrs.iter().any(|a| a.path().is_ident("cfg")) {
                    continue;
                }
                let name = m.ident.to_string();
                if let Some(f) = module_file(&dir, &name) {
                    let p = if path.is_empty() { name } else { format!("{path}::{name}") };
                    out.push((p, f, public && is_pub(&m.vis)));
                }
            }
        }
        i += 1;
    }
    Ok(out)
}

/// Every public call of the crate whose `lib.rs` is in `src`: free
/// functions of its public modules, and the public inherent methods of its
/// public types, wherever their `impl` is.
pub fn public_calls(src: &Path) -> Result<Vec<Call>, String> {
    let mods = modules(src)?;
    // Names a public module re-exports (`pub use progress::Progress`):
    // public wherever they are defined.
    let mut reexported = BTreeSet::new();
    for (_, file, public) in &mods {
        if *public {
            for item in parse(file)?.items {
                if let syn::Item::Use(u) = item {
                    if is_pub(&u.vis) {
                        use_names(&u.tree, &mut reexported);
                    }
                }
            }
        }
    }
    // Public types (and traits): name -> module.
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    for (path, file, public) in &mods {
        for item in parse(file)?.items {
            let (vis, ident) = match &item {
                syn::Item::Struct(s) => (&s.vis, &s.ident),
                syn::Item::Enum(e) => (&e.vis, &e.ident),
                syn::Item::Trait(t) => (&t.vis, &t.ident),
                _ => continue,
            };
            if is_pub(vis) && (*public || reexported.contains(&ident.to_string())) {
                types.insert(ident.to_string(), path.clone());
            }
        }
    }
    let mut calls = BTreeSet::new();
    // A crate the root re-exports whole (`pub use discrec_mmc as mmc`):
    // one item, its own calls being that crate's.
    for item in parse(&src.join("lib.rs"))?.items {
        if let syn::Item::Use(u) = item {
            if let (true, syn::UseTree::Rename(r)) = (is_pub(&u.vis), &u.tree) {
                calls.insert(Call { module: String::new(), name: r.rename.to_string() });
            }
        }
    }
    for (path, file, public) in &mods {
        for item in parse(file)?.items {
            match item {
                syn::Item::Fn(f) if is_pub(&f.vis) && (*public || reexported.contains(&f.sig.ident.to_string())) => {
                    calls.insert(Call { module: path.clone(), name: format!("{path}::{}", f.sig.ident) });
                }
                syn::Item::Trait(t) if *public && is_pub(&t.vis) => {
                    calls.insert(Call { module: path.clone(), name: format!("{path}::{}", t.ident) });
                }
                syn::Item::Impl(imp) if imp.trait_.is_none() => {
                    if imp.attrs.iter().any(|a| a.path().is_ident("cfg")) {
                        continue;
                    }
                    let syn::Type::Path(tp) = &*imp.self_ty else { continue };
                    let Some(ty) = tp.path.segments.last().map(|s| s.ident.to_string()) else { continue };
                    let Some(module) = types.get(&ty) else { continue };
                    for it in &imp.items {
                        if let syn::ImplItem::Fn(f) = it {
                            if is_pub(&f.vis) {
                                calls.insert(Call { module: module.clone(), name: format!("{ty}::{}", f.sig.ident) });
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(calls.into_iter().collect())
}

/// The names a `use` tree brings in (as they are called after it).
fn use_names(tree: &syn::UseTree, out: &mut BTreeSet<String>) {
    match tree {
        syn::UseTree::Path(p) => use_names(&p.tree, out),
        syn::UseTree::Name(n) => {
            out.insert(n.ident.to_string());
        }
        syn::UseTree::Rename(r) => {
            out.insert(r.rename.to_string());
        }
        syn::UseTree::Group(g) => g.items.iter().for_each(|t| use_names(t, out)),
        syn::UseTree::Glob(_) => {}
    }
}

/// One row of the README's table.
#[derive(Debug, Default)]
pub struct Row {
    pub rust: Vec<String>,
    pub c: Vec<String>,
    pub python: Vec<String>,
    /// What the command line has: `subcommand --option` spans, checked
    /// against the command's definition, and words in parentheses.
    pub cli: String,
    pub notes: String,
}

/// The code spans (`...`) of a cell.
fn spans(cell: &str) -> Vec<String> {
    cell.split('`').skip(1).step_by(2).map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// The rows of the table under the heading `## Every door` of `readme`.
pub fn table(readme: &str) -> Result<Vec<Row>, String> {
    let start = readme.find("\n## Every door").ok_or("README.md has no section \"## Every door\"")?;
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let mut rows = Vec::new();
    let mut header_seen = false;
    for line in section.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').map(str::trim).collect();
        if !header_seen {
            if cells.first() != Some(&"Rust") {
                return Err(format!("the table of \"Every door\" starts with {line:?}, not | Rust | C | Python | Command line | Notes |"));
            }
            header_seen = true;
            continue;
        }
        if cells.iter().all(|c| c.chars().all(|ch| ch == '-' || ch == ':')) {
            continue;
        }
        if cells.len() != 5 {
            return Err(format!("a row of \"Every door\" has {} cells, not 5: {line}", cells.len()));
        }
        rows.push(Row {
            rust: spans(cells[0]),
            c: spans(cells[1]),
            python: spans(cells[2]),
            cli: cells[3].to_string(),
            notes: cells[4].to_string(),
        });
    }
    Ok(rows)
}

/// Whether the table's name `pattern` (`Type::method`, or `module::*`
/// for the free functions and traits of a module, not its types'
/// methods, which are named one by one) covers `call`.
fn covers(pattern: &str, call: &Call) -> bool {
    match pattern.strip_suffix("::*") {
        Some(prefix) => call.module == prefix && call.name.starts_with(&format!("{prefix}::")),
        None => pattern == call.name,
    }
}

/// The C functions of the header `h`.
pub fn c_functions(h: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = h;
    while let Some(i) = rest.find("discrec_") {
        let after = &rest[i..];
        let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
        // A declaration: the name right after a space or `*` (not inside
        // a comment's words), then `(`.
        let before = rest[..i].chars().last();
        if after[end..].starts_with('(') && matches!(before, Some(' ') | Some('*')) && !h_comment_line(rest, i) {
            out.insert(after[..end].to_string());
        }
        rest = &after[end..];
    }
    out
}

/// Whether position `i` of `text` is on a comment line of the header.
fn h_comment_line(text: &str, i: usize) -> bool {
    let line_start = text[..i].rfind('\n').map_or(0, |n| n + 1);
    let line = text[line_start..i].trim_start();
    line.starts_with('*') || line.starts_with("/*") || line.starts_with("//")
}

/// The Python names of the package: `function`, `Class.member`, from the
/// stubs of the compiled part and the pure Python package.
pub fn python_names(root: &Path) -> Result<BTreeSet<String>, String> {
    let dir = root.join("crates/python/python/discrec");
    let mut names = BTreeSet::new();
    for f in ["_discrec.pyi", "__init__.py"] {
        let text = std::fs::read_to_string(dir.join(f)).map_err(|e| format!("{f}: {e}"))?;
        let mut class: Option<String> = None;
        // Open parentheses: the lines of a signature cut over several.
        let mut depth = 0i32;
        for line in text.lines() {
            let inside = depth > 0;
            depth += line.matches('(').count() as i32 - line.matches(')').count() as i32;
            if inside {
                continue;
            }
            let indented = line.starts_with("    ");
            let t = line.trim_start();
            if !indented && !t.is_empty() && !t.starts_with('#') && !t.starts_with(')') {
                class = None;
            }
            if let Some(rest) = t.strip_prefix("class ") {
                if !indented {
                    class = rest.split(['(', ':']).next().map(str::to_string);
                    if let Some(c) = class.as_ref().filter(|c| !c.starts_with('_')) {
                        names.insert(c.clone());
                    }
                }
                continue;
            }
            let name = if let Some(rest) = t.strip_prefix("def ") {
                rest.split('(').next().unwrap_or("").to_string()
            } else if indented && class.is_some() && t.contains(": ") && !t.starts_with('"') {
                // An attribute: `client_name: str`.
                t.split(':').next().unwrap_or("").trim().to_string()
            } else if !indented {
                // A module-level name: `drives = _discrec.drives`.
                match t.split_once(" = ") {
                    Some((n, _)) if n.chars().all(|c| c.is_ascii_lowercase() || c == '_') => n.to_string(),
                    _ => continue,
                }
            } else {
                continue;
            };
            if name.is_empty() || (name.starts_with('_') && !name.starts_with("__init")) || name.starts_with("__") {
                continue;
            }
            match (&class, indented) {
                (Some(c), true) => names.insert(format!("{c}.{name}")),
                (_, false) => names.insert(name),
                _ => false,
            };
        }
    }
    Ok(names)
}

/// `c` without its comments (`/* */` and `//`), so that a name in a
/// comment is not taken for a call.
fn without_c_comments(c: &str) -> String {
    let mut out = String::with_capacity(c.len());
    let mut rest = c;
    loop {
        let block = rest.find("/*");
        let line = rest.find("//");
        match (block, line) {
            (Some(b), l) if l.is_none_or(|l| b < l) => {
                out.push_str(&rest[..b]);
                rest = rest[b..].find("*/").map_or("", |e| &rest[b + e + 2..]);
            }
            (_, Some(l)) => {
                out.push_str(&rest[..l]);
                rest = rest[l..].find('\n').map_or("", |e| &rest[l + e..]);
            }
            _ => {
                out.push_str(rest);
                return out;
            }
        }
    }
}

/// Every text in `dir` whose name ends with `ext`, joined.
fn sources(dir: &Path, ext: &str) -> Result<String, String> {
    let mut all = String::new();
    for e in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let p = e.map_err(|e| e.to_string())?.path();
        if p.to_string_lossy().ends_with(ext) {
            all.push_str(&std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?);
        }
    }
    Ok(all)
}

/// What is wrong with the command line `span` of a row (`lock --force`,
/// `tray lock`, `burn --speed`): a subcommand or an option `discrec` does
/// not have. Spans that are not commands (`DISCREC_RUN_DIR`) pass.
fn cli_problem(span: &str) -> Option<String> {
    use clap::CommandFactory;
    // Built: the subcommands' options are made only then (`defer`).
    let mut cli = discrec_cli::args::Cli::command();
    cli.build();
    let mut words = span.split_whitespace();
    let first = words.next()?;
    if !first.chars().all(|c| c.is_ascii_lowercase() || c == '-') || first.starts_with('-') {
        return None;
    }
    let Some(sub) = cli.find_subcommand(first) else {
        return Some(format!("`{span}`: discrec has no subcommand {first}"));
    };
    for w in words {
        let Some(long) = w.strip_prefix("--").filter(|l| !l.is_empty()) else { continue };
        let long = long.split('=').next().unwrap_or(long);
        let known = sub.get_arguments().chain(cli.get_arguments()).any(|a| a.get_long() == Some(long));
        if !known {
            return Some(format!("`{span}`: discrec {first} has no option --{long}"));
        }
    }
    None
}

/// What is wrong with the table against the code, one line each.
pub fn check(root: &Path) -> Result<Vec<String>, String> {
    let readme = std::fs::read_to_string(root.join("README.md")).map_err(|e| e.to_string())?;
    let rows = table(&readme)?;
    let calls = public_calls(&root.join("crates/discrec/src"))?;
    let header = crate::dist::header(root)?;
    let c_have = c_functions(&header);
    let py_have = python_names(root)?;
    let c_tests = without_c_comments(&sources(&root.join("crates/capi/tests/c"), ".c")?);
    let py_tests = sources(&root.join("crates/python/tests"), ".py")?;
    let mut wrong = Vec::new();
    for call in &calls {
        if !rows.iter().any(|r| r.rust.iter().any(|p| covers(p, call))) {
            wrong.push(format!(
                "{} (in {}) is in no row of README.md's \"Every door\": give it its C and Python counterparts, or a row saying why it is Rust-only",
                call.name,
                if call.module.is_empty() { "the crate root" } else { &call.module }
            ));
        }
    }
    let mut c_named = BTreeSet::new();
    let mut py_named = BTreeSet::new();
    for r in &rows {
        let what = r.rust.join(", ");
        for p in &r.rust {
            if !calls.iter().any(|c| covers(p, c)) && !p.starts_with("discrec_cluster::") {
                wrong.push(format!("the row of {what} names {p}, which is no public call of the library"));
            }
        }
        let rust_only = r.notes.starts_with("Rust only:") && r.notes.len() > "Rust only:".len() + 10;
        // A type's methods are named one by one: `Type::*` would let a new
        // public method pass unseen. A module's `module::*` is allowed.
        for p in r.rust.iter().filter(|p| p.ends_with("::*")) {
            if p.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
                wrong.push(format!("the row of {what} waives {p}: name the type's methods one by one"));
            }
        }
        if r.c.is_empty() != r.python.is_empty() && !rust_only {
            wrong.push(format!(
                "the row of {what} has a {} counterpart but no {} one",
                if r.c.is_empty() { "Python" } else { "C" },
                if r.c.is_empty() { "C" } else { "Python" }
            ));
        }
        if r.c.is_empty() && r.python.is_empty() && !rust_only {
            wrong.push(format!(
                "the row of {what} has neither a C nor a Python counterpart, and no \"Rust only: reason\" note"
            ));
        }
        for span in spans(&r.cli) {
            if let Some(p) = cli_problem(&span) {
                wrong.push(format!("the row of {what}, command-line column: {p}"));
            }
        }
        for c in &r.c {
            c_named.insert(c.clone());
            if !c_have.contains(c) {
                wrong.push(format!("the row of {what} names the C function {c}, which discrec.h lacks"));
            } else if !c_tests.contains(&format!("{c}(")) {
                wrong.push(format!("the C function {c} is called by no program in crates/capi/tests/c"));
            }
        }
        for p in &r.python {
            py_named.insert(p.clone());
            if !py_have.contains(p) {
                wrong.push(format!("the row of {what} names the Python {p}, which the package lacks"));
            } else {
                // `Class.member`: the class made and the member used (the
                // tests also hold the stubs to the compiled module).
                let (class, last) = p.rsplit_once('.').map_or((None, p.as_str()), |(c, m)| (Some(c), m));
                let used = py_tests.contains(&format!(".{last}")) || py_tests.contains(&format!("{last}("));
                let made = class.is_none_or(|c| py_tests.contains(&format!("{c}(")));
                if !used || !made {
                    wrong.push(format!("the Python {p} is used by no test in crates/python/tests"));
                }
            }
        }
    }
    // Memory and version calls belong to no Rust call.
    let plumbing =
        ["discrec_free_string", "discrec_free_string_array", "discrec_last_error_message", "discrec_version"];
    for c in &c_have {
        if !c_named.contains(c) && !plumbing.contains(&c.as_str()) {
            wrong.push(format!("the C function {c} is in no row of README.md's \"Every door\""));
        }
    }
    for p in &py_have {
        let plumbing = p.ends_with(".__init__")
            || p == "__version__"
            || p.ends_with(".__enter__")
            || p.ends_with(".__exit__")
            || p.ends_with(".__repr__");
        if !py_named.contains(p) && !plumbing {
            wrong.push(format!("the Python {p} is in no row of README.md's \"Every door\""));
        }
    }
    Ok(wrong)
}

/// `cargo xtask doors`: every public call and the row that covers it, and
/// what is wrong.
pub fn doors(root: &Path) -> Result<bool, String> {
    let readme = std::fs::read_to_string(root.join("README.md")).map_err(|e| e.to_string())?;
    let rows = table(&readme).unwrap_or_default();
    for call in public_calls(&root.join("crates/discrec/src"))? {
        let row = rows.iter().find(|r| r.rust.iter().any(|p| covers(p, &call)));
        let doors = match row {
            Some(r) if !r.c.is_empty() => format!("C {} | Python {}", r.c.join(", "), r.python.join(", ")),
            Some(r) => r.notes.clone(),
            None => "(no row)".into(),
        };
        println!("{:<50} {doors}", call.name);
    }
    let wrong = check(root)?;
    for w in &wrong {
        println!("WRONG: {w}");
    }
    Ok(wrong.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        crate::root()
    }

    #[test]
    fn every_public_call_has_its_doors_in_the_readme() {
        let wrong = check(&root()).unwrap();
        assert!(wrong.is_empty(), "README.md's \"Every door\" and the code disagree:\n{}", wrong.join("\n"));
    }

    /// The enumeration finds what it must: a call missing from it would
    /// pass the check above unseen.
    #[test]
    fn the_enumeration_sees_methods_free_functions_and_impls_in_private_modules() {
        let calls = public_calls(&root().join("crates/discrec/src")).unwrap();
        let names: BTreeSet<&str> = calls.iter().map(|c| c.name.as_str()).collect();
        for want in [
            "Recorder::acquire_exclusive_access",
            "Recorder::run_holding", // impl in the public module supervise
            "Recorder::medium",      // impl in the public module writer
            "Recorder::inquiry",     // impl in drive
            "drive::list",
            "Eraser::erase",
            "DataWriter::append_path",
            "cluster::Coordinator",
        ] {
            assert!(names.contains(want), "{want} not found among {} calls", names.len());
        }
        assert!(names.contains("mmc"), "the re-exported crate discrec_mmc is not seen");
        // Private items are not public calls.
        assert!(!names
            .iter()
            .any(|n| n.starts_with("sys::") || n.starts_with("lock::") || n.contains("refuse_if_held_by_another")));
    }

    #[test]
    fn the_command_line_column_is_held_to_discrec() {
        assert_eq!(cli_problem("lock --force"), None);
        assert_eq!(cli_problem("burn --append"), None);
        assert_eq!(cli_problem("tray lock"), None);
        assert_eq!(cli_problem("DISCREC_RUN_DIR"), None);
        assert!(cli_problem("lock --no-wait").is_some_and(|p| p.contains("--no-wait")));
        assert!(cli_problem("frobnicate --x").is_some_and(|p| p.contains("frobnicate")));
    }

    #[test]
    fn a_name_in_a_c_comment_is_no_call() {
        let c = "int a; /* discrec_x(1) */ discrec_y(2); // discrec_z(3)\nint b;";
        let code = without_c_comments(c);
        assert!(!code.contains("discrec_x(") && code.contains("discrec_y(") && !code.contains("discrec_z("));
        assert!(code.contains("int b;"));
    }

    #[test]
    fn a_table_without_a_reason_or_a_counterpart_is_wrong() {
        let readme = "x\n## Every door\n\n| Rust | C | Python | Command line | Notes |\n|---|---|---|---|---|\n| `Recorder::open` | — | — | — | |\n";
        let rows = table(readme).unwrap();
        assert_eq!(rows.len(), 1);
        assert!(rows[0].c.is_empty() && rows[0].python.is_empty() && !rows[0].notes.starts_with("Rust only:"));
        let call = Call { module: "recorder".into(), name: "Recorder::open".into() };
        assert!(covers("Recorder::open", &call));
        // A module's wildcard does not waive its types' methods.
        assert!(!covers("Recorder::close", &call) && !covers("recorder::*", &call));
        let free = Call { module: "drive".into(), name: "drive::list".into() };
        assert!(covers("drive::*", &free) && !covers("medium::*", &free));
    }
}
