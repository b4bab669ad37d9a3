//! Checks for lesson 06's exercise, `classify`. `cargo test -p l06-keys-and-strangers` runs
//! them against src/solution.rs; `cargo exercise l06-keys-and-strangers` against your
//! src/exercise.rs. One check forks a child that plays another user, so they all run in this
//! file's own single-threaded `main`.
//!
//! Each check stages segments in a fresh temporary directory's keys. Segments made here are
//! `Segment`s, removed by their `Drop` even when a check fails; `Sweep` removes whatever
//! `create_for_dir` made for the directory.

use std::path::Path;

use common::{Exit, fork_child};
use l05_sysv_segments::{Segment, attach, find, remove, segment_stat};
use l06_keys_and_strangers::{
    DirId, Found, Header, Key, LESSON, SEGMENT_SIZE, classify, create_from, key_from_inode,
    next_key, read_header, write_header,
};
use nix::unistd::{Gid, Uid, geteuid, setgid, setuid};
use tempfile::TempDir;

fn main() -> std::process::ExitCode {
    // Keys of our own, or our turn: beside another run of these checks (or of the output
    // test), a neighbouring directory's segment would sit at the key after ours.
    let _turn = snapshots::keys_of_our_own("l06-keys-and-strangers-tests");
    common::run_tests!(
        our_segment_with_nobody_attached_is_stale,
        our_segment_with_a_process_attached_is_in_use,
        a_zero_filled_segment_is_a_strangers,
        our_magic_for_another_directory_is_a_strangers,
        the_same_inode_on_another_device_is_a_strangers,
        a_real_postgresqls_interlock_is_a_strangers,
        a_segment_we_may_not_read_is_a_strangers,
        a_segment_we_may_read_but_not_attach_is_a_strangers,
        a_removed_segment_is_gone,
        classify_only_looks,
        create_skips_a_strangers_segment_and_leaves_it_alone,
        create_recycles_a_stale_segment_of_ours,
        create_refuses_while_ours_is_in_use,
    )
}

/// A fresh directory whose key, and the few after it, nobody holds; on drop, removes every
/// segment at those keys whose header names the directory.
struct Sweep {
    dir: TempDir,
    id: DirId,
    key: Key,
}

impl Sweep {
    fn new() -> Sweep {
        for _ in 0..50 {
            let dir = tempfile::tempdir().unwrap();
            let key = key_from_inode(dir.path()).unwrap();
            if keys_from(key).all(|k| find(k).unwrap().is_none()) {
                let id = DirId::of(dir.path()).unwrap();
                return Sweep { dir, id, key };
            }
        }
        panic!("no temporary directory with free System V keys: see `ipcs -m`")
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A segment at our key with `header` written in it, as somebody left it.
    fn segment(&self, header: Option<Header>) -> Segment {
        let segment = Segment::create(self.key, SEGMENT_SIZE, 0o600).unwrap();
        if let Some(header) = header {
            write_header(&attach(segment.id()).unwrap(), &header);
        }
        segment
    }

    /// A segment of ours for this directory, as `create` leaves it.
    fn ours(&self) -> Segment {
        self.segment(Some(Header::new(self.id, SEGMENT_SIZE, LESSON)))
    }
}

impl Drop for Sweep {
    fn drop(&mut self) {
        for key in keys_from(self.key) {
            if let Ok(Some(shmid)) = find(key) {
                let header = attach(shmid).ok().and_then(|a| read_header(&a));
                if header.is_some_and(|h| h.dir() == self.id) {
                    let _ = remove(shmid);
                }
            }
        }
    }
}

fn keys_from(key: Key) -> impl Iterator<Item = Key> {
    std::iter::successors(Some(key), |&k| Some(next_key(k))).take(4)
}

/// The key search from `dir`'s own key, as a start-up runs it: the new segment (detached,
/// removed when dropped) and the key it got.
fn create_for_dir(dir: &Path, size: usize) -> common::Result<(Segment, Key)> {
    let created = create_from(dir, size, LESSON, key_from_inode(dir)?, &mut |_| {})?;
    Ok((created.segment, created.key))
}

/// `classify(shmid, dir)`, or a failed check that shows the error.
fn classified(shmid: i32, dir: &Path) -> Found {
    classify(shmid, dir).unwrap_or_else(|err| panic!("classify returned an error: {err}"))
}

fn our_segment_with_nobody_attached_is_stale() {
    let scene = Sweep::new();
    let segment = scene.ours();
    let found = classified(segment.id(), scene.path());
    assert_eq!(
        found,
        Found::OursStale,
        "a segment whose header has our magic, device and inode, with no process attached, is \
         ours and stale. If you got OursInUse with nattch 1, that one was you: read nattch with \
         segment_stat() *before* you attach, as PostgreSQL does"
    );
}

fn our_segment_with_a_process_attached_is_in_use() {
    let scene = Sweep::new();
    let segment = scene.ours();
    let _holder = attach(segment.id()).unwrap(); // this process is "the other process"
    let found = classified(segment.id(), scene.path());
    assert_eq!(
        found,
        Found::OursInUse {
            nattch: 1,
            creator_pid: std::process::id() as i32
        },
        "one process holds our segment: OursInUse {{ nattch: 1, creator_pid: the header's \
         creator_pid }}. nattch 2 means you counted your own look: segment_stat before you attach"
    );
}

fn a_zero_filled_segment_is_a_strangers() {
    let scene = Sweep::new();
    let segment = scene.segment(None); // what `ipcmk -M` makes: zeros, no header
    let found = classified(segment.id(), scene.path());
    assert_eq!(
        found,
        Found::Stranger,
        "a segment at our key whose first bytes are zeros is somebody else's (ipcmk makes such \
         segments). Trusting the key would let `create` remove it, and a stranger's memory with \
         it: check the magic (read_header returns None unless it is MAGIC)"
    );
}

fn our_magic_for_another_directory_is_a_strangers() {
    let scene = Sweep::new();
    let other = DirId {
        inode: scene.id.inode + 1,
        ..scene.id
    };
    let segment = scene.segment(Some(Header::new(other, SEGMENT_SIZE, LESSON)));
    let found = classified(segment.id(), scene.path());
    assert_eq!(
        found,
        Found::Stranger,
        "this header has our MAGIC but another directory's inode: a segment made by this very \
         program, for another directory that happened to get this key. Not ours: compare the \
         header's inode (and device) with DirId::of(dir)"
    );
}

fn the_same_inode_on_another_device_is_a_strangers() {
    let scene = Sweep::new();
    let other = DirId {
        device: scene.id.device ^ 1,
        ..scene.id
    };
    let segment = scene.segment(Some(Header::new(other, SEGMENT_SIZE, LESSON)));
    let found = classified(segment.id(), scene.path());
    assert_eq!(
        found,
        Found::Stranger,
        "this header names a directory with our inode number on another device (another disk, \
         another file system: inode numbers repeat across them). Compare the device too"
    );
}

fn a_real_postgresqls_interlock_is_a_strangers() {
    let scene = Sweep::new();
    // As a PostgreSQL server (9.4 to 18) writes it: no course tag in `index`.
    let theirs = Header {
        index: 0,
        ..Header::new(scene.id, 148_324_352, LESSON)
    };
    let segment = scene.segment(Some(theirs));
    let found = classified(segment.id(), scene.path());
    assert_eq!(
        found,
        Found::Stranger,
        "this header is a real PostgreSQL server's, for our very directory: PostgreSQL's magic, \
         our device and inode, but not the course's tag in `index`. It is not ours to remove or \
         reuse: read the header with read_header, which returns None without the course's tag \
         (read_pg_shmem_header would accept it)"
    );
}

fn a_segment_we_may_not_read_is_a_strangers() {
    // Mode 000: IPC_STAT itself says EACCES.
    classified_as_another_user(0o000, "IPC_STAT");
}

fn a_segment_we_may_read_but_not_attach_is_a_strangers() {
    // Mode 0444: IPC_STAT works, but shmat (read-write) says EACCES.
    classified_as_another_user(0o444, "shmat");
}

/// Stages a segment with `mode` at the scene's key and classifies it as a user who is
/// neither root nor (for modes without owner bits) helped by owning it: run as root, the
/// checking child gives root up first.
fn classified_as_another_user(mode: u16, refusing_call: &str) {
    let scene = Sweep::new();
    let segment = Segment::create(scene.key, SEGMENT_SIZE, mode).unwrap();
    let (shmid, dir) = (segment.id(), scene.path().to_owned());
    let child = fork_child(|| {
        let nobody = (Gid::from_raw(65534), Uid::from_raw(65534));
        if geteuid().is_root() && (setgid(nobody.0).is_err() || setuid(nobody.1).is_err()) {
            return 3; // cannot play another user here: nothing to check
        }
        match classify(shmid, &dir) {
            Ok(Found::Stranger) => 0,
            Ok(_) => 1,
            Err(err) => {
                println!("\n  classify said: {err}");
                2
            }
        }
    })
    .unwrap();
    match child.wait().unwrap() {
        Exit::Code(0) | Exit::Code(3) => {}
        Exit::Code(1) => panic!(
            "a segment with mode {mode:o} that another user made was classified as ours: it cannot be"
        ),
        Exit::Code(2) => panic!(
            "when {refusing_call} says EACCES, that is an answer, not an error: another user's \
             segment cannot be ours, so it is a stranger's, as in PostgreSQL (which treats \
             shmat's errors the way it treats IPC_STAT's)"
        ),
        other => panic!("the checking child {other}"),
    }
}

fn a_removed_segment_is_gone() {
    let scene = Sweep::new();
    let segment = scene.ours();
    let shmid = segment.id();
    segment.remove().unwrap();
    let found = classify(shmid, scene.path());
    assert!(
        matches!(found, Ok(Found::Gone)),
        "the segment was removed before classify looked: IPC_STAT says EINVAL, which means \
         Found::Gone (the caller then tries the same key again), not {found:?}"
    );
}

fn classify_only_looks() {
    let scene = Sweep::new();
    let segment = scene.ours();
    let shmid = segment.id();
    for _ in 0..3 {
        classified(shmid, scene.path());
    }
    let info = segment_stat(shmid).unwrap_or_else(|err| {
        panic!("after classify, the segment is gone ({err}): classify must never remove anything")
    });
    assert_eq!(
        info.nattch, 0,
        "after three calls to classify the segment has {} attachments: detach what you attach \
         (drop the Attachment), or the segment looks in use for ever",
        info.nattch
    );
}

fn create_skips_a_strangers_segment_and_leaves_it_alone() {
    let scene = Sweep::new();
    let stranger = scene.segment(None);
    let (segment, key) = create_for_dir(scene.path(), SEGMENT_SIZE)
        .unwrap_or_else(|err| panic!("create_for_dir failed: {err}"));
    assert!(
        segment_stat(stranger.id()).is_ok(),
        "create_for_dir removed the stranger's segment at our key: classify called it ours"
    );
    assert_eq!(
        key,
        next_key(scene.key),
        "past a stranger's segment, the next key is ours"
    );
    drop(segment);
}

fn create_recycles_a_stale_segment_of_ours() {
    let scene = Sweep::new();
    let stale = scene.ours().keep(); // as `create` leaves it: nobody attached
    let (segment, key) = create_for_dir(scene.path(), SEGMENT_SIZE)
        .unwrap_or_else(|err| panic!("create_for_dir failed: {err}"));
    assert_eq!(
        key, scene.key,
        "our own stale segment held the key: classify should say OursStale, so that create \
         removes it and takes the same key again"
    );
    assert!(
        segment_stat(stale).is_err(),
        "the stale segment should be gone"
    );
    drop(segment);
}

fn create_refuses_while_ours_is_in_use() {
    let scene = Sweep::new();
    let segment = scene.ours();
    let _holder = attach(segment.id()).unwrap();
    let result = create_for_dir(scene.path(), SEGMENT_SIZE);
    let removed = segment_stat(segment.id()).map_or(true, |info| info.marked_for_destruction());
    assert!(
        !removed,
        "create_for_dir removed a segment that a process was still using: classify must say \
         OursInUse when nattch (read before attaching) is not 0"
    );
    match result {
        Ok((_, key)) => panic!(
            "create_for_dir went on (to key {key}) while our segment was in use: it must refuse"
        ),
        Err(err) => assert!(
            err.to_string()
                .contains(&scene.path().display().to_string()),
            "the refusal should name the directory: {err}"
        ),
    }
}
