//! One lesson's runs: normal ones, and ones killed at a moment. They share a temporary
//! directory (their TMPDIR) and log files, which live as long as the `Run`.

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};

use crate::cases::Stop;
use crate::leftovers::{listing, nothing_left};
use crate::processes::{orphans_gone, reap_orphans, spawn, wait_for};
use crate::{ORPHAN_LIMIT, RUN_LIMIT};

/// A lesson's runs, all in one temporary directory of their own (their TMPDIR).
pub(crate) struct Run<'a> {
    binary: &'a Path,
    pub(crate) commands: &'a [&'a [&'a str]],
    /// "l06-keys-and-strangers create DIR": the lesson and its first command.
    pub(crate) label: String,
    pub(crate) dir: PathBuf,
    log: PathBuf,
    _scratch: tempfile::TempDir,
}

impl<'a> Run<'a> {
    pub(crate) fn new(binary: &'a Path, lesson: &str, commands: &'a [&'a [&'a str]]) -> Run<'a> {
        let scratch = tempfile::tempdir().expect("a temporary directory");
        let dir = scratch.path().join("tmp");
        std::fs::create_dir(&dir).expect("mkdir");
        let label = format!("{lesson} {}", commands[0].join(" "));
        Run {
            binary,
            commands,
            label: label.trim().replace("{dir}", "DIR"),
            dir,
            log: scratch.path().join("log"),
            _scratch: scratch,
        }
    }

    /// The first, normal run: how long it took, and what it left in its directory (what
    /// every later run may leave), after checking that it left nothing else.
    pub(crate) fn first(&self) -> Result<(Duration, BTreeSet<PathBuf>), String> {
        let started = Instant::now();
        self.normal()
            .map_err(|err| format!("its normal run failed: {err}"))?;
        let took = started.elapsed();
        let left = listing(&self.dir);
        nothing_left(&self.dir, &left).map_err(|err| format!("a normal run left {err}"))?;
        Ok((took, left))
    }
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(self.binary);
        let dir = self.dir.to_str().expect("a UTF-8 path");
        command
            .args(args.iter().map(|arg| arg.replace("{dir}", dir)))
            .env("TMPDIR", &self.dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(self.log.with_extension("out")).expect("out file"))
            .stderr(std::fs::File::create(&self.log).expect("log file"))
            .process_group(0);
        command
    }

    /// The last lines the last command printed, stdout then stderr, indented.
    pub(crate) fn tail(&self) -> String {
        let read = |path: PathBuf| std::fs::read_to_string(path).unwrap_or_default();
        let text = read(self.log.with_extension("out")) + &read(self.log.clone());
        let lines: Vec<&str> = text.lines().collect();
        let last = &lines[lines.len().saturating_sub(4)..];
        last.iter().map(|line| format!("\n      {line}")).collect()
    }

    /// Every command of a normal run, each to the end; what they said on stderr.
    pub(crate) fn normal(&self) -> Result<String, String> {
        let mut said = String::new();
        for args in self.commands {
            let pid = spawn(self.command(args))?;
            let status = wait_for(pid, RUN_LIMIT)?;
            let stderr = std::fs::read_to_string(&self.log).unwrap_or_default();
            if status != WaitStatus::Exited(pid, 0) {
                return Err(format!("{args:?} ended with {status:?}: {}", stderr.trim()));
            }
            said.push_str(stderr.trim());
            orphans_gone(ORPHAN_LIMIT).map_err(|left| format!("after a normal run, {left}"))?;
        }
        Ok(said)
    }

    /// Runs the commands, killing the run `after` into it; how long its processes took to go.
    pub(crate) fn killed(&self, how: Stop, after: Duration) -> Result<Duration, String> {
        let deadline = Instant::now() + after;
        for args in self.commands {
            let pid = spawn(self.command(args))?;
            loop {
                if Instant::now() >= deadline {
                    let signal = match how {
                        Stop::Kill9 => kill(pid, Signal::SIGKILL),
                        Stop::Term => kill(pid, Signal::SIGTERM),
                        Stop::CtrlC => killpg(pid, Signal::SIGINT),
                        Stop::Hangup => killpg(pid, Signal::SIGHUP),
                    };
                    let _ = signal; // it may have ended just now
                    let killed = Instant::now();
                    orphans_gone(ORPHAN_LIMIT)?;
                    return Ok(killed.elapsed());
                }
                match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) => std::thread::sleep(
                        Duration::from_micros(200).min(deadline - Instant::now()),
                    ),
                    _ => break, // this command ended before the moment: on to the next
                }
            }
            reap_orphans();
        }
        Ok(Duration::ZERO) // the whole run ended before the moment came
    }
}
