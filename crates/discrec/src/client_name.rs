//! Client names (spec C4): the friendly name an application gives when it
//! acquires a recorder, validated by the rules of the Windows exclusive-access
//! IOCTL before anything touches the device.

use crate::error::{Error, Result};

/// Longest client name, in characters (64 bytes with the terminator).
pub const MAX_LEN: usize = 63;

/// True for the characters the rules allow: `A-Z a-z 0-9`, space and `. , : ; _ -`.
pub fn is_allowed_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | ',' | ':' | ';' | '_' | '-')
}

/// Check a client name; the error says which rule failed and at which character.
pub fn validate(name: &str) -> Result<()> {
    // Fast path: one pass over bytes; every allowed character is one byte.
    let bytes = name.as_bytes();
    if !bytes.is_empty() && bytes.len() <= MAX_LEN && bytes.iter().all(|&b| is_allowed_char(b as char)) {
        return Ok(());
    }
    if name.is_empty() {
        return Err(Error::InvalidArgument(
            "the client name is empty; give the application's friendly name, e.g. \"My Burner\"".into(),
        ));
    }
    for (i, c) in name.chars().enumerate() {
        if !is_allowed_char(c) {
            return Err(Error::InvalidArgument(format!(
                "the client name has {} at character {}; only A-Z a-z 0-9, space and . , : ; _ - are allowed",
                describe_char(c),
                i + 1
            )));
        }
    }
    let n = name.chars().count();
    Err(Error::InvalidArgument(format!("the client name is {n} characters long; at most {MAX_LEN} are allowed")))
}

fn describe_char(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        format!("{} (U+{:04X})", c.escape_default(), c as u32)
    } else {
        format!("'{c}' (U+{:04X})", c as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

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
}
