//! Lesson 07's exercise: start, or refuse?
//!
//! Write `decide`, then run `cargo course check 07` until it is green. With the `exercise`
//! feature on, the lesson's own `start` uses your `decide` too:
//! `cargo run -p l07-postgres-hybrid --features exercise -- start DIR`.
//! `cargo course hint 07` gives hints, one level at a time; src/solution.rs has an answer.

#[allow(unused_imports)] // you will need this
use l06_keys_and_strangers::Found;

use crate::{Decision, PidFile};

/// What to do about the lock file `found` in the data directory, given whether its PID is
/// alive ([`crate::owner_alive`]) and what lesson 06's `classify` said about the segment its
/// line 7 records (`None` if line 7 is not written yet).
pub fn decide(found: &PidFile, pid_alive: bool, segment: Option<Found>) -> Decision {
    let _ = (found, pid_alive, segment);
    todo!("refuse while the PID lives or its segment is attached; otherwise clean up and start")
}
