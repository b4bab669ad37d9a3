//! `remove DIR`: `IPC_RMID` on DIR's segment, and on nothing else.
//!
//! Never a stranger's segment (the search walks past them), never a server's interlock, and
//! not ours while a process has it attached, unless `--force`: PostgreSQL never removes a
//! segment in use, since the processes attached to it may still be writing.

use std::path::Path;

use common::{Error, Result};
use l05_sysv_segments::remove;
use l06_keys_and_strangers::Found;

use crate::KeyFrom;
use crate::story::locate::{first_key, locate, not_an_interlock, said};

// ANCHOR: remove
pub fn remove_dir(dir: &Path, key_from: KeyFrom, force: bool) -> Result<()> {
    let first = first_key(dir, key_from)?;
    let probe = locate(dir, first, &mut |probe| println!("{}", said(probe, dir)))?;
    not_an_interlock(&probe, dir, "remove")?;
    match probe.found {
        Found::OursInUse { nattch, .. } if !force => Err(Error::Failed(format!(
            "shmid {} is in use by {nattch} process{}: removing it would pull it out from \
             under them (PostgreSQL never removes a segment in use); stop them first, or add \
             --force",
            probe.shmid,
            if nattch == 1 { "" } else { "es" }
        ))),
        Found::OursInUse { nattch, .. } => {
            remove(probe.shmid)?;
            println!(
                "shmctl(shmid {}, IPC_RMID): marked for removal; the key is free at once, the \
                 memory goes when the {nattch} attached process{} detach",
                probe.shmid,
                if nattch == 1 { "" } else { "es" }
            );
            Ok(())
        }
        _ => {
            remove(probe.shmid)?;
            println!("shmctl(shmid {}, IPC_RMID): removed", probe.shmid);
            Ok(())
        }
    }
}
// ANCHOR_END: remove
