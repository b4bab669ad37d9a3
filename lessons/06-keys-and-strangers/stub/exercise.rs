//! Lesson 06's exercise: whose segment is this?
//!
//! Write `classify`, then run `cargo course check 06` until it is green. The whole lesson
//! runs on your answer: `create_from`, `find_for_dir` and the binary (run it with
//! `--features exercise`) all call it. `cargo course hint 06` gives hints, one level at a
//! time; src/solution.rs has an answer.

use std::path::Path;

use common::Result;

#[allow(unused_imports)] // you will need these
use crate::{DirId, Found, errno_of, read_header};
#[allow(unused_imports)]
use l05_sysv_segments::{attach_read_only, segment_stat};
#[allow(unused_imports)]
use nix::errno::Errno;

/// What the segment `shmid`, found at the key of directory `dir`, is to us: PostgreSQL's
/// `PGSharedMemoryAttach`. Only looks: it attaches for a moment, read-only (the segment
/// may be anybody's: `attach_read_only`), and removes nothing.
///
/// - `Found::Gone` if there is no such segment (any more);
/// - `Found::Stranger` if it is not ours: we may not read it, or it has no header of ours,
///   or its header names another directory;
/// - `Found::OursStale` if it is ours and no process had it attached;
/// - `Found::OursInUse { nattch, creator_pid }` if it is ours and `nattch` processes had it
///   attached (not counting this call's own look inside).
///
/// Any other failure is an error: the caller cannot tell, and must not touch the segment.
pub fn classify(shmid: i32, dir: &Path) -> Result<Found> {
    let _ = (shmid, dir);
    todo!("IPC_STAT first (nattch, and which errors mean what), then attach and compare the header")
}
