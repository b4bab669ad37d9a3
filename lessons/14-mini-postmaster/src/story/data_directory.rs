//! Step 1: take the data directory, as lesson 07 does (`postmaster.pid`, and whatever a
//! server killed with `kill -9` left behind), then create the files a run works in: our
//! `initdb`.

use std::path::Path;

use common::{Result, parent};
use l06_keys_and_strangers::key_hex;
use l07_postgres_hybrid::{LockFile, Note, lock_data_dir, now};
use l14_mini_postmaster::{CONTROL_FILE, DataFiles, TABLE_FILE, WAL_FILE};

use crate::step;

// ANCHOR: lock
pub fn take_the_directory(dir: &Path) -> Result<LockFile> {
    let mut notes = Vec::new();
    let lock = lock_data_dir(dir, now(), &mut notes)?;
    step(&format!(
        "Take the data directory: {}",
        lock.path().display()
    ));
    parent!("the postmaster is parent pid {}", std::process::id());
    // What a server that died without cleaning up (kill -9) left behind, and what became of it.
    for note in notes {
        match note {
            Note::StaleLockFile { pid } => parent!(
                "found a lock file of PID {pid}, which is not running: another server might \
                 have been running; trying to start anyway"
            ),
            Note::RemovedSegment { key, shmid } => parent!(
                "its segment (key {}, shmid {shmid}) is ours and nobody has it attached: \
                 removed it",
                key_hex(key)
            ),
            Note::LeftSegment { shmid, found } => {
                parent!("its segment shmid {shmid} is {found} now: left it alone")
            }
        }
    }
    parent!("open(\"postmaster.pid\", O_CREAT|O_EXCL, 0600): created; the directory is ours");
    DataFiles::create(dir)?;
    parent!("initdb: empty {TABLE_FILE} (the table) and {WAL_FILE}; {CONTROL_FILE}: shut down");
    Ok(lock)
}
// ANCHOR_END: lock
