//! Lesson 07's exercise, solved: start, or refuse?

use l06_keys_and_strangers::Found;

use crate::{Decision, PidFile};

// ANCHOR: decide
/// What to do about the lock file `found` in the data directory, given whether its PID is
/// alive ([`crate::owner_alive`]) and what lesson 06's `classify` said about the segment its
/// line 7 records (`None` if line 7 is not written yet).
pub fn decide(found: &PidFile, pid_alive: bool, segment: Option<Found>) -> Decision {
    // 1. The postmaster itself is alive: nothing else matters.
    if pid_alive {
        return Decision::Running { pid: found.pid };
    }
    // 2. It is dead. Its children may not be: the segment's attach count says.
    match (found.shmem, segment) {
        (Some((key, shmid)), Some(Found::OursInUse { nattch, .. })) => {
            Decision::SegmentInUse { key, shmid, nattch }
        }
        // 3. Ours, and nobody attached: left behind by a crash. Remove it.
        (Some((_, shmid)), Some(Found::OursStale)) => Decision::Stale {
            remove_segment: Some(shmid),
        },
        // 4. No segment recorded, or it is gone, or the id now names a stranger's segment
        //    (ids are reused): nothing of ours to remove, and nothing to refuse for.
        _ => Decision::Stale {
            remove_segment: None,
        },
    }
}
// ANCHOR_END: decide
