//! What a run may leave behind: System V objects, /dev/shm files and files in its temporary
//! directory. Our namespaces are our own, so everything seen there is a lesson's.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::processes::orphans_gone;

/// The names of everything under `dir`, relative to it.
pub(crate) fn listing(dir: &Path) -> BTreeSet<PathBuf> {
    let mut names = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(here) = stack.pop() {
        for entry in std::fs::read_dir(&here).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path.clone());
            }
            names.insert(path.strip_prefix(dir).expect("under dir").to_path_buf());
        }
    }
    names
}

/// Errs naming whatever a run left: System V objects, /dev/shm files, new files in `dir`.
pub(crate) fn nothing_left(dir: &Path, expected: &BTreeSet<PathBuf>) -> Result<(), String> {
    let mut left = Vec::new();
    for (kind, what) in [
        ("shm", "System V segment"),
        ("sem", "System V semaphore set"),
    ] {
        let table = std::fs::read_to_string(format!("/proc/sysvipc/{kind}")).unwrap_or_default();
        for line in table.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            left.push(format!(
                "{what} {} (key {})",
                fields.get(1).unwrap_or(&"?"),
                fields.first().unwrap_or(&"?")
            ));
        }
    }
    for entry in std::fs::read_dir("/dev/shm")
        .into_iter()
        .flatten()
        .flatten()
    {
        left.push(format!("/dev/shm/{}", entry.file_name().to_string_lossy()));
    }
    for name in listing(dir).difference(expected) {
        left.push(format!("$TMPDIR/{}", name.display()));
    }
    match left.is_empty() {
        true => Ok(()),
        false => Err(format!("left behind: {}", left.join(", "))),
    }
}

/// After a failed trial: remove everything, so that the next trial starts clean.
pub(crate) fn clean_up(dir: &Path, expected: &BTreeSet<PathBuf>) {
    let _ = orphans_gone(Duration::ZERO);
    for (kind, flag) in [("shm", "-m"), ("sem", "-s")] {
        let table = std::fs::read_to_string(format!("/proc/sysvipc/{kind}")).unwrap_or_default();
        for line in table.lines().skip(1) {
            if let Some(id) = line.split_whitespace().nth(1) {
                let _ = Command::new("ipcrm").args([flag, id]).status();
            }
        }
    }
    for entry in std::fs::read_dir("/dev/shm")
        .into_iter()
        .flatten()
        .flatten()
    {
        let _ = std::fs::remove_file(entry.path());
    }
    let new: Vec<PathBuf> = listing(dir).difference(expected).cloned().collect();
    for name in new.iter().rev() {
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path).or_else(|_| std::fs::remove_dir_all(&path));
    }
}
