//! The library's integration tests, one binary (as ripgrep's
//! `tests/tests.rs`): each module tests one part of the public API from
//! outside, with real processes (`discrec-probe`, a library client of its
//! own), real files, loop devices, a second user and a loaded machine.
//! The command line's own tests (`discrec lock`, `burn`, output and exit
//! codes) are in its package's `tests/`; CONTRIBUTING.md lists the tiers.

mod support;
mod probe;

mod busy;
mod burn;
mod errors;
mod layout;
mod loopdev;
mod model;
mod multiprocess;
mod run_holding;
mod second_user;
