//! What lies on disk, in the data directory: the table's file (`16384`, one 8 kB page per
//! block) and the WAL's file (`wal`, records at their byte position); the control file has
//! a file of its own, control_file.rs. Shared memory is lost with the processes; these
//! files are what a restart (lesson 15) finds.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use common::{Error, Result};

use crate::{BLOCK_SIZE, ControlFile, DbState, RECORD_SIZE, WalRecord};

/// The table's file and the WAL's file, in the data directory.
pub const TABLE_FILE: &str = "16384";
pub const WAL_FILE: &str = "wal";

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
