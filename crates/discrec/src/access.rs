//! Who may open a node for reading and writing: owner, group, mode bits
//! and POSIX access ACL, decided as the kernel decides. A lock, a record
//! and a ticket count only from a process that could use the drive.

/// Who may open a node for reading and writing: its owner, group, mode
/// bits and POSIX access ACL (`system.posix_acl_access`, readable by
/// anyone who can reach the node), read once per question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAccess {
    uid: u32,
    gid: u32,
    mode: u32,
    /// (tag, permission bits, id) of each ACL entry; empty without an ACL.
    acl: Vec<(u16, u16, u32)>,
}

const ACL_USER_OBJ: u16 = 0x01;
const ACL_USER: u16 = 0x02;
const ACL_GROUP_OBJ: u16 = 0x04;
const ACL_GROUP: u16 = 0x08;
const ACL_MASK: u16 = 0x10;
const ACL_OTHER: u16 = 0x20;

impl NodeAccess {
    /// The node at `path`, whose `stat` is `st`.
    pub fn of(path: &std::path::Path, st: &rustix::fs::Stat) -> NodeAccess {
        let mut buf = [0u8; 1024];
        let acl = match rustix::fs::getxattr(path, "system.posix_acl_access", &mut buf[..]) {
            Ok(n) => parse_acl(&buf[..n.min(buf.len())]),
            Err(_) => Vec::new(),
        };
        NodeAccess { uid: st.st_uid, gid: st.st_gid, mode: st.st_mode, acl }
    }

    /// Whether a process with these credentials may open the node for
    /// reading and writing, as the kernel decides (POSIX.1e: owner, then
    /// named users, then the owning and named groups, then others; named
    /// entries and groups limited by the mask). Root may.
    pub fn allows_rw(&self, euid: u32, egid: u32, groups: &[u32]) -> bool {
        let rw = |perm: u32| perm & 6 == 6;
        if euid == 0 {
            return true;
        }
        if euid == self.uid {
            return rw(self.mode >> 6);
        }
        let in_group = |g: u32| egid == g || groups.contains(&g);
        if self.acl.is_empty() {
            return if in_group(self.gid) { rw(self.mode >> 3) } else { rw(self.mode) };
        }
        let mask = self.acl.iter().find(|e| e.0 == ACL_MASK).map(|e| u32::from(e.1)).unwrap_or(7);
        if let Some(e) = self.acl.iter().find(|e| e.0 == ACL_USER && e.2 == euid) {
            return rw(u32::from(e.1) & mask);
        }
        let matched: Vec<u32> = self
            .acl
            .iter()
            .filter(|e| (e.0 == ACL_GROUP_OBJ && in_group(self.gid)) || (e.0 == ACL_GROUP && in_group(e.2)))
            .map(|e| u32::from(e.1) & mask)
            .collect();
        if !matched.is_empty() {
            return matched.into_iter().any(rw);
        }
        self.acl.iter().find(|e| e.0 == ACL_OTHER).is_some_and(|e| rw(u32::from(e.1)))
    }

    /// [`NodeAccess::allows_rw`] when the uid alone decides it (root, the
    /// owner, or everyone may, with no ACL); `None` when groups matter.
    pub fn allows_rw_by_uid(&self, euid: u32) -> Option<bool> {
        if euid == 0 {
            return Some(true);
        }
        if euid == self.uid {
            return Some(self.mode & 0o600 == 0o600);
        }
        (self.acl.is_empty() && self.mode & 0o006 == 0o006).then_some(true)
    }
}

/// Parse the `system.posix_acl_access` value: a little-endian version 2
/// header, then 8-byte entries (tag, permissions, id). Anything else is
/// no ACL.
pub fn parse_acl(b: &[u8]) -> Vec<(u16, u16, u32)> {
    if b.len() < 4 || u32::from_le_bytes([b[0], b[1], b[2], b[3]]) != 2 {
        return Vec::new();
    }
    b[4..]
        .chunks_exact(8)
        .map(|e| {
            (
                u16::from_le_bytes([e[0], e[1]]),
                u16::from_le_bytes([e[2], e[3]]),
                u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
            )
        })
        .filter(|e| matches!(e.0, ACL_USER_OBJ | ACL_USER | ACL_GROUP_OBJ | ACL_GROUP | ACL_MASK | ACL_OTHER))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_decides_like_the_kernel() {
        let entry = |tag: u16, perm: u16, id: u32| {
            let mut v = tag.to_le_bytes().to_vec();
            v.extend(perm.to_le_bytes());
            v.extend(id.to_le_bytes());
            v
        };
        // 0666 file of uid 1000 with: user 2000 read only, group 50 rw, mask rw.
        let mut b = 2u32.to_le_bytes().to_vec();
        for e in
            [entry(1, 6, 0), entry(2, 4, 2000), entry(4, 6, 0), entry(8, 6, 50), entry(0x10, 6, 0), entry(0x20, 6, 0)]
        {
            b.extend(e);
        }
        let a = NodeAccess { uid: 1000, gid: 100, mode: 0o100666, acl: parse_acl(&b) };
        assert_eq!(a.acl.len(), 6);
        assert!(a.allows_rw(1000, 1, &[]), "owner");
        assert!(!a.allows_rw(2000, 1, &[]), "a named user with read only, though others may write");
        assert!(a.allows_rw(3000, 50, &[]), "a named group");
        assert!(a.allows_rw(3000, 1, &[100]), "the owning group");
        assert!(a.allows_rw(3000, 1, &[]), "others");
        assert!(a.allows_rw(0, 0, &[]), "root");
        assert_eq!(a.allows_rw_by_uid(2000), None, "an ACL: groups and named users matter");
        // No ACL: the mode bits.
        let m = NodeAccess { uid: 1000, gid: 100, mode: 0o100640, acl: Vec::new() };
        assert!(!m.allows_rw(3000, 100, &[]) && !m.allows_rw(3000, 1, &[]) && m.allows_rw(1000, 1, &[]));
        assert!(parse_acl(b"garbage").is_empty() && parse_acl(&[]).is_empty());
    }
}
