//! Paths in JSON. A Linux path is bytes, a JSON string is Unicode: this is
//! the one reversible way discrec writes the first as the second.
//!
//! A path is a JSON string. Its bytes that form valid UTF-8 are written as
//! themselves, except the backslash, which is doubled (`\\`); each byte
//! that is not part of valid UTF-8 is written as `\xHH` (two lowercase hex
//! digits). So every UTF-8 path without a backslash appears exactly as it
//! is, and [`decode`] gives back the original bytes of any path:
//!
//! ```
//! use std::ffi::OsStr;
//! use std::os::unix::ffi::OsStrExt;
//! use std::path::Path;
//! use discrec::jsonpath::{decode, encode};
//!
//! assert_eq!(encode(Path::new("/dev/sr0")), "/dev/sr0");
//! assert_eq!(encode(Path::new(r"C:\disc")), r"C:\\disc");
//! let odd = Path::new(OsStr::from_bytes(b"/tmp/disc\xff.img"));
//! assert_eq!(encode(odd), r"/tmp/disc\xff.img");
//! assert_eq!(decode(r"/tmp/disc\xff.img").as_deref(), Some(odd));
//! ```

use std::borrow::Cow;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The JSON text of a path (see the module docs).
pub fn encode(path: &Path) -> Cow<'_, str> {
    let bytes = path.as_os_str().as_bytes();
    if let Ok(s) = std::str::from_utf8(bytes) {
        if !s.contains('\\') {
            return Cow::Borrowed(s);
        }
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    Cow::Owned(out)
}

/// The path that [`encode`] wrote as `text`; `None` when `text` has a
/// backslash that is neither `\\` nor `\xHH`.
pub fn decode(text: &str) -> Option<PathBuf> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match b.get(i + 1)? {
            b'\\' => {
                out.push(b'\\');
                i += 2;
            }
            b'x' => {
                let hex = std::str::from_utf8(b.get(i + 2..i + 4)?).ok()?;
                if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 4;
            }
            _ => return None,
        }
    }
    Some(PathBuf::from(OsString::from_vec(out)))
}

/// A path as a JSON value (a string, see the module docs).
pub fn value(path: &Path) -> serde_json::Value {
    serde_json::Value::String(encode(path).into_owned())
}

/// For `#[serde(serialize_with = "discrec::jsonpath::serialize")]` on a
/// path field: writes it as [`encode`] does, so a path that is not UTF-8
/// serializes instead of failing.
pub fn serialize<P: AsRef<Path>, S: serde::Serializer>(path: &P, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&encode(path.as_ref()))
}

/// [`serialize`] for an optional path: `null` when absent.
pub fn serialize_option<P: AsRef<Path>, S: serde::Serializer>(path: &Option<P>, s: S) -> Result<S::Ok, S::Error> {
    match path {
        Some(p) => s.serialize_some(&encode(p.as_ref())),
        None => s.serialize_none(),
    }
}

/// [`serialize`] for a list of paths.
pub fn serialize_all<P: AsRef<Path>, S: serde::Serializer>(paths: &[P], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(paths.iter().map(|p| encode(p.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::ffi::OsStr;

    fn p(b: &[u8]) -> &Path {
        Path::new(OsStr::from_bytes(b))
    }

    #[test]
    fn utf8_paths_without_backslash_are_as_is() {
        assert!(matches!(encode(p(b"/dev/disk/by-id/ata-Disc_Burner")), Cow::Borrowed(_)));
        assert_eq!(encode(p("/media/Überträger ✓".as_bytes())), "/media/Überträger ✓");
    }

    #[test]
    fn invalid_bytes_and_backslashes_are_escaped() {
        assert_eq!(encode(p(b"/tmp/\xff\xfe")), r"/tmp/\xff\xfe");
        assert_eq!(encode(p(b"/tmp/a\\xff")), r"/tmp/a\\xff");
        assert_eq!(encode(p(b"/tmp/\xc3")), r"/tmp/\xc3");
        assert_eq!(encode(p(b"\xe2\x9c\x93\xe2\x9c")), r"✓\xe2\x9c");
    }

    #[test]
    fn decode_refuses_what_encode_never_writes() {
        for bad in [r"\", r"\n", r"\x", r"\xf", r"\xzz", r"\xé0"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
        assert_eq!(decode(r"\xFF").as_deref(), Some(p(b"\xff")));
    }

    #[test]
    fn serializes_through_serde() {
        #[derive(serde::Serialize)]
        struct S {
            #[serde(serialize_with = "serialize")]
            target: PathBuf,
        }
        let v = serde_json::to_string(&S { target: p(b"/x\xff\\").to_path_buf() }).unwrap();
        assert_eq!(v, r#"{"target":"/x\\xff\\\\"}"#);
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let path = p(&bytes);
            let back = decode(&encode(path));
            prop_assert_eq!(back.as_deref(), Some(path));
        }

        #[test]
        fn utf8_without_backslash_is_unchanged(s in "[^\\\\]{0,32}") {
            prop_assert_eq!(encode(Path::new(&s)), s.as_str());
        }
    }
}
