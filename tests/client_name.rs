//! Spec C4: client-name rules, checked before the device is touched.

mod common;

use discrec::client_name::validate;
use discrec::{Error, Recorder};

fn rejected(name: &str) -> String {
    match validate(name) {
        Err(Error::InvalidArgument(m)) => m,
        other => panic!("{name:?} should be rejected, got {other:?}"),
    }
}

#[test]
fn table() {
    // Accepted.
    for ok in ["a", "My Burner", "A.b,c:d;e_f-g h", &"x".repeat(63), "0123456789"] {
        assert!(validate(ok).is_ok(), "{ok:?} should be accepted");
    }
    for p in [".", ",", ":", ";", "_", "-", " "] {
        assert!(validate(&format!("a{p}b")).is_ok(), "punctuation {p:?} is allowed");
    }
    // Rejected, and the message says which rule and where.
    assert!(rejected("").contains("empty"));
    assert!(rejected(&"x".repeat(64)).contains("64 characters long; at most 63"));
    let m = rejected("ab/c");
    assert!(m.contains("'/'") && m.contains("character 3"), "{m}");
    assert!(rejected("a\\b").contains("character 2"));
    assert!(rejected("a\tb").contains("U+0009"));
    assert!(rejected("a\0b").contains("U+0000"));
    let m = rejected("Brasero Ä");
    assert!(m.contains("'Ä'") && m.contains("character 9"), "{m}");
    assert!(rejected("burn 🔥").contains("U+1F525"));
    for bad in ["a/b", "a\\b", "a\tb", "a\0b", "é", "名前", "a\nb", "a'b", "a\"b", "a*b", "a@b", "a(b)"] {
        rejected(bad);
    }
    // 63 allowed characters, but multi-byte elsewhere: length counts characters.
    assert!(rejected(&format!("{}é", "x".repeat(62))).contains("'é'"));
}

#[test]
fn bad_name_touches_nothing() {
    let s = common::Scratch::new();
    let img = s.image("rec.iso");
    let mut r = Recorder::open_in(&img, &s.run).unwrap();
    let e = r.acquire_exclusive_access(false, "no/slash").unwrap_err();
    assert_eq!((e.name(), e.code(), e.exit_code()), ("E_INVALIDARG", 0x8007_0057, 2));
    assert_eq!(r.lock_count(), 0);
    assert!(r.exclusive_access_owner().unwrap().is_none(), "a rejected name must not lock");
    assert_eq!(std::fs::read_dir(&s.run).unwrap().count(), 0, "no record written");
}

#[test]
fn cli_reports_the_rule() {
    let s = common::Scratch::new();
    let img = s.image("rec.iso");
    let o = s.discrec().args(["lock", "--client", "bad\tname"]).arg(&img).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("discrec: ") && err.contains("U+0009") && err.trim_end().ends_with("(E_INVALIDARG 0x80070057)"),
        "{err}"
    );
}
