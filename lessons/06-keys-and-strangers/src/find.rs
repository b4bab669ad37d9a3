//! Finding a directory's segment again, from another process and perhaps much later: the
//! same walk as the key search, from the directory's key upwards past strangers' segments,
//! to the first segment of ours.

use std::path::Path;

use common::Result;
use l05_sysv_segments::{Key, find};

use crate::classify;
use crate::found::Found;
use crate::key_search::{MAX_PROBES, Probe, next_key, too_many_keys};
use crate::keys::DirId;

// ANCHOR: find
/// Where `dir`'s segment is, found the way `create_from` placed it: from `first_key` upwards,
/// past strangers' segments, to the first segment of ours (`Some`) or the first key nobody
/// holds (`None`). `report` hears of every segment looked at, ours included.
///
/// A search can only guess: if a stranger's segment below ours was removed since, the search
/// stops at the hole. PostgreSQL does not search: it writes the key and id it got into
/// `postmaster.pid` (lesson 07).
pub fn find_for_dir(
    dir: &Path,
    first_key: Key,
    report: &mut dyn FnMut(&Probe),
) -> Result<Option<Probe>> {
    DirId::of(dir)?;
    let mut key = first_key;
    for _ in 0..MAX_PROBES {
        let Some(shmid) = find(key)? else {
            return Ok(None);
        };
        let probe = Probe {
            key,
            shmid,
            found: classify(shmid, dir)?,
        };
        report(&probe);
        match probe.found {
            Found::Stranger => key = next_key(key),
            Found::Gone => {}
            Found::OursInUse { .. } | Found::OursStale => return Ok(Some(probe)),
        }
    }
    Err(too_many_keys(dir, first_key))
}
// ANCHOR_END: find
