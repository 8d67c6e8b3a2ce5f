//! Mounts of a drive: found in `mountinfo` of every mount namespace we can
//! see, and removed for `force` (spec C2, C3). Unmounting never detaches
//! lazily: a busy file system stays mounted and is reported, so no written
//! data is ever lost.

use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;

use rustix::mount::UnmountFlags;

/// One mount of the drive.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mount {
    /// Where it is mounted, as seen in its namespace.
    #[serde(serialize_with = "crate::jsonpath::serialize")]
    pub mount_point: PathBuf,
    /// File system type.
    pub fs_type: String,
    /// A pid in the mount namespace, when it is not ours.
    pub namespace_pid: Option<i32>,
    /// That process's command name.
    pub namespace_command: Option<String>,
}

impl std::fmt::Display for Mount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.mount_point.display())?;
        if let Some(p) = self.namespace_pid {
            let who = crate::procfs::proc_label(Some(p), self.namespace_command.as_deref());
            write!(f, " (in the mount namespace of {who})")?;
        }
        Ok(())
    }
}

impl Mount {
    /// The text form ([`Display`](std::fmt::Display)) with the mount point
    /// written as every path in JSON is ([`crate::jsonpath`]).
    pub fn json_text(&self) -> String {
        let text = self.to_string();
        match text.strip_prefix(&self.mount_point.display().to_string()) {
            Some(rest) => format!("{}{rest}", crate::jsonpath::encode(&self.mount_point)),
            None => text,
        }
    }

    /// For `#[serde(serialize_with)]`: mounts as a list of their
    /// [`Mount::json_text`], as `status --json` shows them.
    pub fn serialize_as_text<S: serde::Serializer>(mounts: &[Mount], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(mounts.iter().map(Mount::json_text))
    }
}

/// Parse `mountinfo` text and keep mounts of the given devices.
pub fn parse_mountinfo(text: &str, devs: &[(u32, u32)]) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        // 36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw
        let mut f = line.split(' ');
        let (Some(_id), Some(_parent), Some(mm), Some(_root), Some(mp)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let Some(mm) = crate::key::parse_maj_min(mm) else {
            continue;
        };
        if !devs.contains(&mm) {
            continue;
        }
        let fs_type = line.split(" - ").nth(1).and_then(|t| t.split(' ').next()).unwrap_or("").to_string();
        out.push((PathBuf::from(unescape(mp)), fs_type));
    }
    out
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`. An octal
/// escape above `\377` is no byte (and nothing the kernel writes): it stays
/// as literal text.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = (b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)))
            .then(|| b[i + 1..i + 4].iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0')))
            .and_then(|v| u8::try_from(v).ok());
        match octal {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn ns_inode(pid: &str) -> Option<u64> {
    rustix::fs::stat(format!("/proc/{pid}/ns/mnt").as_str()).ok().map(|s| s.st_ino)
}

/// Every mount of `devs` in every mount namespace we can see: ours first,
/// then one pid per other namespace.
pub fn mounts_of(devs: &[(u32, u32)]) -> Vec<Mount> {
    let mut out: Vec<Mount> = fs::read_to_string("/proc/self/mountinfo")
        .map(|t| parse_mountinfo(&t, devs))
        .unwrap_or_default()
        .into_iter()
        .map(|(mount_point, fs_type)| Mount { mount_point, fs_type, namespace_pid: None, namespace_command: None })
        .collect();
    let mut seen: HashSet<u64> = ns_inode("self").into_iter().collect();
    if let Ok(procs) = fs::read_dir("/proc") {
        for p in procs.flatten() {
            let name = p.file_name();
            let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Some(ns) = ns_inode(&pid.to_string()) else {
                continue;
            };
            if !seen.insert(ns) {
                continue;
            }
            if let Ok(t) = fs::read_to_string(format!("/proc/{pid}/mountinfo")) {
                let command = crate::procfs::command_of(pid);
                out.extend(parse_mountinfo(&t, devs).into_iter().map(|(mount_point, fs_type)| Mount {
                    mount_point,
                    fs_type,
                    namespace_pid: Some(pid),
                    namespace_command: command.clone(),
                }));
            }
        }
    }
    out
}

/// Unmount one mount (in its own namespace). Never lazy: `EBUSY` comes back
/// as an error and the file system stays mounted, data intact.
pub fn unmount(m: &Mount) -> std::io::Result<()> {
    let path = m.mount_point.clone();
    match m.namespace_pid {
        None => rustix::mount::unmount(&path, UnmountFlags::empty()).map_err(Into::into),
        Some(pid) => {
            let ns = fs::File::open(format!("/proc/{pid}/ns/mnt"))?;
            crate::sys::in_mount_namespace(ns, move || {
                rustix::mount::unmount(&path, UnmountFlags::empty()).map_err(Into::into)
            })
        }
    }
}

/// Unmount every mount of the drive, innermost first. Returns the mounts
/// whose unmount failed, with the reason. An error does not tell whether
/// the mount is still there (`EINVAL`: gone already through a shared peer,
/// or a locked copy in another user namespace that stays): callers look
/// again with [`mounts_of`].
pub fn unmount_all(devs: &[(u32, u32)]) -> Vec<(Mount, std::io::Error)> {
    let mut failed = Vec::new();
    let mut mounts = mounts_of(devs);
    // Deeper paths first, so stacked mounts come off in order.
    mounts.sort_by_key(|m| std::cmp::Reverse(m.mount_point.components().count()));
    for m in mounts {
        if let Err(e) = unmount(&m) {
            failed.push((m, e));
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mounts_of_device_and_unescapes() {
        let t = "22 1 7:0 / /mnt/my\\040disc rw,relatime shared:1 - ext4 /dev/loop0 rw\n\
                 23 1 7:1 / /mnt/other rw - ext2 /dev/loop1 rw\n\
                 24 1 7:2 / /mnt/part rw - iso9660 /dev/loop0p1 ro\n";
        let m = parse_mountinfo(t, &[(7, 0), (7, 2)]);
        assert_eq!(
            m,
            vec![(PathBuf::from("/mnt/my disc"), "ext4".into()), (PathBuf::from("/mnt/part"), "iso9660".into())]
        );
    }

    #[test]
    fn octal_escape_above_377_is_kept_as_text() {
        // \777 does not fit a byte: it is not an escape the kernel writes,
        // so it stays literal text instead of wrapping (or overflowing).
        assert_eq!(unescape("/mnt/a\\777b"), "/mnt/a\\777b");
        assert_eq!(unescape("/mnt/\\400"), "/mnt/\\400");
        assert_eq!(unescape("/mnt/\\377"), "/mnt/\u{fffd}");
        assert_eq!(unescape("/mnt/x\\134y\\040z"), "/mnt/x\\y z");
    }
}
