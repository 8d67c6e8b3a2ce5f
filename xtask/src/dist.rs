//! `cargo xtask dist`: everything an installation ships, built and laid
//! out under `target/dist` as it lands under `/usr`, generated from the
//! code rather than written by hand:
//!
//! * `bin/discrec` (release), built without the cluster lock, and
//!   `libexec/discrec/discrec-cluster`, the same command line with it,
//!   which `discrec` runs when given a cluster option: the etcd client
//!   costs start-up time (page faults of its relocated data) to every
//!   command, and only the cluster ones use it;
//! * `bin/discrec-vdrive`, the virtual disc recorder, and its page
//!   `discrec-vdrive.1`;
//! * `lib/libdiscrec.so.0` (soname `libdiscrec.so.0`), the `libdiscrec.so`
//!   link to it, `lib/libdiscrec.a` (built as `libdiscrec_capi.*`);
//! * `include/discrec.h`, from the C library's Rust code by cbindgen;
//! * `lib/pkgconfig/discrec.pc`;
//! * `share/man/man1/discrec.1` and `discrec-SUBCOMMAND.1`, from the clap
//!   definitions by clap_mangen;
//! * shell completions for bash, zsh and fish, by clap_complete;
//! * `lib/tmpfiles.d/discrec.conf` (so `/run/discrec` exists at boot).
//!
//! The Debian package (`cargo deb --no-build`, metadata in the root
//! `Cargo.toml`) takes its files from here.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;

/// Where it lands: `target/dist`.
pub fn dist_dir(root: &Path) -> PathBuf {
    root.join("target/dist")
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), String> {
    fs::create_dir_all(path.parent().unwrap()).map_err(|e| e.to_string())?;
    fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    fs::create_dir_all(to.parent().unwrap()).map_err(|e| e.to_string())?;
    fs::copy(from, to).map(|_| ()).map_err(|e| format!("{} -> {}: {e}", from.display(), to.display()))
}

/// The C header, from `crates/capi` by cbindgen.
pub fn header(root: &Path) -> Result<String, String> {
    let crate_dir = root.join("crates/capi");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).map_err(|e| e.to_string())?;
    let bindings = cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .map_err(|e| format!("cbindgen: {e}"))?;
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// Man pages: `discrec.1` and one per subcommand.
fn man_pages(dir: &Path) -> Result<Vec<PathBuf>, String> {
    // No `help` subcommand: it has no page of its own.
    let cmd = discrec_cli::args::Cli::command().disable_help_subcommand(true);
    let mut written = Vec::new();
    let mut page = |cmd: clap::Command, name: String| -> Result<(), String> {
        let mut buf = Vec::new();
        // The page is discrec-lock(1); its synopsis says `discrec lock`.
        let shown = name.replacen("discrec-", "discrec ", 1);
        clap_mangen::Man::new(cmd.name(name.clone()).bin_name(shown)).render(&mut buf).map_err(|e| e.to_string())?;
        let path = dir.join(format!("{name}.1"));
        write(&path, buf)?;
        written.push(path);
        Ok(())
    };
    for sub in cmd.get_subcommands() {
        page(sub.clone(), format!("discrec-{}", sub.get_name()))?;
    }
    page(cmd, "discrec".into())?;
    // The virtual drive: one page, its subcommands in it.
    let vd = discrec_vdrive::cli::Cli::command().disable_help_subcommand(true);
    let mut buf = Vec::new();
    clap_mangen::Man::new(vd).render(&mut buf).map_err(|e| e.to_string())?;
    let path = dir.join("discrec-vdrive.1");
    write(&path, buf)?;
    written.push(path);
    Ok(written)
}

/// Completions for bash, zsh and fish.
fn completions(dist: &Path) -> Result<(), String> {
    use clap_complete::Shell;
    for (shell, path) in [
        (Shell::Bash, "share/bash-completion/completions/discrec"),
        (Shell::Zsh, "share/zsh/vendor-completions/_discrec"),
        (Shell::Fish, "share/fish/vendor_completions.d/discrec.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut discrec_cli::args::Cli::command(), "discrec", &mut buf);
        write(&dist.join(path), buf)?;
    }
    Ok(())
}

/// `discrec.pc` for `prefix` (libraries in `libdir`).
pub fn pkg_config(prefix: &str, libdir: &str) -> String {
    format!(
        "prefix={prefix}\nlibdir={libdir}\nincludedir=${{prefix}}/include\n\n\
         Name: discrec\n\
         Description: Exclusive access to disc recorders, with IMAPI2's shape\n\
         Version: {}\n\
         Libs: -L${{libdir}} -ldiscrec\n\
         Libs.private: -lpthread -ldl -lm\n\
         Cflags: -I${{includedir}}\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// Build and lay out everything under `dist`; `prefix`/`libdir` go into
/// `discrec.pc`.
pub fn dist(root: &Path, dist: &Path, prefix: &str, libdir: &str) -> Result<PathBuf, String> {
    // Separate builds: `--bin` would also filter the C library's package,
    // and features are the same for every binary of one build.
    for what in [
        &["-p", "discrec-cli", "--no-default-features", "--bin", "discrec"][..],
        &["-p", "discrec-cli", "--bin", "discrec-cluster"],
        &["-p", "discrec-capi", "--lib"],
        &["-p", "discrec-vdrive", "--bin", "discrec-vdrive"],
    ] {
        let st = Command::new(env!("CARGO"))
            .current_dir(root)
            .args(["build", "--release", "--quiet"])
            .args(what)
            .status()
            .map_err(|e| e.to_string())?;
        if !st.success() {
            return Err(format!("cargo build --release {} failed", what.join(" ")));
        }
    }
    let release = root.join("target/release");
    let dist = dist.to_path_buf();
    let _ = fs::remove_dir_all(&dist);
    copy(&release.join("discrec"), &dist.join("bin/discrec"))?;
    copy(&release.join("discrec-cluster"), &dist.join("libexec/discrec/discrec-cluster"))?;
    copy(&release.join("discrec-vdrive"), &dist.join("bin/discrec-vdrive"))?;
    copy(&release.join("libdiscrec_capi.so"), &dist.join("lib/libdiscrec.so.0"))?;
    std::os::unix::fs::symlink("libdiscrec.so.0", dist.join("lib/libdiscrec.so")).map_err(|e| e.to_string())?;
    copy(&release.join("libdiscrec_capi.a"), &dist.join("lib/libdiscrec.a"))?;
    // Stripped as Debian ships them (the archive keeps its symbols, for
    // linking, and loses only debug sections).
    for (file, how) in [
        ("bin/discrec", "--strip-unneeded"),
        ("libexec/discrec/discrec-cluster", "--strip-unneeded"),
        ("bin/discrec-vdrive", "--strip-unneeded"),
        ("lib/libdiscrec.so.0", "--strip-unneeded"),
        ("lib/libdiscrec.a", "--strip-debug"),
    ] {
        let st = Command::new("strip")
            .arg(how)
            .arg(dist.join(file))
            .status()
            .map_err(|e| format!("strip: {e} (apt install binutils)"))?;
        if !st.success() {
            return Err(format!("strip {how} {file} failed"));
        }
    }
    write(&dist.join("include/discrec.h"), header(root)?)?;
    write(&dist.join("lib/pkgconfig/discrec.pc"), pkg_config(prefix, libdir))?;
    man_pages(&dist.join("share/man/man1"))?;
    completions(&dist)?;
    copy(&root.join("contrib/tmpfiles.d/discrec.conf"), &dist.join("lib/tmpfiles.d/discrec.conf"))?;
    Ok(dist)
}
