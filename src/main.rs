//! `discrec`: the command line. Everything is in the `discrec_cli` library
//! target (src/lib.rs), over the `discrec` library.

fn main() -> std::process::ExitCode {
    discrec_cli::run()
}
