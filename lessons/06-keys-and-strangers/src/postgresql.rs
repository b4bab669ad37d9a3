//! A real PostgreSQL's interlock: a segment `classify` calls a stranger's, which PostgreSQL's
//! own check would call this directory's.
//!
//! For the course, ours means the course's tag as well as the magic and the directory. A
//! segment at a directory's key with PostgreSQL's magic and that directory's device and inode
//! but no tag is a real server's interlock for that very directory. It is never ours to
//! remove or reuse. And while anybody has it attached, a server, or the children of a killed
//! one, still works in the directory: whoever starts there must refuse, as PostgreSQL itself
//! does (`PGSharedMemoryAttach` says `SHMSTATE_ATTACHED`, and `PGSharedMemoryCreate` stops).

use std::path::Path;

use common::{Error, Result};
use l05_sysv_segments::{Key, attach_read_only, segment_stat};
use nix::errno::Errno;

use crate::found::errno_of;
use crate::header::{Header, read_pg_shmem_header};
use crate::keys::{DirId, key_hex};

// ANCHOR: postgresql
/// A real PostgreSQL's interlock for a directory, as found at one of its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostgresqlInterlock {
    pub key: Key,
    pub shmid: i32,
    /// Its header, as the server wrote it (`index` without the course's tag).
    pub header: Header,
    /// How many processes had it attached when we looked (before our own look).
    pub nattch: u64,
}

/// Whether segment `shmid` is a real PostgreSQL's interlock for `dir`: PostgreSQL's checks
/// (magic, then `dir`'s device and inode), and no course tag. Only looks, read-only, like
/// [`classify`](crate::classify). `None` for anything else, including a segment gone
/// meanwhile or one we may not read (`EACCES`: not ours to judge). Any other failure is an
/// error: then nobody can tell, and the caller must not start beside it.
pub fn postgresql_interlock(shmid: i32, dir: &Path) -> Result<Option<PostgresqlInterlock>> {
    let not_there = |err: Error| match errno_of(&err) {
        Some(Errno::EINVAL | Errno::EIDRM | Errno::EACCES) => Ok(None),
        _ => Err(err),
    };
    let info = match segment_stat(shmid) {
        Ok(info) => info,
        Err(err) => return not_there(err),
    };
    let this_dir = DirId::of(dir)?;
    let attachment = match attach_read_only(shmid) {
        Ok(attachment) => attachment,
        Err(err) => return not_there(err),
    };
    Ok(read_pg_shmem_header(&attachment)
        .filter(|header| header.dir() == this_dir && header.lesson().is_none())
        .map(|header| PostgresqlInterlock {
            key: info.key,
            shmid,
            header,
            nattch: info.nattch,
        }))
}

impl PostgresqlInterlock {
    /// The refusal to start in `dir` beside it while it is attached: PostgreSQL's own
    /// "pre-existing shared memory block is still in use", naming the server.
    pub fn in_use(&self, dir: &Path) -> Error {
        Error::Failed(format!(
            "PostgreSQL's interlock for {dir} (key {}, shmid {}, creator PID {}) is still in \
             use by {} process{}: a PostgreSQL server, or what is left of one, works in {dir}; \
             stop it, and give the course a directory of its own",
            key_hex(self.key),
            self.shmid,
            self.header.creator_pid,
            self.nattch,
            if self.nattch == 1 { "" } else { "es" },
            dir = dir.display(),
        ))
    }
}
// ANCHOR_END: postgresql
