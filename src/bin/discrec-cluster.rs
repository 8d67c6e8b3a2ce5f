//! `discrec-cluster`: the `discrec` command line built with the cluster
//! lock, which a `discrec` built without it runs in its place when given a
//! cluster option (see `discrec_cli::cluster`).

fn main() -> std::process::ExitCode {
    discrec_cli::run()
}
