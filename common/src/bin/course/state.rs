//! What the runner remembers between runs, in `.course/state` at the workspace root.
//!
//! Not in `target/`, which `cargo clean` wipes, and not in git (the folder is ignored):
//! it is the learner's own progress. One line per fact, so that a person can read it:
//! `l03-fork-sharing checked pass 1a2b3c4d5e6f7a8b` (the last check's verdict and the hash
//! of the `exercise.rs` it judged) and `l03-fork-sharing hints 2` (levels shown so far).
//! The file is rewritten whole, through a new file renamed over the old one, so a runner
//! stopped halfway never leaves it cut short.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The last check of one exercise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    pub passed: bool,
    /// The hash of the file that was checked: if the file's hash differs now, the verdict
    /// is stale.
    pub hash: u64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Entry {
    checked: Option<Checked>,
    hints: u32,
}

#[derive(Debug)]
pub struct State {
    path: PathBuf,
    entries: BTreeMap<String, Entry>,
}

impl State {
    /// The state kept under `root`; empty if there is none yet (or it cannot be read).
    pub fn load(root: &Path) -> State {
        let path = root.join(".course/state");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [package, "checked", verdict, hash] => {
                    if let Ok(hash) = u64::from_str_radix(hash, 16) {
                        entries.entry(package.to_string()).or_default().checked = Some(Checked {
                            passed: *verdict == "pass",
                            hash,
                        });
                    }
                }
                [package, "hints", count] => {
                    if let Ok(count) = count.parse() {
                        entries.entry(package.to_string()).or_default().hints = count;
                    }
                }
                _ => {} // a line from a later version, or damaged: ignored
            }
        }
        State { path, entries }
    }

    pub fn checked(&self, package: &str) -> Option<Checked> {
        self.entries.get(package)?.checked
    }

    pub fn set_checked(&mut self, package: &str, checked: Option<Checked>) {
        self.entries.entry(package.into()).or_default().checked = checked;
    }

    pub fn hints(&self, package: &str) -> u32 {
        self.entries.get(package).map_or(0, |entry| entry.hints)
    }

    pub fn set_hints(&mut self, package: &str, count: u32) {
        self.entries.entry(package.into()).or_default().hints = count;
    }

    /// Writes the state: a new file, renamed over the old.
    pub fn save(&self) -> Result<(), String> {
        let mut text = String::new();
        for (package, entry) in &self.entries {
            if let Some(checked) = entry.checked {
                let verdict = if checked.passed { "pass" } else { "fail" };
                text += &format!("{package} checked {verdict} {:016x}\n", checked.hash);
            }
            if entry.hints > 0 {
                text += &format!("{package} hints {}\n", entry.hints);
            }
        }
        let folder = self.path.parent().expect("the state file is in .course/");
        std::fs::create_dir_all(folder)
            .map_err(|err| format!("cannot create {}: {err}", folder.display()))?;
        let new = self.path.with_extension("new");
        std::fs::write(&new, text)
            .and_then(|()| std::fs::rename(&new, &self.path))
            .map_err(|err| format!("cannot write {}: {err}", self.path.display()))
    }
}

/// FNV-1a, 64 bits: enough to notice that a file changed, and the same on every machine
/// and Rust version (std's hasher promises neither).
pub fn hash_of(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The hash of a file's current contents (of nothing, if it cannot be read).
pub fn hash_file(path: &Path) -> u64 {
    hash_of(&std::fs::read(path).unwrap_or_default())
}
