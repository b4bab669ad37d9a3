//! What the tests of the mini postmasters (lessons 14 and 15) share: both keep a data
//! directory, and both must refuse to start in one that another live postmaster holds, or
//! that holds a real PostgreSQL cluster (lesson 07's start too).

use crate::failure;

/// The names of the files in `dir`, sorted: what a run left behind in its data directory.
pub fn file_names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read the directory")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// `binary start DIR` where DIR's lock file `lock_file` names a live process (a `cat`
/// waiting on its input, standing for another postmaster): the start must be refused (one
/// line, status 1) and must leave the lock file and the directory as they were. Returns the
/// transcript, as [`failure`] does.
pub fn start_refused_by_a_live_lock_file(binary: &std::path::Path, lock_file: &str) -> String {
    use std::process::{Command, Stdio};
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let mut cat = Command::new("cat")
        .stdin(Stdio::piped())
        .spawn()
        .expect("run cat");
    let lock = tmp.path().join(lock_file);
    std::fs::write(&lock, format!("{}\n{}\n", cat.id(), tmp.path().display()))
        .expect("write the lock file");
    let output = Command::new(binary)
        .arg("start")
        .arg(tmp.path())
        .output()
        .expect("run");
    drop(cat.stdin.take()); // end of input: cat exits
    cat.wait().expect("reap cat");
    let name = binary
        .file_name()
        .expect("a binary has a file name")
        .to_string_lossy();
    let line = format!("{name} start {}", tmp.path().display());
    let transcript = failure(&line, &output, 1);
    assert!(
        lock.exists(),
        "the other postmaster's lock file was removed"
    );
    assert_eq!(
        std::fs::read_dir(tmp.path())
            .expect("read the directory")
            .count(),
        1,
        "files were created"
    );
    transcript
}

/// `binary start DIR` where DIR holds a PostgreSQL cluster, shown by each of the files
/// PostgreSQL checks before it starts (`PG_VERSION`, then `global/pg_control`, each alone):
/// the start must be refused (one line, status 1) before it creates anything, and must leave
/// every file as it was. Returns the transcript, as [`failure`] does.
pub fn start_refused_in_a_postgresql_cluster(binary: &std::path::Path) -> String {
    let name = binary
        .file_name()
        .expect("a binary has a file name")
        .to_string_lossy();
    let mut transcript = String::new();
    for marker in ["PG_VERSION", "global/pg_control"] {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let file = tmp.path().join(marker);
        std::fs::create_dir_all(file.parent().expect("in DIR")).expect("mkdir");
        std::fs::write(&file, "15\n").expect("write the cluster's file");
        let before = tree(tmp.path());
        let output = std::process::Command::new(binary)
            .arg("start")
            .arg(tmp.path())
            .output()
            .expect("run");
        let line = format!(
            "{name} start {}    # with {marker} in it",
            tmp.path().display()
        );
        transcript += &failure(&line, &output, 1);
        assert_eq!(
            tree(tmp.path()),
            before,
            "the cluster's directory was changed"
        );
    }
    transcript
}

/// Every path under `dir` with its contents (directories as empty), sorted.
fn tree(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read the directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            found.push((path.clone(), Vec::new()));
            found.extend(tree(&path));
        } else {
            found.push((path.clone(), std::fs::read(&path).expect("read")));
        }
    }
    found.sort();
    found
}
