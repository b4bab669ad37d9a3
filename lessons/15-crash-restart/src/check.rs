//! The check, from the files alone: the table's file, the WAL's file and the clients'
//! notebook. Shared memory is gone (or not trusted) when it runs.
//!
//! Three claims, each a loop over the rows:
//! 1. The table is what the WAL says: replaying every record from an empty table gives
//!    the table's file, row for row, and each row's records count up 1, 2, 3, ...
//! 2. Committed is kept: each row holds at least the updates whose commit a client was
//!    told of, and at most those plus the ones in doubt (sent, no answer yet: committed
//!    or not, the client cannot know; PostgreSQL promises nothing about them either).
//! 3. Uncommitted is gone: the dead backend's change, made in its buffer and never
//!    logged, is in neither file.

use std::collections::HashMap;
use std::path::Path;

use common::{Error, Result, parent};
use l14_mini_postmaster::{DataFiles, TABLE_FILE, WAL_FILE};
use l14_mini_postmaster::{ROWS_PER_PAGE, target};

use crate::{Died, NOTEBOOK_FILE, Notebook, Round};

/// A row: (block, row).
type Cell = (usize, usize);

/// What [`check`] found, for the caller's conclusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// Rows in the table (blocks times rows per page).
    pub rows: usize,
    /// Whether a dead backend's change was looked for (and found gone).
    pub uncommitted_gone: bool,
}

// ANCHOR: check
/// Checks the three claims, printing one line for each; an error if any fails.
/// `right_after_recovery`: no round has run since the restart, so the last crash's dead
/// change must be absent from the WAL altogether (later rounds may write the same value).
pub fn check(dir: &Path, right_after_recovery: bool) -> Result<Checked> {
    let rounds = Notebook::read(dir)?;
    let files = DataFiles::open(dir)?;
    let buffers = rounds.iter().map(|r| r.buffers).max().unwrap_or(0);
    let wal = files.read_wal(0)?;
    let cells = || (0..buffers).flat_map(|b| (0..ROWS_PER_PAGE).map(move |r| (b, r)));
    let total = buffers * ROWS_PER_PAGE;

    // 1. The table is what the WAL says.
    let mut table = HashMap::new();
    for block in 0..buffers {
        let page = files.read_page(block as u32)?;
        for row in 0..ROWS_PER_PAGE {
            let at = 8 * (1 + row); // after the page's 8-byte LSN
            let value = u64::from_le_bytes(page[at..at + 8].try_into().expect("8 bytes"));
            table.insert((block, row), value);
        }
    }
    let mut replayed: HashMap<Cell, u64> = HashMap::new();
    for (end, record) in &wal {
        let cell = (record.block as usize, record.row as usize);
        if !table.contains_key(&cell) {
            return Err(fail(format!("a WAL record ending at {end} names {cell:?}")));
        }
        let value = replayed.entry(cell).or_default();
        if record.value != *value + 1 {
            return Err(fail(format!(
                "the WAL sets block {} row {} to {} after {}: a record is missing",
                cell.0, cell.1, record.value, value
            )));
        }
        *value = record.value;
    }
    let agree = cells()
        .filter(|cell| table[cell] == replayed.get(cell).copied().unwrap_or(0))
        .count();
    parent!(
        "{TABLE_FILE} equals a replay of the whole {WAL_FILE} from zero: {agree} of {total} rows"
    );

    // 2. Committed is kept: acknowledged <= table <= acknowledged + in doubt.
    let (low, high) = bounds(&rounds);
    let kept = cells()
        .filter(|cell| {
            let value = table[cell];
            low.get(cell).copied().unwrap_or(0) <= value
                && value <= high.get(cell).copied().unwrap_or(0)
        })
        .count();
    parent!(
        "each row holds every update {NOTEBOOK_FILE} calls acknowledged, and at most those in \
         doubt besides: {kept} of {total} rows"
    );

    // 3. Uncommitted is gone.
    let mut uncommitted_gone = false;
    if let Some((round, backend, died)) = last_death(&rounds).filter(|_| right_after_recovery) {
        let cell = (died.block as usize, died.row as usize);
        let logged = wal
            .iter()
            .any(|(_, r)| (r.block as usize, r.row as usize) == cell && r.value == died.made);
        let in_table = table.get(&cell).copied().unwrap_or(0) >= died.made;
        parent!(
            "backend {backend}'s update {} (round {round}): block {} row {}, changed in its \
             buffer, never logged; in {WAL_FILE}: {}, in {TABLE_FILE}: {}",
            round_crash_update(&rounds, round),
            died.block,
            died.row,
            if logged { "yes" } else { "no" },
            if in_table { "yes" } else { "no" },
        );
        if logged || in_table {
            return Err(fail(
                "the dead backend's uncommitted change survived".into(),
            ));
        }
        uncommitted_gone = true;
    }
    if agree != total || kept != total {
        return Err(fail(
            "the files do not match what the clients were told".into(),
        ));
    }
    Ok(Checked {
        rows: total,
        uncommitted_gone,
    })
}
// ANCHOR_END: check

// ANCHOR: bounds
/// For each row: how many updates were acknowledged (`low`), and how many may have
/// committed (`high`: those, plus each backend's statement in flight when its round ended,
/// except a dead backend's, which by construction never wrote its WAL record).
fn bounds(rounds: &[Round]) -> (HashMap<Cell, u64>, HashMap<Cell, u64>) {
    let (mut low, mut high) = (HashMap::new(), HashMap::new());
    for round in rounds {
        for (n, progress) in round.backends.iter().enumerate() {
            let backend = n + 1;
            for i in 0..progress.sent {
                let cell = target(backend, i, round.buffers);
                let unlogged = progress.died.is_some() && i + 1 == progress.sent;
                if i < progress.acked {
                    *low.entry(cell).or_insert(0) += 1;
                }
                if !unlogged {
                    *high.entry(cell).or_insert(0) += 1;
                }
            }
        }
    }
    (low, high)
}
// ANCHOR_END: bounds

fn last_death(rounds: &[Round]) -> Option<(usize, usize, Died)> {
    let round = rounds.last()?;
    round
        .backends
        .iter()
        .enumerate()
        .find_map(|(n, p)| p.died.map(|died| (round.number, n + 1, died)))
}

fn round_crash_update(rounds: &[Round], number: usize) -> usize {
    rounds
        .iter()
        .find(|r| r.number == number)
        .and_then(|r| r.crash)
        .map_or(0, |c| c.update)
}

fn fail(text: String) -> Error {
    Error::Failed(format!("check failed: {text}"))
}
