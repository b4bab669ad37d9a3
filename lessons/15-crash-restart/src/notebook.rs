//! The clients' notebook, `acks` in the data directory: what each backend's client sent
//! and what it was told had committed.
//!
//! A real client knows which of its statements got "COMMIT" back; it does not know what
//! happened to the one in flight when its connection broke. The notebook is that knowledge,
//! kept where it survives the crash: a backend writes its line after every commit returns
//! (`pwrite`, no fsync: the processes die, the kernel and its page cache do not). The check
//! after recovery holds the table against it: every acknowledged commit must be there.
//!
//! The file is text, one fixed-width line per round and per backend, so `cat` shows it:
//! ```text
//! round 1: workers 4 buffers 16 updates 50 crash 2:40
//! round 1 backend 1: sent 50 acked 50
//! round 1 backend 2: sent 40 acked 39 died block 5 row 9 was 3 made 4
//! ```
//! A round is one run of the backends: a start begins one, and so does every restart.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use common::{Error, Result};

use crate::{Crash, Died, parse_crash};

pub const NOTEBOOK_FILE: &str = "acks";
/// Every line is this long, spaces before its newline: a backend rewrites its own in place.
pub const LINE: usize = 80;

/// One backend's line: statements sent, commits acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    pub sent: usize,
    pub acked: usize,
    pub died: Option<Died>,
}

/// One round, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    pub number: usize,
    pub buffers: usize,
    pub updates: usize,
    pub crash: Option<Crash>,
    /// Backend `n`'s progress is at `backends[n - 1]`.
    pub backends: Vec<Progress>,
}

/// A backend's line in the file: where it is, and whose it is.
#[derive(Debug, Clone, Copy)]
pub struct Line {
    offset: u64,
    round: usize,
    backend: usize,
}

/// The notebook, opened by one process.
pub struct Notebook {
    file: File,
}

impl Notebook {
    /// An empty notebook (at initdb).
    pub fn create(dir: &Path) -> Result<()> {
        File::create(dir.join(NOTEBOOK_FILE))?;
        Ok(())
    }

    pub fn open(dir: &Path) -> Result<Notebook> {
        let path = dir.join(NOTEBOOK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|err| Error::Failed(format!("cannot open {}: {err}", path.display())))?;
        Ok(Notebook { file })
    }

    /// Appends a new round of `workers` backends: its header and one line per backend,
    /// nothing sent yet. Returns each backend's line.
    pub fn begin_round(
        &self,
        workers: usize,
        buffers: usize,
        updates: usize,
        crash: Option<Crash>,
    ) -> Result<Vec<Line>> {
        let end = self.file.metadata()?.len();
        let round = self.read_rounds()?.len() + 1;
        let crash_text = match crash {
            Some(Crash { backend, update }) => format!("{backend}:{update}"),
            None => "none".into(),
        };
        let mut text = line(&format!(
            "round {round}: workers {workers} buffers {buffers} updates {updates} crash {crash_text}"
        ));
        let mut lines = Vec::new();
        for backend in 1..=workers {
            let offset = end + (backend * LINE) as u64;
            lines.push(Line {
                offset,
                round,
                backend,
            });
            text += &render(round, backend, &Progress::default());
        }
        self.file.write_all_at(text.as_bytes(), end)?;
        Ok(lines)
    }

    /// Rewrites one backend's line (one `pwrite` of [`LINE`] bytes).
    pub fn write(&self, at: Line, progress: &Progress) -> Result<()> {
        self.file
            .write_all_at(render(at.round, at.backend, progress).as_bytes(), at.offset)?;
        Ok(())
    }

    /// Every round so far.
    pub fn read(dir: &Path) -> Result<Vec<Round>> {
        Notebook::open(dir)?.read_rounds()
    }

    fn read_rounds(&self) -> Result<Vec<Round>> {
        let mut text = vec![0; self.file.metadata()?.len() as usize];
        self.file.read_exact_at(&mut text, 0)?;
        let text = String::from_utf8(text).map_err(|_| damaged("not text"))?;
        let mut rounds: Vec<Round> = Vec::new();
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let number = |at: usize| -> Result<usize> {
                words
                    .get(at)
                    .and_then(|w| w.trim_end_matches(':').parse().ok())
                    .ok_or_else(|| damaged(line))
            };
            if words.get(2) == Some(&"workers") {
                let crash = match words.get(9) {
                    Some(&"none") => None,
                    Some(spec) => Some(parse_crash(spec).map_err(|_| damaged(line))?),
                    None => return Err(damaged(line)),
                };
                rounds.push(Round {
                    number: number(1)?,
                    buffers: number(5)?,
                    updates: number(7)?,
                    crash,
                    backends: vec![Progress::default(); number(3)?],
                });
            } else {
                let round = rounds.last_mut().ok_or_else(|| damaged(line))?;
                let backend = number(3)?;
                let died = match words.get(8) {
                    Some(&"died") => Some(Died {
                        block: number(10)? as u32,
                        row: number(12)? as u32,
                        was: number(14)? as u64,
                        made: number(16)? as u64,
                    }),
                    _ => None,
                };
                let slot = round
                    .backends
                    .get_mut(backend.wrapping_sub(1))
                    .ok_or_else(|| damaged(line))?;
                *slot = Progress {
                    sent: number(5)?,
                    acked: number(7)?,
                    died,
                };
            }
        }
        Ok(rounds)
    }
}

fn render(round: usize, backend: usize, progress: &Progress) -> String {
    let mut text = format!(
        "round {round} backend {backend}: sent {} acked {}",
        progress.sent, progress.acked
    );
    if let Some(d) = progress.died {
        text += &format!(
            " died block {} row {} was {} made {}",
            d.block, d.row, d.was, d.made
        );
    }
    line(&text)
}

/// `text` padded with spaces to [`LINE`] bytes, the last a newline.
fn line(text: &str) -> String {
    assert!(text.len() < LINE, "a notebook line is too long: {text}");
    format!("{text:<width$}\n", width = LINE - 1)
}

fn damaged(line: &str) -> Error {
    Error::Failed(format!(
        "{NOTEBOOK_FILE} is damaged at {:?}; start afresh: remove pg_control",
        line.trim_end()
    ))
}
