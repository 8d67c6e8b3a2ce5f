//! One table of errors (`discrec::error::KINDS`) and every place that
//! repeats it: the C constants (`crates/capi/src/lib.rs`, from which
//! cbindgen writes `discrec.h`), the Python classes
//! (`crates/python/python/discrec/_errors.py`) and the tables in
//! `docs/cli.md` and `docs/design.md`. The doc tables are generated: run
//! `DISCREC_BLESS=1 cargo test -p discrec-core --test integration errors` to rewrite them
//! after changing the table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use discrec::error::{ErrorKind, KINDS, SUCCESS_EXIT_CODES};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(workspace().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Each distinct name of the table with its HRESULT.
fn names() -> BTreeMap<&'static str, u32> {
    KINDS.iter().map(|k| (k.name, k.hresult())).collect()
}

fn hex(text: &str) -> u32 {
    let digits: String = text.trim_start_matches("0x").chars().filter(|c| c.is_ascii_hexdigit()).collect();
    u32::from_str_radix(&digits, 16).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn the_c_constants_are_the_table() {
    // `pub const DISCREC_NAME: i32 = 0xC0AA_0210_u32 as i32;`
    let mut consts = BTreeMap::new();
    for line in read("crates/capi/src/lib.rs").lines() {
        let Some(rest) = line.strip_prefix("pub const DISCREC_") else { continue };
        let (name, value) = rest.split_once(": i32 = ").expect(line);
        let value = value.trim_end_matches(';').trim_end_matches(" as i32").trim_end_matches("_u32");
        consts.insert(name.to_string(), if value == "0" { 0 } else { hex(value) });
    }
    for (name, hresult) in names() {
        assert_eq!(
            consts.get(name),
            Some(&hresult),
            "discrec.h needs DISCREC_{name} = 0x{hresult:08X} (crates/capi/src/lib.rs)"
        );
    }
    // Beyond the table: S_OK, E_POINTER (only C has pointers) and an alias.
    let extra = [("S_OK", 0), ("E_POINTER", 0x8000_4003), ("E_NOT_LOCKED", ErrorKind::NOT_LOCKED.hresult())];
    for (name, value) in &consts {
        let known = names().get(name.as_str()).copied().or_else(|| extra.iter().find(|e| e.0 == name).map(|e| e.1));
        assert_eq!(known, Some(*value), "DISCREC_{name} = 0x{value:08X} is not in discrec::error::KINDS");
    }
}

#[test]
fn the_python_classes_are_the_table() {
    // class FooError(Error): ... name = "E_..." ... hresult = 0x...
    let text = read("crates/python/python/discrec/_errors.py");
    let mut classes = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut name = None;
    for line in text.lines() {
        if let Some(c) = line.strip_prefix("class ").and_then(|c| c.strip_suffix("(Error):")) {
            current = Some(c.to_string());
            name = None;
        } else if let Some(n) = line.trim().strip_prefix("name = \"").and_then(|n| n.strip_suffix('"')) {
            name = Some(n.to_string());
        } else if let (Some(c), Some(h)) = (&current, line.trim().strip_prefix("hresult = ")) {
            classes.insert(c.clone(), (name.take().expect("name before hresult"), hex(h)));
            current = None;
        }
    }
    for k in KINDS {
        let got = classes.get(k.python_class);
        assert_eq!(
            got,
            Some(&(k.name.to_string(), k.hresult())),
            "_errors.py needs class {}(Error) with name {:?} and hresult 0x{:08X} (exit code {})",
            k.python_class,
            k.name,
            k.hresult(),
            k.exit_code
        );
    }
    for (class, (name, _)) in &classes {
        assert!(KINDS.iter().any(|k| k.python_class == class), "{class} ({name}) is not in discrec::error::KINDS");
    }
}

fn value(k: &ErrorKind) -> String {
    format!("0x{:08X}", k.value)
}

fn exit_codes_table() -> String {
    let mut s = String::from("| Code | Error | Value | When |\n|---|---|---|---|\n");
    for (code, what) in SUCCESS_EXIT_CODES {
        s += &format!("| {code} | | | {what} |\n");
    }
    for k in KINDS {
        s += &format!("| {} | {} | {} | {} |\n", k.exit_code, k.name, value(k), k.when);
    }
    s
}

fn errors_table() -> String {
    let mut s = String::from("| Name | Value | Exit code | When |\n|---|---|---|---|\n");
    for k in KINDS {
        s += &format!("| {} | {} | {} | {} |\n", k.name, value(k), k.exit_code, k.when);
    }
    s
}

/// `text` with the lines between `<!-- BEGIN GENERATED: what -->` and
/// its END marker replaced by `table`.
fn with_table(text: &str, what: &str, table: &str) -> Option<String> {
    let begin = format!("<!-- BEGIN GENERATED: {what} -->\n");
    let end = format!("<!-- END GENERATED: {what} -->");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    Some(format!("{}{table}{}", &text[..start], &text[stop..]))
}

#[test]
fn the_doc_tables_are_generated_from_the_table() {
    let bless = std::env::var_os("DISCREC_BLESS").is_some();
    for (doc, what, table) in
        [("docs/cli.md", "exit-codes", exit_codes_table()), ("docs/design.md", "errors", errors_table())]
    {
        let text = read(doc);
        let want = with_table(&text, what, &table)
            .unwrap_or_else(|| panic!("{doc} has no <!-- BEGIN GENERATED: {what} --> ... END block"));
        if want == text {
            continue;
        }
        if bless {
            std::fs::write(workspace().join(doc), want).unwrap();
        } else {
            panic!(
                "the {what} table in {doc} is not discrec::error::KINDS; \
                 run `DISCREC_BLESS=1 cargo test -p discrec-core --test integration errors` and commit {doc}"
            );
        }
    }
}
