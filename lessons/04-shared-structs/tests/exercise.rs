//! Checks for lesson 04's exercise. `cargo test -p l04-shared-structs` runs them against
//! src/solution.rs; `cargo exercise l04-shared-structs` runs them against your src/exercise.rs.
//!
//! The last check needs a second process, so this file has its own single-threaded `main`
//! (`harness = false` in Cargo.toml) instead of libtest's threads.

use std::process::ExitCode;
use std::ptr::addr_of_mut;
use std::sync::atomic::Ordering;

use common::{Exit, fork_child};
use l01_mmap::{Mapping, PG_MMAP_FLAGS, page_size};
use l04_shared_structs::exercise::{attach, publish, try_read};
use l04_shared_structs::{
    AttachError, MAILBOX_MAGIC, MAILBOX_VERSION, MAILBOX_WORDS, Mailbox, atomic_u32, atomic_u64,
};
use nix::sys::mman::ProtFlags;
use nix::sys::signal::Signal;

fn main() -> ExitCode {
    common::run_tests!(
        attach_accepts_a_fresh_mailbox,
        attach_refuses_a_misaligned_address,
        attach_refuses_a_region_too_small,
        attach_refuses_a_wrong_magic,
        attach_refuses_a_wrong_version,
        try_read_is_none_until_publish_and_then_the_whole_record,
        a_writer_stopped_midway_has_not_yet_set_ready,
        try_read_leaves_the_data_alone_until_ready,
        a_reader_in_another_process_never_sees_a_half_written_record,
    )
}

fn shared(len: usize) -> Mapping {
    let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    Mapping::anonymous(len, prot, PG_MMAP_FLAGS).expect("mmap")
}

/// A mapping holding one fresh mailbox, and the mailbox.
fn fresh_mailbox() -> (Mapping, *mut Mailbox) {
    let mapping = shared(size_of::<Mailbox>());
    // SAFETY: a fresh page-aligned mapping of exactly one Mailbox; only this process has it.
    let mailbox = unsafe { Mailbox::initialize(mapping.as_ptr()) };
    (mapping, mailbox)
}

fn attach_accepts_a_fresh_mailbox() {
    let (mapping, mailbox) = fresh_mailbox();
    // SAFETY: the mapping lives until the end of this test.
    let attached = unsafe { attach(mapping.as_ptr(), mapping.len()) };
    assert_eq!(
        attached,
        Ok(mailbox),
        "attach should accept a mailbox that Mailbox::initialize just wrote, and return its \
         base{}",
        if attached == Err(AttachError::NotReady) {
            ". It said NotReady: the mailbox's ready flag is about the record, not the header; \
             attach must not look at it"
        } else {
            ""
        }
    );
}

fn attach_refuses_a_misaligned_address() {
    let (mapping, _) = fresh_mailbox();
    let base = mapping.as_ptr().wrapping_add(4);
    // SAFETY: base + 4 .. end is inside the mapping, which lives until the end of this test.
    let attached = unsafe { attach(base, mapping.len() - 4) };
    assert_eq!(
        attached,
        Err(AttachError::Misaligned {
            addr: base as usize,
            align: align_of::<Mailbox>()
        }),
        "a mailbox at base + 4 is not aligned to align_of::<Mailbox>() (8): check `(base as usize).is_multiple_of(align)` first"
    );
}

fn attach_refuses_a_region_too_small() {
    let (mapping, _) = fresh_mailbox();
    let len = size_of::<Mailbox>() - 1;
    // SAFETY: the first `len` bytes are inside the mapping, which lives until the end of this test.
    let attached = unsafe { attach(mapping.as_ptr(), len) };
    assert_eq!(
        attached,
        Err(AttachError::TooSmall {
            len,
            need: size_of::<Mailbox>()
        }),
        "{len} bytes cannot hold a Mailbox of {} bytes: compare len with size_of::<Mailbox>() before reading anything",
        size_of::<Mailbox>()
    );
}

fn attach_refuses_a_wrong_magic() {
    let (mapping, mailbox) = fresh_mailbox();
    // SAFETY: magic is inside the mailbox; no other process exists.
    unsafe { addr_of_mut!((*mailbox).magic).write(0x1234_5678) };
    // SAFETY: the mapping lives until the end of this test.
    let attached = unsafe { attach(mapping.as_ptr(), mapping.len()) };
    assert_eq!(
        attached,
        Err(AttachError::WrongMagic {
            found: 0x1234_5678,
            expected: MAILBOX_MAGIC
        }),
        "a region whose magic is not MAILBOX_MAGIC is not ours: refuse it with WrongMagic"
    );
}

fn attach_refuses_a_wrong_version() {
    let (mapping, mailbox) = fresh_mailbox();
    // SAFETY: version is inside the mailbox; no other process exists.
    unsafe { addr_of_mut!((*mailbox).version).write(MAILBOX_VERSION + 1) };
    // SAFETY: the mapping lives until the end of this test.
    let attached = unsafe { attach(mapping.as_ptr(), mapping.len()) };
    assert_eq!(
        attached,
        Err(AttachError::WrongVersion {
            found: MAILBOX_VERSION + 1,
            expected: MAILBOX_VERSION
        }),
        "a mailbox of another layout version must be refused with WrongVersion, after the magic matched"
    );
}

/// The record published in `round`: every word non-zero, and different in every round.
fn record(round: u64) -> Box<[u64; MAILBOX_WORDS]> {
    let mut words = Box::new([0u64; MAILBOX_WORDS]);
    for (i, word) in words.iter_mut().enumerate() {
        *word = round * 1_000_000 + i as u64 + 1;
    }
    words
}

fn try_read_is_none_until_publish_and_then_the_whole_record() {
    let (_mapping, mailbox) = fresh_mailbox();
    // SAFETY: the mailbox was just initialized and lives until the end of this test.
    let before = unsafe { try_read(mailbox) };
    assert!(
        before.is_none(),
        "try_read on a mailbox nobody published returned Some: return None while ready is 0"
    );
    let words = record(7);
    // SAFETY: as above; this test is the only writer and publishes once.
    unsafe { publish(mailbox, &words) };
    // SAFETY: as above.
    let ready = unsafe { atomic_u32(addr_of_mut!((*mailbox).ready)) }.load(Ordering::Acquire);
    assert_eq!(
        ready, 1,
        "after publish, the mailbox's ready field should be 1"
    );
    // SAFETY: as above.
    let after = unsafe { try_read(mailbox) };
    assert!(
        after.as_deref() == Some(&words[..]),
        "after publish, try_read should return Some with exactly the published words"
    );
}

/// Freezes a writer in the middle of its copy, the way a preemption or a crash could, and
/// looks at what a reader would see at that instant: the last page of the mailbox is made
/// read-only, so `publish` (run in a child) dies of SIGSEGV when its copy reaches it.
fn a_writer_stopped_midway_has_not_yet_set_ready() {
    let (mapping, mailbox) = fresh_mailbox();
    let page = page_size();
    let last_page = (size_of::<Mailbox>() - 1) / page * page;
    mapping
        .protect(last_page, page, ProtFlags::PROT_READ)
        .expect("mprotect");
    let first_frozen_word = (last_page - std::mem::offset_of!(Mailbox, data)) / size_of::<u64>();
    let words = record(1);
    let writer = fork_child(|| {
        let _ = nix::sys::prctl::set_dumpable(false); // a deliberate crash leaves no core file
        // SAFETY: the mailbox is initialized and this child is its only writer. The write to
        // the read-only page faults on purpose; the child dies there.
        unsafe { publish(mailbox, &words) };
        0
    })
    .expect("fork");
    let exit = writer.wait().expect("waitpid");
    assert!(
        exit != Exit::Code(101),
        "publish panicked (see its message above): is it still todo!()?"
    );
    assert_eq!(
        exit,
        Exit::Signal(Signal::SIGSEGV),
        "publish should write all {MAILBOX_WORDS} words of data, the last page too"
    );
    // SAFETY: ready is on the first page, which is still readable; the writer is gone.
    let ready = unsafe { atomic_u32(addr_of_mut!((*mailbox).ready)) }.load(Ordering::Acquire);
    assert_eq!(
        ready, 0,
        "publish was stopped while writing word {first_frozen_word}, yet ready was already 1: \
         a reader at that instant gets a half-written record. Write every word first and set \
         ready last, with Release"
    );
}

/// A reader must not even look at the data before it has seen `ready == 1`: the data pages
/// (all but the first) are made unreadable, and `try_read`, run in a child on an unpublished
/// mailbox, must return `None` without touching them.
fn try_read_leaves_the_data_alone_until_ready() {
    let (mapping, mailbox) = fresh_mailbox();
    let page = page_size();
    let mapped = mapping.len().next_multiple_of(page);
    mapping
        .protect(page, mapped - page, ProtFlags::PROT_NONE)
        .expect("mprotect");
    let reader = fork_child(|| {
        let _ = nix::sys::prctl::set_dumpable(false); // a crash here leaves no core file
        // SAFETY: the mailbox is initialized; if try_read reads the protected data pages, the
        // child dies of SIGSEGV, which is what this test looks for.
        match unsafe { try_read(mailbox) } {
            None => 0,
            Some(_) => 3,
        }
    })
    .expect("fork");
    match reader.wait().expect("waitpid") {
        Exit::Code(0) => {}
        Exit::Code(3) => {
            panic!("try_read returned Some on a mailbox whose ready is 0: return None")
        }
        Exit::Code(101) => {
            panic!("try_read panicked (see its message above): is it still todo!()?")
        }
        Exit::Signal(Signal::SIGSEGV) => panic!(
            "try_read read the data while ready was 0: a copy made before ready is seen can be \
             half written. Load ready first, with Acquire, and touch the data only once it is 1"
        ),
        other => panic!("the reader {other}"),
    }
}

/// Shared between the test and its reader child, in its own mapping.
#[repr(C)]
struct Control {
    /// Set by the reader once it is running and watching the mailbox (AtomicU32).
    spinning: u32,
    reserved: u32,
    /// The first wrong word the reader saw, and its value (AtomicU64 each).
    bad_word: u64,
    bad_value: u64,
}

const ROUNDS: u64 = 200;
/// How the reader child ended, beyond 0 (all good) and 101 (it panicked).
const READY_BEFORE_DATA: i32 = 3;
const NONE_AFTER_READY: i32 = 4;
const TORN_RECORD: i32 = 5;

/// A reader child watches the mailbox while the test publishes a 32 KiB record, round after
/// round. In even rounds it waits for `ready` itself and then reads the *last* word at once:
/// if `publish` set `ready` before writing the data, that word is still 0. In odd rounds it
/// spins on `try_read` and checks every word it returns. One bad round fails the check.
fn a_reader_in_another_process_never_sees_a_half_written_record() {
    let mailbox_mapping = shared(size_of::<Mailbox>());
    let control_mapping = shared(size_of::<Control>());
    let control = control_mapping.as_ptr().cast::<Control>();
    // SAFETY: the control fields are inside a live mapping, touched only through these atomics.
    let (spinning, bad_word, bad_value) = unsafe {
        (
            atomic_u32(addr_of_mut!((*control).spinning)),
            atomic_u64(addr_of_mut!((*control).bad_word)),
            atomic_u64(addr_of_mut!((*control).bad_value)),
        )
    };
    for round in 1..=ROUNDS {
        // SAFETY: the mapping holds one Mailbox; the previous round's reader has been reaped,
        // so no other process touches it now.
        let mailbox = unsafe { Mailbox::initialize(mailbox_mapping.as_ptr()) };
        spinning.store(0, Ordering::Relaxed);
        let expected = record(round);
        let probe_first = round % 2 == 0;
        let reader = fork_child(|| {
            spinning.store(1, Ordering::Release);
            if probe_first {
                // SAFETY: ready and data are inside the mailbox; ready is only accessed atomically.
                let ready = unsafe { atomic_u32(addr_of_mut!((*mailbox).ready)) };
                while ready.load(Ordering::Acquire) == 0 {
                    std::hint::spin_loop();
                }
                let last = MAILBOX_WORDS - 1;
                // SAFETY: as above. If publish is right, this word was written before ready.
                let value = unsafe { addr_of_mut!((*mailbox).data[last]).read_volatile() };
                if value != expected[last] {
                    bad_word.store(last as u64, Ordering::Relaxed);
                    bad_value.store(value, Ordering::Relaxed);
                    return READY_BEFORE_DATA;
                }
            }
            let words = loop {
                // SAFETY: the mailbox lives as long as the test's mapping, which outlives this child.
                match unsafe { try_read(mailbox) } {
                    Some(words) => break words,
                    None if probe_first => return NONE_AFTER_READY,
                    None => std::hint::spin_loop(),
                }
            };
            match (0..MAILBOX_WORDS).find(|&i| words.get(i) != Some(&expected[i])) {
                Some(i) => {
                    bad_word.store(i as u64, Ordering::Relaxed);
                    bad_value.store(words.get(i).copied().unwrap_or(0), Ordering::Relaxed);
                    TORN_RECORD
                }
                None => 0,
            }
        })
        .expect("fork");
        while spinning.load(Ordering::Acquire) == 0 {
            std::thread::yield_now();
        }
        // SAFETY: the mailbox is initialized; this test is its only writer, once per round.
        unsafe { publish(mailbox, &expected) };
        // SAFETY: as above.
        let ready = unsafe { atomic_u32(addr_of_mut!((*mailbox).ready)) }.load(Ordering::Acquire);
        assert_eq!(
            ready, 1,
            "publish returned, but the mailbox's ready field is {ready}, not 1"
        );
        let exit = reader.wait().expect("waitpid");
        let (word, seen) = (
            bad_word.load(Ordering::Relaxed) as usize,
            bad_value.load(Ordering::Relaxed),
        );
        match exit {
            Exit::Code(0) => {}
            Exit::Code(READY_BEFORE_DATA) => panic!(
                "round {round}: the reader saw ready=1 but word {word} was still {seen} \
                 (should be {}): in publish, write every word first and set ready last, with Release",
                expected[word]
            ),
            Exit::Code(NONE_AFTER_READY) => panic!(
                "round {round}: ready was 1 but try_read returned None: once ready is 1, return the record"
            ),
            Exit::Code(TORN_RECORD) => panic!(
                "round {round}: try_read returned a record whose word {word} was {seen} (should be {}): \
                 load ready with Acquire first, and copy the data only once it reads 1",
                expected[word]
            ),
            Exit::Code(101) => panic!(
                "round {round}: the reader panicked (see its message above): is try_read still todo!()?"
            ),
            other => panic!("round {round}: the reader {other}"),
        }
    }
}
