//! Names in the two trees. ISO 9660 identifiers are d-characters
//! (`A-Z 0-9 _`), at most 30 characters with the extension, `;1` after a
//! file's; readers with Rock Ridge show the real name instead. Joliet
//! identifiers are UCS-2, at most 64 characters, and are what Windows
//! shows: a long name keeps its extension, and names stay unique in their
//! directory without regard to case (Windows ignores it).

use std::collections::{HashMap, HashSet};

/// Most characters of an ISO 9660 identifier, extension included (ISO
/// 9660:1999 allows 207; 30 keeps level 2 readers happy).
const ISO_MAX: usize = 30;
/// Most UCS-2 characters of a Joliet identifier.
pub const JOLIET_MAX: usize = 64;

fn d_char(c: char) -> char {
    match c.to_ascii_uppercase() {
        c @ ('A'..='Z' | '0'..='9' | '_') => c,
        _ => '_',
    }
}

/// Split at the last dot (not a leading one): (stem, extension without dot).
fn split_ext(name: &str) -> (&str, Option<&str>) {
    match name.rfind('.') {
        Some(i) if i > 0 && i + 1 < name.len() => (&name[..i], Some(&name[i + 1..])),
        _ => (name, None),
    }
}

/// Make `stem` + `ext` fit `max` characters with `MARK` and `n` appended
/// to the stem when `n` > 0, keeping the extension whole when it is short
/// (at most `max / 4` characters), shortened otherwise.
fn fit(stem: &[char], ext: &[char], n: usize, max: usize, mark: char) -> Vec<char> {
    let suffix: Vec<char> = if n == 0 { Vec::new() } else { format!("{mark}{n}").chars().collect() };
    let ext_keep = ext.len().min((max / 4).max(3));
    let ext = &ext[..ext_keep];
    let dot = usize::from(!ext.is_empty());
    let room = max.saturating_sub(ext.len() + dot + suffix.len()).max(1);
    let mut out: Vec<char> = stem.iter().take(room).copied().collect();
    out.extend(suffix);
    if !ext.is_empty() {
        out.push('.');
        out.extend_from_slice(ext);
    }
    out
}

/// Unique names for one directory's entries, from their real names, in
/// the same order. `key` says when two names collide. Each shortened form
/// remembers the next number to try, so a directory of 100,000 names that
/// agree in their first 26 characters costs linear time, not quadratic.
fn unique(
    names: &[(String, bool)],
    max: usize,
    mark: char,
    map: impl Fn(char) -> char,
    key: impl Fn(&[char]) -> String,
) -> Vec<Vec<char>> {
    let mut taken: HashSet<String> = HashSet::new();
    let mut next: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(names.len());
    for (name, is_dir) in names {
        let (stem, ext) = if *is_dir { (name.as_str(), None) } else { split_ext(name) };
        let stem: Vec<char> = stem.chars().map(&map).collect();
        let ext: Vec<char> = ext.map(|e| e.chars().map(&map).collect()).unwrap_or_default();
        let base = key(&fit(&stem, &ext, 0, max, mark));
        let mut n = next.get(&base).copied().unwrap_or(0);
        loop {
            let candidate = fit(&stem, &ext, n, max, mark);
            if taken.insert(key(&candidate)) {
                out.push(candidate);
                next.insert(base, n + 1);
                break;
            }
            n += 1;
        }
    }
    out
}

/// ISO 9660 identifiers for a directory's entries: `(real name, is a
/// directory)` in, identifiers out, in order. A file's has its `.` (also
/// without an extension, as ECMA-119 7.5 asks) and `;1`; a number that
/// makes a name unique follows `_`, a d-character.
pub fn iso_names(names: &[(String, bool)]) -> Vec<String> {
    unique(names, ISO_MAX, '_', d_char, |c| c.iter().collect())
        .into_iter()
        .zip(names)
        .map(|(c, (_, is_dir))| {
            let id: String = c.into_iter().collect();
            match (is_dir, id.contains('.')) {
                (true, _) => id,
                (false, true) => format!("{id};1"),
                (false, false) => format!("{id}.;1"),
            }
        })
        .collect()
}

/// The order of ISO 9660 directory records (ECMA-119 9.3): by name, then
/// extension, each as if padded with spaces (so `A.;1` comes before
/// `A0.;1`), then version.
pub fn iso_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let parts = |id: &[u8]| -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (name_ext, version) = match id.iter().position(|&c| c == b';') {
            Some(i) => (&id[..i], id[i + 1..].to_vec()),
            None => (id, Vec::new()),
        };
        match name_ext.iter().position(|&c| c == b'.') {
            Some(i) => (name_ext[..i].to_vec(), name_ext[i + 1..].to_vec(), version),
            None => (name_ext.to_vec(), Vec::new(), version),
        }
    };
    let padded = |x: &[u8], y: &[u8]| {
        let n = x.len().max(y.len());
        let pad = |v: &[u8]| v.iter().copied().chain(std::iter::repeat(b' ')).take(n).collect::<Vec<u8>>();
        pad(x).cmp(&pad(y))
    };
    let (an, ae, av) = parts(a);
    let (bn, be, bv) = parts(b);
    padded(&an, &bn).then_with(|| padded(&ae, &be)).then_with(|| bv.cmp(&av))
}

/// A character Joliet can hold: UCS-2 (no characters beyond the BMP, no
/// surrogates) and none of `* / : ; ? \`, which Joliet forbids.
fn joliet_char(c: char) -> char {
    if (c as u32) > 0xFFFF || matches!(c, '*' | '/' | ':' | ';' | '?' | '\\') || (c as u32) < 0x20 {
        '_'
    } else {
        c
    }
}

/// Joliet identifiers for a directory's entries, as UCS-2 code units.
pub fn joliet_names(names: &[(String, bool)]) -> Vec<Vec<u16>> {
    unique(names, JOLIET_MAX, '~', joliet_char, |c| c.iter().collect::<String>().to_lowercase())
        .into_iter()
        .map(|c| c.into_iter().map(|ch| ch as u32 as u16).collect())
        .collect()
}

/// A Joliet volume identifier: at most 16 UCS-2 characters that Joliet
/// allows (none cut in half).
pub fn joliet_volume_id(name: &str) -> String {
    name.chars().map(joliet_char).take(16).collect()
}

/// A volume identifier in d-characters, at most 32.
pub fn volume_id(name: &str) -> String {
    let id: String = name.chars().map(d_char).take(32).collect();
    if id.is_empty() {
        "CDROM".into()
    } else {
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(names: &[&str]) -> Vec<(String, bool)> {
        names.iter().map(|n| (n.to_string(), false)).collect()
    }

    #[test]
    fn joliet_keeps_extensions_and_stays_unique_without_case() {
        let long = "a".repeat(100);
        let names = files(&[&format!("{long}1.jpeg"), &format!("{long}2.jpeg"), "Readme.TXT", "README.txt"]);
        let j: Vec<String> = joliet_names(&names).iter().map(|u| String::from_utf16(u).unwrap()).collect();
        assert!(j.iter().all(|n| n.chars().count() <= JOLIET_MAX), "{j:?}");
        assert!(j[0].ends_with(".jpeg") && j[1].ends_with(".jpeg"), "{j:?}");
        assert_ne!(j[0], j[1]);
        assert_eq!(j[2], "Readme.TXT");
        assert!(j[3].to_lowercase() != j[2].to_lowercase() && j[3].ends_with(".txt"), "{j:?}");
        // Characters Joliet cannot hold.
        let odd = joliet_names(&files(&["a:b?c.txt", "emoji\u{1F600}.txt"]));
        assert_eq!(String::from_utf16(&odd[0]).unwrap(), "a_b_c.txt");
        assert_eq!(String::from_utf16(&odd[1]).unwrap(), "emoji_.txt");
    }

    #[test]
    fn iso_names_are_d_characters_and_unique() {
        let i = iso_names(&files(&["hello world.txt", "Hello-World.txt", "x.tar.gz", ".hidden", "README"]));
        assert_eq!(i[0], "HELLO_WORLD.TXT;1");
        assert_eq!(i[1], "HELLO_WORLD_1.TXT;1");
        assert_eq!(i[2], "X_TAR.GZ;1");
        assert_eq!(i[3], "_HIDDEN.;1");
        assert_eq!(i[4], "README.;1");
        assert!(iso_names(&files(&[&"z".repeat(80)]))[0].len() <= ISO_MAX + 3);
        let mut ids = vec!["A0.;1", "A.;1", "A.B;1"];
        ids.sort_by(|a, b| iso_order(a.as_bytes(), b.as_bytes()));
        assert_eq!(ids, ["A.;1", "A.B;1", "A0.;1"]);
    }

    #[test]
    fn many_names_with_one_prefix_cost_linear_time() {
        let names: Vec<(String, bool)> =
            (0..50_000).map(|i| (format!("IMG_20240101_holiday_in_the_mountains_{i:05}.jpg"), false)).collect();
        let t = std::time::Instant::now();
        let iso = iso_names(&names);
        let jol = joliet_names(&names);
        assert_eq!(iso.iter().collect::<HashSet<_>>().len(), 50_000);
        assert_eq!(jol.iter().collect::<HashSet<_>>().len(), 50_000);
        assert!(t.elapsed() < std::time::Duration::from_secs(5), "{:?}", t.elapsed());
    }
}
