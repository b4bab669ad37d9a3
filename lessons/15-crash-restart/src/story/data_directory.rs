//! The first step of every start: take the data directory (lesson 07's `lock_data_dir`,
//! which finds what a postmaster killed with SIGKILL left behind), then decide between a
//! fresh cluster (`initdb`) and the files of one that did not shut down, which must be
//! recovered.

use std::path::Path;

use common::{Result, parent};
use l06_keys_and_strangers::key_hex;
use l07_postgres_hybrid::{LockFile, Note, lock_data_dir, now, read_lock_file};
use l14_mini_postmaster::{CONTROL_FILE, ControlFile, DataFiles, DbState, WAL_FILE};
use l15_crash_restart::{NOTEBOOK_FILE, Notebook};
use nix::unistd::getpid;

use crate::{Start, step};

// ANCHOR: take
/// `CreateLockFile`, then `initdb` if there is nothing to recover.
pub fn take_the_directory(dir: &Path, start: Start) -> Result<LockFile> {
    let found_pid_file = read_lock_file(dir)?.is_some();
    let mut notes = Vec::new();
    let lock = lock_data_dir(dir, now(), &mut notes)?;
    step(&format!("Start: the data directory {}", dir.display()));
    if found_pid_file {
        // pg_ctl says this whenever postmaster.pid exists, before the server looks closer.
        parent!("pg_ctl: another server might be running; trying to start server anyway");
    }
    for note in notes {
        match note {
            Note::StaleLockFile { pid } => {
                parent!("postmaster.pid names PID {pid}, which is not running: stale, deleted")
            }
            Note::RemovedSegment { key, shmid } => parent!(
                "its shared memory block (key {}, shmid {shmid}) is ours with shm_nattch 0: \
                 nobody uses it; IPC_RMID",
                key_hex(key)
            ),
            Note::LeftSegment { shmid, found } => {
                parent!("its shared memory block shmid {shmid} is {found}: left alone")
            }
        }
    }
    parent!(
        "the postmaster is parent pid {}; postmaster.pid is ours",
        getpid()
    );
    let control = ControlFile::read(dir).ok();
    let crashed = control.is_some_and(|c| c.state != DbState::ShutDown);
    if start == Start::Fresh || !crashed {
        DataFiles::create(dir)?;
        Notebook::create(dir)?;
        parent!(
            "initdb: an empty table and {WAL_FILE}, an empty {NOTEBOOK_FILE}; {CONTROL_FILE}: shut down"
        );
    } else {
        parent!(
            "{CONTROL_FILE}: {}: the last server did not shut down; its files are kept",
            control.expect("crashed").state.name()
        );
    }
    Ok(lock)
}
// ANCHOR_END: take
