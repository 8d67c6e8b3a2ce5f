//! The command line's hygiene: a reader that goes away, usage errors, one
//! report per failure, JSON for paths that are not UTF-8, and `--json` for
//! the drive commands. Real `discrec` processes on image files.

mod common;

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::process::{Output, Stdio};

use common::{Scratch, DISCREC};

const INVALIDARG: &str = "(E_INVALIDARG 0x80070057)";

fn stderr_lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr).lines().map(str::to_string).collect()
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(o.stdout.clone())
        .expect("JSON output is UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// A stdout whose reader is already gone: every write fails with EPIPE,
/// as behind `| head -c0` once head has exited. (A socket, so that the
/// reader is closed before the child runs: no race with its first write.)
fn closed_stdout() -> Stdio {
    let (reader, writer) = UnixStream::pair().unwrap();
    drop(reader);
    Stdio::from(OwnedFd::from(writer))
}

#[test]
fn closed_stdout_ends_output_quietly() {
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let many: Vec<_> = std::iter::repeat_n(&img, 50).collect();
    for args in [&["status"][..], &["status", "--json"][..], &["owner", "--json"][..], &["--help"][..]] {
        let mut c = s.discrec();
        c.args(args);
        if args[0] != "--help" {
            if args[0] == "status" {
                c.args(&many);
            } else {
                c.arg(&img);
            }
        }
        let o = c.stdout(closed_stdout()).stderr(Stdio::piped()).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_ne!(o.status.code(), Some(101), "{args:?}: {err}");
        // Exactly as if the output had been read: success for status and
        // help, "free" (1) for owner, and nothing on stderr.
        let want = if args[0] == "owner" { 1 } else { 0 };
        assert_eq!(o.status.code(), Some(want), "{args:?}: {err}");
        assert_eq!(err, "", "{args:?}");
    }
}

#[test]
fn closed_stdout_keeps_the_exit_code_of_a_failed_target() {
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let missing = s.dir.path().join("missing.iso");
    let o = s.discrec().arg("status").args([&img, &missing, &img]).stdout(closed_stdout()).output().unwrap();
    assert_eq!(o.status.code(), Some(6));
    assert_eq!(stderr_lines(&o).len(), 1, "{:?}", stderr_lines(&o));
}

#[test]
fn usage_errors_are_e_invalidarg_on_one_line_with_exit_2() {
    for args in [
        &["status", "--bogus", "x"][..],
        &["status", "--jsn", "x"][..],
        &["tray", "bogus", "x"][..],
        &["lock"][..],
        &["lock", "--client"][..],
        &["owner", "a", "b"][..],
        &["frobnicate"][..],
        &["--bogus"][..],
        &[][..],
    ] {
        let o = std::process::Command::new(DISCREC).args(args).output().unwrap();
        let lines = stderr_lines(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {lines:?}");
        assert!(o.stdout.is_empty(), "{args:?}");
        assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
        assert!(lines[0].starts_with("discrec: ") && lines[0].ends_with(INVALIDARG), "{args:?}: {}", lines[0]);
        assert!(lines[0].contains("--help`"), "{args:?}: says where to look: {}", lines[0]);
        assert!(!lines[0].contains("error:") && !lines[0].contains("Usage:"), "{args:?}: {}", lines[0]);
    }
    // The subcommand's own help is named, and clap's tips are kept.
    let o = std::process::Command::new(DISCREC).args(["status", "--jsn", "x"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("'--jsn'") && err.contains("'--json'") && err.contains("`discrec status --help`"), "{err}");

    // Help and version are no errors: stdout, exit 0.
    for args in [&["--help"][..], &["--version"][..], &["status", "--help"][..], &["help", "tray"][..]] {
        let o = std::process::Command::new(DISCREC).args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert!(!o.stdout.is_empty() && o.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn status_reports_a_missing_target_once() {
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let missing = s.dir.path().join("missing.iso");

    let o = s.discrec().arg("status").arg(&missing).output().unwrap();
    assert_eq!(o.status.code(), Some(6));
    let lines = stderr_lines(&o);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].ends_with("(ERROR_DEV_NOT_EXIST 0x00000037)") && lines[0].contains("`discrec list`"), "{lines:?}");
    assert!(o.stdout.is_empty());

    // The other targets still go; the exit code is the failure's.
    let o = s.discrec().arg("status").args([&img, &missing, &img]).output().unwrap();
    assert_eq!(o.status.code(), Some(6));
    assert_eq!(stderr_lines(&o).len(), 1, "{:?}", stderr_lines(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.ends_with(": free")).count(), 2);

    // --json: one line per target, each naming it; the failure as a line
    // too, and still once on stderr.
    let o = s.discrec().args(["status", "--json"]).args([&img, &missing, &img]).output().unwrap();
    assert_eq!(o.status.code(), Some(6));
    assert_eq!(stderr_lines(&o).len(), 1, "{:?}", stderr_lines(&o));
    let v = json_lines(&o);
    assert_eq!(v.len(), 3);
    for (line, t) in v.iter().zip([&img, &missing, &img]) {
        assert_eq!(line["target"].as_str(), t.to_str(), "{line}");
    }
    assert_eq!(v[0]["locked"], false);
    assert_eq!(v[1]["error"]["name"], "ERROR_DEV_NOT_EXIST");
    assert_eq!(v[1]["error"]["code"], 55);
    assert!(v[1]["error"]["message"].as_str().unwrap().contains("does not exist"), "{}", v[1]);
}

#[test]
fn status_json_writes_a_non_utf8_path_escaped_and_complete() {
    let s = Scratch::new();
    let img = s.dir.path().join(OsStr::from_bytes(b"disc\xff\\x41.iso"));
    std::fs::write(&img, vec![0u8; 4096]).unwrap();

    let o = s.discrec().args(["status", "--json"]).arg(&img).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let v = json_lines(&o);
    assert_eq!(v.len(), 1);
    let v = &v[0];
    let want = format!("{}/disc\\xff\\\\x41.iso", s.dir.path().display());
    assert_eq!(v["target"].as_str(), Some(want.as_str()), "{v}");
    assert_eq!(discrec::jsonpath::decode(&want).as_deref(), Some(img.as_path()));
    assert_eq!(v["node"], v["target"], "{v}");
    for field in ["target", "node", "kind", "locked", "owner", "mounts", "other_locks"] {
        assert!(v.get(field).is_some(), "{field} missing: {v}");
    }
    assert_eq!((v["kind"].as_str(), v["locked"].as_bool()), (Some("file"), Some(false)), "{v}");

    // Text output shows it lossily and does not fail.
    let o = s.discrec().arg("status").arg(&img).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("disc\u{fffd}\\x41.iso: free"), "{out}");
}

#[test]
fn drive_commands_on_an_image_are_invalid_arguments_json_or_not() {
    let s = Scratch::new();
    let img = s.image("rec.iso");
    for args in [
        &["eject", "--json"][..],
        &["eject", "--close", "--json"][..],
        &["tray", "lock", "--json"][..],
        &["tray", "unlock", "--json"][..],
        &["eject"][..],
    ] {
        let o = s.discrec().args(args).arg(&img).output().unwrap();
        let lines = stderr_lines(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {lines:?}");
        let out = String::from_utf8_lossy(&o.stdout);
        if args.contains(&"--json") {
            // The failure as a JSON line too, naming the target.
            let v: serde_json::Value =
                serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{args:?}: {out}: {e}"));
            assert_eq!(v["error"]["name"], "E_INVALIDARG", "{args:?}: {v}");
            assert_eq!(v["target"].as_str(), img.to_str(), "{args:?}: {v}");
        } else {
            assert!(out.is_empty(), "{args:?}: no JSON without --json: {out}");
        }
        assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
        assert!(
            lines[0].starts_with("discrec: ") && lines[0].contains("need a drive") && lines[0].ends_with(INVALIDARG),
            "{args:?}: {}",
            lines[0]
        );
    }
    // `info --json` of what does not exist: its error as a JSON line.
    let missing = s.dir.path().join("missing");
    let o = s.discrec().args(["info", "--json"]).arg(&missing).output().unwrap();
    assert_eq!(o.status.code(), Some(6), "{:?}", stderr_lines(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["name"], "ERROR_DEV_NOT_EXIST", "{v}");
    // The same while another client holds the image: still "needs a
    // drive", not "wait for the holder".
    let _holder = s.hold(&img, "Holder");
    let o = s.discrec().args(["eject"]).arg(&img).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{:?}", stderr_lines(&o));
}

#[test]
fn non_utf8_arguments_never_panic() {
    let s = Scratch::new();
    let img = s.dir.path().join(OsStr::from_bytes(b"d\xff.img"));
    std::fs::write(&img, vec![0u8; 4096]).unwrap();
    // Held under a non-UTF-8 path while a command runs, then free.
    let o = s.discrec().arg("lock").arg(&img).args(["--", "true"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    // A usage error next to a non-UTF-8 argument is still E_INVALIDARG.
    let o = s.discrec().args(["status", "--bogus"]).arg(&img).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(INVALIDARG) && !err.contains("panicked"), "{err}");
    // An empty `--` after a non-UTF-8 path is refused, not a panic.
    let o = s.discrec().arg("lock").arg(&img).arg("--").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("`--` is not followed by a command"), "{err}");
}

/// The library's messages name no option of the command line (C and
/// Python programs show them too); the command line adds its own hint.
#[test]
fn library_messages_give_no_cli_advice_and_the_cli_adds_a_hint() {
    let s = Scratch::new();
    let img = s.image("disc.img");
    let mut holder = discrec::Recorder::open_in(&img, &s.run).unwrap();
    holder.acquire_exclusive_access(false, "Holder").unwrap();
    let mut other = discrec::Recorder::open_in(&img, &s.run).unwrap();
    let e = other.acquire_exclusive_access(false, "Other").unwrap_err().to_string();
    assert!(e.contains("\"Holder\"") && !e.contains("discrec lock") && !e.contains("--"), "{e}");
    let e = other.acquire_exclusive_access(false, "").unwrap_err().to_string();
    assert!(!e.contains("--client"), "{e}");
    let o = s.discrec().args(["lock"]).arg(&img).output().unwrap();
    let err = stderr_lines(&o);
    assert_eq!(o.status.code(), Some(5), "{err:?}");
    assert!(err.len() == 2 && err[1].starts_with("discrec: hint: --wait"), "{err:?}");
    // Only where --wait exists: `info` has none, and a wait that ran out
    // did wait.
    let o = s.discrec().args(["info"]).arg(&img).output().unwrap();
    let err = stderr_lines(&o);
    assert_eq!(o.status.code(), Some(5), "{err:?}");
    assert!(!err.iter().any(|l| l.contains("--wait")), "{err:?}");
    let o = s.discrec().args(["lock", "--wait=0.1"]).arg(&img).output().unwrap();
    let err = stderr_lines(&o);
    assert_eq!(o.status.code(), Some(5), "{err:?}");
    assert!(!err.iter().any(|l| l.contains("hint")), "{err:?}");
}

#[test]
fn cli_reports_the_rule() {
    let s = Scratch::new();
    let img = s.image("rec.iso");
    let o = s.discrec().args(["lock", "--client", "bad\tname"]).arg(&img).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("discrec: ") && err.contains("U+0009") && err.trim_end().ends_with("(E_INVALIDARG 0x80070057)"),
        "{err}"
    );
}
