//! Lesson 06: unrelated processes meet by key, and must then check whom they met.
//!
//! A System V key is a 32-bit number that any process on the machine may ask `shmget` for.
//! Two programs that compute it the same way (here: from a directory) find the same segment
//! without being related at all. The catch is that anybody else may have picked the same
//! number, so a segment found by key proves nothing until its first bytes say whose it is.
//! PostgreSQL's answer, which this crate follows (`PGSharedMemoryCreate` and
//! `PGSharedMemoryAttach` in `src/backend/port/sysv_shmem.c`):
//! - the key is the data directory's inode number ([`key_from_inode`]); [`key_from_ftok`],
//!   the textbook alternative, packs fewer bits of the same facts and collides more;
//! - every segment starts with a [`Header`]: a magic number, then the directory's device and
//!   inode, so that [`classify`] can tell our segment from a stranger's, while the kernel's
//!   attach count (`shm_nattch`) tells a live segment from a stale one;
//! - [`create_for_dir`] walks the keys upwards from the inode number: it skips strangers'
//!   segments, removes a stale one of ours, and refuses while ours is in use.
//!
//! Lesson 07 builds PostgreSQL's start-up interlock from these pieces.

use std::ffi::CString;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use common::{Error, Result};
pub use l05_sysv_segments::Key;
use l05_sysv_segments::leftovers::{mark, remove_left_by_killed_runs};
use l05_sysv_segments::{Attachment, IPC_PRIVATE, Segment, attach, find, remove};
use nix::errno::Errno;

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;

/// The heart of the lesson, and its exercise: what a segment found at our key is to us.
/// (With `--features exercise`, this is your version, and everything below uses it.)
pub use exercise::classify;

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

// ANCHOR: header
/// PostgreSQL's `PGShmemMagic` (src/include/storage/pg_shmem.h), borrowed: the number that
/// says "one of ours" to whoever attaches the segment.
pub const MAGIC: i32 = 679_834_894;

/// The first bytes of every segment this lesson makes, like PostgreSQL's `PGShmemHeader`.
/// `#[repr(C)]`, so its layout is the same in every process that maps it, whatever compiled
/// it; plain numbers only, no pointers (they would mean nothing in another process).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// [`MAGIC`] once every other field is written; anything else: not ours (or not yet).
    pub magic: i32,
    /// The process that made the segment. Shown, never trusted: the process may be long gone
    /// and its number reused. `shm_nattch` is what says whether anyone is still there.
    pub creator_pid: i32,
    /// The segment's size, as created.
    pub total_size: u64,
    /// The directory the segment belongs to (see [`DirId`]).
    pub device: u64,
    pub inode: u64,
}

impl Header {
    /// The header of a segment this process makes now for directory `dir`.
    pub fn new(dir: DirId, total_size: usize) -> Header {
        Header {
            magic: MAGIC,
            creator_pid: std::process::id() as i32,
            total_size: total_size as u64,
            device: dir.device,
            inode: dir.inode,
        }
    }

    pub fn dir(&self) -> DirId {
        DirId {
            device: self.device,
            inode: self.inode,
        }
    }
}

/// Writes `header` at offset 0 of the segment: every other field first, then the magic with
/// `Release`, so that whoever reads the magic with `Acquire` ([`read_header`]) and finds
/// [`MAGIC`] also finds the rest complete. Panics if the segment is too small to hold it.
pub fn write_header(attachment: &Attachment, header: &Header) {
    assert!(
        attachment.size() >= size_of::<Header>(),
        "no room for a header"
    );
    let p = attachment.as_ptr().cast::<Header>();
    // SAFETY: the segment holds a whole Header (asserted) and starts on a page boundary, so
    // `p` is aligned for it. Nobody reads the other fields before seeing MAGIC, which is
    // stored last; the magic itself is only ever accessed atomically.
    unsafe {
        (&raw mut (*p).creator_pid).write(header.creator_pid);
        (&raw mut (*p).total_size).write(header.total_size);
        (&raw mut (*p).device).write(header.device);
        (&raw mut (*p).inode).write(header.inode);
        AtomicI32::from_ptr(&raw mut (*p).magic).store(header.magic, Ordering::Release);
    }
}

/// The first four bytes of the segment, as a magic number; `None` if the segment is smaller
/// than a [`Header`] (then it is certainly not ours).
pub fn read_magic(attachment: &Attachment) -> Option<i32> {
    if attachment.size() < size_of::<Header>() {
        return None;
    }
    let p = attachment.as_ptr().cast::<Header>();
    // SAFETY: in bounds and aligned (as in write_header); an atomic load is sound even while
    // another process writes there.
    Some(unsafe { AtomicI32::from_ptr(&raw mut (*p).magic).load(Ordering::Acquire) })
}

/// The segment's header, if it has ours: room for one and [`MAGIC`] at offset 0. Anything
/// else is a stranger's memory, which we do not interpret.
pub fn read_header(attachment: &Attachment) -> Option<Header> {
    if read_magic(attachment)? != MAGIC {
        return None;
    }
    let p = attachment.as_ptr().cast::<Header>();
    // SAFETY: the Acquire load of MAGIC above synchronizes with write_header's Release
    // store, after which the other fields never change.
    Some(unsafe {
        Header {
            magic: MAGIC,
            creator_pid: (&raw const (*p).creator_pid).read(),
            total_size: (&raw const (*p).total_size).read(),
            device: (&raw const (*p).device).read(),
            inode: (&raw const (*p).inode).read(),
        }
    })
}
// ANCHOR_END: header

// ANCHOR: message
/// The size of every segment this lesson makes: a header, a message, room to spare.
pub const SEGMENT_SIZE: usize = 1024;
/// Where the message starts: a length word, then up to [`MESSAGE_CAPACITY`] bytes of text.
pub const MESSAGE_OFFSET: usize = 64;
pub const MESSAGE_CAPACITY: usize = 256;

/// Leaves `text` in the segment for the next process. There is no lock yet (Part IV): two
/// writers at the same moment could mix their bytes; the lesson runs them one at a time.
pub fn write_message(attachment: &Attachment, text: &str) -> Result<()> {
    check_message(text)?;
    check_room(attachment)?;
    let base = attachment.as_ptr();
    // SAFETY: offset, length word and text lie inside the segment (check_room, check_message);
    // the length word is 4-byte aligned; readers take the text only after the Release store.
    unsafe {
        let bytes = base.add(MESSAGE_OFFSET + 4);
        bytes.copy_from_nonoverlapping(text.as_ptr(), text.len());
        let len = AtomicU32::from_ptr(base.add(MESSAGE_OFFSET).cast::<u32>());
        len.store(text.len() as u32, Ordering::Release);
    }
    Ok(())
}

/// The message the last writer left ("" in a fresh segment, which is all zeros).
pub fn read_message(attachment: &Attachment) -> Result<String> {
    check_room(attachment)?;
    let base = attachment.as_ptr();
    // SAFETY: as in write_message; the Acquire load pairs with the writer's Release store.
    let bytes = unsafe {
        let len = AtomicU32::from_ptr(base.add(MESSAGE_OFFSET).cast::<u32>());
        let len = (len.load(Ordering::Acquire) as usize).min(MESSAGE_CAPACITY);
        std::slice::from_raw_parts(base.add(MESSAGE_OFFSET + 4), len).to_vec()
    };
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A message must fit in the message area.
pub fn check_message(text: &str) -> Result<()> {
    if text.len() > MESSAGE_CAPACITY {
        return Err(Error::Usage(format!(
            "the message is {} bytes; the segment has room for {MESSAGE_CAPACITY}",
            text.len()
        )));
    }
    Ok(())
}

fn check_room(attachment: &Attachment) -> Result<()> {
    if attachment.size() < MESSAGE_OFFSET + 4 + MESSAGE_CAPACITY {
        return Err(Error::Failed(format!(
            "the segment is {} bytes, too small for a message",
            attachment.size()
        )));
    }
    Ok(())
}
// ANCHOR_END: message

// ANCHOR: found
/// What a segment found at our key is to us: the outcomes of PostgreSQL's
/// `PGSharedMemoryAttach` (its `IpcMemoryState` values are named in parentheses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Not ours: another program's, another user's (we may not even read it: EACCES), or
    /// ours for another directory. Leave it alone and try the next key. (`SHMSTATE_FOREIGN`)
    Stranger,
    /// Ours, and `nattch` processes had it attached when we looked: somebody is using this
    /// directory's segment. Never remove it. (`SHMSTATE_ATTACHED`)
    OursInUse { nattch: u64, creator_pid: i32 },
    /// Ours, and nobody attached: whoever used it has exited or died. Safe to remove and
    /// make afresh. (`SHMSTATE_UNATTACHED`)
    OursStale,
    /// No segment has that id (any more): removed since we learned it. (`SHMSTATE_ENOENT`)
    Gone,
}
// ANCHOR_END: found

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::Stranger => f.write_str("a stranger's"),
            Found::OursInUse { nattch, .. } => write!(
                f,
                "ours, in use: {nattch} process{} attached",
                if *nattch == 1 { "" } else { "es" }
            ),
            Found::OursStale => f.write_str("ours, stale: nobody attached"),
            Found::Gone => f.write_str("gone"),
        }
    }
}

/// The errno of a failed system call, if `err` is one.
pub fn errno_of(err: &Error) -> Option<Errno> {
    match err {
        Error::Sys { errno, .. } => Some(*errno),
        _ => None,
    }
}

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

/// PostgreSQL's start-up search: a new segment of `size` bytes for `dir`, with its header
/// written, at the first usable key from `dir`'s inode number. Returns it detached (the
/// caller attaches to keep it in use) with the key it got.
pub fn create_for_dir(dir: &Path, size: usize) -> Result<(Segment, Key)> {
    let created = create_from(dir, size, key_from_inode(dir)?, &mut |_| {})?;
    Ok((created.segment, created.key))
}

/// The mark a process leaves while it creates a segment (see [`create_from`]).
const CREATING: &str = "l06-creating";

// ANCHOR: create
/// The key search of `PGSharedMemoryCreate`, from `first_key`. `report` hears of every
/// segment that already held a key, and what [`classify`] said about it.
pub fn create_from(
    dir: &Path,
    size: usize,
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
                write_header(&attachment, &Header::new(dir_id, size));
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

fn too_many_keys(dir: &Path, first_key: Key) -> Error {
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
    fn the_header_is_laid_out_like_c_would() {
        assert_eq!(size_of::<Header>(), 32);
        assert_eq!(std::mem::offset_of!(Header, device), 16);
        const { assert!(MESSAGE_OFFSET >= size_of::<Header>()) };
        const { assert!(MESSAGE_OFFSET + 4 + MESSAGE_CAPACITY <= SEGMENT_SIZE) };
    }

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

    #[test]
    fn the_key_after_the_last_skips_ipc_private() {
        assert_eq!(next_key(41), 42);
        assert_eq!(next_key(-1), 1);
        assert_eq!(next_key(Key::MAX), Key::MIN);
    }

    #[test]
    fn header_and_message_round_trip_through_a_segment() {
        let segment = Segment::create(IPC_PRIVATE, SEGMENT_SIZE, 0o600).unwrap();
        let attachment = attach(segment.id()).unwrap();
        assert_eq!(read_header(&attachment), None, "zeros are not a header");
        assert_eq!(read_message(&attachment).unwrap(), "");
        let header = Header::new(DirId::of(&std::env::temp_dir()).unwrap(), SEGMENT_SIZE);
        write_header(&attachment, &header);
        write_message(&attachment, "hello").unwrap();
        assert_eq!(read_header(&attachment), Some(header));
        assert_eq!(read_message(&attachment).unwrap(), "hello");
        let long = "x".repeat(MESSAGE_CAPACITY + 1);
        assert_eq!(
            write_message(&attachment, &long).unwrap_err().exit_status(),
            2
        );
    }

    #[test]
    fn a_segment_smaller_than_a_header_has_no_magic() {
        let segment = Segment::create(IPC_PRIVATE, 8, 0o600).unwrap();
        let attachment = attach(segment.id()).unwrap();
        assert_eq!(read_magic(&attachment), None);
        assert!(read_message(&attachment).is_err());
    }
}
