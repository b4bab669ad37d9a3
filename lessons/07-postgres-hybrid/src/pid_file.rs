//! `postmaster.pid`'s contents, line by line, in PostgreSQL's layout
//! (src/include/utils/pidfile.h), so that its tools and ours read each other's files.
//!
//! PostgreSQL writes the file in steps (the first lines at creation, the segment's key and
//! id and the status later), so a reader can find it half written and must cope:
//! [`PidFile::parse`] takes whatever lines are there, and refuses only a file without a PID.

use std::io::ErrorKind;
use std::path::Path;

use l06_keys_and_strangers::Key;
use nix::unistd::getpid;

// ANCHOR: pidfile
/// The lock file's name in the data directory.
pub const LOCK_FILE: &str = "postmaster.pid";

/// `postmaster.pid`, line by line, in the layout of src/include/utils/pidfile.h.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidFile {
    /// 1: the postmaster's PID.
    pub pid: i32,
    /// 2: the data directory; 3: when the postmaster started (seconds since 1970).
    pub data_dir: String,
    pub start_time: i64,
    /// 4: the port; 5: the first Unix socket directory; 6: the first listen address.
    /// The lesson listens on nothing: port 0 and two empty lines.
    pub port: u16,
    pub socket_dir: String,
    pub listen_addr: String,
    /// 7: the interlock segment's key and shmid, once it exists.
    pub shmem: Option<(Key, i32)>,
    /// 8: "starting", "ready   ", "stopping" (all 8 characters long).
    pub status: Option<String>,
}

pub const STATUS_STARTING: &str = "starting";
pub const STATUS_READY: &str = "ready   ";
pub const STATUS_STOPPING: &str = "stopping";

impl PidFile {
    /// Lines 1–6, as a new postmaster writes them for `dir`.
    pub fn new(dir: &Path, start_time: i64) -> PidFile {
        PidFile {
            pid: getpid().as_raw(),
            data_dir: dir.display().to_string(),
            start_time,
            port: 0,
            socket_dir: String::new(),
            listen_addr: String::new(),
            shmem: None,
            status: None,
        }
    }

    /// Line 7 as PostgreSQL writes it: `"%9lu %9lu"`, the key in decimal.
    pub fn shmem_line(key: Key, shmid: i32) -> String {
        format!("{:9} {:9}", key as u32, shmid)
    }

    /// The file's text: one line each, each ending in a newline; 7 and 8 once known.
    pub fn render(&self) -> String {
        let mut lines = vec![
            self.pid.to_string(),
            self.data_dir.clone(),
            self.start_time.to_string(),
            self.port.to_string(),
            self.socket_dir.clone(),
            self.listen_addr.clone(),
        ];
        if self.shmem.is_some() || self.status.is_some() {
            let (key, shmid) = self.shmem.unwrap_or_default();
            lines.push(
                self.shmem
                    .map_or(String::new(), |_| Self::shmem_line(key, shmid)),
            );
        }
        lines.extend(self.status.clone());
        lines.iter().map(|line| format!("{line}\n")).collect()
    }

    /// Reads a lock file's text. Lines 7 and 8 may be missing: PostgreSQL writes the file in
    /// steps, so a reader can find it half written, and must cope.
    pub fn parse(text: &str) -> Option<PidFile> {
        let lines: Vec<&str> = text.lines().collect();
        let line = |n: usize| lines.get(n - 1).copied().unwrap_or("");
        // A negative PID marks a single-user backend, not a postmaster; either way, a process.
        let pid = line(1).trim().parse::<i32>().ok()?.checked_abs()?;
        if pid == 0 {
            return None;
        }
        let mut ids = line(7).split_whitespace().map(str::parse::<u64>);
        let shmem = match (ids.next(), ids.next()) {
            (Some(Ok(key)), Some(Ok(shmid))) => Some((key as u32 as Key, shmid as i32)),
            _ => None,
        };
        Some(PidFile {
            pid,
            data_dir: line(2).to_string(),
            start_time: line(3).trim().parse().unwrap_or(0),
            port: line(4).trim().parse().unwrap_or(0),
            socket_dir: line(5).to_string(),
            listen_addr: line(6).to_string(),
            shmem,
            status: lines.get(7).map(|s| s.to_string()),
        })
    }
}
// ANCHOR_END: pidfile

/// Seconds since 1970, for line 3.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The text of `dir/postmaster.pid`, or `None` if there is none.
pub fn read_lock_file(dir: &Path) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(dir.join(LOCK_FILE)) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_file_round_trips_in_postgresqls_layout() {
        let mut pid_file = PidFile::new(Path::new("/srv/data"), 1_795_682_337);
        pid_file.pid = 32242;
        assert_eq!(pid_file.render(), "32242\n/srv/data\n1795682337\n0\n\n\n");
        pid_file.shmem = Some((382_114, 163_880));
        pid_file.status = Some(STATUS_READY.into());
        let text = pid_file.render();
        assert_eq!(
            text.lines().nth(6),
            Some("   382114    163880"),
            "line 7 is %9lu %9lu, as a real postmaster.pid shows"
        );
        assert_eq!(text.lines().nth(7), Some("ready   "));
        assert_eq!(PidFile::parse(&text), Some(pid_file));
    }

    #[test]
    fn a_real_postgresql_lock_file_parses() {
        let text = "32242\n/var/lib/postgresql/15/main\n1795682337\n5432\n/var/run/postgresql\n\
                    localhost\n   382114    163880\nready   \n";
        let pid_file = PidFile::parse(text).unwrap();
        assert_eq!(pid_file.pid, 32242);
        assert_eq!(pid_file.port, 5432);
        assert_eq!(pid_file.shmem, Some((0x0005_d4a2, 163_880)));
    }

    #[test]
    fn empty_or_garbled_lock_files_do_not_parse() {
        assert_eq!(PidFile::parse(""), None);
        assert_eq!(PidFile::parse("hello\n"), None);
        assert_eq!(PidFile::parse("0\n"), None);
        let half_written = PidFile::parse("4242\n/srv/data\n").unwrap();
        assert_eq!((half_written.pid, half_written.shmem), (4242, None));
    }
}
