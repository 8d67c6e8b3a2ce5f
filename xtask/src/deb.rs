//! `cargo xtask deb`: the Debian packages, cut as Debian cuts a library,
//! from `target/dist`:
//!
//! * `discrec`: the command, `discrec-vdrive`, man pages, completions;
//! * `libdiscrec0`: `libdiscrec.so.0`, with its symbols file, shlibs and
//!   the ldconfig trigger;
//! * `libdiscrec-dev`: `discrec.h`, `libdiscrec.so`, `libdiscrec.a`,
//!   `discrec.pc`;
//! * `python3-discrec`: the Python package in `dist-packages`.
//!
//! cargo-deb builds each from the metadata of its crate. It makes no
//! symbols or shlibs file, so this finishes `libdiscrec0` with dpkg's own
//! tools: `dpkg-gensymbols -c4` holds the library's exports to
//! `debian/libdiscrec0.symbols` (an export removed or added without being
//! listed fails the build: the ABI changes only on purpose), and
//! `dpkg-shlibdeps` gives its Depends. Then lintian checks every package;
//! an error or a warning fails, unless the package's override names it
//! with its reason.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::run;

/// The workspace's version (`[workspace.package]`), as the packages have it.
pub fn version(root: &Path) -> Result<String, String> {
    let toml = fs::read_to_string(root.join("Cargo.toml")).map_err(|e| e.to_string())?;
    let section = toml.split("[workspace.package]").nth(1).ok_or("Cargo.toml has no [workspace.package]")?;
    section
        .lines()
        .find_map(|l| l.strip_prefix("version = \"").and_then(|v| v.strip_suffix('"')))
        .map(str::to_string)
        .ok_or_else(|| "[workspace.package] has no version".into())
}

fn output(cmd: &mut Command) -> Result<String, String> {
    let o = cmd.output().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// The Python package as it lands in `dist-packages`, under `dir`: the
/// extension module (built by cargo: abi3, for every Python 3.9+), the
/// pure Python files and stubs, and a dist-info so that pip sees it.
fn python_tree(root: &Path, dir: &Path, version: &str) -> Result<(), String> {
    run(Command::new(env!("CARGO")).current_dir(root).args(["build", "--release", "--quiet", "-p", "discrec-python"]))?;
    let _ = fs::remove_dir_all(dir);
    let pkg = dir.join("discrec");
    fs::create_dir_all(&pkg).map_err(|e| e.to_string())?;
    let copy =
        |from: PathBuf, to: PathBuf| fs::copy(&from, &to).map(|_| ()).map_err(|e| format!("{}: {e}", from.display()));
    let module = pkg.join("_discrec.abi3.so");
    copy(root.join("target/release/lib_discrec.so"), module.clone())?;
    run(Command::new("strip")
        .args(["--strip-unneeded", "--remove-section=.comment", "--remove-section=.note"])
        .arg(&module))?;
    let src = root.join("crates/python/python/discrec");
    for e in fs::read_dir(&src).map_err(|e| e.to_string())? {
        let p = e.map_err(|e| e.to_string())?.path();
        if p.is_file() {
            copy(p.clone(), pkg.join(p.file_name().unwrap()))?;
        }
    }
    let info = dir.join(format!("discrec-{version}.dist-info"));
    fs::create_dir_all(&info).map_err(|e| e.to_string())?;
    let write = |name: &str, text: String| fs::write(info.join(name), text).map_err(|e| e.to_string());
    write(
        "METADATA",
        format!(
            "Metadata-Version: 2.1\nName: discrec\nVersion: {version}\nSummary: Exclusive access to disc recorders on Linux, with IMAPI2's shape\nLicense: MIT OR Apache-2.0\nRequires-Python: >=3.9\n"
        ),
    )?;
    write("top_level.txt", "discrec\n".into())?;
    write("INSTALLER", "debian\n".into())
}

/// A scratch directory with the `debian/control` dpkg's tools read.
fn control_dir(package: &str) -> Result<tempfile::TempDir, String> {
    let d = tempfile::tempdir().map_err(|e| e.to_string())?;
    fs::create_dir_all(d.path().join("debian")).map_err(|e| e.to_string())?;
    fs::write(d.path().join("debian/control"), format!("Source: discrec\n\nPackage: {package}\nArchitecture: any\n"))
        .map_err(|e| e.to_string())?;
    Ok(d)
}

/// `dpkg-gensymbols -c4`: the library's exports against
/// `debian/libdiscrec0.symbols`; the difference as the error.
pub fn check_symbols(root: &Path, lib: &Path, version: &str) -> Result<(), String> {
    let d = control_dir("libdiscrec0")?;
    let lib = fs::canonicalize(lib).map_err(|e| format!("{}: {e}", lib.display()))?;
    let symbols = root.join("debian/libdiscrec0.symbols");
    let o = Command::new("dpkg-gensymbols")
        .current_dir(d.path())
        .args(["-plibdiscrec0", &format!("-v{version}"), "-c4", "-q"])
        .arg(format!("-e{}", lib.display()))
        .arg(format!("-I{}", symbols.display()))
        .arg("-O/dev/null")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("dpkg-gensymbols: {e} (apt install dpkg-dev)"))?;
    if !o.status.success() {
        return Err(format!(
            "libdiscrec.so.0 does not export what debian/libdiscrec0.symbols lists (an ABI change: list a new call with the version that adds it; removing one needs a new soname):\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(())
}

/// Finish libdiscrec0: symbols, shlibs, the ldconfig trigger, Depends.
fn finish_library(root: &Path, deb: &Path, version: &str) -> Result<(), String> {
    let d = control_dir("libdiscrec0")?;
    let pkg = d.path().join("pkg");
    run(Command::new("dpkg-deb").arg("-R").arg(deb).arg(&pkg))?;
    let lib = pkg.join("usr/lib/x86_64-linux-gnu/libdiscrec.so.0");
    check_symbols(root, &lib, version)?;
    let control = pkg.join("DEBIAN");
    let copy = |from: &str, to: &str| {
        fs::copy(root.join(from), control.join(to)).map(|_| ()).map_err(|e| format!("{from}: {e}"))
    };
    copy("debian/libdiscrec0.symbols", "symbols")?;
    copy("debian/libdiscrec0/triggers", "triggers")?;
    fs::write(control.join("shlibs"), format!("libdiscrec 0 libdiscrec0 (>= {version})\n"))
        .map_err(|e| e.to_string())?;
    let deps = output(Command::new("dpkg-shlibdeps").current_dir(d.path()).args(["-O", "-e"]).arg(&lib))?;
    let deps = deps
        .lines()
        .find_map(|l| l.strip_prefix("shlibs:Depends="))
        .ok_or_else(|| format!("dpkg-shlibdeps said no Depends: {deps}"))?
        .to_string();
    let text = fs::read_to_string(control.join("control")).map_err(|e| e.to_string())?;
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("Depends:"))
        .flat_map(|l| {
            let mut v = vec![l.to_string()];
            if l.starts_with("Architecture:") {
                v.push(format!("Depends: {deps}"));
            }
            v
        })
        .map(|l| l + "\n")
        .collect();
    fs::write(control.join("control"), text).map_err(|e| e.to_string())?;
    run(Command::new("dpkg-deb").args(["--root-owner-group", "-Zxz", "-b"]).arg(&pkg).arg(deb))
}

/// Build the four packages into `target/debian`; their paths.
pub fn deb(root: &Path) -> Result<Vec<PathBuf>, String> {
    let version = version(root)?;
    let dist = crate::dist::dist_dir(root);
    println!("xtask deb: building the command, the C library and the Python module (release)");
    crate::dist::dist(root, &dist, "/usr", "/usr/lib/x86_64-linux-gnu")?;
    python_tree(root, &dist.join("python3"), &version)?;
    let capi = fs::read_to_string(root.join("crates/capi/Cargo.toml")).map_err(|e| e.to_string())?;
    if !capi.contains(&format!("depends = \"libdiscrec0 (= {version}-1)\"")) {
        return Err(format!("crates/capi/Cargo.toml: libdiscrec-dev must depend on libdiscrec0 (= {version}-1)"));
    }
    let out = root.join("target/debian");
    fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    for e in fs::read_dir(&out).map_err(|e| e.to_string())? {
        let p = e.map_err(|e| e.to_string())?.path();
        if p.extension().is_some_and(|x| x == "deb") {
            fs::remove_file(&p).map_err(|e| e.to_string())?;
        }
    }
    let mut debs = Vec::new();
    for (name, args) in [
        ("discrec", &["-p", "discrec-cli"][..]),
        ("libdiscrec0", &["-p", "discrec-capi"]),
        ("libdiscrec-dev", &["-p", "discrec-capi", "--variant", "dev"]),
        ("python3-discrec", &["-p", "discrec-python"]),
    ] {
        let o = Command::new("cargo")
            .current_dir(root)
            .args(["deb", "--no-build", "--quiet", "-o"])
            .arg(&out)
            .args(args)
            .output()
            .map_err(|e| format!("cargo deb: {e} (cargo install cargo-deb --locked)"))?;
        if !o.status.success() {
            return Err(format!("cargo deb {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr)));
        }
        let deb = out.join(format!("{name}_{version}-1_amd64.deb"));
        if !deb.exists() {
            return Err(format!("cargo deb {} made no {}", args.join(" "), deb.display()));
        }
        debs.push(deb);
    }
    finish_library(root, &debs[1], &version)?;
    println!("xtask deb: libdiscrec.so.0 exports what debian/libdiscrec0.symbols lists (dpkg-gensymbols -c4)");
    Ok(debs)
}

/// lintian on each package: no error, no warning (but those its override
/// explains). The report goes to stdout.
pub fn lintian(debs: &[PathBuf]) -> Result<bool, String> {
    let mut ok = true;
    for deb in debs {
        let o = Command::new("lintian")
            .args(["--fail-on", "error,warning"])
            .arg(deb)
            .output()
            .map_err(|e| format!("lintian: {e} (apt install lintian)"))?;
        let report: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| !l.starts_with("N:") && !l.is_empty())
            .map(str::to_string)
            .collect();
        for l in &report {
            println!("lintian: {l}");
        }
        println!(
            "lintian {}: {}",
            deb.file_name().unwrap().to_string_lossy(),
            if o.status.success() { "clean" } else { "FAILED" }
        );
        ok &= o.status.success();
    }
    Ok(ok)
}
