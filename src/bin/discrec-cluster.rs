//! `discrec-cluster`: the `discrec` command line built with the cluster
//! lock, which a `discrec` built without it runs in its place when given a
//! cluster option (see `discrec_cli::cluster`).

fn main() -> std::process::ExitCode {
    // Named as the command the user ran: owner records and `owner` show a
    // holder by this name (the kernel took it from this file's name).
    let _ = rustix::thread::set_name(c"discrec");
    discrec_cli::run()
}
