//! The snapshot settings every lesson's `tests/output.rs` shares, and the support its
//! tests have in common.
//!
//! All `.snap` files live in this folder, so the book can include them by one fixed path
//! (`{{#include ../../snapshots/NAME.snap:5:}}`: line 5 is where insta's header ends).
//!
//! What changes from run to run is replaced by a named placeholder, never by loosening
//! what the test compares. The lessons cooperate by printing such values in fixed words.
//! The base filters below cover what the building blocks of several lessons print; a
//! lesson that prints figures of its own (counts, timings, table cells) keeps the filters
//! for them next to its test and passes them to [`assert_output!`].
//!
//! | the lesson prints            | the snapshot shows     |
//! |------------------------------|------------------------|
//! | `parent pid 4242`            | `parent pid [PARENT]`  |
//! | `child pid 4243`             | `child pid [CHILD]`    |
//! | `/proc/4242/maps`            | `/proc/[PID]/maps`     |
//! | `0x7f3a5c000000`             | `[ADDR]`               |
//! | `7f3a5c000000-7f3a5c002000`  | `[ADDR]-[ADDR]`        |
//! | `key 0x0098c042`             | `key [KEY]`            |
//! | `inode 123456`               | `inode [INODE]`        |
//! | `device 65024`               | `device [DEVICE]`      |
//! | `/tmp/.tmpXyZ123`            | `[TMPDIR]`             |
//! | `took 1.2 ms`                | `took [TIME]`          |
//! | `shmid 32769`, `semid 32768` | `shmid [SHMID]`, `semid [SEMID]` |
//! | `the 2 usable CPUs`          | `the [CPUS] usable CPUs` |
//! | `creator pid 4242`           | `creator pid [PID]`    |
//! | `PID 4242` (lock files)      | `PID [PID]`            |
//! | `/SYSV0098c042 (deleted)`    | `/SYSV[KEY] (deleted)` (not `/SYSV00000000`) |
//! | `started at 1795682337`      | `started at [EPOCH]`   |
//! | `line 7: "   382114    163880"` | `line 7: "[KEY] [SHMID]"` |

use std::process::Output;

pub mod book;
mod keys;
pub mod postgres;
pub mod postmaster;
mod semaphore_sets;

pub use keys::keys_of_our_own;
pub use semaphore_sets::sweep_printed_sets;

/// A filter: a regular expression, and what each match becomes.
pub type Filter = (&'static str, &'static str);

/// insta settings: snapshots in this folder, no module prefix, the base filters, then
/// `own` (a lesson's filters for what only it prints).
pub fn settings_with(own: &[Filter]) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(env!("CARGO_MANIFEST_DIR"));
    settings.set_prepend_module_to_snapshot(false);
    for (pattern, replacement) in BASE.iter().chain(own) {
        settings.add_filter(pattern, *replacement);
    }
    settings
}

/// insta settings with the base filters only.
pub fn settings() -> insta::Settings {
    settings_with(&[])
}

const BASE: &[Filter] = &[
    (r"\bparent pid \d+", "parent pid [PARENT]"),
    (r"\bchild pid \d+", "child pid [CHILD]"),
    (r"/proc/\d+/", "/proc/[PID]/"),
    (r"\b[0-9a-f]{8,16}-[0-9a-f]{8,16}\b", "[ADDR]-[ADDR]"),
    // A System V key, printed as ipcs does: before [ADDR], which would take its hex digits.
    (r"\bkey 0x[0-9a-f]{8}\b", "key [KEY]"),
    (r"\b0x[0-9a-f]{8,16}\b", "[ADDR]"),
    (r"\binode \d+", "inode [INODE]"),
    (r"\bdevice \d+", "device [DEVICE]"),
    (r"(/[^/\s]+)*/\.tmp[A-Za-z0-9]{6,}", "[TMPDIR]"),
    (r"\btook \d+(\.\d+)? ?(ns|µs|ms|s)\b", "took [TIME]"),
    (r"\b(shmid +)\d+", "${1}[SHMID]"),
    (r"\bsemid \d+", "semid [SEMID]"),
    // How many CPUs lesson 08's race pins its workers to (lessons 08 to 16 race).
    (r"\bthe \d+ usable CPUs?\b", "the [CPUS] usable CPUs"),
    // The process recorded as a segment's creator, and a lock file's PID as PostgreSQL's
    // messages name it ("is another postmaster (PID 4242) running").
    (r"\bcreator pid \d+", "creator pid [PID]"),
    (r"\bPID \d+", "PID [PID]"),
    // A keyed segment's name in /proc/PID/maps. `/SYSV00000000` (IPC_PRIVATE) stays as it is:
    // it is the same on every run, and lesson 05 teaches what it means.
    (r"/SYSV0*[1-9a-f][0-9a-f]*\b", "/SYSV[KEY]"),
    // postmaster.pid: the start time on line 3, and line 7 itself ("%9lu %9lu": key, shmid).
    (r"\bstarted at \d+", "started at [EPOCH]"),
    (r#"\bline 7: " *\d+ +\d+""#, r#"line 7: "[KEY] [SHMID]""#),
];

/// `assert_output!("l05-sysv-segments", stdout)` compares `stdout` with the snapshot of that
/// name, through the base filters; `assert_output!(name, stdout, FILTERS)` adds the
/// lesson's own. A macro, not a function: insta records the file it is called from.
#[macro_export]
macro_rules! assert_output {
    ($name:expr, $stdout:ident) => {
        $crate::assert_output!($name, $stdout, &[])
    };
    ($name:expr, $stdout:ident, $own:expr) => {
        $crate::settings_with($own).bind(|| ::insta::assert_snapshot!($name, $stdout))
    };
}

/// The two output tests of a lesson whose story runs without arguments:
/// `story` (its stdout, snapshot `BINARY`) and `bad_input` (each case's one line and exit
/// status, snapshot `BINARY-errors`), optionally with the lesson's own filters:
///
/// ```ignore
/// snapshots::output_tests!("l03-fork-sharing", [(&["--sleep", "5"], 2)]);
/// ```
#[macro_export]
macro_rules! output_tests {
    ($binary:literal, [$($case:expr),* $(,)?] $(, $own:expr)?) => {
        #[test]
        fn story() {
            let run = ::assert_cmd::cargo::cargo_bin_cmd!($binary).output().unwrap();
            let stdout = $crate::success(&run);
            $crate::assert_output!($binary, stdout $(, $own)?);
        }

        #[test]
        fn bad_input() {
            let binary = ::assert_cmd::cargo::cargo_bin!($binary);
            let stdout = $crate::failures(binary, &[$($case),*]);
            $crate::assert_output!(::std::concat!($binary, "-errors"), stdout $(, $own)?);
        }
    };
}

/// The stdout of a lesson run that must succeed quietly: exit status 0, nothing on stderr.
pub fn success(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the lesson failed ({}):\n{stderr}",
        output.status
    );
    assert!(stderr.is_empty(), "the lesson wrote to stderr:\n{stderr}");
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

/// Runs `binary` once for each `(arguments, expected exit status)` case and returns the
/// transcript the chapter's "When things go wrong" shows, checking each case with
/// [`failure`].
pub fn failures(binary: &std::path::Path, cases: &[(&[&str], i32)]) -> String {
    let name = binary
        .file_name()
        .expect("a binary has a file name")
        .to_string_lossy();
    let mut transcript = String::new();
    for (args, status) in cases {
        let output = std::process::Command::new(binary)
            .args(*args)
            .output()
            .expect("run");
        let command_line = format!("{name} {}", args.join(" "));
        transcript += &failure(command_line.trim_end(), &output, *status);
    }
    transcript
}

/// One failing run as the chapter shows it: the command, the one line it printed on
/// stderr, and its exit status. Checks that it is one line, with nothing on stdout, and the
/// status the lesson contract asks for (2 for bad usage, 1 for a failed call).
pub fn failure(command_line: &str, output: &Output, expected_status: i32) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(expected_status),
        "`{command_line}` should exit with {expected_status}; stderr:\n{stderr}"
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "`{command_line}` should print one line:\n{stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "`{command_line}` printed on stdout"
    );
    format!("$ {command_line}\n{stderr}[exit status {expected_status}]\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_value_is_replaced_and_the_rest_kept() {
        let text = "[parent] parent pid 4242 forked child pid 4243\n\
                    see /proc/4242/maps: 7f3a5c000000-7f3a5c002000 rw-s at 0x7f3a5c000000\n\
                    file /tmp/.tmpXyZ123/data, inode 1234567, took 1.25 ms; 8192 bytes\n\
                    shmid 32769: 5000 bytes; semtimedop(semid 32768, ...) on the 2 usable CPUs\n\
                    key 0x0098c042: inode 10010690 on device 65024, creator pid 4242\n\
                    (PID 4242) maps /SYSV0098c042 (deleted) and /SYSV00000000, started at 1795682337\n\
                    line 7: \"   382114    163880\"";
        settings().bind(|| {
            insta::assert_snapshot!(text, @r#"
            [parent] parent pid [PARENT] forked child pid [CHILD]
            see /proc/[PID]/maps: [ADDR]-[ADDR] rw-s at [ADDR]
            file [TMPDIR]/data, inode [INODE], took [TIME]; 8192 bytes
            shmid [SHMID]: 5000 bytes; semtimedop(semid [SEMID], ...) on the [CPUS] usable CPUs
            key [KEY]: inode [INODE] on device [DEVICE], creator pid [PID]
            (PID [PID]) maps /SYSV[KEY] (deleted) and /SYSV00000000, started at [EPOCH]
            line 7: "[KEY] [SHMID]"
            "#);
        });
    }
}
