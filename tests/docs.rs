//! The documents name only what exists. README.md, CONTRIBUTING.md and
//! docs/*.md are read, and a failure names FILE:LINE for:
//!
//! * a `discrec SUBCOMMAND` that does not exist, in a code span or a line
//!   of a code block (`sh`, `text` or no language), wherever the command
//!   starts: at the start, after `--`, `|`, `&&`, `;`, `$(`, a quote, or
//!   `sudo` and variable assignments;
//! * an option `--xyz` after such a `discrec ...` that its subcommand does
//!   not have. Options of other tools (`cargo --locked`, `flock --no-fork`)
//!   are never checked: only a command line that starts with `discrec` is.
//!   In the documents about commands ([`OPTION_DOCS`]), every other `--xyz`
//!   is checked too (against every subcommand's options), except in a
//!   command line that starts with another program;
//! * an error name (`E_...`, `ERROR_...`, or a C constant `DISCREC_E_...`,
//!   `DISCREC_ERROR_...`) that discrec does not have ([`known_error_names`]).
//!
//! The truth is the clap definitions (`Cli`, built, so that deferred
//! subcommands have their options) and the library's error table. Other
//! checks: every subcommand and option is in docs/cli.md; every code block
//! says its language (rustdoc compiles an unmarked one as Rust); every
//! document with Rust blocks is compiled as a doctest; the README's first
//! command is where scripts/bare-machine-check reads it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use discrec_cli::args::Cli;

/// Documents about the command line: every `--option` in them is
/// discrec's unless a command line names another program first.
const OPTION_DOCS: &[&str] = &["docs/cli.md", "docs/burning.md", "docs/cluster.md"];

/// The error names discrec has, with and without the C prefix `DISCREC_`.
/// (One place, so that the truth can move to another table.)
fn known_error_names() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = discrec::error::KINDS.iter().map(|k| k.name.to_string()).collect();
    // Only the C API has these: E_POINTER for a NULL pointer argument, and
    // E_NOT_LOCKED, its name for ERROR_INVALID_FUNCTION (`DISCREC_E_NOT_LOCKED`).
    names.extend(["E_POINTER", "E_NOT_LOCKED"].map(String::from));
    names
}

/// The subcommands and the long options of each (`help` included).
struct Grammar {
    top: BTreeSet<String>,
    subcommands: BTreeMap<String, BTreeSet<String>>,
}

impl Grammar {
    fn new() -> Grammar {
        let mut cmd = Cli::command();
        cmd.build();
        let longs = |c: &clap::Command| -> BTreeSet<String> {
            let mut s = BTreeSet::new();
            for a in c.get_arguments() {
                s.extend(a.get_long().map(str::to_string));
                s.extend(a.get_all_aliases().unwrap_or_default().into_iter().map(str::to_string));
            }
            s
        };
        let top = longs(&cmd);
        let subcommands = cmd.get_subcommands().map(|c| (c.get_name().to_string(), longs(c))).collect();
        Grammar { top, subcommands }
    }

    fn all_options(&self) -> BTreeSet<String> {
        self.subcommands.values().flatten().chain(&self.top).cloned().collect()
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md, CONTRIBUTING.md and docs/*.md: (path from the root, text).
fn documents() -> Vec<(String, String)> {
    let mut paths = vec!["README.md".to_string(), "CONTRIBUTING.md".to_string()];
    let mut docs: Vec<String> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    docs.sort();
    paths.extend(docs);
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(root().join(&p)).unwrap_or_else(|e| panic!("{p}: {e}"));
            (p, text)
        })
        .collect()
}

/// Where a piece of a document is.
#[derive(Debug, PartialEq)]
enum Kind {
    Prose,
    /// An inline code span.
    Span,
    /// A line of a fenced code block, with the block's language.
    Block(String),
}

struct Piece {
    line: usize,
    kind: Kind,
    text: String,
}

/// The document cut into prose, code spans and code block lines (a block
/// line ending in `\` joined with the next), each with its line number.
fn pieces(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut fence: Option<String> = None;
    let mut paragraph: Vec<(usize, &str)> = Vec::new();
    let mut continued: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let trimmed = line.trim_start();
        if let Some(lang) = &fence {
            if trimmed.starts_with("```") {
                fence = None;
                continue;
            }
            let (start, mut joined) = continued.take().unwrap_or((n, String::new()));
            joined.push_str(line);
            match joined.strip_suffix('\\') {
                Some(head) => continued = Some((start, format!("{head} "))),
                None => out.push(Piece { line: start, kind: Kind::Block(lang.clone()), text: joined }),
            }
            continue;
        }
        if let Some(info) = trimmed.strip_prefix("```") {
            spans(&paragraph, &mut out);
            paragraph.clear();
            fence = Some(info.split(',').next().unwrap_or("").trim().to_string());
            continue;
        }
        if line.trim().is_empty() {
            spans(&paragraph, &mut out);
            paragraph.clear();
        } else {
            paragraph.push((n, line));
        }
    }
    spans(&paragraph, &mut out);
    out
}

/// A paragraph's code spans (which may run over lines) and its prose.
fn spans(paragraph: &[(usize, &str)], out: &mut Vec<Piece>) {
    // The paragraph as one text, with the line each byte is on.
    let mut text = String::new();
    let mut line_of = Vec::new();
    for (n, l) in paragraph {
        text.push_str(l);
        text.push(' ');
        line_of.extend(std::iter::repeat_n(*n, l.len() + 1));
    }
    let b = text.as_bytes();
    let run = |at: usize| b[at..].iter().take_while(|&&c| c == b'`').count();
    let (mut i, mut prose_from) = (0, 0);
    while i < b.len() {
        if b[i] != b'`' {
            i += 1;
            continue;
        }
        let open = run(i);
        // The closing run: exactly as many backticks.
        let mut j = i + open;
        let close = loop {
            if j >= b.len() {
                break None;
            }
            if b[j] == b'`' {
                let r = run(j);
                if r == open {
                    break Some(j);
                }
                j += r;
            } else {
                j += 1;
            }
        };
        let Some(close) = close else {
            i += open;
            continue;
        };
        prose(&text, prose_from..i, &line_of, out);
        out.push(Piece { line: line_of[i], kind: Kind::Span, text: text[i + open..close].to_string() });
        i = close + open;
        prose_from = i;
    }
    prose(&text, prose_from..text.len(), &line_of, out);
}

/// The prose in `range` of a paragraph, cut at line ends so that each
/// piece has its line.
fn prose(text: &str, range: std::ops::Range<usize>, line_of: &[usize], out: &mut Vec<Piece>) {
    let mut start = range.start;
    for (k, _) in text[range.clone()].char_indices().map(|(k, c)| (range.start + k, c)) {
        if line_of[k] != line_of[start] {
            out.push(Piece { line: line_of[start], kind: Kind::Prose, text: text[start..k].to_string() });
            start = k;
        }
    }
    if start < range.end {
        out.push(Piece { line: line_of[start], kind: Kind::Prose, text: text[start..range.end].to_string() });
    }
}

/// A word of a command line, or a quoted string standing alone.
#[derive(Debug)]
enum Tok {
    Word(String),
    Quoted(String),
    /// Where one command ends and another may start.
    Sep,
}

/// A shell-like reading: quotes kept together, `--`, `|`, `&&`, `;`,
/// parentheses, backticks, `<`, `>` and `&` separating commands, `#`
/// starting a comment.
fn lex(s: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut word = String::new();
    let mut chars = s.chars().peekable();
    let end_word = |word: &mut String, toks: &mut Vec<Tok>| {
        if word.is_empty() {
            return;
        }
        let w = std::mem::take(word);
        match w.as_str() {
            "--" | "|" | "||" | "&&" | "$" => toks.push(Tok::Sep),
            _ => match w.strip_suffix(';') {
                Some(head) => {
                    toks.push(Tok::Word(head.to_string()));
                    toks.push(Tok::Sep);
                }
                None => toks.push(Tok::Word(w)),
            },
        }
    };
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => end_word(&mut word, &mut toks),
            '\'' | '"' => {
                let quoted: String = chars.by_ref().take_while(|&q| q != c).collect();
                if word.is_empty() {
                    toks.push(Tok::Quoted(quoted));
                } else {
                    word.push_str(&quoted);
                }
            }
            '(' | ')' | '`' | '<' | '>' | '{' | '}' => {
                end_word(&mut word, &mut toks);
                toks.push(Tok::Sep);
            }
            '&' if word.is_empty() && chars.peek() != Some(&'&') => toks.push(Tok::Sep),
            '#' if word.is_empty() => break,
            c => word.push(c),
        }
    }
    end_word(&mut word, &mut toks);
    toks
}

/// The long options a word names: `--wait[=SECONDS]` is `wait`,
/// `[--cert` is `cert`; `a/--b` and `--a|--b` name each.
fn options_in(word: &str) -> Vec<String> {
    word.split(['[', ']', '|', '/', ',', '(', ')'])
        .filter_map(|part| part.strip_prefix("--"))
        .map(|o| o.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect::<String>())
        .filter(|o| o.starts_with(|c: char| c.is_ascii_lowercase()))
        .collect()
}

/// Whether a word is the `discrec` program: `discrec`, `./target/release/discrec`.
fn is_discrec(word: &str) -> bool {
    matches!(word.rsplit('/').next(), Some("discrec" | "discrec-cluster"))
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=')
        .is_some_and(|(name, _)| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// Check the command lines of one piece of code; problems go to `bad`.
fn check_code(text: &str, g: &Grammar, option_doc: bool, bad: &mut Vec<String>) {
    let toks = lex(text);
    for command in toks.split(|t| matches!(t, Tok::Sep)) {
        // A quoted command line of its own (`sh -c 'discrec burn F SRC'`).
        for t in command {
            if let Tok::Quoted(q) = t {
                if q.trim_start().starts_with("discrec ") {
                    check_code(q, g, option_doc, bad);
                }
            }
        }
        let mut words = command.iter().map(|t| match t {
            Tok::Word(w) => w.as_str(),
            _ => "\"",
        });
        let mut after_sudo = false;
        let first = loop {
            match words.next() {
                None => break None,
                Some(w @ ("sudo" | "env")) => after_sudo = w == "sudo" || after_sudo,
                Some("exec" | "time" | "nohup" | "then" | "do" | "!") => {}
                Some(w) if is_assignment(w) || (after_sudo && w.starts_with('-')) => {}
                Some(w) => break Some(w),
            }
        };
        let Some(first) = first else { continue };
        let rest: Vec<&str> = words.collect();
        if is_discrec(first) {
            let (options, sub) = match rest.first() {
                Some(s) if s.starts_with(|c: char| c.is_ascii_lowercase()) => match g.subcommands.get(*s) {
                    Some(opts) => (opts.clone(), Some(*s)),
                    None => {
                        bad.push(format!("`discrec {s}`: there is no subcommand {s}"));
                        continue;
                    }
                },
                Some(s) if s.starts_with('-') => (g.top.clone(), None),
                _ => (g.all_options(), None),
            };
            let args = if sub.is_some() { &rest[1..] } else { &rest[..] };
            for w in args {
                for o in options_in(w) {
                    if !options.contains(&o) {
                        match sub {
                            Some(s) => bad.push(format!("`discrec {s}` has no option --{o}")),
                            None => bad.push(format!("discrec has no option --{o}")),
                        }
                    }
                }
            }
        } else if option_doc && !first.starts_with(|c: char| c.is_ascii_lowercase() || c == '.' || c == '/') {
            // Not another program: options here are discrec's.
            let all = g.all_options();
            for w in std::iter::once(first).chain(rest) {
                for o in options_in(w) {
                    if !all.contains(&o) {
                        bad.push(format!("no discrec subcommand has the option --{o}"));
                    }
                }
            }
        }
    }
}

/// Error names in any text: whole words `E_...` or `ERROR_...`, also
/// after the C prefix `DISCREC_`.
fn check_error_names(text: &str, known: &BTreeSet<String>, bad: &mut Vec<String>) {
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        let name = word.strip_prefix("DISCREC_").unwrap_or(word);
        let tail = |p: &str| name.strip_prefix(p).filter(|t| !t.is_empty() && !t.ends_with('_'));
        let e = tail("E_").is_some_and(|t| t.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'));
        let error = tail("ERROR_").is_some_and(|t| t.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
        if (e || error) && !known.contains(name) {
            bad.push(format!("{word}: discrec has no error {name}"));
        }
    }
}

/// Languages of code blocks that hold command lines.
fn is_shell(lang: &str) -> bool {
    matches!(lang, "" | "sh" | "bash" | "shell" | "console" | "text")
}

/// Every problem of one document, as `FILE:LINE: what`.
fn problems(path: &str, text: &str, g: &Grammar, known: &BTreeSet<String>) -> Vec<String> {
    let option_doc = OPTION_DOCS.contains(&path);
    let all = g.all_options();
    let mut out = Vec::new();
    for p in pieces(text) {
        let mut bad = Vec::new();
        check_error_names(&p.text, known, &mut bad);
        match &p.kind {
            Kind::Span => check_code(&p.text, g, option_doc, &mut bad),
            Kind::Block(lang) if is_shell(lang) => check_code(&p.text, g, option_doc, &mut bad),
            Kind::Block(_) => {}
            Kind::Prose if option_doc => {
                for w in p.text.split_whitespace() {
                    for o in options_in(w) {
                        if !all.contains(&o) {
                            bad.push(format!("no discrec subcommand has the option --{o}"));
                        }
                    }
                }
            }
            Kind::Prose => {}
        }
        out.extend(bad.into_iter().map(|b| format!("{path}:{}: {b}", p.line)));
    }
    out
}

#[test]
fn documents_name_only_commands_options_and_errors_that_exist() {
    let (g, known) = (Grammar::new(), known_error_names());
    let docs = documents();
    assert!(docs.len() >= 8, "README, CONTRIBUTING and docs/*.md: found {}", docs.len());
    let bad: Vec<String> = docs.iter().flat_map(|(p, t)| problems(p, t, &g, &known)).collect();
    assert!(bad.is_empty(), "documents name what does not exist:\n{}", bad.join("\n"));
}

#[test]
fn the_checker_catches_what_does_not_exist() {
    let (g, known) = (Grammar::new(), known_error_names());
    let doc = "Run `discrec frobnicate /dev/sr0`.\n\n\
               ```sh\nsudo discrec lock --no-such-option /dev/sr0 -- sh -c 'discrec owner --nope F'\n```\n\n\
               It fails with E_IMAPI_NOPE, or `DISCREC_ERROR_NOPE`.\n\n\
               Fine: `cargo build --locked`, `flock --no-fork`, E_POINTER, `discrec lock --wait[=SECONDS] F`.\n";
    let found = problems("docs/x.md", doc, &g, &known);
    let expect = [
        "docs/x.md:1: `discrec frobnicate`",
        "docs/x.md:4: `discrec lock` has no option --no-such-option",
        "docs/x.md:4: `discrec owner` has no option --nope",
        "docs/x.md:7: E_IMAPI_NOPE",
        "docs/x.md:7: DISCREC_ERROR_NOPE",
    ];
    for e in expect {
        assert!(found.iter().any(|f| f.starts_with(e)), "{e} not reported; reported:\n{}", found.join("\n"));
    }
    assert_eq!(found.len(), expect.len(), "reported:\n{}", found.join("\n"));
    // In a document about commands, a lone option is discrec's.
    let found = problems("docs/cli.md", "Give `--no-such-option` or --nor-this.\n", &g, &known);
    assert_eq!(found.len(), 2, "reported:\n{}", found.join("\n"));
}

#[test]
fn every_subcommand_and_option_is_in_the_cli_document() {
    let g = Grammar::new();
    let cli = std::fs::read_to_string(root().join("docs/cli.md")).unwrap();
    let mut missing = Vec::new();
    for (sub, options) in g.subcommands.iter().filter(|(s, _)| *s != "help") {
        if !cli.contains(&format!("discrec {sub}")) {
            missing.push(format!("discrec {sub}"));
        }
        missing.extend(options.iter().filter(|o| !options_in_text(&cli).contains(*o)).map(|o| format!("{sub} --{o}")));
    }
    assert!(missing.is_empty(), "docs/cli.md does not mention: {}", missing.join(", "));
}

fn options_in_text(text: &str) -> BTreeSet<String> {
    text.split_whitespace().flat_map(|w| options_in(w.trim_matches('`'))).collect()
}

#[test]
fn every_code_block_says_its_language() {
    let mut bad = Vec::new();
    for (path, text) in documents() {
        let mut open = false;
        for (i, line) in text.lines().enumerate() {
            if let Some(info) = line.trim_start().strip_prefix("```") {
                if !open && info.trim().is_empty() {
                    bad.push(format!("{path}:{}: a code block without a language (rustdoc takes it for Rust)", i + 1));
                }
                open = !open;
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn every_document_with_rust_examples_is_a_doctest() {
    let lib = std::fs::read_to_string(root().join("crates/discrec/src/lib.rs")).unwrap();
    let mut missing = Vec::new();
    for (path, text) in documents() {
        let has_rust = text.lines().any(|l| l.trim_start().strip_prefix("```").is_some_and(|i| i.starts_with("rust")));
        if has_rust && !lib.contains(&format!("include_str!(\"../../../{path}\")")) {
            missing.push(path);
        }
    }
    assert!(
        missing.is_empty(),
        "Rust blocks not compiled as doctests (add a #[cfg(doctest)] struct with \
         #[doc = include_str!(..)] at the end of crates/discrec/src/lib.rs): {}",
        missing.join(", ")
    );
}

/// scripts/bare-machine-check runs the line after the first ```sh after
/// **See it work**, and expects it to print what the line starting
/// "prints `" says (both found with awk, as here).
#[test]
fn the_readme_first_command_is_where_bare_machine_check_reads_it() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    let see = lines.iter().position(|l| l.starts_with("**See it work**")).expect("no **See it work** in README.md");
    let sh = see + lines[see..].iter().position(|l| *l == "```sh").expect("no ```sh block after **See it work**");
    let first = lines[sh + 1];
    let prints = lines[see..].iter().find_map(|l| l.strip_prefix("prints `")).expect("no line starting \"prints `\"");
    let expect = prints.split('`').next().unwrap();
    assert!(first.starts_with("cargo build --release && "), "the first command: {first}");
    assert!(first.contains(&format!("--client \"{expect}\"")), "{first} does not print {expect}");
    assert!(Path::new(&root().join("scripts/bare-machine-check")).exists());
}
