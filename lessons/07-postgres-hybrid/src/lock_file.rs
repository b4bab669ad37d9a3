//! The lock file: `postmaster.pid`, which makes a data directory one server's at a time.
//!
//! It must never be seen half made, since a start that finds a lock file it cannot read must
//! refuse. So it is written whole before it gets its name, and changed later in place, never
//! truncated. It is deleted only by the process that created it (its forked children hold a
//! copy of this value), when dropped, or by SIGINT, SIGTERM and SIGHUP.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use common::on_signal::Remove;
use common::{Error, Result};
use nix::unistd::{Pid, getpid};

use crate::pid_file::{LOCK_FILE, PidFile};

// ANCHOR: lockfile
/// The lock file this process created; deleted when dropped, in this process only (a forked
/// child holds a copy and must not delete its parent's lock), or by SIGINT, SIGTERM and
/// SIGHUP (`common::on_signal`; a postmaster that reads those signals itself never meets
/// that handler).
#[derive(Debug)]
pub struct LockFile {
    path: PathBuf,
    contents: PidFile,
    creator: Pid,
    on_signal: Option<Remove>,
}

impl LockFile {
    /// Makes `DIR/postmaster.pid` with lines 1–6 in it, or fails with EEXIST if somebody's
    /// lock file is there. PostgreSQL opens it with `O_CREAT | O_EXCL` and then writes, so a
    /// crash in between leaves an empty file that every later start refuses ("lock file is
    /// empty": delete it by hand). We write the text, flushed to disk, into a file without a
    /// name first (`O_TMPFILE`), then give it its name with `linkat`, which fails with EEXIST
    /// just as `O_EXCL` does: the lock file appears complete or not at all, and a crash
    /// before the link leaves nothing. (A file system without `O_TMPFILE` gets PostgreSQL's
    /// way.)
    pub fn create(dir: &Path, contents: PidFile) -> std::io::Result<LockFile> {
        let path = dir.join(LOCK_FILE);
        let text = contents.render();
        let unnamed = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_TMPFILE)
            .mode(0o600)
            .open(dir);
        match unnamed {
            Ok(mut file) => {
                file.write_all(text.as_bytes())?;
                file.sync_all()?;
                let fd_path = format!("/proc/self/fd/{}", file.as_raw_fd());
                // (linkat follows the /proc link to the open file, as link(2) cannot.)
                let here = nix::fcntl::AT_FDCWD;
                let follow = nix::fcntl::AtFlags::AT_SYMLINK_FOLLOW;
                nix::unistd::linkat(here, fd_path.as_str(), here, &path, follow)?;
            }
            Err(err) if matches!(err.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR)) => {
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)?;
                file.write_all(text.as_bytes())?;
                file.sync_all()?;
            }
            Err(err) => return Err(err),
        }
        Ok(LockFile {
            on_signal: Some(Remove::file(&path).map_err(std::io::Error::other)?),
            path,
            contents,
            creator: getpid(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn contents(&self) -> &PidFile {
        &self.contents
    }

    /// Like `AddToDataDirLockFile`: changes some lines and rewrites the file in place, with
    /// one write at offset 0 and no truncation, so that a crash at any moment leaves the old
    /// text or the new, never an empty file. Lines are only added or replaced by lines of
    /// the same length (the status words are padded to 8 bytes, as PostgreSQL's are), so the
    /// new text is never shorter than the old and nothing of the old is left after it.
    pub fn update(&mut self, change: impl FnOnce(&mut PidFile)) -> Result<()> {
        let old = self.contents.render().len();
        change(&mut self.contents);
        let text = self.contents.render();
        assert!(text.len() >= old, "a lock file line was shortened");
        let file = OpenOptions::new().write(true).open(&self.path)?;
        file.write_all_at(text.as_bytes(), 0)?;
        file.sync_all()?;
        Ok(())
    }

    /// Deletes the file now, reporting failure (`Drop` can only ignore it).
    pub fn delete(mut self) -> Result<()> {
        drop(self.on_signal.take());
        let path = self.path.clone();
        std::mem::forget(self);
        std::fs::remove_file(&path)
            .map_err(|err| Error::Failed(format!("could not remove {}: {err}", path.display())))
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        if getpid() == self.creator {
            drop(self.on_signal.take());
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
// ANCHOR_END: lockfile
