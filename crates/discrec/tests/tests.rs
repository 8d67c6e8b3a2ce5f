//! The library's integration tests, one binary: each module tests one
//! part of the public API from outside, with real processes and files.
//! (The tests that drive the `discrec` command and the probe program, and
//! the loop-device, second-user and busy-machine tiers, are in the
//! command line's package: see CONTRIBUTING.md.)

mod errors;
mod layout;
mod run_holding;
mod util;
