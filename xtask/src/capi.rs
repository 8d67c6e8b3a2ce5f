//! `cargo xtask capi-test [--installed]`: the C programs of
//! `crates/capi/tests/c`, compiled with `cc` and `pkg-config --cflags
//! --libs discrec` (against `target/dist`, or with `--installed` against
//! the system's copy, e.g. from the Debian package), once more against
//! the static library, and run: the exclusive-access contract from C
//! (`contract.c`) and a burn with a progress callback (`burn.c`); then
//! both again under valgrind (no invalid access, no leak).

use std::path::{Path, PathBuf};
use std::process::Command;

fn pkg_config(args: &[&str], pc_path: Option<&Path>) -> Result<Vec<String>, String> {
    let mut c = Command::new("pkg-config");
    c.args(args).arg("discrec");
    if let Some(p) = pc_path {
        c.env("PKG_CONFIG_PATH", p);
    }
    let o = c.output().map_err(|e| format!("pkg-config: {e} (apt install pkg-config)"))?;
    if !o.status.success() {
        return Err(format!("pkg-config {args:?} discrec: {}", String::from_utf8_lossy(&o.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&o.stdout).split_whitespace().map(str::to_string).collect())
}

fn cc(src: &Path, out: &Path, flags: &[String]) -> Result<(), String> {
    let o = Command::new("cc")
        .args(["-std=c11", "-D_DEFAULT_SOURCE", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(out)
        .arg(src)
        .args(flags)
        .arg("-lpthread")
        .output()
        .map_err(|e| format!("cc: {e} (apt install gcc)"))?;
    if !o.status.success() {
        return Err(format!("cc {}: {}", src.display(), String::from_utf8_lossy(&o.stderr)));
    }
    Ok(())
}

/// Run `prog args`, echoing its output; true when it exits 0.
fn run(what: &str, prog: &mut Command) -> Result<bool, String> {
    let o = prog.output().map_err(|e| format!("{what}: {e}"))?;
    print!("{}", String::from_utf8_lossy(&o.stdout));
    eprint!("{}", String::from_utf8_lossy(&o.stderr));
    println!("capi: {what}: {}", if o.status.success() { "ok".into() } else { format!("FAILED ({})", o.status) });
    Ok(o.status.success())
}

pub fn capi_test(root: &Path, installed: bool) -> Result<bool, String> {
    let (pc_path, ld_path): (Option<PathBuf>, Option<PathBuf>) = if installed {
        (None, None)
    } else {
        // A tree of its own: target/dist is what the Debian package takes.
        let dist = root.join("target/capi/dist");
        let d = dist.to_string_lossy().into_owned();
        crate::dist::dist(root, &dist, &d, &format!("{d}/lib"))?;
        (Some(dist.join("lib/pkgconfig")), Some(dist.join("lib")))
    };
    let out = root.join("target/capi");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let flags = pkg_config(&["--cflags", "--libs"], pc_path.as_deref())?;
    let cflags = pkg_config(&["--cflags"], pc_path.as_deref())?;
    let libdir = pkg_config(&["--variable=libdir"], pc_path.as_deref())?.join("");
    let static_libs = pkg_config(&["--static", "--libs-only-l"], pc_path.as_deref())?;
    let src = root.join("crates/capi/tests/c");
    cc(&src.join("contract.c"), &out.join("contract"), &flags)?;
    cc(&src.join("burn.c"), &out.join("burn"), &flags)?;
    cc(&src.join("doors.c"), &out.join("doors"), &flags)?;
    // The static library: the archive itself, and what it needs.
    let mut sflags = cflags.clone();
    sflags.push(format!("{libdir}/libdiscrec.a"));
    sflags.extend(static_libs.into_iter().filter(|l| l != "-ldiscrec"));
    cc(&src.join("contract.c"), &out.join("contract-static"), &sflags)?;
    println!("capi: built with `pkg-config --cflags --libs discrec` = {}", flags.join(" "));

    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let s = scratch.path();
    let img = |name: &str| -> Result<PathBuf, String> {
        let p = s.join(name);
        std::fs::File::create(&p).map_err(|e| e.to_string())?;
        Ok(p)
    };
    let tree = s.join("tree");
    std::fs::create_dir_all(tree.join("sub")).map_err(|e| e.to_string())?;
    std::fs::write(tree.join("hello.txt"), "hello from C\n").map_err(|e| e.to_string())?;
    std::fs::write(tree.join("sub/data.bin"), vec![0x5a; 300_000]).map_err(|e| e.to_string())?;
    let big = s.join("big.iso");
    // Large enough that the first progress update comes long before the end.
    std::fs::write(&big, vec![0xa5u8; 512 << 20]).map_err(|e| e.to_string())?;

    let with_env = |prog: &Path| {
        let mut c = Command::new(prog);
        if let Some(ld) = &ld_path {
            c.env("LD_LIBRARY_PATH", ld);
        }
        c
    };
    let more = s.join("more");
    std::fs::create_dir_all(&more).map_err(|e| e.to_string())?;
    std::fs::write(more.join("added.txt"), "added from C\n").map_err(|e| e.to_string())?;
    // The cluster lock on a real etcd on loopback (DISCREC_REQUIRE_ALL:
    // a missing etcd fails).
    let etcd = crate::cluster::etcd_server::EtcdServer::start();
    let etcd_url: Vec<String> = etcd.as_ref().map(|e| e.url.clone()).into_iter().collect();
    if etcd.is_none() && std::env::var("DISCREC_REQUIRE_ALL").as_deref() == Ok("1") {
        return Err("etcd is required (DISCREC_REQUIRE_ALL=1): apt install etcd-server etcd-client".into());
    }
    let mut ok = true;
    ok &= run("contract (shared library)", with_env(&out.join("contract")).arg(img("c1.img")?))?;
    ok &= run("doors", with_env(&out.join("doors")).arg(img("d1.img")?).arg(&tree).arg(&more).args(&etcd_url))?;
    ok &= run("contract (static library)", with_env(&out.join("contract-static")).arg(img("c2.img")?))?;
    ok &= run("burn", with_env(&out.join("burn")).arg(img("b1.img")?).arg(&tree).arg(img("b2.img")?).arg(&big))?;

    // Under valgrind: no invalid read or write, no leak.
    if Command::new("valgrind").arg("--version").output().is_err() {
        if std::env::var("DISCREC_REQUIRE_ALL").as_deref() == Ok("1") {
            return Err("valgrind is required (DISCREC_REQUIRE_ALL=1): apt install valgrind".into());
        }
        println!("SKIP: valgrind (apt install valgrind)");
        return Ok(ok);
    }
    let vg = |prog: &Path| {
        let mut c = Command::new("valgrind");
        c.args(["--quiet", "--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite"]).arg(prog);
        if let Some(ld) = &ld_path {
            c.env("LD_LIBRARY_PATH", ld);
        }
        c
    };
    ok &= run("contract under valgrind", vg(&out.join("contract")).arg(img("v1.img")?))?;
    ok &=
        run("doors under valgrind", vg(&out.join("doors")).arg(img("v4.img")?).arg(&tree).arg(&more).args(&etcd_url))?;
    ok &=
        run("burn under valgrind", vg(&out.join("burn")).arg(img("v2.img")?).arg(&tree).arg(img("v3.img")?).arg(&big))?;
    Ok(ok)
}
