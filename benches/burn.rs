//! `cargo bench --bench burn`: `discrec burn` against the closest raw
//! baselines, side by side in one run, with ratios.
//!
//! * a 1 GiB image to an image file and to a loop device (root), against
//!   `dd bs=1M conv=fsync` to the same target (same durability: data on
//!   disk before success), alternating, `sync` before each run, median of
//!   5 (`DISCREC_BENCH_ROUNDS`);
//! * peak memory (VmHWM) of `discrec burn` writing a 4 GiB source, with
//!   and without verification;
//! * a directory of 3,000 files to an ISO image: discrec's builder against
//!   `xorriso -as mkisofs -J -R`;
//! * a session of 300 files added to an image holding the 3,000:
//!   `burn --append` against `growisofs -M` and `xorriso -dev ... -commit`.
//!
//! Set `DISCREC_BENCH_GIB` to change the 1 GiB.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DISCREC: &str = env!("CARGO_BIN_EXE_discrec");

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn run(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    let o = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output().unwrap();
    let took = t.elapsed();
    assert!(o.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&o.stderr));
    took
}

/// A file of `bytes` pseudo-random bytes (no zeros for a file system to
/// skip), made once.
fn source(dir: &Path, bytes: u64) -> PathBuf {
    let p = dir.join(format!("source-{bytes}.bin"));
    if std::fs::metadata(&p).is_ok_and(|m| m.len() == bytes) {
        return p;
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..bytes >> 20 {
        for chunk in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        std::io::Write::write_all(&mut f, &buf).unwrap();
    }
    drop(f);
    p
}

fn mbps(bytes: u64, t: Duration) -> f64 {
    bytes as f64 / 1e6 / t.as_secs_f64()
}

/// dd against discrec burn --no-verify to `target`, prepared by `fresh`
/// before each run; (dd, discrec) medians.
fn versus(src: &Path, target: &Path, fresh: &dyn Fn()) -> (Duration, Duration) {
    let (mut dd, mut ours) = (Vec::new(), Vec::new());
    let rounds: usize = std::env::var("DISCREC_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    for round in 0..rounds {
        for first in [round % 2 == 0, round % 2 == 1] {
            fresh();
            // Start each run with nothing dirty: a loop device's backing file
            // is written back after the run that filled it, and would slow
            // whichever run comes next.
            run(&mut Command::new("sync"));
            if first {
                dd.push(run(Command::new("dd")
                    .arg(format!("if={}", src.display()))
                    .arg(format!("of={}", target.display()))
                    .args(["bs=1M", "conv=fsync,notrunc", "status=none"])));
            } else {
                ours.push(run(Command::new(DISCREC).args(["burn", "--no-verify"]).arg(target).arg(src)));
            }
        }
    }
    (median(dd), median(ours))
}

/// Peak resident memory of `cmd`, from VmHWM while it runs.
fn peak_rss(cmd: &mut Command) -> (u64, Duration) {
    let t = Instant::now();
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status) {
            if let Some(kb) = s.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
                peak = peak.max(kb.trim().trim_end_matches(" kB").trim().parse::<u64>().unwrap_or(0));
            }
        }
        if let Some(st) = child.try_wait().unwrap() {
            assert!(st.success(), "{cmd:?} failed");
            return (peak * 1024, t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn tree(dir: &Path, files: usize) -> PathBuf {
    let t = dir.join(format!("tree-{files}"));
    if t.exists() {
        return t;
    }
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in 0..files {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let d = t.join(format!("dir{:02}/sub{}", i % 40, i % 7));
        std::fs::create_dir_all(&d).unwrap();
        let size = (x % 65_536) as usize;
        std::fs::write(d.join(format!("file {i} with a longer name.dat")), vec![(i % 251) as u8; size]).unwrap();
    }
    t
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-burn");
    std::fs::create_dir_all(&dir).unwrap();
    let gib: u64 = std::env::var("DISCREC_BENCH_GIB").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let bytes = gib << 30;
    let src = source(&dir, bytes);
    println!("burn benchmark ({gib} GiB source, median of rounds, alternating order, sync before each)");
    println!("{:<44} {:>10} {:>10} {:>8}", "", "baseline", "discrec", "ratio");

    let img = dir.join("target.img");
    let (dd, ours) = versus(&src, &img, &|| {
        std::fs::File::create(&img).unwrap();
    });
    println!(
        "{:<44} {:>7.0} MB/s {:>7.0} MB/s {:>7.2}x",
        "image file: dd bs=1M conv=fsync vs burn",
        mbps(bytes, dd),
        mbps(bytes, ours),
        dd.as_secs_f64() / ours.as_secs_f64()
    );

    if rustix::process::geteuid().is_root() && Path::new("/dev/loop-control").exists() {
        let backing = dir.join("loop-backing.img");
        std::fs::File::create(&backing).unwrap().set_len(bytes + (64 << 20)).unwrap();
        let o = Command::new("losetup").args(["-f", "--show"]).arg(&backing).output().unwrap();
        let dev = PathBuf::from(String::from_utf8(o.stdout).unwrap().trim());
        let (dd, ours) = versus(&src, &dev, &|| {});
        let _ = Command::new("losetup").arg("-d").arg(&dev).status();
        println!(
            "{:<44} {:>7.0} MB/s {:>7.0} MB/s {:>7.2}x",
            "loop device: dd bs=1M conv=fsync vs burn",
            mbps(bytes, dd),
            mbps(bytes, ours),
            dd.as_secs_f64() / ours.as_secs_f64()
        );
    } else {
        println!("loop device: SKIP (needs root)");
    }

    // Peak memory with a 4 GiB source (sparse: memory, not disk, is measured).
    let big = dir.join("source-4g-sparse.bin");
    std::fs::File::create(&big).unwrap().set_len(4 << 30).unwrap();
    for verify in [false, true] {
        std::fs::File::create(&img).unwrap();
        let mut c = Command::new(DISCREC);
        c.arg("burn");
        if !verify {
            c.arg("--no-verify");
        }
        let (peak, t) = peak_rss(c.arg(&img).arg(&big));
        println!(
            "{:<44} {:>10} {:>7.1} MiB {:>8}",
            format!("peak memory, 4 GiB source{}", if verify { ", verified" } else { "" }),
            "",
            peak as f64 / (1 << 20) as f64,
            format!("{:.0} s", t.as_secs_f64())
        );
    }
    let _ = std::fs::remove_file(&img);
    let _ = std::fs::remove_file(&big);

    // Directory to ISO image.
    let t = tree(&dir, 3000);
    let iso = dir.join("tree.iso");
    let (mut x, mut o) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        x.push(run(Command::new("xorriso").args(["-as", "mkisofs", "-quiet", "-J", "-R", "-o"]).arg(&iso).arg(&t)));
        let start = Instant::now();
        let image = discrec_iso::Image::from_dir(&t, &discrec_iso::Options::new("TREE")).unwrap();
        let mut out = std::fs::File::create(&iso).unwrap();
        std::io::copy(&mut image.reader(), &mut out).unwrap();
        o.push(start.elapsed());
    }
    let (x, o) = (median(x), median(o));
    println!(
        "{:<44} {:>8.2} s {:>8.2} s {:>7.2}x",
        "3,000 files to ISO: xorriso -as mkisofs -J -R",
        x.as_secs_f64(),
        o.as_secs_f64(),
        x.as_secs_f64() / o.as_secs_f64()
    );
    let _ = std::fs::remove_file(&iso);

    // A session of 300 files added to an image of the 3,000: the image
    // copied afresh before each run (not timed), then grown.
    let first = dir.join("first-session.img");
    std::fs::File::create(&first).unwrap();
    run(Command::new(DISCREC).args(["burn", "--no-verify"]).arg(&first).arg(&t));
    let more = tree(&dir, 300);
    let grown = dir.join("grown.img");
    let fresh = || {
        std::fs::copy(&first, &grown).unwrap();
        run(&mut Command::new("sync"));
    };
    let stdio = format!("stdio:{}", grown.display());
    let (mut g, mut x, mut o) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        fresh();
        g.push(run(Command::new("growisofs").arg("-M").arg(&grown).args(["-R", "-J", "-quiet"]).arg(&more)));
        fresh();
        x.push(run(Command::new("xorriso").args(["-dev", &stdio, "-map"]).arg(&more).args(["/", "-commit"])));
        fresh();
        o.push(run(Command::new(DISCREC).args(["burn", "--append", "--no-verify"]).arg(&grown).arg(&more)));
    }
    let (g, x, o) = (median(g), median(x), median(o));
    println!(
        "{:<44} {:>5.2}/{:.2} s {:>8.2} s {:>4.2}x/{:.2}x",
        "300 files added to 3,000: growisofs -M / xorriso -dev vs burn --append",
        g.as_secs_f64(),
        x.as_secs_f64(),
        o.as_secs_f64(),
        g.as_secs_f64() / o.as_secs_f64(),
        x.as_secs_f64() / o.as_secs_f64()
    );
    let _ = std::fs::remove_file(&first);
    let _ = std::fs::remove_file(&grown);
}
