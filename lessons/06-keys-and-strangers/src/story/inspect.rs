//! `inspect DIR`: everything there is to see about the segments at DIR's keys, and what the
//! key search would do with each, without changing anything.
//!
//! It only looks, read-only (a segment may be anybody's), so it may also be pointed at a real
//! PostgreSQL's data directory: its interlock, a stranger's to `classify` (no course tag), is
//! shown for what it is, and then there is nothing of ours to expect.

use std::path::Path;

use common::Result;
use l05_sysv_segments::{attach_read_only, segment_stat};
use l06_keys_and_strangers::{
    Found, MAGIC, Probe, SEGMENT_SIZE, index_shown, key_hex, postgresql_interlock, read_magic,
    read_message, read_pg_shmem_header,
};
use nix::unistd::geteuid;

use crate::KeyFrom;
use crate::story::locate::{first_key, nothing_of_ours, search};

// ANCHOR: inspect
pub fn inspect(dir: &Path, key_from: KeyFrom) -> Result<()> {
    let first = first_key(dir, key_from)?;
    let mut postgresqls = false;
    let (found, strangers) = search(dir, first, &mut |probe| postgresqls |= show(probe, dir))?;
    let Some(probe) = found else {
        if postgresqls {
            println!(
                "nothing of ours at its keys: {} is a PostgreSQL data directory",
                dir.display()
            );
            return Ok(());
        }
        return Err(nothing_of_ours(dir, first, strangers));
    };
    let attachment = attach_read_only(probe.shmid)?;
    if attachment.size() < SEGMENT_SIZE {
        println!(
            "  message:  none: a {}-byte segment is a server's interlock (lessons 07, 14 and \
             15), not a lesson 06 segment",
            attachment.size()
        );
        return Ok(());
    }
    println!("  message:  {:?}", read_message(&attachment)?);
    Ok(())
}

/// Everything there is to see about one segment the search met. Returns whether it is a
/// real PostgreSQL's interlock for `dir`.
fn show(probe: &Probe, dir: &Path) -> bool {
    println!("key {}: shmid {}", key_hex(probe.key), probe.shmid);
    match segment_stat(probe.shmid) {
        Ok(info) => println!(
            "  IPC_STAT: size {}, perms {:o}, owner {}, creator pid {}, nattch {}",
            info.size,
            info.permissions(),
            owner(info.uid),
            info.creator_pid,
            info.nattch
        ),
        Err(err) => println!("  IPC_STAT: {err}"),
    }
    match attach_read_only(probe.shmid) {
        Ok(attachment) => match (read_pg_shmem_header(&attachment), read_magic(&attachment)) {
            (Some(h), _) => println!(
                "  header:   magic {}, creator pid {}, device {}, inode {}, size {}, index {}",
                h.magic,
                h.creator_pid,
                h.device,
                h.inode,
                h.total_size,
                index_shown(h.index)
            ),
            (None, Some(magic)) => println!("  header:   magic {magic}, not {MAGIC}: none of ours"),
            (None, None) => println!(
                "  header:   none: {} bytes cannot hold one",
                attachment.size()
            ),
        },
        Err(err) => println!("  header:   cannot look: {err}"),
    }
    // `classify` answers for the course: a real server's interlock, with no course tag, is a
    // stranger's to it. PostgreSQL's own checks would call it this directory's: say so.
    let theirs = match probe.found {
        Found::Stranger => postgresql_interlock(probe.shmid, dir).ok().flatten(),
        _ => None,
    };
    if let Some(theirs) = theirs {
        println!(
            "  verdict:  PostgreSQL's interlock for this directory (creator PID {}, total size \
             {}, in use by {})",
            theirs.header.creator_pid, theirs.header.total_size, theirs.nattch
        );
        println!(
            "            not ours: `create` would {}",
            match theirs.nattch {
                0 => "leave it alone (PostgreSQL removes it at its next start) and look further",
                _ => "refuse to start beside it, as PostgreSQL would",
            }
        );
        return true;
    }
    let verdict = match probe.found {
        Found::Stranger => "not made for this directory: leave it alone, look at the next key",
        Found::OursStale => "`create` would remove it and start afresh",
        Found::OursInUse { .. } => "`create` would refuse to touch it",
        Found::Gone => "removed while we looked",
    };
    println!("  verdict:  {}: {verdict}", probe.found);
    false
}
// ANCHOR_END: inspect

/// "you" for our own user (what matters here, and the same on every machine), else the uid.
fn owner(uid: u32) -> String {
    if uid == geteuid().as_raw() {
        "you".into()
    } else {
        format!("uid {uid}")
    }
}
