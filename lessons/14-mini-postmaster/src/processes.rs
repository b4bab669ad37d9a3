//! The background processes every start forks, and how they wait: the checkpointer, the
//! background writer and the WAL writer (lesson 15's postmaster forks the same ones).
//!
//! Each waits on the read end of a pipe of its own, its "latch". A byte is a request:
//! [`SHUTDOWN`] from the postmaster, [`CHECKPOINT`] from a backend whose WAL record crossed
//! the checkpoint distance. End-of-file means every writer is gone: the postmaster died.
//! (In PostgreSQL a backend asks for a checkpoint through shared memory, the postmaster
//! signals its children, and they watch a pipe for its death.)

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::count;
use common::parent_death::parent_gone;
use common::{Error, Result};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::read;

use crate::storage::{CONTROL_FILE, DataFiles, DbState, checkpoint};
use crate::{CHECKPOINT_RECORDS, Pool};

pub const SHUTDOWN: u8 = b'S';
pub const CHECKPOINT: u8 = b'C';

/// How long the background writer and the WAL writer nap between rounds (PostgreSQL's
/// `bgwriter_delay` and `wal_writer_delay` are 200 ms: our whole run is shorter).
pub const WRITER_DELAY: Duration = Duration::from_millis(5);

/// What woke a background process.
#[derive(Debug, PartialEq, Eq)]
pub enum Wake {
    /// A byte: a request ([`CHECKPOINT`]) or the shutdown request ([`SHUTDOWN`]).
    Byte(u8),
    /// Its nap ended.
    Timeout,
    /// End-of-file: the postmaster died (PostgreSQL's children watch a pipe the same way).
    PostmasterGone,
}

/// Waits for the next byte on `pipe`, at most `nap` (forever if `None`). The postmaster's
/// death ends the wait too: the pipe's end-of-file, or sooner its death signal (which
/// interrupts `poll`; see `common::parent_death`), as PostgreSQL's `WaitLatch` returns on
/// `WL_POSTMASTER_DEATH`.
pub fn wait_on(pipe: &OwnedFd, nap: Option<Duration>) -> Result<Wake> {
    let timeout = match nap {
        Some(nap) => PollTimeout::try_from(nap).expect("a short nap"),
        None => PollTimeout::NONE,
    };
    let mut fds = [PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
    loop {
        if parent_gone() {
            return Ok(Wake::PostmasterGone);
        }
        match poll(&mut fds, timeout) {
            Ok(0) => return Ok(Wake::Timeout),
            Ok(_) => break,
            Err(Errno::EINTR) => continue, // a signal: look again (a nap starts over)
            Err(errno) => return Err(Error::sys("poll")(errno)),
        }
    }
    let mut byte = [0u8; 1];
    match read(pipe.as_fd(), &mut byte).map_err(Error::sys("read"))? {
        0 => Ok(Wake::PostmasterGone),
        _ => Ok(Wake::Byte(byte[0])),
    }
}

pub fn postmaster_gone() -> Error {
    Error::Failed("the postmaster is gone: exiting".into())
}

// ANCHOR: checkpointer
/// The checkpointer: sleeps until a backend asks for a checkpoint or the postmaster for the
/// shutdown checkpoint, and makes it (`CheckpointerMain`). One checkpoint per request: the
/// count does not depend on timing.
pub fn checkpointer(pool: &Pool, dir: &Path, requests: &OwnedFd) -> Result<String> {
    let files = DataFiles::open(dir)?;
    let (mut requested, mut written) = (0, 0);
    loop {
        let state = match wait_on(requests, None)? {
            Wake::Byte(CHECKPOINT) => DbState::InProduction,
            Wake::Byte(SHUTDOWN) => DbState::ShutDown,
            _ => return Err(postmaster_gone()),
        };
        let done = checkpoint(pool, &files, dir, state)?;
        written += done.written;
        if state == DbState::ShutDown {
            return Ok(format!(
                "{} requested by WAL volume (one every {CHECKPOINT_RECORDS} records) and one \
                 at shutdown, {} written in all; the last: redo at LSN {}, {CONTROL_FILE}: \
                 shut down",
                count(requested as u64, "checkpoint", "checkpoints"),
                count(written as u64, "page", "pages"),
                done.redo
            ));
        }
        requested += 1;
    }
}
// ANCHOR_END: checkpointer

// ANCHOR: writers
/// The background writer: every [`WRITER_DELAY`] writes the dirty pages it finds, so that
/// checkpoints find fewer (`BackgroundWriterMain`, `BgBufferSync`).
pub fn bgwriter(pool: &Pool, dir: &Path, requests: &OwnedFd) -> Result<String> {
    let files = DataFiles::open(dir)?;
    let (mut rounds, mut written) = (0, 0);
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
        "wrote {} in {} (WAL first: each page only once the WAL is flushed up to its LSN)",
        count(written as u64, "page", "pages"),
        count(rounds as u64, "round", "rounds")
    ))
}

/// The WAL writer: every [`WRITER_DELAY`] flushes whatever WAL is complete, for commits
/// that do not wait for their own flush (`synchronous_commit = off`; ours all do).
pub fn walwriter(pool: &Pool, dir: &Path, requests: &OwnedFd) -> Result<String> {
    let files = DataFiles::open(dir)?;
    let ctl = pool.wal_ctl();
    let (mut rounds, mut flushes) = (0, 0);
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
        count(flushes as u64, "flush", "flushes"),
        count(rounds as u64, "round", "rounds"),
        ctl.flushed.load(Ordering::Acquire)
    ))
}
// ANCHOR_END: writers
