//! The background writer and the WAL writer: two processes that work in rounds, napping
//! in between, so that the backends and the checkpointer find less to do. The background
//! writer writes dirty pages ahead of need; the WAL writer flushes what backends inserted.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Result, count};

use crate::{DataFiles, Pool, SHUTDOWN, Wake, postmaster_gone, wait_on};

/// How long the background writer and the WAL writer nap between rounds (PostgreSQL's
/// `bgwriter_delay` and `wal_writer_delay` are 200 ms: our whole run is shorter).
pub const WRITER_DELAY: Duration = Duration::from_millis(5);

// ANCHOR: writers
/// The background writer: every [`WRITER_DELAY`] writes the dirty pages it finds, so that
/// checkpoints find fewer (`BackgroundWriterMain`, `BgBufferSync`).
pub fn bgwriter(pool: &Pool, dir: &Path, requests: &OwnedFd) -> Result<String> {
    let files = DataFiles::open(dir)?;
    let (mut rounds, mut written) = (0u32, 0u32);
    loop {
        match wait_on(requests, Some(WRITER_DELAY))? {
            Wake::Timeout => {}
            Wake::Byte(SHUTDOWN) => break,
            _ => return Err(postmaster_gone()),
        }
        rounds += 1;
        for buffer in 0..pool.buffers {
            if pool.write_page(buffer, &files)? {
                written += 1;
            }
        }
    }
    Ok(format!(
        "wrote {} in {}\t(WAL first: each page only once the WAL is flushed up to its LSN)",
        count(written, "page", "pages"),
        count(rounds, "round", "rounds")
    ))
}

/// The WAL writer: every [`WRITER_DELAY`] flushes whatever WAL is complete, for commits
/// that do not wait for their own flush (`synchronous_commit = off`; ours all do).
pub fn walwriter(pool: &Pool, dir: &Path, requests: &OwnedFd) -> Result<String> {
    let files = DataFiles::open(dir)?;
    let ctl = pool.wal_ctl();
    let (mut rounds, mut flushes) = (0u32, 0u32);
    loop {
        let wake = wait_on(requests, Some(WRITER_DELAY))?;
        if matches!(wake, Wake::Byte(b) if b != SHUTDOWN) || wake == Wake::PostmasterGone {
            return Err(postmaster_gone());
        }
        rounds += 1;
        let inserted = ctl.insert.load(Ordering::Acquire);
        if ctl.flushed.load(Ordering::Acquire) < inserted {
            pool.flush_wal(inserted, &files)?;
            flushes += 1;
        }
        if wake == Wake::Byte(SHUTDOWN) {
            break;
        }
    }
    Ok(format!(
        "{} in {}; at shutdown the WAL is flushed up to LSN {}",
        count(flushes, "flush", "flushes"),
        count(rounds, "round", "rounds"),
        ctl.flushed.load(Ordering::Acquire)
    ))
}
// ANCHOR_END: writers
