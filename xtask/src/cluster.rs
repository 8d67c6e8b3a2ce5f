//! `cargo xtask cluster-test`: two machines, one drive, one etcd.
//!
//! Two QEMU guests, `guest-a` and `guest-b`, attach the same tgt LUN (the
//! writable blank DVD+R of the burning tier, `/dev/sr0` in both, each
//! with its own iSCSI initiator name) and reach etcd on the host through
//! QEMU's user network (the host's 127.0.0.1 is 10.0.2.2 to them; nothing
//! leaves the loopback). tgt refuses RESERVE, so nothing at the SCSI level
//! keeps the two apart: only discrec's cluster lock does.
//!
//! The scenarios run here, on the host, which sees both guests, etcd and
//! the file behind the disc at once; each guest runs `discrec-guest
//! agent` (see `guest/src/agent.rs`), which executes what it is asked
//! over its second serial port. Each scenario prints `PASS name` or
//! `FAIL name: why`, with its figures.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::guest_image::{build_guest, Boot};
use crate::qemu::{Qemu, Qmp, Vm};
use crate::tgt;

#[path = "../../crates/cluster/tests/support/etcd_server.rs"]
pub(crate) mod etcd_server;
use etcd_server::{EtcdCluster, EtcdServer};

type R = Result<(), String>;
/// A named scenario.
type Scenario = (&'static str, fn(&mut Bed) -> R);

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// The lease TTL the timing scenarios use, in seconds.
const TTL: u64 = 3;

/// One guest and its two channels: the agent (requests) and QMP.
struct Guest {
    name: &'static str,
    qemu: Qemu,
    ctl_in: BufReader<UnixStream>,
    ctl_out: UnixStream,
    qmp: Qmp,
}

impl Guest {
    fn boot(boot: &Boot, name: &'static str) -> Result<Guest, String> {
        let mut qemu = Vm::new(boot, 384, &format!("{name}-"))
            .cmdline(&format!("discrec.role=agent discrec.host={name}"))
            .iscsi_dvd(name, "scsi0")
            .args(["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,id=nic0"])
            .spawn()?;
        let console = qemu.console();
        std::thread::spawn(move || {
            for line in console {
                println!("[{name}] {line}");
            }
        });
        let ctl = qemu.sockets().ctl()?;
        ctl.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
        let mut ctl_in = BufReader::new(ctl.try_clone().map_err(|e| e.to_string())?);
        let qmp = qemu.sockets().qmp()?;
        // The agent says it is ready.
        loop {
            let mut line = String::new();
            ctl_in.read_line(&mut line).map_err(|e| format!("{name} never became ready: {e}"))?;
            if line.contains("\"ready\"") {
                break;
            }
        }
        Ok(Guest { name, qemu, ctl_in, ctl_out: ctl, qmp })
    }

    /// One request to the agent; its answer, or its `error` as `Err`.
    fn call(&mut self, req: Value) -> Result<Value, String> {
        let limit = Duration::from_millis(req["timeout_ms"].as_u64().unwrap_or(30_000)) + Duration::from_secs(15);
        self.ctl_in.get_ref().set_read_timeout(Some(limit)).map_err(|e| e.to_string())?;
        writeln!(self.ctl_out, "{req}").map_err(|e| format!("{}: {e}", self.name))?;
        loop {
            let mut line = String::new();
            let n = self.ctl_in.read_line(&mut line).map_err(|e| format!("{}: no answer to {req}: {e}", self.name))?;
            if n == 0 {
                return Err(format!("{}: the agent is gone", self.name));
            }
            let line = line.trim_matches(|c: char| c == '\0' || c.is_whitespace());
            if !line.starts_with('{') {
                continue;
            }
            let v: Value = serde_json::from_str(line).map_err(|e| format!("{}: {e}: {line}", self.name))?;
            return match v.get("error") {
                Some(e) => Err(format!("{}: {} (saw {})", self.name, e, v["seen"])),
                None => Ok(v),
            };
        }
    }

    /// `sh -c cmd`: exit code, stdout, stderr.
    fn run(&mut self, cmd: &str) -> Result<(Option<i64>, String, String), String> {
        let v = self.call(json!({"op": "run", "cmd": cmd, "timeout_ms": 60_000}))?;
        Ok((v["code"].as_i64(), v["out"].as_str().unwrap_or("").into(), v["err"].as_str().unwrap_or("").into()))
    }

    fn spawn(&mut self, name: &str, cmd: &str) -> R {
        self.call(json!({"op": "spawn", "name": name, "cmd": cmd})).map(|_| ())
    }

    /// The first line of `name`'s output containing `text`.
    fn expect(&mut self, name: &str, text: &str, limit: Duration) -> Result<String, String> {
        let v =
            self.call(json!({"op": "expect", "name": name, "text": text, "timeout_ms": limit.as_millis() as u64}))?;
        Ok(v["line"].as_str().unwrap_or("").to_string())
    }

    /// `name`'s exit code and its last lines.
    fn wait(&mut self, name: &str, limit: Duration) -> Result<(Option<i64>, String), String> {
        let v = self.call(json!({"op": "wait", "name": name, "timeout_ms": limit.as_millis() as u64}))?;
        Ok((v["code"].as_i64(), v["out"].to_string()))
    }

    fn kill(&mut self, name: &str, signal: i32) -> R {
        self.call(json!({"op": "kill", "name": name, "signal": signal})).map(|_| ())
    }

    /// Plug or unplug the guest's network cable (QMP `set_link`).
    fn link(&mut self, up: bool) -> R {
        let req = json!({"execute": "set_link", "arguments": {"name": "nic0", "up": up}});
        self.qmp.call(&req.to_string()).map(|_| ())
    }
}

/// A guest's view of a host URL.
fn from_guest(url: &str) -> String {
    url.replace("127.0.0.1", "10.0.2.2")
}

/// The test bed.
struct Bed {
    a: Guest,
    b: Guest,
    /// The single member's URL as the guests see it.
    etcd: String,
    disc: std::path::PathBuf,
}

impl Bed {
    fn disc_len(&self) -> u64 {
        std::fs::metadata(&self.disc).map(|m| m.len()).unwrap_or(u64::MAX)
    }

    /// `discrec ARGS` on a guest, pointed at the single-member etcd.
    fn discrec(&self, args: &str) -> String {
        format!("DISCREC_ETCD={} exec /bin/discrec {args}", self.etcd)
    }

    /// Guest A holds the drive (`hold`), TTL `ttl`.
    fn a_holds(&mut self, ttl: u64) -> R {
        let cmd = self.discrec(&format!("lock --cluster-ttl {ttl} --client 'A Burner' /dev/sr0"));
        self.a.spawn("hold", &cmd)?;
        self.a.expect("hold", "locked /dev/sr0", Duration::from_secs(20)).map(|_| ())
    }

    /// Guest B waits for the drive (`wait`) and is queued behind A.
    fn b_waits(&mut self, ttl: u64) -> R {
        let cmd = self.discrec(&format!("lock --verbose --wait=60 --cluster-ttl {ttl} --client 'B Burner' /dev/sr0"));
        self.b.spawn("wait", &cmd)?;
        self.b.expect("wait", "waiting for /dev/sr0", Duration::from_secs(20)).map(|_| ())
    }

    /// B's waiter reports `locked`; then it is released.
    fn b_gets_it_within(&mut self, started: Instant, limit: Duration, what: &str) -> R {
        self.b.expect("wait", "locked /dev/sr0", limit + Duration::from_secs(5))?;
        let took = started.elapsed();
        println!("  guest-b got the drive {:.2} s after {what}", took.as_secs_f64());
        ensure!(took <= limit, "guest-b got the drive {took:?} after {what}, more than {limit:?}");
        self.b.kill("wait", 15)?;
        let (code, out) = self.b.wait("wait", Duration::from_secs(15))?;
        ensure!(code == Some(0), "guest-b's lock ended with {code:?}: {out}");
        Ok(())
    }
}

fn s_refused_with_client_and_host(bed: &mut Bed) -> R {
    bed.a_holds(10)?;
    // Guest B's guard holds B's drive for A, so that tools that know
    // nothing of etcd are kept off too.
    bed.b.expect("guard", "guarding /dev/sr0 for \"A Burner\" on guest-a", Duration::from_secs(10))?;
    // The cluster key comes from the drive's own identity: B names no key.
    let (code, out, err) = bed.b.run(&bed.discrec("owner --json /dev/sr0"))?;
    ensure!(code == Some(0), "owner on guest-b: {code:?} {err}");
    let v: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
    ensure!(
        v["client_name"] == "A Burner" && v["host"] == "guest-a",
        "guest-b sees the owner as {v}, not \"A Burner\" on guest-a"
    );
    let (code, out, err) = bed.b.run(&bed.discrec("list --json"))?;
    let v: Value = serde_json::from_str(&out).map_err(|e| format!("list: {e}: {out}{err}"))?;
    let sr0 = v.as_array().and_then(|a| a.iter().find(|d| d["device"] == "/dev/sr0")).cloned().unwrap_or_default();
    ensure!(
        code == Some(0) && sr0["owner"]["client_name"] == "A Burner" && sr0["owner"]["host"] == "guest-a",
        "guest-b's list shows /dev/sr0 as {sr0}"
    );
    let (code, _, err) = bed.b.run(&bed.discrec("lock --client 'B Burner' /dev/sr0 -- true"))?;
    ensure!(
        code == Some(5)
            && err.contains("A Burner")
            && err.contains("guest-a")
            && err.contains("E_IMAPI_RECORDER_LOCKED"),
        "guest-b's lock: exit {code:?}, {err}"
    );
    Ok(())
}

fn s_b_writes_nothing_while_a_holds(bed: &mut Bed) -> R {
    // (A still holds from the previous scenario.)
    let before = bed.disc_len();
    ensure!(before == 0, "the disc is not blank to begin with ({before} bytes)");
    bed.b.run("mkdir -p /tmp/src && echo from guest-b > /tmp/src/b.txt")?;
    let (code, _, err) = bed.b.run(&bed.discrec("burn --client 'B Burner' /dev/sr0 /tmp/src"))?;
    ensure!(code == Some(5) && err.contains("A Burner"), "guest-b's burn: exit {code:?}, {err}");
    let xorriso = "xorriso -abort_on NEVER -outdev /dev/sr0 -map /tmp/src /b -commit";
    let (code, out, err) = bed.b.run(&bed.discrec(&format!("lock --client 'B Burner' /dev/sr0 -- {xorriso}")))?;
    ensure!(code == Some(5), "wrapped xorriso on guest-b: exit {code:?}, {out}{err}");
    // Not wrapped: B's guard holds the drive's O_EXCL claim for A.
    let (code, out, err) = bed.b.run(&format!("exec {xorriso}"))?;
    ensure!(code != Some(0), "unwrapped xorriso on guest-b succeeded: {out}{err}");
    let after = bed.disc_len();
    ensure!(after == 0, "guest-b wrote {after} bytes to the disc guest-a holds");
    println!("  blank.img: {after} bytes after guest-b's burn, wrapped xorriso and bare xorriso");
    Ok(())
}

fn s_release_hands_over(bed: &mut Bed) -> R {
    bed.b_waits(10)?;
    let t = Instant::now();
    bed.a.kill("hold", 15)?;
    let (code, out) = bed.a.wait("hold", Duration::from_secs(10))?;
    ensure!(code == Some(0), "guest-a's lock ended with {code:?}: {out}");
    bed.b_gets_it_within(t, Duration::from_secs(2), "guest-a released it")
}

fn s_sigkill_frees_within_ttl(bed: &mut Bed) -> R {
    bed.a_holds(TTL)?;
    bed.b_waits(TTL)?;
    let t = Instant::now();
    bed.a.kill("hold", 9)?;
    bed.b_gets_it_within(t, Duration::from_secs(TTL + 1), "guest-a's holder was SIGKILLed (TTL 3 s)")?;
    bed.a.wait("hold", Duration::from_secs(5)).map(|_| ())
}

fn s_cut_off_holder_told_first(bed: &mut Bed) -> R {
    bed.a_holds(TTL)?;
    bed.b_waits(TTL)?;
    let t = Instant::now();
    bed.a.link(false)?;
    // Both guests at once: when A hears it lost the lock, when B gets it.
    let (a, b) = (&mut bed.a, &mut bed.b);
    let (told, granted) = std::thread::scope(|s| {
        let told = s.spawn(|| a.expect("hold", "was lost", Duration::from_secs(15)).map(|l| (t.elapsed(), l)));
        let granted = s.spawn(|| b.expect("wait", "locked /dev/sr0", Duration::from_secs(15)).map(|_| t.elapsed()));
        (told.join().unwrap(), granted.join().unwrap())
    });
    bed.a.link(true)?;
    // The cable back: A reaches etcd again (its neighbour table forgot 10.0.2.2).
    let t = Instant::now();
    while bed.a.run(&bed.discrec("owner /dev/sr0"))?.0 == Some(26) {
        ensure!(t.elapsed() < Duration::from_secs(20), "guest-a does not reach etcd again");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (told, line) = told?;
    let granted = granted?;
    println!(
        "  guest-a cut off: told it lost the lock after {:.2} s, guest-b granted after {:.2} s (TTL 3 s)",
        told.as_secs_f64(),
        granted.as_secs_f64()
    );
    ensure!(told < granted, "guest-b was granted the drive ({granted:?}) before guest-a knew ({told:?}): {line}");
    let (code, out) = bed.a.wait("hold", Duration::from_secs(15))?;
    ensure!(code == Some(26), "guest-a's lock ended with {code:?}, not 26: {out}");
    bed.b.kill("wait", 15)?;
    bed.b.wait("wait", Duration::from_secs(15)).map(|_| ())
}

fn s_three_members_leader_killed(bed: &mut Bed) -> R {
    let mut cluster = EtcdCluster::start(3).ok_or("etcd is missing")?;
    let urls = from_guest(&cluster.urls());
    // A's guard may still hold the drive here for the main etcd, which it
    // lost in the scenario before and reaches again only after its client
    // reconnects: wait for it.
    let hold =
        format!("DISCREC_ETCD={urls} exec /bin/discrec lock --wait=30 --cluster-ttl 10 --client 'A Burner' /dev/sr0");
    bed.a.spawn("hold3", &hold)?;
    bed.a.expect("hold3", "locked /dev/sr0", Duration::from_secs(40))?;
    let leader = cluster.leader().ok_or("no leader")?;
    cluster.kill(leader);
    let t = Instant::now();
    let new_leader = loop {
        if let Some(l) = cluster.leader() {
            break l;
        }
        ensure!(t.elapsed() < Duration::from_secs(15), "no new leader within 15 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    println!(
        "  killed leader {}; {} leads after {:.2} s",
        cluster.members[leader].name,
        cluster.members[new_leader].name,
        t.elapsed().as_secs_f64()
    );
    // Longer than the TTL (10 s) later the lock still holds: A's lease
    // was kept alive through the election.
    std::thread::sleep(Duration::from_secs(12));
    let (code, out, err) = bed.b.run(&format!("DISCREC_ETCD={urls} /bin/discrec owner --json /dev/sr0"))?;
    ensure!(code == Some(0) && out.contains("\"A Burner\"") && out.contains("guest-a"), "owner: {code:?} {out}{err}");
    let (code, _, err) = bed.b.run(&format!("DISCREC_ETCD={urls} /bin/discrec lock /dev/sr0 -- true"))?;
    ensure!(code == Some(5), "guest-b took the drive while guest-a held it: {code:?} {err}");
    bed.a.kill("hold3", 15)?;
    let (code, out) = bed.a.wait("hold3", Duration::from_secs(15))?;
    ensure!(code == Some(0), "guest-a's hold did not survive the leader's death: exit {code:?}, {out}");
    // The next acquire works (at once when A's release reached a live
    // member, else when A's lease expires).
    let t = Instant::now();
    let (code, _, err) = bed.b.run(&format!("DISCREC_ETCD={urls} /bin/discrec lock --wait=15 /dev/sr0 -- true"))?;
    ensure!(code == Some(0), "the next acquire failed: {code:?} {err}");
    println!("  the next acquire got the drive after {:.2} s", t.elapsed().as_secs_f64());
    Ok(())
}

fn s_b_burns_when_free(bed: &mut Bed) -> R {
    // B holds the drive and burns under its lock; meanwhile A sees who
    // holds it, and where.
    let burn = "sh -c 'echo holding; sleep 2; exec /bin/discrec burn --client \"B Burner\" /dev/sr0 /tmp/src'";
    bed.b.spawn("burn", &bed.discrec(&format!("lock --client 'B Burner' /dev/sr0 -- {burn}")))?;
    bed.b.expect("burn", "holding", Duration::from_secs(30))?;
    let (code, out, err) = bed.a.run(&bed.discrec("owner --json /dev/sr0"))?;
    ensure!(
        code == Some(0) && out.contains("\"B Burner\"") && out.contains("guest-b"),
        "guest-a's owner while guest-b burns: {code:?} {out}{err}"
    );
    let (code, out) = bed.b.wait("burn", Duration::from_secs(120))?;
    ensure!(code == Some(0), "guest-b's burn: exit {code:?}: {out}");
    let len = bed.disc_len();
    ensure!(len > 0, "guest-b's burn left the disc blank");
    println!("  guest-b burned and verified {len} bytes under its cluster lock; guest-a saw it as the holder");
    Ok(())
}

fn s_whole_guest_killed(bed: &mut Bed) -> R {
    bed.a_holds(TTL)?;
    bed.b_waits(TTL)?;
    let t = Instant::now();
    bed.a.qemu.kill();
    bed.b_gets_it_within(t, Duration::from_secs(TTL + 1), "guest-a's QEMU was killed (TTL 3 s)")
}

/// Run the tier; true when every scenario passed.
pub fn cluster_test() -> Result<bool, String> {
    let t0 = Instant::now();
    let boot = build_guest()?;
    let etcd = EtcdServer::start().ok_or("etcd is missing (apt install etcd-server etcd-client)")?;
    let tgt = tgt::Tgt::start(&boot.out)?;
    let built = t0.elapsed();
    let booting = Instant::now();
    // Both at once: each boots on its own CPU.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Guest::boot(&boot, "guest-a"));
        let b = s.spawn(|| Guest::boot(&boot, "guest-b"));
        (a.join().unwrap(), b.join().unwrap())
    });
    let mut bed = Bed { a: a?, b: b?, etcd: from_guest(&etcd.url), disc: tgt.backing.clone() };
    println!("xtask: both guests ready {:.1} s after start", booting.elapsed().as_secs_f64());
    for g in [&mut bed.a, &mut bed.b] {
        let cmd = format!("DISCREC_ETCD={} exec /bin/discrec guard /dev/sr0", from_guest(&etcd.url));
        g.spawn("guard", &cmd)?;
        g.expect("guard", "free /dev/sr0", Duration::from_secs(20))?;
    }
    let scenarios: &[Scenario] = &[
        ("refused_with_client_and_host", s_refused_with_client_and_host),
        ("b_writes_nothing_while_a_holds", s_b_writes_nothing_while_a_holds),
        ("release_hands_over", s_release_hands_over),
        ("sigkill_frees_within_ttl", s_sigkill_frees_within_ttl),
        ("cut_off_holder_told_first", s_cut_off_holder_told_first),
        ("three_members_leader_killed", s_three_members_leader_killed),
        ("b_burns_when_free", s_b_burns_when_free),
        ("whole_guest_killed", s_whole_guest_killed),
    ];
    let (mut passed, mut failed) = (0, 0);
    for (name, f) in scenarios {
        let t = Instant::now();
        match f(&mut bed) {
            Ok(()) => {
                passed += 1;
                println!("PASS {name} ({:.1} s)", t.elapsed().as_secs_f64());
            }
            Err(e) => {
                failed += 1;
                println!("FAIL {name}: {e}");
            }
        }
    }
    drop(bed);
    drop(tgt);
    println!(
        "cluster: {passed} passed, {failed} failed (built in {:.1} s, tier took {:.1} s)",
        built.as_secs_f64(),
        booting.elapsed().as_secs_f64()
    );
    Ok(failed == 0)
}
