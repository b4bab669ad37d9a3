//! Keys from a directory: how two unrelated processes arrive at the same System V key.
//!
//! The key must come from something both know; PostgreSQL takes the data directory. A path
//! is a poor name (many paths reach one directory, and a path can be renamed), so what counts
//! is the directory's identity: its device and inode number. [`key_from_inode`] is
//! PostgreSQL's way since 13; [`key_from_ftok`] is the C library's, which keeps fewer bits of
//! the same facts and so collides more. Neither makes collisions impossible: whatever holds
//! the key must still be asked whose it is ([`classify`](crate::classify)).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::{Error, Result};
use l05_sysv_segments::Key;
use nix::errno::Errno;

// ANCHOR: dir
/// What names a directory for as long as it exists: the device its file system lives on and
/// its inode number there. Paths can change (a rename, a bind mount); this pair does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirId {
    pub device: u64,
    pub inode: u64,
}

impl DirId {
    /// `stat(dir)`. A missing path, or one that is not a directory, is the caller's mistake
    /// (exit status 2); any other failure (a directory we may not enter, say) exits 1.
    pub fn of(dir: &Path) -> Result<DirId> {
        let shown = dir.display();
        let meta = std::fs::metadata(dir).map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => Error::Usage(format!(
                "{shown}: no such directory; give the path of an existing directory"
            )),
            _ => Error::Failed(format!("stat {shown}: {err}")),
        })?;
        if !meta.is_dir() {
            return Err(Error::Usage(format!(
                "{shown} is not a directory; give a directory (its identity makes the key)"
            )));
        }
        Ok(DirId {
            device: meta.dev(),
            inode: meta.ino(),
        })
    }
}
// ANCHOR_END: dir

// ANCHOR: keys
/// PostgreSQL's key: the directory's inode number, cut to the 32 bits of a `key_t`
/// (PostgreSQL assigns `st_ino` to a `key_t`, which keeps the low 32 bits; so does `as`).
pub fn key_from_inode(dir: &Path) -> Result<Key> {
    Ok(DirId::of(dir)?.inode as Key)
}

/// The project id this lesson passes to `ftok` (any byte but 0 would do).
pub const FTOK_PROJECT: u8 = b'P';

/// `ftok(dir, project)`, the C library's key maker: see [`ftok_formula`] for what it keeps of
/// the directory's identity, and why two directories can get the same key.
pub fn key_from_ftok(dir: &Path, project: u8) -> Result<Key> {
    DirId::of(dir)?; // the same clear errors as key_from_inode, before ftok's bare -1
    if project == 0 {
        return Err(Error::Usage("ftok's project id must not be 0".into()));
    }
    let path = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| Error::Usage(format!("{}: a path cannot hold a NUL byte", dir.display())))?;
    // SAFETY: `path` is a NUL-terminated string that outlives the call; ftok only stats it.
    let key = unsafe { libc::ftok(path.as_ptr(), i32::from(project)) };
    if key == -1 {
        return Err(Error::sys("ftok")(Errno::last()));
    }
    Ok(key)
}

/// What glibc's `ftok` (sysvipc/ftok.c; musl's is the same) computes: the project id in the
/// top 8 bits, then the low 8 bits of the device number, then the low 16 bits of the inode
/// number. Everything else is thrown away, so two directories on one file system whose
/// inode numbers differ by a multiple of 65536 get the same key, and so do directories on
/// two devices whose numbers end in the same byte.
pub fn ftok_formula(dir: DirId, project: u8) -> Key {
    let inode = (dir.inode & 0xffff) as u32;
    let device = (dir.device & 0xff) as u32;
    (inode | device << 16 | u32::from(project) << 24) as Key
}
// ANCHOR_END: keys

/// A key as `ipcs` prints it: `0x0098c042`.
pub fn key_hex(key: Key) -> String {
    format!("{:#010x}", key as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_formula_is_what_the_c_library_computes() {
        let dir = std::env::temp_dir();
        let id = DirId::of(&dir).unwrap();
        for project in [1, b'P', 0xff] {
            assert_eq!(
                key_from_ftok(&dir, project).unwrap(),
                ftok_formula(id, project)
            );
        }
    }

    #[test]
    fn ftok_keys_collide_where_inode_key_do_not() {
        let a = DirId {
            device: 0xfe01,
            inode: 10_052_013,
        };
        let b = DirId {
            device: 0x0801,
            inode: 10_052_013 + 65_536,
        };
        assert_eq!(ftok_formula(a, b'P'), ftok_formula(b, b'P'));
        assert_ne!(a.inode as Key, b.inode as Key);
    }

    #[test]
    fn the_inode_key_is_the_inode_number() {
        let dir = std::env::temp_dir();
        let inode = std::fs::metadata(&dir).unwrap().ino();
        assert_eq!(key_from_inode(&dir).unwrap(), inode as Key);
        assert_eq!(key_hex(0x0098_c042), "0x0098c042");
        assert_eq!(key_hex(-1), "0xffffffff");
    }

    #[test]
    fn a_missing_path_or_a_file_is_bad_usage() {
        let missing = DirId::of(Path::new("/no/such/dir")).unwrap_err();
        assert_eq!(missing.exit_status(), 2);
        let file = DirId::of(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/Cargo.toml"
        )))
        .unwrap_err();
        assert_eq!(file.exit_status(), 2);
        assert!(file.to_string().contains("is not a directory"), "{file}");
    }
}
