//! The control file, `pg_control`: the cluster's state and where recovery must start. It is
//! how the next start knows whether the last run stopped cleanly ("shut down") or not ("in
//! production": replay the WAL from the redo point). It is replaced as a whole, never
//! truncated and rewritten, so a crash leaves the old one or the new one.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use common::{Error, Result};

/// The control file (PostgreSQL's `global/pg_control`).
pub const CONTROL_FILE: &str = "pg_control";

// ANCHOR: control
/// The cluster's state, as `pg_controldata` prints it (PostgreSQL's `DBState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbState {
    /// `DB_SHUTDOWNED`: stopped cleanly, every page written; nothing to redo.
    ShutDown,
    /// `DB_IN_CRASH_RECOVERY`: a startup process is replaying the WAL.
    InCrashRecovery,
    /// `DB_IN_PRODUCTION`: running. Found at start, it means the last run did not stop.
    InProduction,
}

impl DbState {
    pub fn name(self) -> &'static str {
        match self {
            DbState::ShutDown => "shut down",
            DbState::InCrashRecovery => "in crash recovery",
            DbState::InProduction => "in production",
        }
    }
}

/// The control file: a few lines of text. PostgreSQL's is a binary struct with a CRC; it
/// writes 8192 bytes in one `write`, and the data itself fits in the first 512-byte sector,
/// so it cannot be torn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlFile {
    pub state: DbState,
    /// The last checkpoint's redo point: every change logged before it is in the table's
    /// file, so recovery replays the WAL from here.
    pub redo: u64,
    /// Checkpoints completed since `initdb`.
    pub checkpoints: u64,
}

/// The new control file a writer killed in the middle of [`ControlFile::write`] leaves
/// behind (`pg_control` itself is whole, the old one). The postmaster removes it once its
/// children are gone: it holds this from before it forks any, and drops it after them.
/// (PostgreSQL writes its 512-byte `pg_control` in place, trusting one sector to be written
/// whole, and has no such file.)
pub struct UnfinishedControlFile(pub std::path::PathBuf);

impl Drop for UnfinishedControlFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0.join(format!("{CONTROL_FILE}.new")));
    }
}

impl ControlFile {
    /// Replaces the control file as a whole: written to a new file, fsynced, renamed over
    /// the old one, the directory fsynced. A crash leaves either the old or the new one.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = format!(
            "state: {}\nredo: {}\ncheckpoints: {}\n",
            self.state.name(),
            self.redo,
            self.checkpoints
        );
        let new = dir.join(format!("{CONTROL_FILE}.new"));
        let file = File::create(&new)?;
        file.write_all_at(text.as_bytes(), 0)?;
        file.sync_all()?;
        std::fs::rename(&new, dir.join(CONTROL_FILE))?;
        File::open(dir)?.sync_all()?;
        Ok(())
    }

    pub fn read(dir: &Path) -> Result<ControlFile> {
        let path = dir.join(CONTROL_FILE);
        let text = std::fs::read_to_string(&path)
            .map_err(|err| Error::Failed(format!("cannot read {}: {err}", path.display())))?;
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
                .ok_or_else(|| bad(&path, name))
        };
        let number = |name: &str| field(name)?.parse().map_err(|_| bad(&path, name));
        let state = match field("state")? {
            "shut down" => DbState::ShutDown,
            "in crash recovery" => DbState::InCrashRecovery,
            "in production" => DbState::InProduction,
            _ => return Err(bad(&path, "state")),
        };
        Ok(ControlFile {
            state,
            redo: number("redo")?,
            checkpoints: number("checkpoints")?,
        })
    }
}

fn bad(path: &Path, field: &str) -> Error {
    Error::Failed(format!(
        "{} is damaged: no valid \"{field}\" line",
        path.display()
    ))
}
// ANCHOR_END: control
