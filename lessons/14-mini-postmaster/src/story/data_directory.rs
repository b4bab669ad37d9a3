//! Step 1: take the data directory, as lesson 07 does (`postmaster.pid`, and whatever a
//! server killed with `kill -9` left behind), then create the files a run works in: our
//! `initdb`.

use std::path::Path;

use common::{Result, parent};
use l07_postgres_hybrid::{LockFile, lock_data_dir, now};
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
        parent!("{note}");
    }
    parent!("postmaster.pid written whole (O_TMPFILE, then linkat): the directory is ours");
    DataFiles::create(dir)?;
    parent!("initdb: empty {TABLE_FILE} (the table) and {WAL_FILE}; {CONTROL_FILE}: shut down");
    Ok(lock)
}
// ANCHOR_END: lock
