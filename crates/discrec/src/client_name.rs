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
