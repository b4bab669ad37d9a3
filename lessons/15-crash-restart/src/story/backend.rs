//! A backend: its updates, each a transaction of its own, committed by flushing its WAL
//! record and acknowledged in the clients' notebook; one of them runs the round's
//! CHECKPOINT; the one chosen by `--crash` dies in the middle of an update; then each waits
//! like an idle session until a fast shutdown or the postmaster's death.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::Ordering;

use common::{Error, Result, Signals};
use l14_mini_postmaster::{DIRTY, DataFiles, Mode, Pool, RELATION, target, update_row};
use l15_crash_restart::{Crash, Died, Line, Notebook, Progress, Role};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{getpid, read};

use super::checkpoint::run_checkpoint;
use super::children::send_report;

/// What one backend is to do.
pub struct Work<'a> {
    pub pool: &'a Pool<'a>,
    pub dir: &'a Path,
    pub number: usize,
    /// How many updates it makes.
    pub updates: usize,
    pub line: Line,
    pub crash: Option<Crash>,
    /// Before which of its updates (counted from 1) it runs a CHECKPOINT, if any.
    pub checkpoint_at: Option<usize>,
}

// ANCHOR: backend
/// A backend: its updates, each a transaction committed by flushing its WAL record, each
/// acknowledged in the notebook once the commit returned. Then it stays, like a connected
/// client's session, until SIGTERM (a fast shutdown) or the postmaster's death.
pub fn backend(
    work: Work,
    checkpoint_requests: &OwnedFd,
    report: &OwnedFd,
    alive_watch: &OwnedFd,
) -> Result<String> {
    let pool = work.pool;
    let files = DataFiles::open(work.dir)?;
    let notebook = Notebook::open(work.dir)?;
    pool.lock_relation(RELATION)?;
    let mut progress = Progress::default();
    for i in 0..work.updates {
        progress.sent = i + 1; // the client sent its statement
        notebook.write(work.line, &progress)?;
        let (buffer, row) = target(work.number, i, pool.buffers);
        if work.crash.is_some_and(|c| c.update == i + 1) {
            die_in_the_middle(pool, buffer, row, &notebook, work.line, progress);
        }
        if work.checkpoint_at == Some(i + 1) {
            run_checkpoint(checkpoint_requests, work.dir)?;
        }
        let lsn = update_row(pool, buffer, row)?;
        pool.flush_wal(lsn, &files)?; // commit: the record is on disk when this returns
        progress.acked = i + 1; // "COMMIT" reached the client
        notebook.write(work.line, &progress)?;
    }
    pool.unlock_relation(RELATION);
    send_report(
        report,
        Role::Backend(work.number),
        &format!(
            "done: {} updates, each acknowledged once its commit returned",
            work.updates
        ),
    );
    idle_until_told(alive_watch)
}

/// Kills this backend with SIGKILL in the middle of an update: the page's LWLock held, the
/// row changed, the buffer dirty, and no WAL record. (It stands for `kill -9` from an
/// operator or the kernel's OOM killer, which could strike at any instruction.)
fn die_in_the_middle(
    pool: &Pool,
    buffer: usize,
    row: usize,
    notebook: &Notebook,
    line: Line,
    progress: Progress,
) -> ! {
    // Held, and never released: the process dies first, and leaves the lock taken.
    let _exclusive = pool.page_lock(buffer).hold(Mode::Exclusive);
    let page = pool.page(buffer);
    // SAFETY: we hold the page's lock exclusive.
    let was = unsafe { (*page).rows[row] };
    // SAFETY: as above.
    unsafe { (*page).rows[row] = was + 1 };
    pool.descriptor(buffer)
        .flags
        .fetch_or(DIRTY, Ordering::AcqRel);
    let died = Died {
        block: buffer as u32,
        row: row as u32,
        was,
        made: was + 1,
    };
    // For the check only: a real dying process leaves no note.
    let _ = notebook.write(
        line,
        &Progress {
            died: Some(died),
            ..progress
        },
    );
    let _ = kill(getpid(), Signal::SIGKILL);
    unreachable!("SIGKILL to oneself is delivered before kill returns");
}

/// Waits, as an idle session does, for SIGTERM (PostgreSQL's `die`: "terminating connection
/// due to administrator command", exit 1) or for the postmaster's death (EOF on the pipe
/// whose write end only the postmaster holds, or sooner its death signal; exit 1 too).
fn idle_until_told(alive_watch: &OwnedFd) -> Result<String> {
    let sigterm = Signals::block(&[Signal::SIGTERM])?; // blocked since fork
    loop {
        let mut fds = [
            PollFd::new(sigterm.fd(), PollFlags::POLLIN),
            PollFd::new(alive_watch.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(errno) => return Err(Error::sys("poll")(errno)),
        }
        if sigterm.take()?.is_some() {
            return Ok("terminating connection due to administrator command".into());
        }
        let eof = || read(alive_watch.as_fd(), &mut [0; 1]) == Ok(0);
        if common::parent_death::parent_gone() || (fds[1].any().unwrap_or(false) && eof()) {
            return Ok("terminating connection due to unexpected postmaster exit".into());
        }
    }
}
// ANCHOR_END: backend
