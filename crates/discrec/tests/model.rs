//! Model-based property test (spec C1, C5, C6, C7, C10, and the errors of
//! `docs/design.md`): random open/acquire/release/owner/close/drop/SIGKILL on four handles
//! spread over three real processes (two handles share a process), checked
//! after every step against a reference model that is a few lines long.

use crate::probe::*;
use crate::support::*;
use discrec::Recorder;
use proptest::prelude::*;

const HANDLES: usize = 4;
const PROCS: usize = 3;
/// Handle h lives in process PROC_OF[h]: handles 0 and 3 share process 0.
const PROC_OF: [usize; HANDLES] = [0, 1, 2, 0];
const NAMES: [&str; 3] = ["Alpha", "Beta Burner", "gamma-1.0"];

#[derive(Debug, Clone)]
enum Op {
    Open(usize),
    Acquire(usize, usize),
    Release(usize),
    Owner(usize),
    Close(usize),
    Drop(usize),
    Kill(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let h = 0..HANDLES;
    prop_oneof![
        2 => h.clone().prop_map(Op::Open),
        4 => (h.clone(), 0..NAMES.len()).prop_map(|(h, n)| Op::Acquire(h, n)),
        3 => h.clone().prop_map(Op::Release),
        2 => h.clone().prop_map(Op::Owner),
        1 => h.clone().prop_map(Op::Close),
        1 => h.prop_map(Op::Drop),
        1 => (0..PROCS).prop_map(Op::Kill),
    ]
}

/// The reference model.
#[derive(Debug, Clone, Copy, PartialEq)]
enum H {
    Absent,
    Open { count: u32, name: Option<usize> },
    Closed,
}

struct Model {
    h: [H; HANDLES],
}

impl Model {
    fn holder(&self) -> Option<(usize, usize)> {
        self.h.iter().enumerate().find_map(|(i, h)| match h {
            H::Open { count, name: Some(n) } if *count > 0 => Some((i, *n)),
            _ => None,
        })
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, max_shrink_iters: 200, ..ProptestConfig::default() })]
    #[test]
    fn lock_behaves_like_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let s = Scratch::new();
        let img = s.image("model.iso");
        let p = img.display().to_string();
        let mut procs: Vec<Probe> = (0..PROCS).map(|_| s.probe()).collect();
        let mut m = Model { h: [H::Absent; HANDLES] };
        let observer = Recorder::open_in(&img, &s.run).unwrap();

        for op in ops {
            match op {
                Op::Open(h) => {
                    // Re-opening a handle replaces (and so releases) the old one.
                    let r = procs[PROC_OF[h]].cmd(&format!("open {h} {p}"));
                    prop_assert_eq!(&r["ok"], true);
                    m.h[h] = H::Open { count: 0, name: None };
                }
                Op::Acquire(h, n) => {
                    if m.h[h] == H::Absent { continue; }
                    let r = procs[PROC_OF[h]].cmd(&format!("acquire {h} 0 {}", NAMES[n]));
                    match m.h[h] {
                        H::Closed => prop_assert_eq!(&r["error"], "ERROR_INVALID_HANDLE"),
                        H::Open { count, name } if count > 0 => {
                            prop_assert_eq!(&r["count"], count + 1);
                            m.h[h] = H::Open { count: count + 1, name };
                        }
                        H::Open { .. } => match m.holder() {
                            Some((_, hn)) => {
                                prop_assert_eq!(&r["error"], "E_IMAPI_RECORDER_LOCKED", "{}", r);
                                prop_assert!(r["msg"].as_str().unwrap().contains(NAMES[hn]), "{}", r);
                            }
                            None => {
                                prop_assert_eq!(&r["count"], 1, "{}", r);
                                m.h[h] = H::Open { count: 1, name: Some(n) };
                            }
                        },
                        H::Absent => unreachable!(),
                    }
                }
                Op::Release(h) => {
                    if m.h[h] == H::Absent { continue; }
                    let r = procs[PROC_OF[h]].cmd(&format!("release {h}"));
                    match m.h[h] {
                        H::Closed => prop_assert_eq!(&r["error"], "ERROR_INVALID_HANDLE"),
                        H::Open { count: 0, .. } => prop_assert_eq!(&r["error"], "ERROR_INVALID_FUNCTION"),
                        H::Open { count, name } => {
                            prop_assert_eq!(&r["count"], count - 1);
                            m.h[h] = H::Open { count: count - 1, name: if count == 1 { None } else { name } };
                        }
                        H::Absent => unreachable!(),
                    }
                }
                Op::Owner(h) => {
                    if m.h[h] == H::Absent { continue; }
                    let r = procs[PROC_OF[h]].cmd(&format!("owner {h}"));
                    if m.h[h] == H::Closed {
                        prop_assert_eq!(&r["error"], "ERROR_INVALID_HANDLE");
                    } else {
                        let want = m.holder().map(|(_, n)| NAMES[n]);
                        prop_assert_eq!(r["owner"]["client_name"].as_str(), want);
                    }
                }
                Op::Close(h) => {
                    if m.h[h] == H::Absent { continue; }
                    let r = procs[PROC_OF[h]].cmd(&format!("close {h}"));
                    if m.h[h] == H::Closed {
                        prop_assert_eq!(&r["error"], "ERROR_INVALID_HANDLE");
                    } else {
                        prop_assert_eq!(&r["ok"], true);
                        m.h[h] = H::Closed;
                    }
                }
                Op::Drop(h) => {
                    procs[PROC_OF[h]].cmd(&format!("drop {h}"));
                    m.h[h] = H::Absent;
                }
                Op::Kill(pi) => {
                    procs[pi].kill9();
                    procs[pi] = s.probe();
                    for (h, state) in m.h.iter_mut().enumerate() {
                        if PROC_OF[h] == pi {
                            *state = H::Absent;
                        }
                    }
                }
            }
            // After every step an outside observer sees exactly the model's holder.
            let seen = observer.exclusive_access_owner().unwrap();
            match m.holder() {
                Some((h, n)) => {
                    let o = seen.expect("model says held");
                    prop_assert_eq!(o.client_name.as_deref(), Some(NAMES[n]));
                    prop_assert_eq!(o.pid, Some(procs[PROC_OF[h]].pid));
                }
                None => prop_assert!(seen.is_none(), "model says free, observer saw {:?}", seen),
            }
        }
    }
}
