//! Step 5: readers keep coming while writers make their transfers.
//!
//! The whole lock under load, through the library's harness (`readers_and_writers`): the
//! step only says what the counts must be, and stops the lesson with an error if the lock
//! let a reader in beside a writer, tore a read, lost a transfer, or starved the writers.

use common::{Error, Result, parent, section};
use l08_races::usable_cpus;
use l11_lwlock::{LwLock, describe, describe_queue, readers_and_writers};

/// Seconds a racer of step 5 may run before its watchdog ends it; readers give up on the
/// writers after half of it.
const PATIENCE_SECONDS: u32 = 10;

// ANCHOR: readers_keep_coming
pub fn readers_keep_coming(readers: usize, writers: usize, writes: u64) -> Result<()> {
    let total = writers as u64 * writes;
    section(&format!(
        "5. Readers keep coming while {} make{} {writes} transfers each",
        common::count(writers as u64, "writer", "writers"),
        if writers == 1 { "s" } else { "" }
    ));
    let lock = LwLock::new_shared()?;
    parent!(
        "{} and {}, pinned round-robin to the {}, released together",
        common::count(readers as u64, "reader", "readers"),
        common::count(writers as u64, "writer", "writers"),
        common::count(usable_cpus()?.len() as u64, "usable CPU", "usable CPUs")
    );
    parent!("a writer moves 1 from A to B under the exclusive lock, A + B = {total} always;");
    parent!("a reader checks A + B under the shared lock, again and again, until they are done");
    let seen = readers_and_writers(&lock, readers, writers, writes, true, PATIENCE_SECONDS)?;
    if seen.starved {
        return Err(Error::Failed(format!(
            "the writers starved: after {} s of readers coming, they had made {} of {total} \
             transfers",
            PATIENCE_SECONDS / 2,
            seen.writes
        )));
    }
    if seen.overlaps != 0 || seen.torn != 0 || (seen.a, seen.b) != (0, total) {
        return Err(Error::Failed(format!(
            "the lock did not exclude: {} overlaps, {} torn reads, A = {}, B = {}",
            seen.overlaps, seen.torn, seen.a, seen.b
        )));
    }
    parent!("all done; the race took {:.1?}", seen.finish.elapsed);
    parent!("the writers: {total} = {writers} x {writes} transfers, A = 0 and B = {total}: exact");
    parent!(
        "the readers: {}, up to {} inside at once",
        common::count(seen.reads, "shared read", "shared reads"),
        common::count(seen.max_readers, "reader", "readers")
    );
    parent!("not one read saw A + B != {total}; no reader was ever inside with a writer,");
    parent!("and no writer with another: 0 overlaps, counted by both sides");
    parent!(
        "the writers slept {} for the lock; the longest wait took {:.1?}",
        common::count(seen.writer_sleeps, "time", "times"),
        seen.longest_wait
    );
    parent!(
        "lock after the race: state {}; queue: {}",
        describe(seen.state_after),
        describe_queue(&lock.waiters())
    );
    Ok(())
}
// ANCHOR_END: readers_keep_coming
