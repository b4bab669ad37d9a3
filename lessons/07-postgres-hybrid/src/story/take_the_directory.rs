//! Step 1: take the data directory, by creating its lock file, and tell what was found there.
//!
//! A start that finds a lock file left by a dead server cleans up before it takes the
//! directory (`lock_data_dir`); what it removed or left alone is worth a line each, since
//! that is how a reader learns what a crash leaves behind.

use std::path::Path;

use common::{Result, parent, section};
use l07_postgres_hybrid::{LockFile, lock_data_dir, now};

// ANCHOR: lock
pub fn take_the_directory(dir: &Path) -> Result<LockFile> {
    let mut notes = Vec::new();
    let lock = lock_data_dir(dir, now(), &mut notes)?;
    section(&format!(
        "1. Take the data directory: {}",
        lock.path().display()
    ));
    for note in notes {
        parent!("{note}");
    }
    parent!(
        "open(DIR, O_TMPFILE), write, linkat(\"{}\"): created whole; the directory is ours",
        lock.path().display()
    );
    Ok(lock)
}
// ANCHOR_END: lock
