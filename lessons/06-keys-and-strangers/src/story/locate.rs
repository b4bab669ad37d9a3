//! Finding DIR's segment from the command line, as `attach`, `inspect` and `remove` all must:
//! DIR's key (with a line that says how it was made), the search from it past strangers'
//! segments, and a clear error when there is nothing of ours.
//!
//! One segment of ours is still not ours to touch: a server's interlock (lessons 07, 14 and
//! 15), made by the same search with the same header, but only a header big, and tagged
//! with its own lesson's number.

use std::path::Path;

use common::{Error, Result};
use l05_sysv_segments::{attach_read_only, segment_stat};
use l06_keys_and_strangers::{
    DirId, FTOK_PROJECT, Found, Key, LESSON, Probe, find_for_dir, key_from_ftok, key_from_inode,
    key_hex, postgresql_interlock, read_header,
};

use crate::KeyFrom;

// ANCHOR: key
/// DIR's key, computed the chosen way, and a line that says how.
pub fn first_key(dir: &Path, key_from: KeyFrom) -> Result<Key> {
    let id = DirId::of(dir)?;
    let key = match key_from {
        KeyFrom::Inode => key_from_inode(dir)?,
        KeyFrom::Ftok => key_from_ftok(dir, FTOK_PROJECT)?,
    };
    let (shown, hex) = (dir.display(), key_hex(key));
    match key_from {
        KeyFrom::Inode => println!(
            "{shown}: inode {} on device {}; key {hex} is the inode number, as in PostgreSQL",
            id.inode, id.device
        ),
        KeyFrom::Ftok => println!(
            "{shown}: inode {} on device {}; key {hex} from ftok(DIR, '{}'): the project id, \
             then the low 8 bits of the device, then the low 16 bits of the inode",
            id.inode, id.device, FTOK_PROJECT as char
        ),
    }
    Ok(key)
}
// ANCHOR_END: key

/// The key search `attach`, `inspect` and `remove` share: DIR's segment, or a clear error.
pub fn locate(dir: &Path, first: Key, report: &mut dyn FnMut(&Probe)) -> Result<Probe> {
    let (found, strangers) = search(dir, first, report)?;
    found.ok_or_else(|| nothing_of_ours(dir, first, strangers))
}

/// The search itself: DIR's segment if there is one, and how many segments that are not
/// ours it walked past on the way.
pub fn search(
    dir: &Path,
    first: Key,
    report: &mut dyn FnMut(&Probe),
) -> Result<(Option<Probe>, usize)> {
    let mut strangers = 0;
    let found = find_for_dir(dir, first, &mut |probe| {
        strangers += usize::from(matches!(probe.found, Found::Stranger));
        report(probe)
    })?;
    Ok((found, strangers))
}

/// The error of a search that found nothing of ours, past `strangers` segments that are not.
pub fn nothing_of_ours(dir: &Path, first: Key, strangers: usize) -> Error {
    let shown = dir.display();
    // Past somebody else's segment (a real PostgreSQL's, say), advising `create` in
    // their directory would be bad advice.
    let advice = match strangers {
        0 => format!("; make one with `create {shown}`"),
        n => format!(
            " (looked past {n} segment{} that {} not ours)",
            plural(n),
            if n == 1 { "is" } else { "are" }
        ),
    };
    Error::Failed(format!(
        "no segment of ours for {shown} from key {} on: never created, or removed since \
         (by `remove` or `ipcrm`){advice}",
        key_hex(first)
    ))
}

/// Lessons 07, 14 and 15 keep a segment of their own at a data directory's key: the
/// interlock of a server, made by the same search with the same header, but only a header
/// big, and with their own lesson's number in its tag. It is theirs to create and remove
/// (with the server's start and stop), never ours.
pub fn not_an_interlock(probe: &Probe, dir: &Path, what: &str) -> Result<()> {
    let header = attach_read_only(probe.shmid)
        .ok()
        .and_then(|attachment| read_header(&attachment));
    // No header (any more): the segment went meanwhile, and the attach that follows says so.
    let Some(lesson) = header.and_then(|h| h.lesson()).filter(|&l| l != LESSON) else {
        return Ok(());
    };
    let size = segment_stat(probe.shmid)?.size;
    Err(Error::Failed(format!(
        "shmid {} at key {} is a server's interlock ({size} bytes, made by lesson {lesson:02} \
         for {}), not a lesson 06 segment: {what} leaves it alone; stop that server instead",
        probe.shmid,
        key_hex(probe.key),
        dir.display()
    )))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// One line for a segment the search met: `key 0x0098c042: shmid 32769, a stranger's: ...`.
pub fn said(probe: &Probe, dir: &Path) -> String {
    let then = match probe.found {
        Found::Stranger => ": leave it alone, try the next key",
        Found::Gone => ": try the same key again",
        Found::OursStale | Found::OursInUse { .. } => "",
    };
    format!(
        "key {}: shmid {}, {}{then}",
        key_hex(probe.key),
        probe.shmid,
        whose(probe, dir)
    )
}

/// Whose the segment is, in words: `classify`'s answer, but a real PostgreSQL's interlock
/// for `dir`, a stranger's to `classify`, called by its name.
pub fn whose(probe: &Probe, dir: &Path) -> String {
    let theirs = match probe.found {
        Found::Stranger => postgresql_interlock(probe.shmid, dir).ok().flatten(),
        _ => None,
    };
    match theirs {
        Some(theirs) => format!(
            "PostgreSQL's interlock for this directory, in use by {}",
            theirs.nattch
        ),
        None => probe.found.to_string(),
    }
}
