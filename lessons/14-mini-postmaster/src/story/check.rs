//! After the shutdown: what each child reported, and whether the files on disk agree with
//! it. The postmaster checks the files only, never shared memory.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use common::{Error, Result, parent};
use l14_mini_postmaster::{
    CONTROL_FILE, ControlFile, DataFiles, DbState, RECORD_SIZE, ROWS_PER_PAGE, TABLE_FILE,
    WAL_FILE, target,
};

use super::server::{Role, Server};
use crate::step;

/// Prints the children's reports in role order; returns how many updates each backend
/// committed (backend 1 first).
pub fn what_they_did(server: &mut Server, workers: usize) -> Result<Vec<usize>> {
    step("What each process did (its report, read from a pipe after it exited)");
    let mut text = String::new();
    // A duplicate of our read end, owned by `file` and closed when it drops.
    let mut file = File::from(server.reports.try_clone()?);
    file.read_to_string(&mut text)?;
    let mut lines: Vec<(Role, usize, &str)> = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            let (role, updates, rest) = (fields.next()?, fields.next()?, fields.next()?);
            Some((Role::from_process_name(role)?, updates.parse().ok()?, rest))
        })
        .collect();
    lines.sort_by_key(|(role, _, _)| *role);
    let mut updates = vec![0; workers];
    for (role, done, line) in lines {
        // A report is one line in the pipe; a tab in it marks where it continues on the
        // next line on screen, so that no line is much wider than 100 columns.
        for (n, piece) in line.split('\t').enumerate() {
            println!("{}{piece}", if n == 0 { "  " } else { "    " });
        }
        if let Role::Backend(n) = role {
            updates[n - 1] = done;
        }
    }
    Ok(updates)
}

// ANCHOR: check
/// Reads the files only: what the table must hold follows from the workload and from how
/// many updates each backend committed (all of them, unless a fast shutdown stopped it).
pub fn check(dir: &Path, buffers: usize, committed: &[usize]) -> Result<()> {
    step("Check the files against the workload");
    let files = DataFiles::open(dir)?;
    let records = files.read_wal(0)?;
    let updates: usize = committed.iter().sum();
    let wal_end = (records.len() * RECORD_SIZE) as u64;
    parent!(
        "{WAL_FILE}: {wal_end} bytes, {} records: {updates} expected",
        records.len()
    );
    let control = ControlFile::read(dir)?;
    parent!(
        "{CONTROL_FILE}: {}, redo at LSN {}, {} checkpoints: nothing to replay",
        control.state.name(),
        control.redo,
        control.checkpoints
    );
    let mut expected = vec![[0u64; ROWS_PER_PAGE]; buffers];
    for (backend, &done) in (1..).zip(committed) {
        for i in 0..done {
            let (buffer, row) = target(backend, i, buffers);
            expected[buffer][row] += 1;
        }
    }
    let on_disk = (0..buffers)
        .map(|block| Ok(rows_of(&files.read_page(block as u32)?)))
        .collect::<Result<Vec<_>>>()?;
    let sum: u64 = on_disk.iter().flatten().sum();
    parent!("{TABLE_FILE}: {buffers} pages; the rows add up to {sum}: {updates} expected");
    // Replay from an empty table: each record sets a row, one more than it was.
    let mut replayed = vec![[0u64; ROWS_PER_PAGE]; buffers];
    let mut out_of_order = 0;
    for (_, r) in &records {
        let (block, row) = (r.block as usize, r.row as usize);
        let Some(value) = replayed.get_mut(block).and_then(|rows| rows.get_mut(row)) else {
            return Err(Error::Failed(format!(
                "a WAL record names block {block} row {row}"
            )));
        };
        if r.value != *value + 1 {
            out_of_order += 1;
        }
        *value = r.value;
    }
    let rows_match = (0..buffers)
        .flat_map(|b| (0..ROWS_PER_PAGE).map(move |r| (b, r)))
        .filter(|&(b, r)| on_disk[b][r] == expected[b][r] && replayed[b][r] == expected[b][r])
        .count();
    let total = buffers * ROWS_PER_PAGE;
    parent!(
        "replaying the whole WAL rebuilds the table: {rows_match} of {total} rows agree with \
         the file and with the workload; {out_of_order} records out of order"
    );
    if sum != updates as u64
        || records.len() != updates
        || rows_match != total
        || out_of_order != 0
        || control.state != DbState::ShutDown
        || control.redo != wal_end
    {
        return Err(Error::Failed(
            "the files do not match what the backends committed".into(),
        ));
    }
    parent!("consistent: every committed update is on disk, once, and in the WAL");
    Ok(())
}

/// The rows of a page as the table's file holds it (after its 8-byte LSN).
fn rows_of(page: &[u8]) -> [u64; ROWS_PER_PAGE] {
    std::array::from_fn(|row| {
        let at = size_of::<u64>() * (1 + row);
        u64::from_le_bytes(page[at..at + 8].try_into().expect("8 bytes"))
    })
}
// ANCHOR_END: check
