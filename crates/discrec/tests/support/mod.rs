//! What the integration tiers share, in the library's tests and (through
//! `#[path]`) the command line's: private runtime directories, image
//! files, loop devices, a second user, unrelated load, helper processes
//! that die with the test. Nothing here fakes a kernel object.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Skip a test whose requirement is missing, saying why. Under
/// `DISCREC_REQUIRE_ALL=1` (CI) a missing requirement fails the test
/// instead, so no tier can be skipped silently.
pub fn skip(why: &str) -> bool {
    if std::env::var_os("DISCREC_REQUIRE_ALL").is_some_and(|v| v == "1") {
        panic!("required test environment missing: {why}");
    }
    eprintln!("SKIP: {why}");
    true
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A scratch directory with a private runtime directory (mode 1777, like
/// /run/discrec) and an image file to use as a virtual recorder.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    pub run: PathBuf,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::Builder::new().prefix("discrec-test").tempdir().unwrap();
        chmod(dir.path(), 0o755);
        let run = dir.path().join("run");
        std::fs::create_dir(&run).unwrap();
        chmod(&run, 0o1777);
        Scratch { dir, run }
    }

    /// A new image file (a virtual recorder), readable and writable by all
    /// so the second-user tier can use it.
    pub fn image(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, vec![0u8; 4096]).unwrap();
        chmod(&p, 0o666);
        p
    }
}

pub fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Start `c` with its stdout piped and wait for its first line, which
/// must be `word` (the helper scripts say when they are set up).
pub fn spawn_ready(c: &mut Command, word: &str) -> Reaped {
    let mut child = Reaped(c.stdout(Stdio::piped()).spawn().unwrap());
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), word, "the helper did not get ready");
    child
}

/// A helper process that is killed and reaped when dropped: a test that
/// fails midway leaves no lock churner or squatter running to spoil the
/// tests after it.
pub struct Reaped(pub Child);

impl std::ops::Deref for Reaped {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Poll `f` until it is true or `within` passes.
pub fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A loop device over a fresh image, detached on drop.
pub struct Loop {
    pub dev: PathBuf,
    _img: tempfile::NamedTempFile,
}

impl Loop {
    pub fn new(mb: u64) -> Loop {
        let img = tempfile::NamedTempFile::new().unwrap();
        img.as_file().set_len(mb << 20).unwrap();
        let out = Command::new("losetup").args(["-f", "--show"]).arg(img.path()).output().unwrap();
        assert!(out.status.success(), "losetup: {}", String::from_utf8_lossy(&out.stderr));
        let dev = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
        Loop { dev, _img: img }
    }

    pub fn mkfs(&self, fs: &str) {
        let st = Command::new(format!("mkfs.{fs}")).arg("-q").arg(&self.dev).stdout(Stdio::null()).status().unwrap();
        assert!(st.success());
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        // Unmount anything a failed test left behind, then detach.
        let _ = Command::new("umount").arg("-A").arg(&self.dev).stderr(Stdio::null()).status();
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

/// Whether a tool the test drives can run; skips (with the reason) if not.
pub fn tool_ok(tool: &str, probe_arg: &str) -> bool {
    if Command::new(tool).arg(probe_arg).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok() {
        return true;
    }
    !skip(&format!("{tool} is needed for this test"))
}

/// Loop devices need root and a kernel that has them.
pub fn loop_ok() -> bool {
    if !is_root() {
        return !skip("needs root (loop devices, mounts)");
    }
    if !Path::new("/dev/loop-control").exists() {
        return !skip("no loop device support (/dev/loop-control)");
    }
    true
}

pub fn mount(dev: &Path, at: &Path) {
    std::fs::create_dir_all(at).unwrap();
    let o = Command::new("mount").arg(dev).arg(at).output().unwrap();
    assert!(o.status.success(), "mount: {}", String::from_utf8_lossy(&o.stderr));
}

pub fn is_mounted(at: &Path) -> bool {
    let at = std::fs::canonicalize(at).unwrap_or_else(|_| at.to_path_buf());
    // mountinfo escapes space and backslash in octal.
    let want = at.to_str().unwrap().replace('\\', "\\134").replace(' ', "\\040");
    std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().any(|l| l.split(' ').nth(4) == Some(want.as_str()))
}

/// The test's second user (the attacker), created on first use (needs root).
pub const USER2: &str = "discrec-t2";
/// A third user (an unprivileged victim), created with the second.
pub const USER3: &str = "discrec-t3";

pub fn second_user() -> bool {
    if !is_root() {
        return !skip("needs root to create the second user");
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Test binaries run in parallel processes: serialise useradd.
        let lock = std::fs::File::create("/tmp/discrec-test-users.lock").unwrap();
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
        for user in [USER2, USER3] {
            let exists =
                Command::new("id").arg(user).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap().success();
            if !exists {
                let st = Command::new("useradd")
                    .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user])
                    .status()
                    .unwrap();
                assert!(st.success(), "useradd {user}");
            }
        }
    });
    true
}

/// Run a shell command as the second user; returns (success, stderr).
pub fn as_user2(script: &str) -> (bool, String) {
    let o = Command::new("setpriv")
        .args(["--reuid", USER2, "--regid", USER2, "--init-groups", "--reset-env", "sh", "-c", script])
        .output()
        .unwrap();
    (o.status.success(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Run a shell script as the second user, once it printed `ok`.
pub fn spawn_as_user2_ready(script: &str) -> Reaped {
    spawn_ready(
        Command::new("setpriv").args(["--reuid", USER2, "--regid", USER2, "--init-groups", "sh", "-c", script]),
        "ok",
    )
}

/// A copy of `exe` in a directory every user can reach, made once per
/// process.
///
/// Safe under `cargo test` (test threads of one process share the
/// directory) and nextest (one process per test, one directory each): a
/// mutex makes one thread copy while the others wait for it, the copy goes
/// to a name no other call uses (pid and counter) and is renamed into place
/// complete. `cp` writes the copy in its own process, so no child that
/// another test thread forks meanwhile can inherit a descriptor open for
/// writing on it, which would make exec of the copy fail with ETXTBSY.
pub fn world_readable_copy(exe: &str) -> PathBuf {
    static DIR: std::sync::Mutex<Option<tempfile::TempDir>> = std::sync::Mutex::new(None);
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut dir = DIR.lock().unwrap_or_else(|e| e.into_inner());
    let dir = dir.get_or_insert_with(|| {
        let d = tempfile::Builder::new().prefix("discrec-bin").tempdir().unwrap();
        chmod(d.path(), 0o755);
        d
    });
    let name = Path::new(exe).file_name().unwrap();
    let dst = dir.path().join(name);
    if !dst.exists() {
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut tmp_name = name.to_os_string();
        tmp_name.push(format!(".tmp.{}.{n}", std::process::id()));
        let tmp = dir.path().join(tmp_name);
        let st = Command::new("cp").arg("--").arg(exe).arg(&tmp).status().unwrap();
        assert!(st.success(), "cp {exe} {}", tmp.display());
        chmod(&tmp, 0o755);
        std::fs::rename(&tmp, &dst).unwrap();
    }
    dst
}

/// Unrelated load: processes that hold `n` `flock`s on files of their own,
/// as a build server or a desktop does (at most 15,000 per process: the
/// open-file limit here is 20,000). Killed on drop.
pub struct LockLoad {
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl LockLoad {
    pub fn new(n: usize) -> LockLoad {
        let dir = tempfile::Builder::new().prefix("discrec-load").tempdir().unwrap();
        let mut children = Vec::new();
        let mut left = n;
        let mut part = 0;
        while left > 0 {
            let k = left.min(15_000);
            let script = format!(
                "import fcntl,os,sys,time\nfds=[]\nfor i in range({k}):\n    fd=os.open('{d}/{part}.%d' % i, os.O_CREAT|os.O_RDWR, 0o600)\n    fcntl.flock(fd, fcntl.LOCK_EX)\n    fds.append(fd)\nprint('ready', flush=True)\nsys.stdin.read()\n",
                d = dir.path().display()
            );
            let mut c = Command::new("python3")
                .args(["-c", &script])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("python3 (it holds the unrelated locks)");
            let mut line = String::new();
            BufReader::new(c.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
            assert_eq!(line.trim(), "ready", "lock load did not start");
            children.push(c);
            left -= k;
            part += 1;
        }
        LockLoad { children, _dir: dir }
    }
}

impl Drop for LockLoad {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Unrelated load: `n` idle processes, and `namespaces` of them each in a
/// mount namespace of its own (needs root for those). Killed on drop.
pub struct ProcLoad {
    children: Vec<Child>,
}

impl ProcLoad {
    pub fn new(n: usize, namespaces: usize) -> ProcLoad {
        let mut children = Vec::with_capacity(n);
        for i in 0..n {
            let mut c = if i < namespaces {
                let mut c = Command::new("unshare");
                c.args(["-m", "--propagation", "private", "sleep", "600"]);
                c
            } else {
                let mut c = Command::new("sleep");
                c.arg("600");
                c
            };
            children.push(c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
        }
        ProcLoad { children }
    }
}

impl Drop for ProcLoad {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
        }
        for c in &mut self.children {
            let _ = c.wait();
        }
    }
}

/// How long `f` takes, in milliseconds, printed under `what`.
pub fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let v = f();
    eprintln!("timing: {what}: {:.2} ms", t.elapsed().as_secs_f64() * 1e3);
    v
}

/// True when an `O_EXCL` open of the device fails with EBUSY (the kernel's
/// exclusive claim is held by someone, or a file system is mounted).
pub fn excl_open_fails(dev: &std::path::Path) -> bool {
    use rustix::fs::{Mode, OFlags};
    matches!(
        rustix::fs::open(dev, OFlags::RDONLY | OFlags::EXCL | OFlags::NONBLOCK, Mode::empty()),
        Err(rustix::io::Errno::BUSY)
    )
}

/// Listens for kernel uevents (netlink, as udev does).
pub struct Uevents {
    sock: rustix::fd::OwnedFd,
    buf: Vec<u8>,
}

impl Uevents {
    pub fn new() -> Uevents {
        use rustix::net::{netlink, socket_with, AddressFamily, SocketFlags, SocketType};
        let sock =
            socket_with(AddressFamily::NETLINK, SocketType::DGRAM, SocketFlags::CLOEXEC, Some(netlink::KOBJECT_UEVENT))
                .unwrap();
        rustix::net::bind(&sock, &netlink::SocketAddrNetlink::new(0, 1)).unwrap();
        rustix::net::sockopt::set_socket_timeout(
            &sock,
            rustix::net::sockopt::Timeout::Recv,
            Some(Duration::from_millis(200)),
        )
        .unwrap();
        Uevents { sock, buf: vec![0u8; 8192] }
    }

    /// Whether a `change` event for block device `name` comes within `within`.
    pub fn change_of(&mut self, name: &str, within: Duration) -> bool {
        let end = std::time::Instant::now() + within;
        while std::time::Instant::now() < end {
            if let Ok((n, _)) = rustix::net::recv(&self.sock, self.buf.as_mut_slice(), rustix::net::RecvFlags::empty())
            {
                let head = String::from_utf8_lossy(&self.buf[..n.min(200)]).into_owned();
                if head.starts_with("change@") && head.split('\0').next().unwrap().ends_with(&format!("/{name}")) {
                    return true;
                }
            }
        }
        false
    }
}

/// A source image of `sectors` 2048-byte sectors of varied bytes.
pub fn source(s: &Scratch, name: &str, sectors: usize) -> PathBuf {
    let p = s.dir.path().join(name);
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let data: Vec<u8> = (0..sectors * 2048)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&p, data).unwrap();
    p
}

/// A blank virtual recorder: an empty file.
pub fn blank(s: &Scratch, name: &str) -> PathBuf {
    let p = s.dir.path().join(name);
    std::fs::File::create(&p).unwrap();
    p
}

/// The busy tests run one at a time, in threads or processes: each times
/// what it does, and one's 50,000 locks would be another's load.
pub fn alone() -> std::fs::File {
    let f = std::fs::File::create(std::env::temp_dir().join("discrec-busy-tests.lock")).unwrap();
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).unwrap();
    f
}

/// How many unrelated locks the busy tests put on the machine.
pub const LOCKS: usize = 50_000;
