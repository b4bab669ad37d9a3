//! The snapshot settings every lesson's `tests/output.rs` shares.
//!
//! All `.snap` files live in this folder, so the book can include them by one fixed path
//! (`{{#include ../../snapshots/NAME.snap:5:}}`: line 5 is where insta's header ends).
//!
//! What changes from run to run is replaced by a named placeholder, never by loosening
//! what the test compares. The lessons cooperate by printing such values in fixed words:
//!
//! | the lesson prints            | the snapshot shows     |
//! |------------------------------|------------------------|
//! | `parent pid 4242`            | `parent pid [PARENT]`  |
//! | `child pid 4243`             | `child pid [CHILD]`    |
//! | `/proc/4242/maps`            | `/proc/[PID]/maps`     |
//! | `0x7f3a5c000000`             | `[ADDR]`               |
//! | `7f3a5c000000-7f3a5c002000`  | `[ADDR]-[ADDR]`        |
//! | `inode 123456`               | `inode [INODE]`        |
//! | `/tmp/.tmpXyZ123`            | `[TMPDIR]`             |
//! | `/var/tmp/l02-file-mapping.4242.XyZ123` | `[TMPDIR]`  |
//! | `took 1.2 ms`                | `took [TIME]`          |
//! | `shmid 32769`                | `shmid [SHMID]`        |
//! | `shmmax 18446744073692774399` | `shmmax [LIMIT]`    |
//! | `shmall 2097152`, `shmmni 4096` | `shmall [LIMIT]`, `shmmni [LIMIT]` |
//! | `key 0x0098c042`             | `key [KEY]`            |
//! | `device 65024`               | `device [DEVICE]`      |
//! | `creator pid 4242`           | `creator pid [PID]`    |
//! | `PID 4242` (lock files)      | `PID [PID]`            |
//! | `/SYSV0098c042 (deleted)`    | `/SYSV[KEY] (deleted)` (not `/SYSV00000000`) |
//! | `started at 1795682337`      | `started at [EPOCH]`   |
//! | `line 7: "   382114    163880"` | `line 7: "[KEY] [SHMID]"` |
//! | `/l07-sidebar.4242`          | `/l07-sidebar.[PID]`   |
//! | `the 2 usable CPUs`          | `the [CPUS] usable CPUs` |
//! | `reads 9835, not 20000`      | `reads [COUNT], not 20000` |
//! | `lost 9835 of 20000 updates` | `lost [COUNT] of 20000 updates` |
//! | `all done after 3 races`     | `all done after [RACES]` |
//! | `yet 5035 of 315171 audits`  | `yet [COUNT] of [COUNT] audits` |
//! | `semid 32768`                | `semid [SEMID]`        |
//! | `alone 1.0×, 4 processes 24×` | `alone [RATIO], 4 processes [RATIO]` |
//! | `   56.3 ns` (a cell: `{:>7.1} ns`) | `   [NS] ns` (same width) |
//! | `   12.2×` (a cell: `{:>7.1}×`) | ` [RATIO]` (same width, before the `×` rule) |
//! | `12182 shared reads`         | `[COUNT] shared reads` |
//! | `up to 3 readers`            | `up to [COUNT] readers` |
//! | `slept 62 times`             | `slept [COUNT] times`  |
//! | `wrote 75 pages in 5 rounds` | `wrote [PAGES] pages in [ROUNDS] rounds` |
//! | `5 flushes in 6 rounds`      | `[FLUSHES] flushes in [ROUNDS] rounds` |
//! | `48 pages written in all`    | `[PAGES] pages written in all` |
//! | `owner uid 1000`             | `owner uid [UID]`      |
//! | `redo starts at 0/1A0`, `redo lsn=0/1A0` | `redo starts at [LSN]`, `redo lsn=[LSN]` |
//! | `9 BLK_NEEDS_REDO`, `20 BLK_DONE` | `[COUNT] BLK_NEEDS_REDO`, `[COUNT] BLK_DONE` |
//! | `wrote 8 buffers`            | `wrote [COUNT] buffers` |
//! | `cpu: AMD EPYC`              | `cpu: [CPU]`           |
//! | `Linux 6.1.0-13-amd64, debug build` | `Linux [KERNEL], [BUILD] build` |
//! | `CPUs 0 and 1 (two cores)`   | `CPUs [CPU] and [CPU] ([TOPOLOGY])` |
//! | `   0.412 (0.398–0.455)` (a 24-wide cell) | `      [median (min–max)]` (same width) |

use std::process::Output;

/// insta settings: snapshots in this folder, no module prefix, and the filters above.
pub fn settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(env!("CARGO_MANIFEST_DIR"));
    settings.set_prepend_module_to_snapshot(false);
    for (pattern, replacement) in FILTERS {
        settings.add_filter(pattern, *replacement);
    }
    settings
}

const FILTERS: &[(&str, &str)] = &[
    (r"\bparent pid \d+", "parent pid [PARENT]"),
    (r"\bchild pid \d+", "child pid [CHILD]"),
    (r"/proc/\d+/", "/proc/[PID]/"),
    (r"\b[0-9a-f]{8,16}-[0-9a-f]{8,16}\b", "[ADDR]-[ADDR]"),
    // A System V key, printed as ipcs does (before [ADDR], which would take its hex digits).
    (r"\bkey 0x[0-9a-f]{8}\b", "key [KEY]"),
    (r"\b0x[0-9a-f]{8,16}\b", "[ADDR]"),
    (r"\binode \d+", "inode [INODE]"),
    (r"(/[^/\s]+)*/\.tmp[A-Za-z0-9]{6,}", "[TMPDIR]"),
    // Lesson 02's own temporary directory: its name holds its PID, for the next run.
    (
        r"(/[^/\s]+)*/l02-file-mapping\.\d+\.[A-Za-z0-9]{6,}",
        "[TMPDIR]",
    ),
    (r"\btook \d+(\.\d+)? ?(ns|µs|ms|s)\b", "took [TIME]"),
    (r"\b(shmid +)\d+", "${1}[SHMID]"),
    // The kernel's System V limits (/proc/sys/kernel/shm*), which differ from machine to machine.
    (r"\b(shmmax|shmall|shmmni) \d+", "$1 [LIMIT]"),
    // A directory's device number (st_dev), and the process recorded as a segment's creator.
    (r"\bdevice \d+", "device [DEVICE]"),
    (r"\bcreator pid \d+", "creator pid [PID]"),
    // Lesson 07: a lock file's PID, as PostgreSQL's messages name it ("is another postmaster
    // (PID 4242) running"); a System V mapping's name in /proc/PID/maps (its key in hex); the
    // start time on line 3 of postmaster.pid; line 7 itself ("%9lu %9lu": key, shmid); and
    // the sidebar's POSIX shared memory object, named after the process that made it.
    (r"\bPID \d+", "PID [PID]"),
    // A keyed segment's name in /proc/PID/maps. `/SYSV00000000` (IPC_PRIVATE) stays as it is:
    // it is the same on every run, and lesson 05 teaches what it means.
    (r"/SYSV0*[1-9a-f][0-9a-f]*\b", "/SYSV[KEY]"),
    (r"\bstarted at \d+", "started at [EPOCH]"),
    (r#"\bline 7: " *\d+ +\d+""#, r#"line 7: "[KEY] [SHMID]""#),
    (r"/l07-sidebar\.\d+", "/l07-sidebar.[PID]"),
    // Lesson 08: how many CPUs the racers were pinned to, and what a race left behind: the
    // count that lost updates, how many were lost (of a total that stays), and how many of
    // an auditor's looks caught an invariant broken.
    (r"\bthe \d+ usable CPUs?\b", "the [CPUS] usable CPUs"),
    (r"\breads \d+, not (\d+)\b", "reads [COUNT], not $1"),
    // How many races it took to see a lost update or a torn read (lesson 08's race_until).
    (r"\bafter \d+ races?\b", "after [RACES]"),
    (
        r"\blost \d+ of (\d+) updates\b",
        "lost [COUNT] of $1 updates",
    ),
    (
        r"\byet \d+ of \d+ audits\b",
        "yet [COUNT] of [COUNT] audits",
    ),
    // Lesson 09: a table cell of a time per operation (`{:>7.1} ns`) or of a ratio
    // (`{:>7.1}×`), replaced at the cell's own width so the table stays aligned. Before the
    // general `×` rule below, which would keep the padding (and so a number's width).
    (r"[ \d]{4}\d\.\d ns\b", "   [NS] ns"),
    (r"[ \d]{4}\d\.\d×", " [RATIO]"),
    // Lesson 10: a System V semaphore set's id, and a cost as a multiple of the fastest
    // lock's in the same run (a number directly followed by ×).
    (r"\bsemid \d+", "semid [SEMID]"),
    (r"\b\d+(\.\d+)?×", "[RATIO]"),
    // Lesson 11: how many shared acquisitions readers made while the writers worked, the
    // most readers inside at once, and how often the writers had to sleep for the lock.
    (r"\b\d+ shared reads?\b", "[COUNT] shared reads"),
    (r"\bup to \d+ readers?\b", "up to [COUNT] readers"),
    (r"\bslept \d+ times?\b", "slept [COUNT] times"),
    // Lesson 14: what the background writer and the WAL writer did in their timed rounds, and
    // how many pages the checkpointer wrote (the background writer may have written them
    // first); a segment's owner as `ipcs -m` shows it (the user running the tests).
    (
        r"\bwrote \d+ pages? in \d+ rounds?\b",
        "wrote [PAGES] pages in [ROUNDS] rounds",
    ),
    (
        r"\b\d+ flush(es)? in \d+ rounds?\b",
        "[FLUSHES] flushes in [ROUNDS] rounds",
    ),
    (
        r"\b\d+ pages? written in all\b",
        "[PAGES] pages written in all",
    ),
    (r"\bowner uid \d+\b", "owner uid [UID]"),
    // Lesson 15: where recovery's redo started and ended and the checkpoint's redo point
    // (LSNs as PostgreSQL prints them, `%X/%X`), how many records redo applied or skipped,
    // and how many buffers the end-of-recovery checkpoint wrote: all depend on how far the
    // backends got before the crash.
    (r"(\bat |\blsn=)[0-9A-F]{1,8}/[0-9A-F]{1,8}\b", "${1}[LSN]"),
    (r"\b\d+ (BLK_NEEDS_REDO|BLK_DONE)\b", "[COUNT] $1"),
    (r"\bwrote \d+ buffers\b", "wrote [COUNT] buffers"),
    // Lesson 16: the machine the figures were measured on, and every figure: a table cell
    // `median (min–max)`, right-aligned in 24 columns, is replaced at that width (the match
    // takes the cell's leading spaces: cells follow a `│` or another cell's `)`).
    (r"(?m)^cpu: .*$", "cpu: [CPU]"),
    (
        r"\bLinux \S+, (debug|release) build\b",
        "Linux [KERNEL], [BUILD] build",
    ),
    (
        r"\bCPUs \d+ and \d+ \((two cores|hyperthreads of one core)\)",
        "CPUs [CPU] and [CPU] ([TOPOLOGY])",
    ),
    (
        r" *\b\d+(\.\d+)? \(\d+(\.\d+)?–\d+(\.\d+)?\)",
        "      [median (min–max)]",
    ),
];

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

/// For a test that puts segments at keys made from temporary directories' inode numbers:
/// two directories made one after the other have neighbouring inodes, so beside another
/// run of the same tests (another clone, say) the two would meet at each other's keys. The
/// calling thread, and the processes it starts, move to a System V IPC namespace of their
/// own, where no other segment exists (`unshare(CLONE_NEWIPC)`: root only). Where that is
/// not allowed, the tests named `turn` take turns machine-wide, through an exclusive
/// `flock` on a file in the temporary directory, held until the returned file is dropped.
pub fn keys_of_our_own(turn: &str) -> Option<std::fs::File> {
    use std::os::fd::AsRawFd;
    if nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWIPC).is_ok() {
        return None;
    }
    let path = std::env::temp_dir().join(format!("{turn}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    // SAFETY: flock on a descriptor we own; it blocks until the lock is ours.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(locked, 0, "flock {}", path.display());
    Some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_value_is_replaced_and_the_rest_kept() {
        let text = "[parent] parent pid 4242 forked child pid 4243\n\
                    see /proc/4242/maps: 7f3a5c000000-7f3a5c002000 rw-s at 0x7f3a5c000000\n\
                    file /tmp/.tmpXyZ123/data, inode 1234567, took 1.25 ms; 8192 bytes\n\
                    shmid 32769: 5000 bytes; shmmax 18446744073692774399 bytes, shmall 2097152, shmmni 4096\n\
                    key 0x0098c042: inode 10010690 on device 65024, creator pid 4242\n\
                    (PID 4242) maps /SYSV0098c042 (deleted) and /SYSV00000000, started at 1795682337, /dev/shm/l07-sidebar.4242\n\
                    line 7: \"   382114    163880\"\n\
                    on the 2 usable CPUs: reads 9835, not 20000: lost 10165 of 20000 updates; yet 5035 of 315171 audits\n\
                    semtimedop(semid 32768, ...): alone 1.0×, 4 processes 24×, 2 x 1000\n\
                    |   plain TAS      56.3 ns    12.2×     1.0×|\n\
                    12182 shared reads, up to 3 readers inside; the writers slept 62 times\n\
                    wrote 75 pages in 5 rounds; 5 flushes in 6 rounds; 48 pages written in all; owner uid 1000\n\
                    redo starts at 0/1A0, done at 1/203C0048: 9 BLK_NEEDS_REDO, 20 BLK_DONE; wrote 8 buffers; redo lsn=0/9D0\n\
                    cpu: AMD EPYC (virtual CPUs)\n\
                    kernel: Linux 6.18.44-fc-v857, release build, on CPUs 0 and 1 (two cores)\n\
                    spin   │     0.412 (0.398–0.455)        9.25 (9.14–9.46)    116012 (82181–214425)|";
        settings().bind(|| {
            insta::assert_snapshot!(text, @r#"
            [parent] parent pid [PARENT] forked child pid [CHILD]
            see /proc/[PID]/maps: [ADDR]-[ADDR] rw-s at [ADDR]
            file [TMPDIR]/data, inode [INODE], took [TIME]; 8192 bytes
            shmid [SHMID]: 5000 bytes; shmmax [LIMIT] bytes, shmall [LIMIT], shmmni [LIMIT]
            key [KEY]: inode [INODE] on device [DEVICE], creator pid [PID]
            (PID [PID]) maps /SYSV[KEY] (deleted) and /SYSV00000000, started at [EPOCH], /dev/shm/l07-sidebar.[PID]
            line 7: "[KEY] [SHMID]"
            on the [CPUS] usable CPUs: reads [COUNT], not 20000: lost [COUNT] of 20000 updates; yet [COUNT] of [COUNT] audits
            semtimedop(semid [SEMID], ...): alone [RATIO], 4 processes [RATIO], 2 x 1000
            |   plain TAS      [NS] ns  [RATIO]  [RATIO]|
            [COUNT] shared reads, up to [COUNT] readers inside; the writers slept [COUNT] times
            wrote [PAGES] pages in [ROUNDS] rounds; [FLUSHES] flushes in [ROUNDS] rounds; [PAGES] pages written in all; owner uid [UID]
            redo starts at [LSN], done at [LSN]: [COUNT] BLK_NEEDS_REDO, [COUNT] BLK_DONE; wrote [COUNT] buffers; redo lsn=[LSN]
            cpu: [CPU]
            kernel: Linux [KERNEL], [BUILD] build, on CPUs [CPU] and [CPU] ([TOPOLOGY])
            spin   │      [median (min–max)]      [median (min–max)]      [median (min–max)]|
            "#);
        });
    }
}
