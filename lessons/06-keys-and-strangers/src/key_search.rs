//! PostgreSQL's key search (`PGSharedMemoryCreate`): a new segment for a directory, at the
//! first usable key from the directory's own.
//!
//! `IPC_CREAT|IPC_EXCL` makes a new segment or fails: it never hands back somebody else's.
//! When the key is taken, [`classify`] says by whom, and the search acts on
//! it: past a stranger's segment to the next key; a stale one of ours removed and its key
//! taken; ours in use, a refusal that names the directory. A real PostgreSQL's interlock for
//! the directory is a stranger's to `classify` (it has no course tag), but while it is in use
//! the search refuses, as PostgreSQL would. A creator killed before its header
//! is written leaves zeros nobody can recognize, so it leaves a mark first (lesson 05's
//! leftovers), and the next search removes what such a run left.

use std::path::Path;

use common::{Error, Result};
use l05_sysv_segments::leftovers::{mark, remove_left_by_killed_runs};
use l05_sysv_segments::{Attachment, IPC_PRIVATE, Key, Segment, attach, find, remove};
use nix::errno::Errno;

use crate::classify;
use crate::found::{Found, errno_of};
use crate::header::{Header, write_header};
use crate::keys::{DirId, key_hex};
use crate::postgresql::postgresql_interlock;

/// One segment a key search looked at: the key, the segment's id, and whose it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub key: Key,
    pub shmid: i32,
    pub found: Found,
}

/// How many keys a search tries before it gives up. PostgreSQL's loop has no limit; one
/// here turns "every key is taken" (or a bug) into an error instead of a hang.
pub const MAX_PROBES: u32 = 1000;

/// The key after `key`, skipping 0, which is `IPC_PRIVATE` and never names a shared segment.
pub fn next_key(key: Key) -> Key {
    match key.wrapping_add(1) {
        IPC_PRIVATE => 1,
        next => next,
    }
}

/// A segment just made by [`create_from`]: its header written, still attached.
#[derive(Debug)]
pub struct Created {
    pub segment: Segment,
    pub attachment: Attachment,
    pub key: Key,
}

/// The mark a process leaves while it creates a segment (see [`create_from`]).
const CREATING: &str = "l06-creating";

// ANCHOR: create
/// The key search of `PGSharedMemoryCreate`, from `first_key`, for a segment of `size` bytes
/// whose header carries lesson `lesson`'s tag. `report` hears of every segment that already
/// held a key, and what [`classify`] said about it.
pub fn create_from(
    dir: &Path,
    size: usize,
    lesson: u8,
    first_key: Key,
    report: &mut dyn FnMut(&Probe),
) -> Result<Created> {
    let dir_id = DirId::of(dir)?;
    if size < size_of::<Header>() {
        return Err(Error::Usage(format!(
            "{size} bytes cannot hold the {}-byte header",
            size_of::<Header>()
        )));
    }
    // Until its header is written a new segment is all zeros, a stranger's to everybody:
    // a creator killed in that moment is found by its mark instead (lesson 05's leftovers).
    let program = std::env::args().next().unwrap_or_default();
    let program = program.rsplit('/').next().unwrap_or_default();
    for removed in remove_left_by_killed_runs(CREATING)? {
        eprintln!("{program}: {removed}");
    }
    let mark = mark(CREATING)?;
    let mut key = first_key;
    for _ in 0..MAX_PROBES {
        // IPC_EXCL: a new segment or an error, never somebody else's existing one.
        match Segment::create(key, size, 0o600) {
            Ok(segment) => {
                let attachment = attach(segment.id())?;
                write_header(&attachment, &Header::new(dir_id, size, lesson));
                drop(mark); // ours for all to see from now on
                return Ok(Created {
                    segment,
                    attachment,
                    key,
                });
            }
            // The key is taken (EEXIST; PostgreSQL also accepts EACCES and EIDRM here).
            Err(err)
                if matches!(
                    errno_of(&err),
                    Some(Errno::EEXIST | Errno::EACCES | Errno::EIDRM)
                ) => {}
            Err(err) => return Err(err),
        }
        let Some(shmid) = find(key)? else {
            continue; // removed since shmget said EEXIST: the key is free, try it again
        };
        let found = classify(shmid, dir)?;
        // A real server's interlock for this directory is no stranger while it is attached:
        // PostgreSQL would refuse to start beside it, and so do we.
        if found == Found::Stranger
            && let Some(theirs) = postgresql_interlock(shmid, dir)?
            && theirs.nattch > 0
        {
            return Err(theirs.in_use(dir));
        }
        report(&Probe { key, shmid, found });
        match found {
            Found::Stranger => key = next_key(key),
            // Ours, left behind: remove it and take its key. If that fails, it was not so
            // clearly ours after all; like PostgreSQL, move on.
            Found::OursStale => {
                if remove(shmid).is_err() {
                    key = next_key(key)
                }
            }
            Found::Gone => {} // removed meanwhile: the same key again
            Found::OursInUse { nattch, .. } => {
                return Err(Error::Failed(format!(
                    "the segment for {dir} (key {}, shmid {shmid}) is still in use by {nattch} \
                     process{}; is another process using {dir}? Stop it, then try again",
                    key_hex(key),
                    if nattch == 1 { "" } else { "es" },
                    dir = dir.display(),
                )));
            }
        }
    }
    Err(too_many_keys(dir, first_key))
}
// ANCHOR_END: create

/// The error of a search (this one or `find_for_dir`) that met nothing but taken keys.
pub(crate) fn too_many_keys(dir: &Path, first_key: Key) -> Error {
    Error::Failed(format!(
        "looked at {MAX_PROBES} keys from {} for {} and gave up; see what holds them with `ipcs -m`",
        key_hex(first_key),
        dir.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_after_the_last_skips_ipc_private() {
        assert_eq!(next_key(41), 42);
        assert_eq!(next_key(-1), 1);
        assert_eq!(next_key(Key::MAX), Key::MIN);
    }
}
