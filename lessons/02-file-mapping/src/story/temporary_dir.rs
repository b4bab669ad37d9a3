//! The lesson's temporary directory, and what killed runs left of it.
//!
//! The file must live on a real filesystem to show `msync` at work, so the lesson makes a
//! directory of its own and must never leave it behind: `Drop` and the signal handlers
//! remove it, and after a `kill -9`, which runs nothing, the next run finds it by the dead
//! PID in its name.

use std::path::{Path, PathBuf};

use common::on_signal::{Remove, holding_off};
use common::{Error, Result};
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::LESSON;

/// A fresh directory inside `parent`, `parent/l02-file-mapping.PID.XXXXXX`, removed when the
/// `TempDir` is dropped (on success, and on every error that returns through `run`) or by
/// SIGINT, SIGTERM and SIGHUP. After a `kill -9` nothing runs: the next run finds the
/// directory by its name, sees that its PID is dead, and removes it.
pub fn temporary_dir_in(parent: &Path) -> Result<(TempDir, [Remove; 2])> {
    let shown = parent.display();
    match std::fs::metadata(parent) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(Error::Usage(format!(
                "--dir {shown} is not a directory; name an existing directory"
            )));
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Usage(format!(
                "--dir {shown} does not exist; create it first, or leave --dir out"
            )));
        }
        Err(err) => return Err(Error::Failed(format!("--dir {shown}: {err}"))),
    }
    for removed in remove_left_by_killed_runs(parent) {
        eprintln!(
            "{LESSON}: removed {}, left by a run that was killed",
            removed.display()
        );
    }
    // Made and registered with the stopping signals held off: a Ctrl-C in between would
    // leave the directory behind, unknown to the handler.
    holding_off(|| {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{LESSON}.{}.", std::process::id()))
            .tempdir_in(parent)
            .map_err(|err| {
                // Its kind only: tempfile's message names the directory it tried to make.
                Error::Failed(format!(
                    "--dir {shown}: cannot make a directory there ({}); name a writable directory",
                    err.kind()
                ))
            })?;
        let on_signal = [
            Remove::directory(dir.path())?,
            Remove::file(&dir.path().join("data"))?,
        ];
        Ok((dir, on_signal))
    })
}

/// Removes the directories of earlier runs in `parent` whose process is gone; their paths.
fn remove_left_by_killed_runs(parent: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(parent).into_iter().flatten().flatten();
    let dead = entries.filter(|entry| {
        let name = entry.file_name();
        let pid = name.to_str().and_then(|name| {
            let (pid, _) = name
                .strip_prefix(LESSON)?
                .strip_prefix('.')?
                .split_once('.')?;
            pid.parse::<i32>().ok()
        });
        pid.is_some_and(|pid| pid > 0 && kill(Pid::from_raw(pid), None) == Err(Errno::ESRCH))
    });
    dead.map(|entry| entry.path())
        .filter(|path| std::fs::remove_dir_all(path).is_ok())
        .collect()
}
