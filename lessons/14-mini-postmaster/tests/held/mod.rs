//! A mini postmaster started with `--hold`, for the tests of lesson 14 that look at a
//! running server (tests/output.rs, and beside a real PostgreSQL, tests/postgres.rs).
//!
//! Its output is read line by line, so a test waits for the line that says it holds (the
//! line is printed and flushed once the workload is done: no sleeping). Whatever happens to
//! the test, `Drop` stops it: a fast shutdown (SIGINT), which leaves nothing behind, and
//! SIGKILL if it has not ended 10 s later (its children may be stopped by the test).

use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub struct Held {
    pub process: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Held {
    /// `command` (the lesson's binary, perhaps run as another user) with `start DIR --hold`.
    pub fn start(mut command: Command, dir: &Path) -> Held {
        let mut process = command
            .arg("start")
            .arg(dir)
            .arg("--hold")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(process.stdout.take().unwrap()).lines();
        Held { process, lines }
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.process.id() as i32)
    }

    /// Its output up to and including the line that says it holds.
    pub fn until_holding(&mut self) -> String {
        let mut text = String::new();
        for line in self.lines.by_ref() {
            let line = line.unwrap();
            text += &line;
            text.push('\n');
            if line.contains("holding: ") {
                return text;
            }
        }
        panic!("the held server ended before it said it was holding:\n{text}");
    }

    /// Sends `signal`, reads the rest of its output, waits for it; its exit status must be 0.
    #[allow(dead_code)] // not every test file that holds a server stops it this way
    pub fn stop(&mut self, signal: Signal) -> String {
        kill(self.pid(), signal).unwrap();
        let rest: Vec<String> = self.lines.by_ref().map(Result::unwrap).collect();
        let status = self.process.wait().unwrap();
        assert!(status.success(), "the held server ended with {status}");
        rest.iter().map(|line| format!("{line}\n")).collect()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if !matches!(self.process.try_wait(), Ok(None)) {
            return; // ended, and reaped
        }
        let _ = kill(self.pid(), Signal::SIGINT);
        let start = Instant::now();
        while matches!(self.process.try_wait(), Ok(None)) {
            if start.elapsed() > Duration::from_secs(10) {
                let _ = self.process.kill();
                let _ = self.process.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
