//! The kernel tables discrec trusts (/proc/locks, mountinfo, /proc/PID/stat and status,
//! passwd): never panic on any text.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = discrec::holders::parse_proc_locks(&text);
    let _ = discrec::procfs::parse_stat(&text);
    let _ = discrec::procfs::parse_status(&text, String::new(), 0);
    let _ = discrec::mounts::parse_mountinfo(&text, &[(7, 0), (11, 0)]);
    let _ = discrec::users::parse_passwd(&text);
});
