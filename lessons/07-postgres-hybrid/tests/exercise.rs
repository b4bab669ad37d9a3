//! Checks for lesson 07's exercise. `cargo test -p l07-postgres-hybrid` runs them against
//! src/solution.rs; `cargo exercise l07-postgres-hybrid` against your src/exercise.rs.
//!
//! The first checks call `decide` with made-up facts; the last two set up a real leftover
//! (a lock file of a dead process, and its segment, stale or still attached) and run the
//! lesson's own `lock_data_dir`, which calls your `decide`.

use std::path::Path;

use l05_sysv_segments::{remove, segment_stat};
use l06_keys_and_strangers::{Found, Key, create_from, key_from_inode};
use l07_postgres_hybrid::exercise::decide;
use l07_postgres_hybrid::{Decision, LOCK_FILE, Note, PidFile, lock_data_dir};

const KEY: Key = 0x0005_d4a2;
const SHMID: i32 = 163_880;

/// A lock file of PID 4242 for /srv/data, with line 7 written.
fn lock_file() -> PidFile {
    let mut found = PidFile::new(Path::new("/srv/data"), 1_795_682_337);
    found.pid = 4242;
    found.shmem = Some((KEY, SHMID));
    found
}

const IN_USE: Found = Found::OursInUse {
    nattch: 3,
    creator_pid: 4242,
};

#[test]
fn a_live_postmaster_is_running() {
    assert_eq!(
        decide(&lock_file(), true, Some(IN_USE)),
        Decision::Running { pid: 4242 },
        "the lock file's PID is alive: another postmaster owns the directory. Return \
         Decision::Running with that PID"
    );
}

#[test]
fn a_live_postmaster_wins_over_everything_the_segment_says() {
    for segment in [
        Some(Found::OursStale),
        Some(Found::Gone),
        Some(Found::Stranger),
        None,
    ] {
        assert_eq!(
            decide(&lock_file(), true, segment),
            Decision::Running { pid: 4242 },
            "with the PID alive and the segment {segment:?}, still Running: look at the PID \
             first (and never remove a live server's segment)"
        );
    }
}

#[test]
fn a_live_postmaster_still_starting_is_running() {
    // Lines 1-6 written, line 7 not yet: a server in the middle of its start.
    let mut starting = lock_file();
    starting.shmem = None;
    assert_eq!(
        decide(&starting, true, None),
        Decision::Running { pid: 4242 },
        "the PID is alive, though line 7 is not written yet: a server in the middle of its \
         start. Still Running; a missing line 7 says nothing about a live PID"
    );
}

#[test]
fn a_dead_postmaster_with_attached_children_is_refused() {
    assert_eq!(
        decide(&lock_file(), false, Some(IN_USE)),
        Decision::SegmentInUse {
            key: KEY,
            shmid: SHMID,
            nattch: 3
        },
        "the PID is dead, but 3 processes still have its segment attached: the old \
         postmaster's children may still be writing. Refuse with SegmentInUse (key and shmid \
         from line 7, nattch from classify); a dead PID alone is not enough to start"
    );
}

#[test]
fn a_stale_segment_of_ours_is_removed() {
    assert_eq!(
        decide(&lock_file(), false, Some(Found::OursStale)),
        Decision::Stale {
            remove_segment: Some(SHMID)
        },
        "dead PID, our segment, nobody attached: left by a crash. Return Stale with \
         remove_segment: Some(the shmid from line 7)"
    );
}

#[test]
fn a_strangers_segment_is_never_removed() {
    assert_eq!(
        decide(&lock_file(), false, Some(Found::Stranger)),
        Decision::Stale {
            remove_segment: None
        },
        "the recorded shmid now names a stranger's segment (ids are reused): start, but never \
         remove it (remove_segment: None)"
    );
}

#[test]
fn no_segment_means_stale_with_nothing_to_remove() {
    let mut half_written = lock_file();
    half_written.shmem = None;
    for (found, segment, what) in [
        (lock_file(), Some(Found::Gone), "the segment is gone"),
        (half_written, None, "line 7 was never written"),
    ] {
        assert_eq!(
            decide(&found, false, segment),
            Decision::Stale {
                remove_segment: None
            },
            "dead PID and {what}: nobody is home and nothing is ours to remove"
        );
    }
}

/// A pid that was alive a moment ago and is not now.
fn dead_pid() -> i32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id() as i32;
    child.wait().unwrap();
    pid
}

/// A segment made for `dir` and left as a crash leaves it: with the lock file of a dead
/// PID recording it. Attached (`keep_attached`) or not. Removed on drop if still there.
struct Leftover {
    shmid: i32,
    _attachment: Option<l05_sysv_segments::Attachment>,
}

impl Leftover {
    fn new(dir: &Path, keep_attached: bool) -> Leftover {
        let created = create_from(dir, 64, 7, key_from_inode(dir).unwrap(), &mut |_| {}).unwrap();
        let shmid = created.segment.keep();
        let mut found = PidFile::new(dir, 1_795_682_337);
        found.pid = dead_pid();
        found.shmem = Some((created.key, shmid));
        std::fs::write(dir.join(LOCK_FILE), found.render()).unwrap();
        Leftover {
            shmid,
            _attachment: keep_attached.then_some(created.attachment),
        }
    }
}

impl Drop for Leftover {
    fn drop(&mut self) {
        let _ = remove(self.shmid);
    }
}

#[test]
fn a_real_stale_leftover_is_cleaned_up_and_the_start_proceeds() {
    let tmp = tempfile::tempdir().unwrap();
    let leftover = Leftover::new(tmp.path(), false);
    let mut notes = Vec::new();
    let lock = lock_data_dir(tmp.path(), 0, &mut notes).unwrap_or_else(|err| {
        panic!("a lock file of a dead process with an unattached segment is stale; got: {err}")
    });
    assert!(
        segment_stat(leftover.shmid).is_err(),
        "the stale segment shmid {} is still there: remove_segment should name it",
        leftover.shmid
    );
    assert!(
        notes
            .iter()
            .any(|n| matches!(n, Note::RemovedSegment { .. }))
    );
    drop(lock);
}

#[test]
fn a_real_attached_leftover_is_refused_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let leftover = Leftover::new(tmp.path(), true);
    let err = lock_data_dir(tmp.path(), 0, &mut Vec::new())
        .map(drop)
        .expect_err("the PID is dead but the segment is attached (by this test): refuse");
    assert!(err.to_string().contains("still in use"), "{err}");
    assert_eq!(
        segment_stat(leftover.shmid).unwrap().nattch,
        1,
        "and never remove it"
    );
    assert!(tmp.path().join(LOCK_FILE).exists(), "nor its lock file");
}
