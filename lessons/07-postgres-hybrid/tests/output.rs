//! Lesson 07's output, as the chapter shows it. (Not run by `cargo exercise`.)
//!
//! Each test works in a directory of its own (a fresh temporary directory has a fresh inode,
//! so a fresh key), and checks that it leaves nothing behind: no lock file, no segment, no
//! process. `Held` kills whatever a failed check would otherwise leave running.
#![cfg(not(feature = "exercise"))]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command, Stdio};

use assert_cmd::cargo::{cargo_bin, cargo_bin_cmd};
use l05_sysv_segments::{IPC_PRIVATE, Segment, attach, remove, segment_stat};
use l06_keys_and_strangers::{DirId, Header, key_from_inode, write_header};
use l07_postgres_hybrid::{LOCK_FILE, PidFile, read_lock_file};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The sidebar's POSIX shared memory object, named after the process that made it:
/// `/l07-sidebar.4242` becomes `/l07-sidebar.[PID]`.
const FILTERS: &[snapshots::Filter] = &[(r"/l07-sidebar\.\d+", "/l07-sidebar.[PID]")];

const BIN: &str = "l07-postgres-hybrid";

fn start(dir: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(cargo_bin!("l07-postgres-hybrid"))
        .arg("start")
        .arg(dir)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The shmid that `dir`'s lock file records, if any.
fn recorded_shmid(dir: &Path) -> Option<i32> {
    let text = read_lock_file(dir).unwrap()?;
    PidFile::parse(&text)?.shmem.map(|(_, shmid)| shmid)
}

fn assert_nothing_left(dir: &Path, shmids: &[i32]) {
    assert!(
        !dir.join(LOCK_FILE).exists(),
        "{} was left behind",
        dir.join(LOCK_FILE).display()
    );
    for &shmid in shmids {
        assert!(
            segment_stat(shmid).is_err(),
            "segment shmid {shmid} was left behind"
        );
    }
}

#[test]
fn story() {
    let tmp = tempfile::tempdir().unwrap();
    let output = cargo_bin_cmd!("l07-postgres-hybrid")
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let stdout = snapshots::success(&output);
    snapshots::assert_output!("l07-postgres-hybrid", stdout, FILTERS);
    assert!(
        !tmp.path().join("l07-postgres-hybrid").exists(),
        "the story's directory should be gone"
    );
}

#[test]
fn bad_input() {
    let stdout = snapshots::failures(
        cargo_bin!("l07-postgres-hybrid"),
        &[
            (&["start"], 2),
            (&["start", "/no/such/dir"], 2),
            (&["start", "Cargo.toml"], 2),
            (&["--children", "0"], 2),
            (&["--children", "100"], 2),
            (&["--buffers", "lots"], 2),
            (&["--buffers", "100000000000000"], 2),
            (&["--huge-pages=sometimes"], 2),
        ],
    );
    let stdout = stdout
        + &snapshots::postmaster::start_refused_in_a_postgresql_cluster(cargo_bin!(
            "l07-postgres-hybrid"
        ))
        + &start_refused_beside_a_real_postgresqls_interlock();
    snapshots::assert_output!("l07-postgres-hybrid-errors", stdout, FILTERS);
}

/// `start DIR` where DIR's lock file is a killed PostgreSQL's (its PID is gone) and records
/// that server's interlock, still attached by the server's children: refused, in one line,
/// and nothing touched, neither the lock file nor the segment. The test stages both (the
/// segment with PostgreSQL's header: the directory's device and inode, no course tag in
/// `index`) and stays attached in the children's place; no PostgreSQL runs here.
fn start_refused_beside_a_real_postgresqls_interlock() -> String {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut gone = Command::new("true").spawn().unwrap();
    let pid = gone.id() as i32;
    gone.wait().unwrap();
    let size = std::mem::size_of::<Header>();
    let segment = Segment::create(IPC_PRIVATE, size, 0o600).unwrap();
    let header = Header {
        creator_pid: pid,
        index: 0,
        ..Header::new(DirId::of(dir).unwrap(), 148_324_352, 0)
    };
    let children = attach(segment.id()).unwrap();
    write_header(&children, &header);
    let mut lock_file = PidFile::new(dir, 1_795_682_337);
    lock_file.pid = pid;
    lock_file.shmem = Some((key_from_inode(dir).unwrap(), segment.id()));
    let text = lock_file.render();
    std::fs::write(dir.join(LOCK_FILE), &text).unwrap();
    let output = start(dir, &[]);
    let line = format!(
        "{BIN} start {}    # postmaster.pid of a killed PostgreSQL, its interlock attached",
        dir.display()
    );
    let transcript = snapshots::failure(&line, &output, 1);
    assert_eq!(read_lock_file(dir).unwrap().as_deref(), Some(text.as_str()));
    assert_eq!(snapshots::postmaster::file_names(dir), [LOCK_FILE]);
    let info = segment_stat(segment.id()).expect("the interlock is still there");
    assert!(
        info.nattch == 1 && !info.marked_for_destruction(),
        "the interlock was touched"
    );
    drop(children);
    transcript
}

#[test]
fn sidebar() {
    let output = cargo_bin_cmd!("l07-postgres-hybrid")
        .arg("sidebar")
        .output()
        .unwrap();
    let stdout = snapshots::success(&output);
    snapshots::assert_output!("l07-postgres-hybrid-sidebar", stdout, FILTERS);
    let mine = format!("l07-sidebar.{}", output_pid(&stdout));
    assert!(
        !Path::new("/dev/shm").join(&mine).exists(),
        "/dev/shm/{mine} was left behind"
    );
}

/// The PID in the sidebar's object name, `/l07-sidebar.PID`.
fn output_pid(stdout: &str) -> String {
    let at = stdout.find("/l07-sidebar.").expect("the name is shown") + "/l07-sidebar.".len();
    stdout[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect()
}

/// A `start DIR --hold` running in the background, like a server in another terminal.
/// Dropping it kills it and its children (even frozen ones) and removes what they made.
struct Held {
    server: std::process::Child,
    stdout: BufReader<ChildStdout>,
    children: Vec<i32>,
    dir: PathBuf,
    shmid: Option<i32>,
    /// Terminal 1's output up to "ready".
    log: String,
}

impl Held {
    fn start(dir: &Path) -> Held {
        let mut server = Command::new(cargo_bin!("l07-postgres-hybrid"))
            .arg("start")
            .arg(dir)
            .arg("--hold")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(server.stdout.take().unwrap());
        let mut held = Held {
            server,
            stdout,
            children: Vec::new(),
            dir: dir.to_path_buf(),
            shmid: None,
            log: String::new(),
        };
        loop {
            let mut line = String::new();
            assert_ne!(held.stdout.read_line(&mut line).unwrap(), 0, "no \"ready\"");
            if let Some(rest) = line.strip_prefix("[child]  child pid ") {
                let pid = rest.split(':').next().unwrap().parse().unwrap();
                held.children.push(pid);
            }
            held.log += &line;
            if line.starts_with("ready:") {
                break;
            }
        }
        held.shmid = recorded_shmid(dir);
        held
    }

    fn signal_children(&self, signal: Signal) {
        for &pid in &self.children {
            kill(Pid::from_raw(pid), signal).unwrap();
        }
    }

    /// Waits until the server and every child have exited: they all hold its stdout, so
    /// reading it to the end is waiting for the last of them.
    fn wait_for_all(&mut self) -> String {
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        rest
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        for &pid in &self.children {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = self.stdout.read_to_string(&mut String::new());
        if let Some(shmid) = self.shmid {
            let _ = remove(shmid);
        }
        let _ = std::fs::remove_file(self.dir.join(LOCK_FILE));
    }
}

#[test]
fn a_clean_stop_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut held = Held::start(tmp.path());
    drop(held.server.stdin.take()); // like Ctrl-D
    let rest = held.wait_for_all();
    assert!(held.server.wait().unwrap().success(), "{rest}");
    assert!(rest.contains("standard input closed: stopping"), "{rest}");
    assert_nothing_left(tmp.path(), &[held.shmid.unwrap()]);
}

#[test]
fn sigterm_stops_cleanly_too() {
    let tmp = tempfile::tempdir().unwrap();
    let mut held = Held::start(tmp.path());
    kill(Pid::from_raw(held.server.id() as i32), Signal::SIGTERM).unwrap();
    let rest = held.wait_for_all();
    assert!(held.server.wait().unwrap().success(), "{rest}");
    assert!(rest.contains("SIGTERM: stopping"), "{rest}");
    assert_nothing_left(tmp.path(), &[held.shmid.unwrap()]);
}

/// Two terminals: a second start refused while the first runs; the first killed with
/// SIGKILL while its children are frozen (refused again, by the interlock); the children let
/// go; and a start that finds the leftovers stale, cleans up, and runs.
#[test]
fn the_interlock_refuses_then_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let shown = dir.display();
    let mut held = Held::start(dir);
    let old_shmid = held.shmid.expect("line 7 is written before ready");
    let mut transcript = format!("# terminal 1\n$ {BIN} start {shown} --hold\n");
    let ready = held.log.lines().last().unwrap();
    transcript += &format!("[... sections 1 to 6, as in the story ...]\n{ready}\n\n# terminal 2\n");

    let refused = start(dir, &[]);
    transcript += &snapshots::failure(&format!("{BIN} start {shown}"), &refused, 1);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("is another postmaster"), "{stderr}");

    transcript += "$ kill -STOP <its 3 children>   # frozen, like backends busy in a long query\n";
    held.signal_children(Signal::SIGSTOP);
    transcript += "$ kill -9 <the postmaster>\n";
    held.server.kill().unwrap();
    held.server.wait().unwrap();
    let refused = start(dir, &[]);
    transcript += &snapshots::failure(&format!("{BIN} start {shown}"), &refused, 1);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("still in use by 3 processes"), "{stderr}");

    transcript +=
        "$ kill -CONT <its 3 children>   # they find the postmaster's pipe closed, and exit\n";
    held.signal_children(Signal::SIGCONT);
    held.wait_for_all();
    let info = segment_stat(old_shmid).expect("the segment outlives its processes");
    transcript += &format!(
        "$ ipcs -m   # the segment stays behind: key {:#010x} shmid {old_shmid} nattch {}\n",
        info.key as u32, info.nattch
    );
    assert_eq!(info.nattch, 0);
    assert!(dir.join(LOCK_FILE).exists(), "so does the lock file");

    let recovered = start(dir, &[]);
    transcript += &format!("$ {BIN} start {shown}\n{}", snapshots::success(&recovered));
    snapshots::assert_output!("l07-postgres-hybrid-interlock", transcript, FILTERS);
    assert_nothing_left(dir, &[old_shmid]);
}

/// `try` starts on any machine; `on` starts only where enough huge pages are reserved, and
/// otherwise fails with one clear line. (One test, so the two never compete for huge pages.)
#[test]
fn huge_pages_try_falls_back_and_on_fails_without_them() {
    let tmp = tempfile::tempdir().unwrap();
    let tried = start(tmp.path(), &["--huge-pages=try"]);
    let stdout = snapshots::success(&tried);
    let on = stdout.contains("huge_pages_status = on");
    assert!(
        on || (stdout.contains("huge_pages = try: mmap with MAP_HUGETLB failed")
            && stdout.contains("huge_pages_status = off")),
        "{stdout}"
    );
    assert_nothing_left(tmp.path(), &[]);

    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let field = |name: &str| -> u64 {
        let line = meminfo.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let required = 1; // 303104 bytes round up to one 2 MiB (or larger) huge page
    let demanded = start(tmp.path(), &["--huge-pages=on"]);
    if field("HugePages_Free:") >= required {
        let stdout = snapshots::success(&demanded);
        assert!(stdout.contains("huge_pages_status = on"), "{stdout}");
        assert!(stdout.contains("/anon_hugepage"), "{stdout}");
    } else {
        // It gets as far as the big area (sections 1 to 3 are on stdout), then stops there.
        let stderr = String::from_utf8_lossy(&demanded.stderr);
        assert_eq!(demanded.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains("with huge pages"), "{stderr}");
        assert!(stderr.contains("nr_hugepages"), "{stderr}");
    }
    assert_nothing_left(tmp.path(), &[]);
}
