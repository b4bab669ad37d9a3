//! A real PostgreSQL beside the course, for the tests that compare the two.
//!
//! Debian's package (`apt-get install postgresql`) is what CI installs. The server runs in a
//! temporary directory, on a Unix socket only, as the test's own child (not detached by
//! `pg_ctl`), so that the test reaps it whatever happens: where PID 1 does not reap
//! orphans, a postmaster killed with no parent left would stay a zombie that `kill(pid, 0)`
//! still finds. PostgreSQL refuses to run as root, so when the tests run as root (CI does),
//! the server, `initdb` and `psql` run as the `postgres` user through `setpriv`, which
//! `exec`s the program (a `su`-like tool would fork and stand between us and the server).
//! Dynamic shared memory is kept in the data directory (`mmap`), and huge pages are off, so
//! a server killed with SIGKILL leaves only what [`Server`]'s `Drop` removes: its processes,
//! its System V segment (found by creator PID), its directory. The test process becomes a
//! child subreaper when it starts a server, so the children of a postmaster it kills come
//! to it, and are reaped by it, whatever PID 1 does with orphans.
//!
//! What the tests record from a real server goes into snapshots for the major version CI
//! installs, [`RECORDED`] ([`assert_postgres_output!`](crate::assert_postgres_output)); with
//! another version the tests check the same things and skip only the comparison, saying so.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::{Pid, User, chown, geteuid};

use crate::Filter;

/// The PostgreSQL major version the snapshots of a real server record: Debian 12's, which
/// CI installs.
pub const RECORDED: u32 = 15;

/// What a real server's output needs redacted, besides the base filters, for the tests
/// that show it (each `[NAME]` a value that changes from run to run or machine to machine):
///
/// | the output shows                          | the snapshot shows                  |
/// |-------------------------------------------|-------------------------------------|
/// | `/tmp/course-postgres.AbC123/data`        | `[TMPDIR]/data`                     |
/// | `2026-12-06 04:52:00.543 UTC [25026] LOG:` | `[TIME] [PID] LOG:`                 |
/// | `last known up at 2026-12-06 04:49:56 UTC` | `last known up at [TIME]`          |
/// | `redo starts at 0/1500790`                | `redo starts at [LSN]`              |
/// | `system usage: CPU: user: 0.00 s, ...`    | `system usage: [USAGE]`             |
/// | `wrote 60 buffers (2.9%); 0 WAL file(s)…` | `wrote [COUNT] buffers [...]`       |
/// | `(key 10035298, ID 11993148)`             | `(key [KEY], ID [SHMID])`           |
/// | `owner you`, `owner uid 101`              | `owner [OWNER]`                     |
/// | `starting PostgreSQL 15.18 (Debian …) on …` | `starting PostgreSQL [VERSION]`   |
/// | `kill -9 4242`, `kill -STOP 4242`         | `kill -9 [PID]`, `kill -STOP [PID]` |
/// | `rw-s 00000000 00:01 303822   /dev/zero`  | `rw-s 00000000 [DEVICE] [INODE] /dev/zero` |
/// | `rw-s 00000000 00:01 11993148 /SYSV…`     | `rw-s 00000000 [DEVICE] [SHMID] /SYSV…` |
pub const FILTERS: &[Filter] = &[
    (r"(/[^/\s]+)*/course-postgres\.[A-Za-z0-9]+", "[TMPDIR]"),
    (
        r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?( [A-Z]{2,5}|[+-]\d\d)?",
        "[TIME]",
    ),
    (r"\[TIME\] \[\d+\]", "[TIME] [PID]"),
    (r"\b[0-9A-F]{1,8}/[0-9A-F]{1,8}\b", "[LSN]"),
    (r"\bsystem usage: CPU: .*", "system usage: [USAGE]"),
    (
        r"\bwrote \d+ buffers \([\d.]+%\);.*",
        "wrote [COUNT] buffers [...]",
    ),
    (r"\(key \d+, ID \d+\)", "(key [KEY], ID [SHMID])"),
    (r"\bowner (you|uid \d+)\b", "owner [OWNER]"),
    (r"\bstarting PostgreSQL .*", "starting PostgreSQL [VERSION]"),
    (r"\bkill -(9|KILL|STOP|CONT) \d+", "kill -$1 [PID]"),
    (
        r"\b(rw-s [0-9a-f]{8}) [0-9a-f]{2,}:[0-9a-f]{2,} \d+ +/SYSV",
        "$1 [DEVICE] [SHMID] /SYSV",
    ),
    (
        r"\b(rw-s [0-9a-f]{8}) [0-9a-f]{2,}:[0-9a-f]{2,} \d+ +",
        "$1 [DEVICE] [INODE] ",
    ),
];

/// `assert_postgres_output!(server, "name", stdout, &[own filters])`: compares `stdout` with
/// the snapshot through the base filters, [`FILTERS`] and the test's own, if the server is
/// of the [`RECORDED`] major version; with another version it prints why it does not (the
/// test's assertions have run all the same: they hold for every version).
#[macro_export]
macro_rules! assert_postgres_output {
    ($server:expr, $name:expr, $stdout:ident, $own:expr) => {
        match $server.major_version() {
            $crate::postgres::RECORDED => {
                let filters: ::std::vec::Vec<$crate::Filter> = $crate::postgres::FILTERS
                    .iter()
                    .chain($own.iter())
                    .copied()
                    .collect();
                $crate::assert_output!($name, $stdout, &filters)
            }
            other => ::std::println!("{}", $crate::postgres::not_compared($name, other)),
        }
    };
}

/// The line a test prints instead of comparing its snapshot with another major version.
pub fn not_compared(name: &str, major: u32) -> String {
    format!(
        "snapshot {name} not compared: PostgreSQL {major} is installed, and the snapshot \
         records PostgreSQL {RECORDED}'s output (what CI installs); the checks passed"
    )
}

/// Where PostgreSQL's programs are (`initdb`, `postgres`, `psql`), if it is installed.
pub fn bin_dir() -> Option<PathBuf> {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|versions| {
            let mut dirs: Vec<PathBuf> = versions.flatten().map(|v| v.path().join("bin")).collect();
            dirs.sort_by_key(|dir| version_of(dir));
            dirs.pop()
        });
    [from_pg_config, debian]
        .into_iter()
        .flatten()
        .find(|dir| dir.join("postgres").exists() && dir.join("initdb").exists())
}

/// `/usr/lib/postgresql/15/bin` → 15.
fn version_of(bin: &Path) -> u32 {
    bin.parent()
        .and_then(|dir| dir.file_name()?.to_str()?.parse().ok())
        .unwrap_or(0)
}

/// The line a test prints when it cannot run for want of PostgreSQL.
pub const SKIPPED: &str =
    "skipped: no PostgreSQL found (Debian/Ubuntu: sudo apt-get install postgresql)";

/// One PostgreSQL cluster in a temporary directory, and its server when started.
pub struct Server {
    bin: PathBuf,
    /// The temporary directory: `data/` (the cluster), `socket/`, `server.log`.
    top: PathBuf,
    /// The user the server runs as, when this process is root; `None`: as ourselves.
    user: Option<User>,
    postmaster: Option<Child>,
    /// Every postmaster this cluster ever had: the creators of the segments it may leave.
    postmasters: Vec<u32>,
    /// Processes `Drop` must not leave running: the children of a postmaster killed with
    /// SIGKILL, and whatever the test [`watch`](Server::watch)es. Each with its start time,
    /// so that a PID used again by somebody else is left alone.
    watched: Vec<(Pid, u64)>,
}

impl Server {
    /// A new cluster made by `initdb` (not started), or `None` if PostgreSQL is not
    /// installed (the caller prints [`SKIPPED`]).
    pub fn init() -> Option<Server> {
        let bin = bin_dir()?;
        let user = match geteuid().is_root() {
            true => Some(User::from_name("postgres").ok()??),
            false => None,
        };
        let top = tempfile::Builder::new()
            .prefix("course-postgres.")
            .tempdir()
            .expect("a temporary directory")
            .keep();
        let server = Server {
            bin,
            top,
            user,
            postmaster: None,
            postmasters: Vec::new(),
            watched: Vec::new(),
        };
        // The server's user must reach its directory (a test's TMPDIR may be private).
        std::fs::set_permissions(&server.top, std::fs::Permissions::from_mode(0o755))
            .expect("chmod the temporary directory");
        std::fs::create_dir_all(server.socket()).expect("create a directory");
        server.give_to_server_user(&server.top);
        server.give_to_server_user(&server.socket());
        let mut initdb = server.as_server_user(&server.bin.join("initdb"));
        initdb.args(["--auth=trust", "--no-sync", "--username=postgres", "-D"]);
        initdb.arg(server.data());
        let output = initdb.output().expect("run initdb");
        assert!(output.status.success(), "initdb failed:\n{}", text(&output));
        Some(server)
    }

    /// The temporary directory that holds everything: `data/`, `socket/`, `server.log`, and
    /// whatever the test puts there (removed with it).
    pub fn home(&self) -> &Path {
        &self.top
    }

    pub fn data(&self) -> PathBuf {
        self.top.join("data")
    }

    pub fn socket(&self) -> PathBuf {
        self.top.join("socket")
    }

    /// What the server wrote on its stderr since it was last started: its log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.top.join("server.log")).unwrap_or_default()
    }

    /// The postmaster's PID, while it runs.
    pub fn pid(&self) -> Option<Pid> {
        self.postmaster
            .as_ref()
            .map(|child| Pid::from_raw(child.id() as i32))
    }

    /// The major version of the installed PostgreSQL (`postgres --version`: "postgres
    /// (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" → 15).
    pub fn major_version(&self) -> u32 {
        let output = Command::new(self.bin.join("postgres"))
            .arg("--version")
            .output()
            .expect("run postgres --version");
        let version = String::from_utf8_lossy(&output.stdout);
        version
            .split_once(") ")
            .and_then(|(_, number)| number.split(['.', ' ', '\n']).next()?.parse().ok())
            .unwrap_or_else(|| panic!("cannot read the version in {version:?}"))
    }

    /// A command that runs `program` as the server's user.
    pub fn as_server_user(&self, program: &Path) -> Command {
        match &self.user {
            None => Command::new(program),
            Some(user) => {
                let mut command = Command::new("setpriv");
                command.arg(format!("--reuid={}", user.uid));
                command.arg(format!("--regid={}", user.gid));
                command.args(["--init-groups", "--"]).arg(program);
                command
            }
        }
    }

    /// Makes `path` the server's user's (when this process is root; else it is ours already).
    pub fn give_to_server_user(&self, path: &Path) {
        if let Some(user) = &self.user {
            chown(path, Some(user.uid), Some(user.gid))
                .unwrap_or_else(|err| panic!("chown {} to postgres: {err}", path.display()));
        }
    }

    /// Starts the postmaster as this process's child and waits until `postmaster.pid`
    /// says it is ready for connections.
    pub fn start(&mut self) {
        if let Err(status) = self.launch() {
            panic!(
                "postgres exited ({status}) before it was ready:\n{}",
                self.log()
            );
        }
    }

    /// Starts the postmaster where it must refuse to start: it must exit with a failure
    /// before it is ready. Returns what it logged.
    pub fn start_refused(&mut self) -> String {
        match self.launch() {
            Ok(()) => panic!(
                "postgres started, where it should have refused:\n{}",
                self.log()
            ),
            Err(status) => {
                assert!(!status.success(), "postgres exited with {status}");
                self.log()
            }
        }
    }

    /// `postgres -D data -k socket -c ...` as the server's user, with a fresh log; then waits
    /// until its own PID is in `postmaster.pid` with the status "ready" (a lock file left by
    /// a killed server says "ready" too, under another PID), or until it exits.
    fn launch(&mut self) -> Result<(), std::process::ExitStatus> {
        assert!(self.postmaster.is_none(), "already started");
        // The children of a postmaster killed with SIGKILL are orphans: let them come to
        // us rather than to PID 1 (which, in some sandboxes, never reaps them).
        nix::sys::prctl::set_child_subreaper(true).expect("prctl(PR_SET_CHILD_SUBREAPER)");
        let log = std::fs::File::create(self.top.join("server.log")).expect("the log file");
        let mut postgres = self.as_server_user(&self.bin.join("postgres"));
        postgres.arg("-D").arg(self.data());
        postgres.arg("-k").arg(self.socket());
        for setting in [
            "listen_addresses=",
            "shared_buffers=16MB",
            // initdb's choice, fixed: the sizes in shared memory depend on it.
            "max_connections=100",
            "huge_pages=off",
            "dynamic_shared_memory_type=mmap",
            "fsync=off",
            // The launcher runs, as on any server, but starts no worker during a test (the
            // first would come after a minute), which would change the process tree.
            "autovacuum_naptime=1h",
        ] {
            postgres.args(["-c", setting]);
        }
        let child = postgres
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("run postgres");
        let pid = child.id();
        self.postmasters.push(pid);
        self.postmaster = Some(child);
        let start = Instant::now();
        loop {
            let lock_file = std::fs::read_to_string(self.data().join("postmaster.pid"));
            if lock_file.is_ok_and(|text| {
                let mut lines = text.lines();
                lines
                    .next()
                    .is_some_and(|line| line.trim() == pid.to_string())
                    && lines.nth(6).is_some_and(|line| line.trim() == "ready")
            }) {
                return Ok(());
            }
            if let Some(status) = self.postmaster.as_mut().unwrap().try_wait().unwrap() {
                self.postmaster = None;
                return Err(status);
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "postgres was not ready after 60 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20)); // polling a file another process writes
        }
    }

    /// Runs one SQL statement through `psql`; its output, unaligned, without headers.
    pub fn sql(&self, statement: &str) -> String {
        self.psql(&["-A", "-t", "-c", statement])
    }

    /// `psql` with `options`, connected to the server as `postgres`, without reading any
    /// `.psqlrc`; its output, as it prints it.
    pub fn psql(&self, options: &[&str]) -> String {
        let output = self.psql_command(options).output().expect("run psql");
        assert!(output.status.success(), "psql failed:\n{}", text(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The command [`psql`](Server::psql) runs, for a session the test drives itself.
    pub fn psql_command(&self, options: &[&str]) -> Command {
        let mut psql = self.as_server_user(&self.bin.join("psql"));
        psql.arg("-h").arg(self.socket());
        psql.args(["-U", "postgres", "-d", "postgres", "-X"]);
        psql.args(options);
        psql
    }

    /// The server's processes: the postmaster and every process whose parent it is.
    pub fn processes(&self) -> Vec<Pid> {
        let Some(postmaster) = self.pid() else {
            return Vec::new();
        };
        let mut pids = vec![postmaster];
        pids.extend(children_of(postmaster));
        pids
    }

    /// Sends `signal` to the postmaster; with SIGKILL, also reaps it (its children, which
    /// notice their parent's death, are left to exit by themselves or to the test; `Drop`
    /// kills and reaps whichever is left).
    pub fn signal(&mut self, signal: Signal) {
        let pid = self.pid().expect("the server runs");
        if signal == Signal::SIGKILL {
            let children = children_of(pid);
            self.watch(&children);
        }
        kill(pid, signal).expect("signal the postmaster");
        if signal == Signal::SIGKILL {
            self.postmaster
                .take()
                .unwrap()
                .wait()
                .expect("reap the postmaster");
        }
    }

    /// Processes the test started that `Drop` must not leave behind (a mini postmaster in
    /// the cluster's directory, its children): killed if they still run, reaped if they
    /// are ours, and the segments they created removed once nobody is attached.
    pub fn watch(&mut self, pids: &[Pid]) {
        for &pid in pids {
            if let Some(started) = start_time(pid) {
                self.watched.push((pid, started));
                self.postmasters.push(pid.as_raw() as u32);
            }
        }
    }

    /// A fast shutdown (SIGINT), waited for.
    pub fn stop(&mut self) {
        if let Some(mut postmaster) = self.postmaster.take() {
            let _ = kill(Pid::from_raw(postmaster.id() as i32), Signal::SIGINT);
            let start = Instant::now();
            while postmaster.try_wait().ok().flatten().is_none() {
                if start.elapsed() > Duration::from_secs(30) {
                    let _ = postmaster.kill();
                    let _ = postmaster.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        // Whatever still runs in the cluster's directory (children of a killed postmaster,
        // perhaps stopped by the test), and what the test asked us to watch, is killed;
        // then what it leaves is removed.
        let mut stragglers = processes_in(&self.data());
        stragglers.extend(
            self.watched
                .iter()
                .filter(|&&(pid, started)| start_time(pid) == Some(started))
                .map(|&(pid, _)| pid),
        );
        for &pid in &stragglers {
            let _ = kill(pid, Signal::SIGCONT);
            let _ = kill(pid, Signal::SIGKILL);
        }
        let everyone: Vec<Pid> = stragglers
            .iter()
            .copied()
            .chain(self.watched.iter().map(|&(pid, _)| pid))
            .collect();
        wait_until_gone(&everyone, Duration::from_secs(10));
        remove_segments_made_by(&self.postmasters);
        let _ = std::fs::remove_dir_all(&self.top);
    }
}

/// Waits until each of `pids` has ended, reaping those that are our children (ours by
/// birth, or orphans given to us as a subreaper); `false` if some still run at `within`.
/// A zombie that is not ours counts as ended: it has let go of everything it held.
pub fn wait_until_gone(pids: &[Pid], within: Duration) -> bool {
    let start = Instant::now();
    loop {
        let mut all_gone = true;
        for &pid in pids {
            let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
            if !ended(pid) {
                all_gone = false;
            }
        }
        if all_gone {
            return true;
        }
        if start.elapsed() > within {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `pid` has ended: no such process, or a zombie.
fn ended(pid: Pid) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// When process `pid` started (field 22 of /proc/PID/stat, in clock ticks since boot): with
/// the PID, it names one process, even once the PID has been used again.
fn start_time(pid: Pid) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    // After the name: field 3 (state) is the first; field 22 the twentieth.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The processes whose working directory is `dir` (a PostgreSQL server's all are: each
/// changes into its data directory).
pub fn processes_in(dir: &Path) -> Vec<Pid> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == dir))
        .map(Pid::from_raw)
        .collect()
}

/// Those of `pids` that have the System V segment at `key` attached: its name in their
/// /proc/PID/maps (`/SYSV0098c042 (deleted)`). `shm_nattch` counts them, and nothing else:
/// a server's process that detached from shared memory (a logger) is not among them.
pub fn attached(pids: &[Pid], key: i32) -> Vec<Pid> {
    let name = format!("/SYSV{:08x} (deleted)", key as u32);
    pids.iter()
        .copied()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/maps"))
                .is_ok_and(|maps| maps.lines().any(|line| line.ends_with(&name)))
        })
        .collect()
}

/// The processes whose parent is `parent`, in the order of their PIDs.
pub fn children_of(parent: Pid) -> Vec<Pid> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut children: Vec<Pid> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Field 4, after the command in parentheses, is the parent's PID.
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            after.split_whitespace().nth(1) == Some(&parent.to_string())
        })
        .map(Pid::from_raw)
        .collect();
    children.sort();
    children
}

/// Removes the System V segments that `creators` made and nobody is attached to any more:
/// what a killed server leaves (PostgreSQL's interlock is made by the postmaster).
fn remove_segments_made_by(creators: &[u32]) {
    let table = std::fs::read_to_string("/proc/sysvipc/shm").unwrap_or_default();
    for line in table.lines().skip(1) {
        // key shmid perms size cpid lpid nattch ...
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(shmid), Some(cpid), Some(nattch)) = (fields.get(1), fields.get(4), fields.get(6))
        else {
            continue;
        };
        let ours = cpid
            .parse::<u32>()
            .is_ok_and(|cpid| creators.contains(&cpid));
        if ours
            && *nattch == "0"
            && let Ok(shmid) = shmid.parse::<i32>()
        {
            // SAFETY: IPC_RMID takes no buffer; a segment already gone gives EINVAL.
            unsafe { libc::shmctl(shmid, libc::IPC_RMID, std::ptr::null_mut()) };
        }
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
