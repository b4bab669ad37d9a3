//! What lies on disk, in the data directory: the table's file (`16384`, one 8 kB page per
//! block), the WAL's file (`wal`, records at their byte position), and the control file
//! (`pg_control`: the cluster's state and where recovery must start). Shared memory is lost
//! with the processes; these files are what a restart (lesson 15) finds.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::Ordering;

use common::{Error, Result};

use crate::{BLOCK_SIZE, Pool, RECORD_SIZE, WalRecord};

/// The table's file and the WAL's file, in the data directory.
pub const TABLE_FILE: &str = "16384";
pub const WAL_FILE: &str = "wal";
/// The control file (PostgreSQL's `global/pg_control`).
pub const CONTROL_FILE: &str = "pg_control";

/// The data files, opened by one process (each process opens its own, as PostgreSQL's do).
pub struct DataFiles {
    table: File,
    wal: File,
}

impl DataFiles {
    /// Empty files and a control file that says "shut down" with nothing to redo: `initdb`.
    pub fn create(dir: &Path) -> Result<()> {
        File::create(dir.join(TABLE_FILE))?.sync_all()?;
        File::create(dir.join(WAL_FILE))?.sync_all()?;
        ControlFile {
            state: DbState::ShutDown,
            redo: 0,
            checkpoints: 0,
        }
        .write(dir)
    }

    pub fn open(dir: &Path) -> Result<DataFiles> {
        let open = |name: &str| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(dir.join(name))
                .map_err(|err| {
                    Error::Failed(format!("cannot open {}: {err}", dir.join(name).display()))
                })
        };
        Ok(DataFiles {
            table: open(TABLE_FILE)?,
            wal: open(WAL_FILE)?,
        })
    }

    /// Writes `bytes` at WAL position `from` and waits until they are on disk (`fdatasync`,
    /// PostgreSQL's default `wal_sync_method` on Linux).
    pub fn append_wal(&self, from: u64, bytes: &[u8]) -> Result<()> {
        self.wal.write_all_at(bytes, from)?;
        self.wal.sync_data()?;
        Ok(())
    }

    /// Every whole record in the WAL file from byte `from` on, with its LSN (its end).
    pub fn read_wal(&self, from: u64) -> Result<Vec<(u64, WalRecord)>> {
        let len = self.wal.metadata()?.len();
        let mut bytes = vec![0; len.saturating_sub(from) as usize];
        self.wal.read_exact_at(&mut bytes, from)?;
        Ok(bytes
            .chunks_exact(RECORD_SIZE)
            .enumerate()
            .map(|(k, chunk)| {
                let end = from + ((k + 1) * RECORD_SIZE) as u64;
                (end, WalRecord::from_bytes(chunk.try_into().expect("16")))
            })
            .collect())
    }

    /// Writes one page at its block's place (not yet durable: see [`DataFiles::sync_table`]).
    pub fn write_page(&self, block: u32, page: &[u8]) -> Result<()> {
        assert_eq!(page.len(), BLOCK_SIZE);
        self.table
            .write_all_at(page, u64::from(block) * BLOCK_SIZE as u64)?;
        Ok(())
    }

    /// Block `block` of the table; zeroes where the file has no such block yet.
    pub fn read_page(&self, block: u32) -> Result<Vec<u8>> {
        let mut page = vec![0; BLOCK_SIZE];
        let at = u64::from(block) * BLOCK_SIZE as u64;
        let len = self.table.metadata()?.len();
        if at < len {
            let n = (len - at).min(BLOCK_SIZE as u64) as usize;
            self.table.read_exact_at(&mut page[..n], at)?;
        }
        Ok(page)
    }

    /// `fsync` of the table's file: every page written so far is on disk.
    pub fn sync_table(&self) -> Result<()> {
        self.table.sync_all()?;
        Ok(())
    }
}

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

// ANCHOR: checkpoint
/// What one checkpoint did.
#[derive(Debug, Clone, Copy)]
pub struct Checkpoint {
    pub redo: u64,
    pub written: usize,
}

/// `CreateCheckPoint`: notes the redo point (the WAL insert position now), writes every
/// dirty buffer (`BufferSync`, WAL first for each), fsyncs the table, then records the redo
/// point in the control file. A change logged before the redo point is then on disk; one
/// logged after it is replayed from the WAL. At shutdown (`DbState::ShutDown`) nobody is
/// inserting any more, so the redo point is the WAL's end: nothing is left to replay.
pub fn checkpoint(
    pool: &Pool,
    files: &DataFiles,
    dir: &Path,
    state: DbState,
) -> Result<Checkpoint> {
    let redo = pool.wal_ctl().insert.load(Ordering::Acquire);
    let mut written = 0;
    for buffer in 0..pool.buffers {
        if pool.write_page(buffer, files)? {
            written += 1;
        }
    }
    files.sync_table()?;
    // Make the WAL durable up to the redo point too (the pages written above flushed it
    // only up to their own LSNs).
    pool.flush_wal(redo, files)?;
    let before = ControlFile::read(dir)?;
    ControlFile {
        state,
        redo,
        checkpoints: before.checkpoints + 1,
    }
    .write(dir)?;
    Ok(Checkpoint { redo, written })
}
// ANCHOR_END: checkpoint
