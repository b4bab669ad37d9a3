//! Kills each lesson at random moments and checks that nothing is left behind.
//!
//! For every lesson: one normal run (its duration sets the window, and what it leaves in its
//! temporary directory is what every later run may leave), then trials. A trial starts the
//! lesson, waits a random time within that window, and sends it SIGKILL, SIGTERM, or SIGINT
//! or SIGHUP to its whole process group (Ctrl-C, a closed terminal). Then:
//! 1. within [`ORPHAN_LIMIT`] no process of it is alive (a zombie counts as gone), and after
//!    any signal but SIGKILL, nothing of it is left already (for a run of one command);
//! 2. the next normal run exits 0 (what it says about a killed run's leftovers is shown);
//! 3. after that run, no System V object, no /dev/shm file and nothing new in its
//!    temporary directory is left.
//!
//! The trials run in an IPC and mount namespace of their own, with a tmpfs of their own on
//! /dev/shm, so leftovers are counted exactly and nobody else's objects are seen or touched;
//! and as a child subreaper, so that orphans stay ours to see and to reap.
//!
//! With `--at-each write` (any system call's name), the moments are not random but every
//! one: the lesson is run under `strace -e inject=write:signal=KILL:when=N` for N = 1, 2, …
//! until a run gets through, so it is killed once at each of its writes.
//!
//! `cargo build --workspace --bins && target/debug/kill-trials [--trials N] [--seed S]
//! [--at-each SYSCALL] [LESSON...]` (as root, or where unprivileged user namespaces are
//! allowed).

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// How long a killed lesson's processes may take to leave.
const ORPHAN_LIMIT: Duration = Duration::from_secs(3);
/// How long a normal run may take (lesson 16's quick mode takes about a second).
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// A lesson and the commands of one normal run of it; `{dir}` is its temporary directory.
const CASES: &[(&str, &[&[&str]])] = &[
    ("l01-mmap", &[&[]]),
    ("l02-file-mapping", &[&["--dir", "{dir}"]]),
    ("l03-fork-sharing", &[&[]]),
    ("l04-shared-structs", &[&[]]),
    ("l05-sysv-segments", &[&[]]),
    ("l06-keys-and-strangers", &[&[]]),
    (
        "l06-keys-and-strangers",
        &[
            &["create", "{dir}"],
            &["attach", "{dir}"],
            &["inspect", "{dir}"],
            &["remove", "{dir}"],
        ],
    ),
    ("l07-postgres-hybrid", &[&[]]),
    ("l07-postgres-hybrid", &[&["sidebar"]]),
    ("l08-races", &[&[]]),
    ("l09-spinlock", &[&[]]),
    ("l10-sleeping-locks", &[&[]]),
    ("l11-lwlock", &[&[]]),
    ("l12-dying-holders", &[&[]]),
    ("l13-shmem-index", &[&[]]),
    ("l14-mini-postmaster", &[&[]]),
    ("l15-crash-restart", &[&[]]),
    ("l16-fastest-ipc", &[&["--quick"]]),
];

#[derive(Clone, Copy, Debug)]
enum Stop {
    /// `kill -9 PID`
    Kill9,
    /// `kill PID`
    Term,
    /// Ctrl-C: SIGINT to the foreground process group.
    CtrlC,
    /// The terminal closed: SIGHUP to the process group.
    Hangup,
}

const STOPS: [Stop; 4] = [Stop::Kill9, Stop::Term, Stop::CtrlC, Stop::Hangup];

fn main() {
    let mut trials = 8;
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |since| since.as_nanos() as u64);
    let mut only = Vec::new();
    let mut at_each = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--trials" => trials = number(args.next()),
            "--seed" => seed = number(args.next()) as u64,
            "--at-each" => at_each = Some(args.next().unwrap_or_else(|| usage())),
            lesson if !lesson.starts_with('-') => only.push(lesson.to_string()),
            _ => usage(),
        }
    }
    let bin_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .expect("the directory of this program");
    if let Err(err) = enter_namespaces() {
        eprintln!("kill-trials: {err}");
        std::process::exit(2);
    }
    nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
    println!("kill-trials: seed {seed}, {trials} trials per lesson");
    let mut random = Random(seed.max(1));
    let mut failures = 0;
    for (lesson, commands) in CASES {
        if !only.is_empty() && !only.iter().any(|name| name == lesson) {
            continue;
        }
        let binary = bin_dir.join(lesson);
        if !binary.exists() {
            eprintln!(
                "kill-trials: {} is missing: cargo build --workspace --bins",
                binary.display()
            );
            std::process::exit(2);
        }
        failures += match &at_each {
            None => trial_lesson(&binary, lesson, commands, trials, &mut random),
            Some(call) => trial_each_call(&binary, lesson, commands, call),
        };
    }
    if failures > 0 {
        println!("kill-trials: {failures} failed trials (seed {seed})");
        std::process::exit(1);
    }
    println!("kill-trials: all passed");
}

fn number(value: Option<String>) -> usize {
    value
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| usage())
}

fn usage() -> ! {
    eprintln!("usage: kill-trials [--trials N] [--seed S] [--at-each SYSCALL] [LESSON...]");
    std::process::exit(2);
}

/// Runs the trials of one lesson; returns how many failed.
fn trial_lesson(
    binary: &Path,
    lesson: &str,
    commands: &[&[&str]],
    trials: usize,
    random: &mut Random,
) -> usize {
    let run = Run::new(binary, lesson, commands);
    let (label, dir) = (&run.label, &run.dir);
    let (window, left_by_a_normal_run) = match run.first() {
        Ok(first) => first,
        Err(err) => {
            println!("FAIL {label}: {err}");
            return trials;
        }
    };

    let (mut failed, mut slowest) = (0, Duration::ZERO);
    for trial in 0..trials {
        let how = STOPS[trial % STOPS.len()];
        let after = window.mul_f64(random.fraction());
        let outcome = run
            .killed(how, after)
            .and_then(|took| {
                slowest = slowest.max(took);
                // A signal that can be caught must clean up at once, before any next run.
                // (Not between commands: lesson 06's `create` leaves its segment for the
                // next command on purpose, and a Ctrl-C of `attach` must not remove it.)
                if !matches!(how, Stop::Kill9) && run.commands.len() == 1 {
                    nothing_left(dir, &left_by_a_normal_run).map_err(|err| {
                        format!(
                            "right after the signal: {err}; it had printed:{}",
                            run.tail()
                        )
                    })?;
                }
                run.normal()
            })
            .and_then(|said| {
                nothing_left(dir, &left_by_a_normal_run)?;
                Ok(said)
            });
        match outcome {
            Ok(said) if said.is_empty() => {}
            Ok(said) => {
                println!("  {label}: after {how:?} at {after:?}, the next run said: {said}")
            }
            Err(err) => {
                failed += 1;
                println!("FAIL {label}: {how:?} after {after:?}: {err}");
                clean_up(dir, &left_by_a_normal_run);
            }
        }
    }
    println!(
        "{} {label}: {trials} trials in a {window:.0?} window; orphans gone within {slowest:.0?}",
        if failed == 0 { "ok  " } else { "FAIL" }
    );
    failed
}

/// Kills the first command of a lesson's run at its N-th `call`, for every N; returns how
/// many of those trials failed.
fn trial_each_call(binary: &Path, lesson: &str, commands: &[&[&str]], call: &str) -> usize {
    let run = Run::new(binary, lesson, commands);
    let (label, dir) = (&run.label, &run.dir);
    let left_by_a_normal_run = match run.first() {
        Ok((_, left)) => left,
        Err(err) => {
            println!("FAIL {label}: {err}");
            return 1;
        }
    };
    let mut failed = 0;
    for n in 1.. {
        let mut traced = Command::new("strace");
        let inject = format!("inject={call}:signal=KILL:when={n}");
        traced.args([
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            &format!("trace={call}"),
            "-e",
            &inject,
        ]);
        let command = run.command(commands[0]);
        traced.arg(command.get_program()).args(command.get_args());
        traced.envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))));
        traced
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let outcome = spawn(traced).and_then(|pid| wait_for(pid, RUN_LIMIT));
        let killed = match outcome {
            Ok(WaitStatus::Exited(_, 0)) => false,
            Ok(_) => true, // strace reports the kill as its own status
            Err(err) => {
                println!("FAIL {label}: strace: {err} (is strace installed?)");
                return failed + 1;
            }
        };
        let checked = orphans_gone(ORPHAN_LIMIT)
            .and_then(|()| run.normal())
            .and_then(|_| nothing_left(dir, &left_by_a_normal_run));
        if let Err(err) = checked {
            failed += 1;
            println!("FAIL {label}: killed at {call} number {n}: {err}");
            clean_up(dir, &left_by_a_normal_run);
        }
        if !killed {
            println!(
                "{} {label}: killed at each of its {} {call} calls",
                if failed == 0 { "ok  " } else { "FAIL" },
                n - 1
            );
            return failed;
        }
    }
    unreachable!()
}

/// A lesson's runs, all in one temporary directory of their own (their TMPDIR).
struct Run<'a> {
    binary: &'a Path,
    commands: &'a [&'a [&'a str]],
    /// "l06-keys-and-strangers create DIR": the lesson and its first command.
    label: String,
    dir: PathBuf,
    log: PathBuf,
    _scratch: tempfile::TempDir,
}

impl<'a> Run<'a> {
    fn new(binary: &'a Path, lesson: &str, commands: &'a [&'a [&'a str]]) -> Run<'a> {
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
    fn first(&self) -> Result<(Duration, BTreeSet<PathBuf>), String> {
        let started = Instant::now();
        self.normal()
            .map_err(|err| format!("its normal run failed: {err}"))?;
        let took = started.elapsed();
        let left = listing(&self.dir);
        nothing_left(&self.dir, &left).map_err(|err| format!("a normal run left {err}"))?;
        Ok((took, left))
    }
    fn command(&self, args: &[&str]) -> Command {
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
    fn tail(&self) -> String {
        let read = |path: PathBuf| std::fs::read_to_string(path).unwrap_or_default();
        let text = read(self.log.with_extension("out")) + &read(self.log.clone());
        let lines: Vec<&str> = text.lines().collect();
        let last = &lines[lines.len().saturating_sub(4)..];
        last.iter().map(|line| format!("\n      {line}")).collect()
    }

    /// Every command of a normal run, each to the end; what they said on stderr.
    fn normal(&self) -> Result<String, String> {
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
    fn killed(&self, how: Stop, after: Duration) -> Result<Duration, String> {
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

fn spawn(mut command: Command) -> Result<Pid, String> {
    let child = command.spawn().map_err(|err| format!("spawn: {err}"))?;
    Ok(Pid::from_raw(child.id() as i32)) // reaped by waitpid below, not by std
}

fn wait_for(pid: Pid, limit: Duration) -> Result<WaitStatus, String> {
    let start = Instant::now();
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) if start.elapsed() < limit => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Ok(WaitStatus::StillAlive) => {
                let _ = killpg(pid, Signal::SIGKILL);
                return Err(format!("still running after {limit:?}: killed"));
            }
            Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => return Ok(status),
            Ok(_) => continue,
            Err(errno) => return Err(format!("waitpid: {errno}")),
        }
    }
}

/// Reaps whatever of ours has ended: children, and orphans re-parented to us.
fn reap_orphans() {
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

/// Waits until no descendant of ours is alive (zombies do not count), up to `limit`; then
/// names those left and kills them.
fn orphans_gone(limit: Duration) -> Result<(), String> {
    let start = Instant::now();
    loop {
        reap_orphans();
        let alive = descendants();
        if alive.is_empty() {
            reap_orphans(); // those that became zombies since the last reaping
            return Ok(());
        }
        if start.elapsed() > limit {
            // Where each sleeps, before they are killed: the kernel function (wchan).
            let names: Vec<String> = alive
                .iter()
                .map(|(pid, name)| {
                    let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan"));
                    format!("{name} ({pid}, in {})", wchan.unwrap_or_default())
                })
                .collect();
            for (pid, _) in &alive {
                let _ = kill(*pid, Signal::SIGKILL);
            }
            return Err(format!("still alive after {limit:?}: {}", names.join(", ")));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Our living descendants (not zombies), from /proc: pid and command name.
fn descendants() -> Vec<(Pid, String)> {
    let mut family = BTreeSet::from([std::process::id() as i32]);
    let mut processes = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after its last ')'.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let name = head
            .split_once('(')
            .map_or("", |(_, name)| name)
            .to_string();
        let mut fields = tail.split_whitespace();
        let state = fields.next().unwrap_or("");
        let ppid: i32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        processes.push((pid, ppid, state == "Z", name));
    }
    // Parents may come after their children in /proc's order: repeat until nothing is added.
    let mut found = Vec::new();
    loop {
        let before = family.len();
        for (pid, ppid, zombie, name) in &processes {
            if family.contains(ppid) && family.insert(*pid) && !zombie {
                found.push((Pid::from_raw(*pid), name.clone()));
            }
        }
        if family.len() == before {
            return found;
        }
    }
}

/// The names of everything under `dir`, relative to it.
fn listing(dir: &Path) -> BTreeSet<PathBuf> {
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
fn nothing_left(dir: &Path, expected: &BTreeSet<PathBuf>) -> Result<(), String> {
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
fn clean_up(dir: &Path, expected: &BTreeSet<PathBuf>) {
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

/// A System V IPC namespace and a mount namespace of our own, with a fresh tmpfs on
/// /dev/shm. As root directly; otherwise inside a user namespace where we are root.
fn enter_namespaces() -> Result<(), String> {
    use nix::sched::{CloneFlags, unshare};
    // SAFETY: getuid and getgid cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let flags = CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWNS;
    if unshare(flags).is_err() {
        unshare(flags | CloneFlags::CLONE_NEWUSER).map_err(|errno| {
            format!("cannot make an IPC namespace (unshare: {errno}): run as root")
        })?;
        let write = |file: &str, text: String| std::fs::write(format!("/proc/self/{file}"), text);
        write("setgroups", "deny".into())
            .and_then(|_| write("uid_map", format!("0 {uid} 1")))
            .and_then(|_| write("gid_map", format!("0 {gid} 1")))
            .map_err(|err| format!("user namespace maps: {err}"))?;
    }
    let status = Command::new("mount")
        .args(["--make-rprivate", "/"])
        .status()
        .and_then(|_| {
            Command::new("mount")
                .args(["-t", "tmpfs", "kill-trials", "/dev/shm"])
                .status()
        });
    match status {
        Ok(status) if status.success() => Ok(()),
        _ => Err("cannot mount a tmpfs of our own on /dev/shm".into()),
    }
}

/// xorshift64: enough to spread kill moments, and repeatable from a seed.
struct Random(u64);

impl Random {
    fn fraction(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}
