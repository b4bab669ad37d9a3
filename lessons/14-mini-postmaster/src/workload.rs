//! The workload every run does: how many updates each backend makes, on which rows, and
//! when one of them asks for a checkpoint. All of it is deterministic, so the postmaster can
//! say what the table must hold without ever looking into shared memory.

use crate::{RECORD_SIZE, ROWS_PER_PAGE};

// ANCHOR: workload
/// Updates a backend makes.
pub const UPDATES_PER_BACKEND: usize = 100;

/// WAL records between two checkpoints. PostgreSQL's `max_wal_size` is a size (1 GB by
/// default); it turns it into a number of WAL segments (`CheckPointSegments`) and asks for a
/// checkpoint when that many have filled since the last redo point.
pub const CHECKPOINT_RECORDS: u64 = 128;

/// Whether the record ending at `lsn` crossed a checkpoint distance: its backend then asks
/// the checkpointer for a checkpoint (`XLogCheckpointNeeded`). One record in the whole WAL
/// crosses each distance, so the number of requests depends on the workload only.
pub fn checkpoint_due(lsn: u64) -> bool {
    let distance = CHECKPOINT_RECORDS * RECORD_SIZE as u64;
    (lsn - RECORD_SIZE as u64) / distance != lsn / distance
}

/// Backend `backend`'s `i`-th update: which buffer and which row. Deterministic, so that
/// the postmaster can say what the table must hold without looking into shared memory.
pub fn target(backend: usize, i: usize, buffers: usize) -> (usize, usize) {
    (
        (backend * 5 + i * 3) % buffers,
        (backend + i * 7) % ROWS_PER_PAGE,
    )
}
// ANCHOR_END: workload
