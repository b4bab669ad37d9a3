//! Lesson 15's crash beside a real PostgreSQL's (`snapshots::postgres::Server`: initdb and a
//! server in a temporary directory; skipped, saying so, where PostgreSQL is not installed):
//! a backend killed with `kill -9`, and what each postmaster logs until it is ready again.
//! The `Server` guard stops the server and removes everything, even when the test fails;
//! the psql session is a guard of its own. (Not run by `cargo exercise`.)
#![cfg(not(feature = "exercise"))]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin_cmd;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use snapshots::postgres::{SKIPPED, Server};

/// Lesson 15's own figures in its log lines: how many buffers its end-of-recovery
/// checkpoint wrote (the LSNs are redacted for both servers).
const FILTERS: &[snapshots::Filter] = &[(r"\bwrote \d+ buffers;", "wrote [COUNT] buffers;")];

const READY: &str = "database system is ready to accept connections";

/// The same story in both logs: the postmaster hears that a server process was killed by
/// signal 9, terminates the others, reinitializes (new shared memory: the interlock at the
/// same key, a new shmid), and recovery replays the WAL from the last checkpoint. A row
/// committed before the crash is there after it; one inserted by the killed backend's open
/// transaction is not.
#[test]
fn a_backend_killed_with_kill_9_restarts_the_server_as_in_lesson_15() {
    let Some(mut server) = Server::init() else {
        println!("{SKIPPED}");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let lesson = cargo_bin_cmd!("l15-crash-restart")
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let lesson = snapshots::success(&lesson);
    let scene_1 = &lesson[lesson.find("== 3.").expect("step 3: the crash")
        ..lesson.find("== 6.").expect("step 6: work again")];
    let lesson_log: String = scene_1
        .lines()
        .filter(|line| line.contains("LOG:  "))
        .map(|line| format!("{line}\n"))
        .collect();

    server.start();
    let data = server.data();
    let (key, shmid) = line_7(&data);
    server.sql("create table t (x int); insert into t values (42)");
    let mut session = Session::open(&server);
    session.send("begin;\ninsert into t values (7);\nselect pg_backend_pid();\n");
    let backend = Pid::from_raw(session.line().trim().parse().expect("the backend's PID"));
    assert!(
        server.processes().contains(&backend),
        "the session's backend is a child of the postmaster"
    );

    let before = server.log().len();
    kill(backend, Signal::SIGKILL).unwrap();
    let start = Instant::now();
    let log = loop {
        let log = server.log();
        if log[before..].contains(READY) {
            break log[before..].to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no restart within 60 s:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20)); // polling a file another process writes
    };
    drop(session);
    for expected in [
        &format!("server process (PID {backend}) was terminated by signal 9"),
        "terminating any other active server processes",
        "all server processes terminated; reinitializing",
        "database system was not properly shut down; automatic recovery in progress",
        "redo starts at",
        READY,
    ] {
        assert!(log.contains(expected), "no {expected:?} in the log:\n{log}");
    }
    assert_eq!(server.sql("select x from t").trim(), "42");
    let (new_key, new_shmid) = line_7(&data);
    assert_eq!(new_key, key, "the interlock is made again at the same key");
    assert_ne!(new_shmid, shmid, "as a new segment");
    assert!(l05_sysv_segments::segment_stat(shmid).is_err());

    let transcript = format!(
        "$ l15-crash-restart    # its LOG lines, steps 3 to 5 of scene 1 (backend 2 is killed)\n\
         {lesson_log}\n\
         # PostgreSQL {}: committed, insert 42; a session's open transaction, insert 7; its \
         backend is PID {backend}\n\n\
         $ kill -9 {backend}\n{log}\n\
         # select x from t: 42 (committed: kept; uncommitted: gone)\n\
         # postmaster.pid line 7: key {}, shmid {new_shmid} (was shmid {shmid}): the same \
         key, a new segment\n",
        server.major_version(),
        l06_keys_and_strangers::key_hex(key as i32),
    );
    snapshots::assert_postgres_output!(
        server,
        "l15-crash-restart-real-postgresql",
        transcript,
        FILTERS
    );
}

/// Line 7 of the data directory's `postmaster.pid`: the interlock's key (decimal) and shmid.
fn line_7(data: &std::path::Path) -> (u32, i32) {
    let text = std::fs::read_to_string(data.join("postmaster.pid")).unwrap();
    let mut fields = text.lines().nth(6).expect("line 7").split_whitespace();
    let key = fields.next().unwrap().parse().unwrap();
    (key, fields.next().unwrap().parse().unwrap())
}

/// An interactive psql: statements in, one line of output at a time; ended in `Drop`.
struct Session {
    psql: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Session {
    fn open(server: &Server) -> Session {
        let mut psql = server
            .psql_command(&["-A", "-t", "-q"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = BufReader::new(psql.stdout.take().unwrap()).lines();
        Session { psql, lines }
    }

    fn send(&mut self, statements: &str) {
        let stdin = self.psql.stdin.as_mut().unwrap();
        stdin.write_all(statements.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    fn line(&mut self) -> String {
        self.lines.next().expect("psql's output").unwrap()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        drop(self.psql.stdin.take()); // end of input: psql leaves
        let start = Instant::now();
        while let Ok(None) = self.psql.try_wait() {
            if start.elapsed() > Duration::from_secs(10) {
                let _ = self.psql.kill();
                let _ = self.psql.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
