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
//! its System V segment (found by creator PID), its directory.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, User, chown, geteuid};

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
        };
        // The server's user must reach its directory (a test's TMPDIR may be private).
        std::fs::set_permissions(&server.top, std::fs::Permissions::from_mode(0o755))
            .expect("chmod the temporary directory");
        for dir in [server.top.clone(), server.socket()] {
            std::fs::create_dir_all(&dir).expect("create a directory");
            if let Some(user) = &server.user {
                chown(&dir, Some(user.uid), Some(user.gid)).expect("chown to postgres");
            }
        }
        let mut initdb = server.as_server_user(&server.bin.join("initdb"));
        initdb.args(["--auth=trust", "--no-sync", "--username=postgres", "-D"]);
        initdb.arg(server.data());
        let output = initdb.output().expect("run initdb");
        assert!(output.status.success(), "initdb failed:\n{}", text(&output));
        Some(server)
    }

    pub fn data(&self) -> PathBuf {
        self.top.join("data")
    }

    pub fn socket(&self) -> PathBuf {
        self.top.join("socket")
    }

    /// What the server wrote on its stderr: its log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.top.join("server.log")).unwrap_or_default()
    }

    /// The postmaster's PID, while it runs.
    pub fn pid(&self) -> Option<Pid> {
        self.postmaster
            .as_ref()
            .map(|child| Pid::from_raw(child.id() as i32))
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

    /// Starts the postmaster as this process's child and waits until `postmaster.pid`
    /// says it is ready for connections.
    pub fn start(&mut self) {
        assert!(self.postmaster.is_none(), "already started");
        let log = std::fs::File::create(self.top.join("server.log")).expect("the log file");
        let mut postgres = self.as_server_user(&self.bin.join("postgres"));
        postgres.arg("-D").arg(self.data());
        postgres.arg("-k").arg(self.socket());
        for setting in [
            "listen_addresses=",
            "shared_buffers=16MB",
            "huge_pages=off",
            "dynamic_shared_memory_type=mmap",
            "fsync=off",
        ] {
            postgres.args(["-c", setting]);
        }
        let child = postgres
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("run postgres");
        self.postmasters.push(child.id());
        self.postmaster = Some(child);
        let start = Instant::now();
        loop {
            let lock_file = std::fs::read_to_string(self.data().join("postmaster.pid"));
            if lock_file.is_ok_and(|text| text.lines().nth(7).is_some_and(|l| l.trim() == "ready"))
            {
                return;
            }
            if let Some(status) = self.postmaster.as_mut().unwrap().try_wait().unwrap() {
                self.postmaster = None;
                panic!(
                    "postgres exited ({status}) before it was ready:\n{}",
                    self.log()
                );
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
        let mut psql = self.as_server_user(&self.bin.join("psql"));
        psql.arg("-h").arg(self.socket());
        psql.args([
            "-U", "postgres", "-d", "postgres", "-X", "-A", "-t", "-c", statement,
        ]);
        let output = psql.output().expect("run psql");
        assert!(output.status.success(), "psql failed:\n{}", text(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
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
    /// notice their parent's death, are left to exit by themselves or to the test).
    pub fn signal(&mut self, signal: Signal) {
        let pid = self.pid().expect("the server runs");
        kill(pid, signal).expect("signal the postmaster");
        if signal == Signal::SIGKILL {
            self.postmaster
                .take()
                .unwrap()
                .wait()
                .expect("reap the postmaster");
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
        // perhaps stopped by the test) is killed; then what it leaves is removed.
        let data = self.data();
        let stragglers = processes_in(&data);
        for &pid in &stragglers {
            let _ = kill(pid, Signal::SIGCONT);
            let _ = kill(pid, Signal::SIGKILL);
        }
        let start = Instant::now();
        while stragglers.iter().any(|&pid| kill(pid, None).is_ok()) {
            if start.elapsed() > Duration::from_secs(10) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        remove_segments_made_by(&self.postmasters);
        let _ = std::fs::remove_dir_all(&self.top);
    }
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

/// The processes whose parent is `parent`.
fn children_of(parent: Pid) -> Vec<Pid> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Field 4, after the command in parentheses, is the parent's PID.
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            after.split_whitespace().nth(1) == Some(&parent.to_string())
        })
        .map(Pid::from_raw)
        .collect()
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
