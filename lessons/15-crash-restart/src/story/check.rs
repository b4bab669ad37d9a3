//! When the postmaster checks, and what it concludes: right after a recovery, and once more
//! after the shutdown. Both read the files only (the library's `check`): shared memory is
//! gone, or not trusted.

use std::path::Path;

use common::{Error, Result, parent};
use l14_mini_postmaster::{CONTROL_FILE, ControlFile, DataFiles, DbState, RECORD_SIZE, WAL_FILE};
use l15_crash_restart::check;

use super::shmem::yes;
use crate::step;

pub fn check_after_recovery(dir: &Path) -> Result<()> {
    step("Check, from the files only: committed is kept, uncommitted is gone");
    let checked = check(dir, true)?;
    parent!(
        "committed: kept (all {} rows); uncommitted: {}",
        checked.rows,
        if checked.uncommitted_gone {
            "gone"
        } else {
            "none was in flight"
        }
    );
    Ok(())
}

pub fn final_check(dir: &Path) -> Result<()> {
    step("Check again after the shutdown, from the files only");
    let checked = check(dir, false)?;
    let control = ControlFile::read(dir)?;
    let wal_end = DataFiles::open(dir)?.read_wal(0)?.len() * RECORD_SIZE;
    let clean = control.state == DbState::ShutDown && control.redo == wal_end as u64;
    parent!(
        "{CONTROL_FILE}: {}, its redo point the end of {WAL_FILE}: {}",
        control.state.name(),
        yes(clean)
    );
    if !clean {
        return Err(Error::Failed(format!(
            "check failed: {CONTROL_FILE} should say \"shut down\" at the end of the WAL"
        )));
    }
    parent!(
        "consistent: all {} rows, every acknowledged commit kept",
        checked.rows
    );
    Ok(())
}
