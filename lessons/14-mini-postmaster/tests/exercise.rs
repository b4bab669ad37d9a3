//! Checks for lesson 14's exercise. `cargo test -p l14-mini-postmaster` runs them against
//! src/solution.rs; `cargo exercise l14-mini-postmaster` against your src/exercise.rs.
//! They fork, so they run in this file's own single-threaded `main`.
//!
//! Every check runs in forked processes that arm an alarm first (`common::watchdog`): an
//! `update_row` that never returns (a lock never released, or taken twice) ends in SIGALRM,
//! and the check says so.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::watchdog::{self, Checked, check_in_child};
use common::{Exit, fork_child};
use l08_races::race;
use l11_lwlock::{LOCK_MASK, LwLock};
use l13_shmem_index::Segment;
use l14_mini_postmaster::{DIRTY, INDEX_CAPACITY, Mode, Pool, RECORD_SIZE, WalRecord, update_row};

fn main() -> std::process::ExitCode {
    common::run_tests!(
        one_update_changes_the_row_logs_it_and_marks_the_page,
        a_full_wal_buffer_changes_nothing,
        an_update_waits_for_the_page_lock,
        the_page_is_changed_and_dirty_before_its_record_is_written,
        racing_backends_lose_no_update_and_log_in_order,
    )
}

/// Seconds a process running `update_row` may take before its alarm ends it.
const PATIENCE: u32 = 10;

/// A region of 4 MiB: room for the largest WAL below.
fn memory() -> Segment {
    Segment::create(4 << 20, INDEX_CAPACITY).unwrap()
}

/// Runs `body` in a child with an alarm; a panic there (its message is printed above) or
/// the alarm fails the check here, with a word on what it means.
fn in_child(body: impl FnOnce()) {
    match check_in_child(PATIENCE, body) {
        Checked::Passed => {}
        Checked::Failed => panic!("the check failed (its message is above)"),
        Checked::Hung => panic!(
            "update_row did not return within {PATIENCE} s: does it release the page's \
             LWLock, or take it twice?"
        ),
        Checked::Ended(other) => panic!("the checking process {other}"),
    }
}

fn lock_is_free(lock: &LwLock) -> bool {
    lock.state() & LOCK_MASK == 0
}

/// Row `row` of buffer `buffer`'s page, read while holding its lock shared.
fn row_value(pool: &Pool, buffer: usize, row: usize) -> u64 {
    let _shared = pool.page_lock(buffer).hold(Mode::Shared);
    // SAFETY: we hold the page's lock.
    unsafe { (*pool.page(buffer)).rows[row] }
}

/// Every completely copied record in the WAL buffer, from its start up to the first gap.
fn wal_records(pool: &Pool) -> Vec<WalRecord> {
    let inserted = pool.wal_ctl().insert.load(Ordering::Acquire);
    let inserted = inserted.min(pool.wal_ctl().capacity);
    (0..inserted)
        .step_by(RECORD_SIZE)
        .map_while(|at| pool.wal_record(at))
        .collect()
}

fn page_lsn(pool: &Pool, buffer: usize) -> u64 {
    // SAFETY: called when nobody else runs.
    unsafe { (*pool.page(buffer)).lsn }
}

fn one_update_changes_the_row_logs_it_and_marks_the_page() {
    in_child(|| {
        let segment = memory();
        let (pool, _) = Pool::attach(segment.shmem(), 4, 8).unwrap();
        let lsn = update_row(&pool, 2, 5)
            .unwrap_or_else(|err| panic!("update_row(pool, 2, 5) failed: {err}"));
        // The lock first: reading the row takes it, and would wait for ever.
        assert!(
            (0..4).all(|b| lock_is_free(pool.page_lock(b))),
            "a page LWLock is still held after update_row returned: the guard that \
             pool.page_lock(buffer).hold(Mode::Exclusive) gives must be dropped by then (a \
             guard kept alive, or forgotten, keeps the lock)"
        );
        assert_eq!(
            row_value(&pool, 2, 5),
            1,
            "after one update_row(pool, 2, 5), row 5 of page 2 should be 1: add 1 to the row"
        );
        let insert = pool.wal_ctl().insert.load(Ordering::Acquire);
        assert_eq!(
            insert, RECORD_SIZE as u64,
            "after one update the WAL's insert position is {insert}, not {RECORD_SIZE}: log \
             each update with exactly one pool.insert_wal(...)"
        );
        let log = wal_records(&pool);
        assert!(
            !log.is_empty(),
            "update_row reserved a WAL record but left its value 0: the record's value must be \
             the row's NEW value (value 0 means not written)"
        );
        assert_eq!(
            log[0],
            WalRecord {
                block: 2,
                row: 5,
                value: 1
            },
            "the WAL record should say which block and row changed and its NEW value"
        );
        assert_eq!(
            (lsn, page_lsn(&pool, 2)),
            (16, 16),
            "update_row returned LSN {lsn} and left the page's LSN at {}: both must be the \
             LSN insert_wal returned (the record's end), so the background writer knows how \
             far the WAL must be flushed before the page may be written",
            page_lsn(&pool, 2)
        );
        assert!(
            pool.descriptor(2).flags.load(Ordering::Acquire) & DIRTY != 0,
            "buffer 2 is not marked DIRTY after its page changed: the background writer \
             would never write it out"
        );
        assert_eq!(
            pool.descriptor(1).flags.load(Ordering::Acquire),
            0,
            "buffer 1 was not updated, yet its flags changed"
        );
    });
}

fn a_full_wal_buffer_changes_nothing() {
    in_child(|| {
        let segment = memory();
        let (pool, _) = Pool::attach(segment.shmem(), 2, 1).unwrap();
        update_row(&pool, 0, 0).expect("the first update has room in the WAL");
        let outcome = update_row(&pool, 0, 0);
        assert!(
            outcome.is_err(),
            "the WAL buffer has room for one record, yet a second update_row returned \
             {outcome:?}: return insert_wal's error"
        );
        // The lock first: reading the row takes it, and would wait for ever.
        assert!(
            lock_is_free(pool.page_lock(0)),
            "after a failed update the page's LWLock is still held: release it on every path, \
             the error path too"
        );
        let row = row_value(&pool, 0, 0);
        assert_eq!(
            row, 1,
            "an update that could not be logged left the row at {row}, not 1: a change without \
             its WAL record would be written to disk, yet be lost in a crash; when insert_wal \
             fails, put the row back as it was"
        );
        let lsn = page_lsn(&pool, 0);
        assert_eq!(
            lsn, 16,
            "an update that could not be logged changed the page's LSN from 16 to {lsn} \
             although nothing was logged: set the page's LSN only when insert_wal succeeds"
        );
    });
}

fn an_update_waits_for_the_page_lock() {
    let segment = memory();
    let (pool, _) = Pool::attach(segment.shmem(), 2, 8).unwrap();
    let held = pool.page_lock(1).hold(Mode::Exclusive);
    let child = fork_child(|| {
        watchdog::arm(PATIENCE);
        match update_row(&pool, 1, 3) {
            Ok(_) => 0,
            Err(_) => 1,
        }
    })
    .unwrap();
    // Hold the lock for a while: the child must not get at the page meanwhile.
    let start = Instant::now();
    let mut changed = false;
    while start.elapsed() < Duration::from_millis(300) {
        // SAFETY: we hold the lock: a well-behaved update_row cannot be writing.
        let value = unsafe { (*pool.page(1)).rows[3] };
        changed |= value != 0 || pool.wal_ctl().insert.load(Ordering::Acquire) != 0;
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(held);
    let exit = child.wait().unwrap();
    assert!(
        !changed,
        "while this process held page 1's LWLock exclusive, update_row in another process \
         changed the page or the WAL: take pool.page_lock(buffer) with Mode::Exclusive before \
         you read or write the page"
    );
    assert_eq!(
        exit,
        Exit::Code(0),
        "update_row in the child {exit} (0 expected once the lock was released; 101 is a \
         panic: its message is above)"
    );
    // The lock first: reading the row takes it, and would wait for ever.
    assert!(
        lock_is_free(pool.page_lock(1)),
        "update_row returned in the child, yet page 1's LWLock is still held: the guard that \
         hold(Mode::Exclusive) gives must be dropped before update_row returns"
    );
    assert_eq!(
        row_value(&pool, 1, 3),
        1,
        "once the lock was free, the waiting update should have gone through"
    );
}

/// A checkpoint takes its redo point from the WAL's insert position, then writes the pages
/// it finds dirty. So a page must be changed and DIRTY before its record can appear in the
/// WAL: else the record can lie before the redo point while the page looked clean, and the
/// change is neither written by that checkpoint nor replayed after a crash.
///
/// The check stops `update_row` in the middle of `insert_wal`, right after the record's
/// space was reserved: the page of "WAL Buffers" where that record goes is made read-only
/// (the insert position, in "XLOG Ctl", stays writable), so copying the record dies of
/// SIGSEGV. The region is shared: the check then looks at what the dead process had done.
fn the_page_is_changed_and_dirty_before_its_record_is_written() {
    let segment = memory();
    let (pool, found) = Pool::attach(segment.shmem(), 2, 1024).unwrap();
    let page_size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .unwrap()
        .expect("a page size") as usize;
    let (_, wal, _) = found
        .iter()
        .find(|(name, _, _)| name == "WAL Buffers")
        .expect("\"WAL Buffers\" exists");
    // The first whole page of "WAL Buffers" (the region itself starts on a page boundary),
    // and the record position at its start.
    let trap = wal.next_multiple_of(page_size);
    assert!(trap + page_size <= wal + 1024 * RECORD_SIZE);
    pool.wal_ctl()
        .insert
        .store((trap - wal) as u64, Ordering::Release);
    let address = std::ptr::NonNull::new(pool.shmem.ptr(trap).cast()).unwrap();
    // SAFETY: a whole page inside our live region; nothing of ours lives there but the
    // WAL records this check never writes; it is made writable again below.
    unsafe { nix::sys::mman::mprotect(address, page_size, nix::sys::mman::ProtFlags::PROT_READ) }
        .unwrap();
    let child = fork_child(|| {
        watchdog::arm(PATIENCE);
        let _ = update_row(&pool, 1, 7);
        0
    })
    .unwrap();
    let exit = child.wait().unwrap();
    // SAFETY: as above; the page is ours again.
    unsafe {
        nix::sys::mman::mprotect(
            address,
            page_size,
            nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE,
        )
    }
    .unwrap();
    match exit {
        Exit::Signal(nix::sys::signal::Signal::SIGSEGV) => {}
        Exit::Code(101) => panic!("update_row panicked (its message is above)"),
        exit if watchdog::fired(&exit) => {
            panic!("update_row did not return within {PATIENCE} s")
        }
        other => panic!(
            "update_row {other}, but it should have died writing its WAL record into a \
             read-only page: does it call pool.insert_wal(...) for the update?"
        ),
    }
    // SAFETY: the process that held the page's lock is dead; nobody else runs.
    let row = unsafe { (*pool.page(1)).rows[7] };
    assert_eq!(
        row, 1,
        "when update_row was writing its WAL record, row 7 of page 1 was still {row}: change \
         the row first, then mark the buffer dirty, then insert the record"
    );
    assert!(
        pool.descriptor(1).flags.load(Ordering::Acquire) & DIRTY != 0,
        "when update_row was writing its WAL record, buffer 1 was not marked DIRTY yet: a \
         checkpoint whose redo point lies after this record would find the page clean, skip \
         it, and the change would be neither on disk nor replayed after a crash. Mark the \
         buffer dirty (flags.fetch_or(DIRTY, ...)) BEFORE pool.insert_wal(...)"
    );
}

/// Updates per racing process.
const UPDATES: usize = 20_000;

/// What the racing processes count as they go, in shared memory.
struct Tally {
    /// `update_row` returned an error.
    errors: AtomicU64,
    /// The LSN returned is not the end of this update's own record.
    not_its_record: AtomicU64,
    /// Right after `update_row` returned LSN L, the page's LSN was older than L.
    page_lsn_older: AtomicU64,
}

/// Whether `lsn` is the end of a complete record of `buffer`'s row `row`.
fn ends_a_record_of(pool: &Pool, lsn: u64, buffer: usize, row: usize) -> bool {
    let size = RECORD_SIZE as u64;
    if lsn < size || !lsn.is_multiple_of(size) || lsn > pool.wal_ctl().capacity {
        return false;
    }
    pool.wal_record(lsn - size)
        .is_some_and(|r| (r.block as usize, r.row as usize) == (buffer, row))
}

fn racing_backends_lose_no_update_and_log_in_order() {
    let workers = l08_races::usable_cpus().unwrap().len().clamp(2, 4);
    let records = workers * UPDATES;
    let segment = memory();
    // Page 0 is everybody's; page 1 + i is racing process i's own.
    let buffers = 1 + workers;
    let (pool, _) = Pool::attach(segment.shmem(), buffers, records).unwrap();
    let shared = l08_races::Shared::<Tally>::new().unwrap();
    // SAFETY: zeroed atomics in a live mapping, used only atomically, outliving `tally`.
    let tally: &Tally = unsafe { &*shared.as_ptr() };
    let outcome = race(workers, true, |index| {
        watchdog::arm(PATIENCE);
        for i in 0..UPDATES {
            // Most updates on the same two rows of page 0, all processes on the same row at
            // the same step, racing for its lock; every fourth on the process's own page,
            // where only its WAL record races with the others'.
            let (buffer, row) = match i % 4 {
                3 => (1 + index, i / 4 % 2),
                _ => (0, i % 2),
            };
            let lsn = match update_row(&pool, buffer, row) {
                Ok(lsn) => lsn,
                Err(_) => {
                    tally.errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            if !ends_a_record_of(&pool, lsn, buffer, row) {
                tally.not_its_record.fetch_add(1, Ordering::Relaxed);
            }
            if buffer == 0 {
                continue;
            }
            // A page's LSN is never older than a record already applied to it. (Checked on
            // the process's own page, where nobody else can have moved it on since.)
            let held = pool.page_lock(buffer).hold(Mode::Shared);
            // SAFETY: we hold the page's lock.
            let page_lsn = unsafe { (*pool.page(buffer)).lsn };
            drop(held);
            if page_lsn < lsn {
                tally.page_lsn_older.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    });
    if let Err(err) = outcome {
        let text = err.to_string();
        let why = if text.contains("SIGALRM") {
            "a process was still updating after 10 s: is the page lock released every time?"
        } else if text.contains("101") {
            "update_row panicked in a racing process (its message is above)"
        } else {
            "see the error"
        };
        panic!("racing {workers} processes failed: {text}: {why}");
    }
    let errors = tally.errors.load(Ordering::Relaxed);
    assert_eq!(
        errors, 0,
        "update_row returned {errors} errors, though the WAL buffer has room for every update"
    );
    assert!(
        (0..buffers).all(|b| lock_is_free(pool.page_lock(b))),
        "every racing process has exited, yet a page LWLock is still held: the guard that \
         hold(Mode::Exclusive) gives must be dropped before update_row returns"
    );
    let total: u64 = (0..buffers)
        .flat_map(|b| (0..2).map(move |r| (b, r)))
        .map(|(b, r)| row_value(&pool, b, r))
        .sum();
    let expected = records as u64;
    assert_eq!(
        total, expected,
        "{workers} processes made {expected} updates, most on the same two rows, but the rows \
         add up to {total}: updates were lost, as in lesson 08. Hold the page's LWLock \
         exclusive from reading the row to writing it back"
    );
    let log = wal_records(&pool);
    assert_eq!(
        log.len(),
        records,
        "the WAL holds {} complete records before its first gap, not one per update \
         ({records}): a record whose value is 0 counts as not written; the record's value \
         must be the row's NEW value",
        log.len()
    );
    let mut last = vec![[0u64; 2]; buffers];
    let mut out_of_order = 0;
    for record in &log {
        let value = &mut last[record.block as usize][record.row as usize];
        if record.value != *value + 1 {
            out_of_order += 1;
        }
        *value = record.value;
    }
    assert_eq!(
        out_of_order, 0,
        "{out_of_order} of {records} WAL records do not follow the previous record of their \
         row (value + 1): replaying the WAL would not rebuild the table. Insert the record \
         while you still hold the page's lock, so that the WAL's order is the updates' order"
    );
    let not_its_record = tally.not_its_record.load(Ordering::Relaxed);
    assert_eq!(
        not_its_record, 0,
        "{not_its_record} of {records} LSNs that update_row returned are not the end of that \
         update's own WAL record: return the LSN insert_wal returned"
    );
    let older = tally.page_lsn_older.load(Ordering::Relaxed);
    assert_eq!(
        older, 0,
        "{older} times, right after update_row returned LSN L, the page's LSN was older than \
         L: a page's LSN is never older than a record already applied to it. Set the page's \
         LSN to the LSN insert_wal returned (not a guess made before inserting), under the lock"
    );
    // Record k ends at (k + 1) * 16: each page's LSN is the end of its last record.
    for buffer in 0..buffers {
        let end = log
            .iter()
            .rposition(|r| r.block as usize == buffer)
            .map_or(0, |k| ((k + 1) * RECORD_SIZE) as u64);
        let lsn = page_lsn(&pool, buffer);
        assert_eq!(
            lsn, end,
            "page {buffer}'s LSN is {lsn}, but its last WAL record ends at {end}: set the \
             page's LSN to the LSN insert_wal returned, under the lock"
        );
    }
}
