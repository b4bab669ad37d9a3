//! Checks for lesson 13's exercise. `cargo test -p l13-shmem-index` runs them against
//! src/solution.rs; `cargo exercise l13-shmem-index` against your src/exercise.rs.
//! The race forks, so they run in this file's own single-threaded `main`.
//!
//! Nothing here may hang: each check runs in a child with its watchdog armed, and every
//! racing process arms its own (`common::watchdog`). An `init_struct` that never returns
//! (one that waits for the index lock while it holds it itself) ends in SIGALRM after a
//! few seconds, and the check says so.

use std::sync::atomic::{AtomicU64, Ordering};

use common::watchdog::{self, Checked, check_in_child};
use common::{Child, Exit, fork_child};
use l10_sleeping_locks::blocked_in;
use l13_shmem_index::{
    CACHE_LINE, Segment, Shmem, ShmemError, cache_line_align, decode_name, init_struct, race,
    usable_cpus,
};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};

fn main() -> std::process::ExitCode {
    common::run_tests!(
        a_name_created_once_is_then_found,
        offsets_are_cache_line_aligned_and_never_overlap,
        another_size_for_a_known_name_is_an_error,
        bad_requests_are_refused_and_take_nothing,
        nobody_looks_while_a_creator_allocates,
        processes_creating_one_name_at_once_create_it_once,
    )
}

/// Seconds a check may run before its watchdog ends it (each takes milliseconds).
const QUICK: u32 = 5;

/// Runs `check` in a child whose watchdog ends it after [`QUICK`] seconds, and turns a
/// hang into a failed check that says where to look. A panic in the child prints its own
/// message (the panic hook is inherited).
fn watched(check: impl FnOnce()) {
    match check_in_child(QUICK, check) {
        Checked::Passed => {}
        Checked::Failed => panic!("failed (the message is above)"),
        Checked::Hung => panic!(
            "init_struct had not returned after {QUICK} s: it waits for a lock that will never \
             be free. A spinlock is not reentrant: does init_struct take the index lock again \
             (shmem.lock_index(), or shmem.find() or shmem.entries(), which take it too) while \
             its guard is alive?"
        ),
        Checked::Ended(exit) => panic!("the checking process {exit}"),
    }
}

/// Runs `init_struct` and turns an error into a failed check that says what happened.
fn init(shmem: &Shmem, name: &str, size: usize) -> (usize, bool) {
    init_struct(shmem, name, size).unwrap_or_else(|err| {
        panic!("init_struct(\"{name}\", {size}) on a region with room for it said: {err}")
    })
}

/// How many index entries are called `name`.
fn entries_named(shmem: &Shmem, name: &str) -> usize {
    shmem
        .entries()
        .iter()
        .filter(|entry| decode_name(&entry.name) == name)
        .count()
}

fn a_name_created_once_is_then_found() {
    watched(|| {
        let segment = Segment::create(64 * 1024, 16).unwrap();
        let shmem = segment.shmem();
        let (offset, found) = init(&shmem, "XLOG Ctl", 520);
        assert!(
            !found,
            "the first init_struct(\"XLOG Ctl\", 520) said found = true, in an empty index: \
         found is true only when the name was already there"
        );
        let (again, found) = init(&shmem, "XLOG Ctl", 520);
        assert!(
            found,
            "the second init_struct(\"XLOG Ctl\", 520) said found = false: look the name up \
         (the index guard's lookup) before creating anything"
        );
        assert_eq!(
            again, offset,
            "the second init_struct(\"XLOG Ctl\") returned offset {again}, the first {offset}: a \
         name found must give the offset stored in its entry"
        );
        let count = entries_named(&shmem, "XLOG Ctl");
        assert_eq!(
            count, 1,
            "the index holds {count} entries named \"XLOG Ctl\" after two calls: the second must \
         find the first, not add another"
        );
        let entry = shmem.find("XLOG Ctl").unwrap().unwrap();
        assert_eq!(
            (entry.offset as usize, entry.size as usize),
            (offset, 520),
            "the entry records offset {} and size {}, but init_struct returned offset {offset} \
         for 520 bytes: store the offset alloc gave and the size asked for",
            entry.offset,
            entry.size
        );
    });
}

fn offsets_are_cache_line_aligned_and_never_overlap() {
    watched(|| {
        let segment = Segment::create(64 * 1024, 16).unwrap();
        let shmem = segment.shmem();
        let sizes = [1, 100, 128, 129, 1000, 8];
        let mut ranges = Vec::new();
        for (i, &size) in sizes.iter().enumerate() {
            let name = format!("struct {i}");
            let (offset, _) = init(&shmem, &name, size);
            assert!(
                offset.is_multiple_of(CACHE_LINE),
                "init_struct(\"{name}\", {size}) returned offset {offset}, not a multiple of \
             {CACHE_LINE}: get the memory from shmem.alloc, which aligns every allocation to a \
             cache line (PG_CACHE_LINE_SIZE)"
            );
            let entry = shmem.find(&name).unwrap().unwrap();
            assert_eq!(
                entry.allocated_size as usize,
                cache_line_align(size),
                "\"{name}\" ({size} bytes) records allocated_size {}, not {}: store the \
             allocated_size that shmem.alloc returned",
                entry.allocated_size,
                cache_line_align(size)
            );
            assert!(
                offset + cache_line_align(size) <= shmem.total_size()
                    && offset + cache_line_align(size) <= shmem.free_offset(),
                "\"{name}\" at offset {offset} reaches past the free offset {}: allocate with \
             shmem.alloc, don't compute offsets yourself",
                shmem.free_offset()
            );
            for (other, start, end) in &ranges {
                assert!(
                    offset >= *end || offset + size <= *start,
                    "\"{name}\" ({offset}..{}) overlaps \"{other}\" ({start}..{end}): every \
                 structure needs its own allocation",
                    offset + size
                );
            }
            ranges.push((name.clone(), offset, offset + size));
        }
    });
}

fn another_size_for_a_known_name_is_an_error() {
    watched(|| {
        let segment = Segment::create(64 * 1024, 16).unwrap();
        let shmem = segment.shmem();
        init(&shmem, "Lock table", 2000);
        let free = shmem.free_offset();
        match init_struct(&shmem, "Lock table", 3000) {
            Err(ShmemError::SizeMismatch {
                name,
                expected: 3000,
                actual: 2000,
            }) if name == "Lock table" => {}
            other => panic!(
                "init_struct(\"Lock table\", 3000) after creating it with 2000 bytes returned \
             {other:?}: a known name asked for with another size is \
             Err(SizeMismatch {{ name, expected: 3000, actual: 2000 }}); the caller would \
             otherwise use 3000 bytes of a 2000-byte structure"
            ),
        }
        assert_eq!(
            (shmem.free_offset(), entries_named(&shmem, "Lock table")),
            (free, 1),
            "after the size mismatch, the region changed (free offset {} → {}, entries named \
         \"Lock table\": {}): a refused request takes nothing",
            free,
            shmem.free_offset(),
            entries_named(&shmem, "Lock table")
        );
    });
}

fn bad_requests_are_refused_and_take_nothing() {
    watched(|| {
        let long = "x".repeat(48);
        let segment = Segment::create(Segment::minimum_size(2) + 4 * CACHE_LINE, 2).unwrap();
        let shmem = segment.shmem();
        match init_struct(&shmem, &long, 8) {
            Err(ShmemError::NameTooLong { .. }) => {}
            other => panic!(
                "a 48-byte name returned {other:?}, not Err(NameTooLong): names are stored in 48 \
             bytes with at least one NUL; use encode_name(name)?"
            ),
        }
        let free = shmem.free_offset();
        match init_struct(&shmem, "too big", 10 * CACHE_LINE) {
            Err(ShmemError::OutOfMemory {
                name: Some(name), ..
            }) if name == "too big" => {}
            other => panic!(
                "init_struct(\"too big\", {}) with {} bytes left returned {other:?}: expected \
             Err(OutOfMemory {{ name: Some(\"too big\"), .. }}) (set the name in the error \
             shmem.alloc returns)",
                10 * CACHE_LINE,
                shmem.total_size() - free
            ),
        }
        assert_eq!(
            (shmem.free_offset(), shmem.entries().len()),
            (free, 0),
            "after a request too big, the free offset is {} (was {free}) and the index has {} \
         entries: a failed init_struct must leave no entry behind",
            shmem.free_offset(),
            shmem.entries().len()
        );
        init(&shmem, "one", 8);
        init(&shmem, "two", 8);
        let free = shmem.free_offset();
        match init_struct(&shmem, "three", 8) {
            Err(ShmemError::IndexFull { .. }) => {}
            other => {
                panic!(
                    "a third name in an index of 2 entries returned {other:?}, not Err(IndexFull)"
                )
            }
        }
        assert_eq!(
            shmem.free_offset(),
            free,
            "the index was full, yet init_struct allocated {} bytes nobody can ever find: check \
         is_full() on the index guard before shmem.alloc",
            shmem.free_offset() - free
        );
    });
}

/// How a process that called `init_struct` ended: an exit status that says it.
const CREATED: i32 = 10;
const FOUND: i32 = 11;
const REFUSED: i32 = 12;

/// The interleaving a broken `init_struct` allows, forced rather than hoped for. The check
/// holds `ShmemLock`, the allocator's lock, so the first process to ask for a new name
/// stops inside `shmem.alloc`, after its look-up and before its insert. Then a second
/// process asks for the same name. With one guard held from look-up to insert, the second
/// cannot even look until the first has inserted, and finds it. With the guard dropped in
/// between, the second looks, finds nothing, and goes on to allocate too: once the check
/// lets go, both create it.
fn nobody_looks_while_a_creator_allocates() {
    watched(|| {
        let segment = Segment::create(64 << 10, 16).expect("map a region");
        let shmem = segment.shmem();
        let free_before = shmem.free_offset();
        let ask = || {
            watchdog::arm(QUICK);
            match init_struct(&shmem, "pg_stat_statements", 640) {
                Ok((_, false)) => CREATED,
                Ok((_, true)) => FOUND,
                Err(err) => {
                    println!("\n  init_struct said: {err}\n");
                    REFUSED
                }
            }
        };
        let allocator = shmem.lock_allocator().expect("take ShmemLock");
        let first = fork_child(ask).expect("fork");
        wait_until_waiting(&first, "the first process, asking for a new name,");
        let second = fork_child(ask).expect("fork");
        wait_until_waiting(&second, "the second process, asking for the same name,");
        drop(allocator);
        let outcomes = [
            first.wait().expect("waitpid"),
            second.wait().expect("waitpid"),
        ];
        assert!(
            outcomes != [Exit::Code(CREATED), Exit::Code(CREATED)],
            "the first process stopped inside shmem.alloc (the check held ShmemLock), and \
             meanwhile the second looked the same name up, found nothing and created it too: \
             init_struct let go of the index between its look-up and its insert. Hold ONE \
             guard from shmem.lock_index() through the look-up, the allocation and the insert"
        );
        assert_eq!(
            outcomes,
            [Exit::Code(CREATED), Exit::Code(FOUND)],
            "the first to ask creates the name, the second finds it (exit {CREATED}: created, \
             {FOUND}: found, {REFUSED}: an error)"
        );
        assert_eq!(entries_named(&shmem, "pg_stat_statements"), 1);
        assert_eq!(
            shmem.free_offset() - free_before,
            cache_line_align(640),
            "two asked for one 640-byte structure, and more than one allocation was made: \
             the second process allocated before it looked (allocate only once the look-up \
             under the guard has found nothing)"
        );
    });
}

/// Waits until `process` sleeps, in `SpinDelay`'s nanosleep, for a lock someone holds
/// (the allocator's or the index's): where a correct `init_struct` waits. A process that
/// ends first is a failed check that says how it ended.
fn wait_until_waiting(process: &Child, who: &str) {
    let sleeps = [libc::SYS_nanosleep, libc::SYS_clock_nanosleep];
    loop {
        match blocked_in(process.pid()).expect("read /proc/PID/syscall") {
            Some(blocked) if sleeps.contains(&blocked.number) => return,
            _ => {}
        }
        let ended = waitid(
            Id::Pid(process.pid()),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT,
        );
        if !matches!(ended, Ok(WaitStatus::StillAlive)) {
            panic!(
                "{who} returned from init_struct (or panicked: the message is above) while \
                 the check held ShmemLock, so it never allocated: a new name needs \
                 shmem.alloc, under the index guard"
            );
        }
        std::thread::yield_now();
    }
}

/// Names each region's index holds: every look-up scans a short index, as in a real
/// server, where a process waiting for the index lock is still spinning (not asleep) when
/// the holder lets go.
const PER_REGION: usize = 32;
/// Rounds of the race: in each, every process asks for one new name at once. Each round
/// gives a broken `init_struct` one chance to let two processes in; on a 2-CPU machine,
/// busy or not, one in a few hundred does, so many rounds make a miss practically certain.
const ROUNDS: usize = 20_000;
/// What each name asks for.
const SIZE: usize = 128;
/// Seconds a racing process may run before its watchdog ends it (the race takes well
/// under 1 on an idle machine, a few on a busy one).
const PATIENCE: u32 = 30;

#[repr(C)]
struct Tally {
    /// Processes that have reached each round's start line, all rounds counted together.
    arrived: AtomicU64,
    /// Per round: how many processes were told found = false.
    created: [AtomicU64; ROUNDS],
}

fn processes_creating_one_name_at_once_create_it_once() {
    let size = Segment::minimum_size(PER_REGION) + PER_REGION * cache_line_align(SIZE);
    let segments: Vec<Segment> = (0..ROUNDS.div_ceil(PER_REGION))
        .map(|_| Segment::create(size, PER_REGION).expect("map a region"))
        .collect();
    let regions: Vec<Shmem> = segments.iter().map(Segment::shmem).collect();
    let region = |round: usize| &regions[round / PER_REGION];
    let workers = usable_cpus().unwrap().len().clamp(2, 4) as u64;
    let tally = l08_races::Shared::<Tally>::new().unwrap();
    // SAFETY: zeroed atomics in a live mapping, used only atomically, outliving `tally`.
    let tally: &Tally = unsafe { &*tally.as_ptr() };
    let outcome = race(workers as usize, true, |_| {
        watchdog::arm(PATIENCE);
        for round in 0..ROUNDS {
            // A start line per round: everyone asks for the new name at the same moment.
            tally.arrived.fetch_add(1, Ordering::AcqRel);
            let mut spins = 0u32;
            while tally.arrived.load(Ordering::Acquire) < (round as u64 + 1) * workers {
                spins += 1;
                if spins.is_multiple_of(1000) {
                    std::thread::yield_now(); // fewer CPUs than racers: let the others run
                }
                std::hint::spin_loop();
            }
            // A pause of random length (0 to 63 spin hints): sometimes one process asks
            // just as another is between its look-up and its insert.
            l08_races::jitter(64);
            if let Ok((_, false)) = init_struct(region(round), &format!("round {round}"), SIZE) {
                tally.created[round].fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    });
    if let Err(err) = outcome {
        let text = err.to_string();
        let why = if text.contains("101") {
            "init_struct panicked in a racing process (its message is above)".to_string()
        } else if text.contains("SIGALRM") {
            format!(
                "a process was still racing after {PATIENCE} s: does init_struct take the \
                 index lock again (shmem.lock_index(), shmem.find(), shmem.entries()) while \
                 its guard is alive? A spinlock is not reentrant: it waits for itself for ever"
            )
        } else {
            "see the error".to_string()
        };
        panic!("racing {workers} processes failed: {text}: {why}");
    }
    let twice: Vec<usize> = (0..ROUNDS)
        .filter(|&r| tally.created[r].load(Ordering::Relaxed) > 1)
        .collect();
    let never = (0..ROUNDS)
        .filter(|&r| tally.created[r].load(Ordering::Relaxed) == 0)
        .count();
    assert!(
        twice.is_empty(),
        "{workers} pinned processes asked for one new name at once, {ROUNDS} times: in {} \
         rounds (the first: \"round {}\") more than one was told found = false, so two \
         processes each created the structure and each initialized its own copy. A process \
         that looked and found nothing must not let another look before its entry is in: \
         hold ONE index guard from the look-up to the insert. Dropping it after the look-up \
         and taking the lock again to insert (or looking up with shmem.find) leaves a gap \
         between the two",
        twice.len(),
        twice[0]
    );
    assert_eq!(
        never, 0,
        "in {never} of {ROUNDS} rounds no process was told found = false: the first to ask \
         for a name creates it"
    );
    let duplicated = (0..ROUNDS)
        .filter(|&r| entries_named(region(r), &format!("round {r}")) != 1)
        .count();
    assert_eq!(
        duplicated, 0,
        "after the race, {duplicated} of the {ROUNDS} names do not have exactly one index entry"
    );
}
