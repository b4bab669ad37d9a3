//! Step 5: late creators, racing, with one lock around look-up and insert.
//!
//! Processes released together all ask for the same new name; then one creates a few more
//! while the others list the index. Each counts in shared memory what it was told, and the
//! step fails unless exactly one was told `found = false`, all got the same offset, and no
//! listing saw an entry half written.

use std::sync::atomic::{AtomicU64, Ordering};

use common::{Error, Result, parent, section};
use l08_races::race;
use l13_shmem_index::{CACHE_LINE, IndexEntry, Shmem, cache_line_align, decode_name, init_struct};

use crate::{LATE, LATE_SHARED};

/// What the racers report, in shared memory (lesson 08's `Shared`).
#[repr(C)]
struct Report {
    /// How many racers were told found = false for the shared name (must end at 1).
    created: AtomicU64,
    /// The offset each racer was given for it, +1 (0: not reported).
    offsets: [AtomicU64; l08_races::MAX_WORKERS],
    /// Index listings taken by the readers, and entries in them that were not whole.
    listings: AtomicU64,
    torn: AtomicU64,
}

// ANCHOR: late
pub fn late_creators(shmem: &Shmem, workers: usize) -> Result<()> {
    section("5. Late creators, racing: one lock around look-up and insert");
    parent!(
        "{workers} processes, released together: each calls init_struct(\"pg_stat_statements\", \
         640)"
    );
    parent!(
        "then the first creates {} more, one by one, while the others list the index",
        LATE.len()
    );
    let report = l08_races::Shared::<Report>::new()?;
    // SAFETY: zeroed atomics in a live mapping, used only atomically, outliving `report`.
    let report: &Report = unsafe { &*report.as_ptr() };
    race(workers, true /* pin to CPUs */, |index| {
        let (name, size) = LATE_SHARED;
        let (offset, found) = init_struct(shmem, name, size)?;
        if !found {
            report.created.fetch_add(1, Ordering::Relaxed);
        }
        report.offsets[index].store(offset as u64 + 1, Ordering::Relaxed);
        if index == 0 {
            for &(name, size) in LATE {
                init_struct(shmem, name, size)?;
            }
        } else {
            for _ in 0..200 {
                let entries = shmem.entries();
                let torn = entries.iter().filter(|entry| !whole(entry)).count();
                report.torn.fetch_add(torn as u64, Ordering::Relaxed);
                report.listings.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    })?;
    let offsets: Vec<u64> = (0..workers)
        .map(|i| report.offsets[i].load(Ordering::Relaxed))
        .collect();
    let created = report.created.load(Ordering::Relaxed);
    let same = offsets.iter().all(|&o| o != 0 && o == offsets[0]);
    parent!(
        "{created} of them was told found = false and created it, {} found it; {}",
        workers as u64 - created,
        if same {
            format!("all got offset {}", offsets[0] - 1)
        } else {
            "the offsets differ!".into()
        }
    );
    let torn = report.torn.load(Ordering::Relaxed);
    parent!(
        "{} listed the index {} each: {torn} entries seen half written",
        common::count(workers as u64 - 1, "reader", "readers"),
        common::count(
            report.listings.load(Ordering::Relaxed) / (workers as u64 - 1),
            "time",
            "times"
        )
    );
    if created != 1 || !same || torn != 0 {
        return Err(Error::Failed(
            "the index lock did not keep the racers apart".into(),
        ));
    }
    Ok(())
}

/// An entry as only a finished insert leaves it: a name, an aligned offset, and an
/// allocated size that is its size rounded up to cache lines.
fn whole(entry: &IndexEntry) -> bool {
    !decode_name(&entry.name).is_empty()
        && (entry.offset as usize).is_multiple_of(CACHE_LINE)
        && entry.allocated_size as usize == cache_line_align(entry.size as usize)
}
// ANCHOR_END: late
