//! `/proc/sysvipc/shm`: the kernel's own table of every segment, the one `ipcs -m` prints.
//!
//! A header line names the columns and each further line is one segment, so the lessons
//! read it by column name. It lists segments nobody can find by key (`IPC_PRIVATE`, or
//! marked for destruction), which is how a run finds what a killed run left.

use common::Result;

// ANCHOR: proc
/// One line of `/proc/sysvipc/shm`, the kernel's table of every segment (`ipcs -m` reads
/// it), as (column name, value) pairs in the kernel's order: `key shmid perms size cpid
/// lpid nattch uid gid cuid cgid atime dtime ctime rss swap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcShmLine {
    fields: Vec<(String, String)>,
}

impl ProcShmLine {
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// The value in column `name`, as the kernel wrote it (all numbers; `perms` in octal).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value in column `name` as a decimal number (not for `perms`, which is octal).
    pub fn number(&self, name: &str) -> Option<i64> {
        self.get(name)?.parse().ok()
    }
}

/// Every segment on the system, as `/proc/sysvipc/shm` lists them.
pub fn proc_sysvipc_shm() -> Result<Vec<ProcShmLine>> {
    Ok(parse_proc_sysvipc_shm(&std::fs::read_to_string(
        "/proc/sysvipc/shm",
    )?))
}

/// The line of `/proc/sysvipc/shm` for `shmid`, if the segment exists.
pub fn proc_entry(shmid: i32) -> Result<Option<ProcShmLine>> {
    let shmid = i64::from(shmid);
    Ok(proc_sysvipc_shm()?
        .into_iter()
        .find(|line| line.number("shmid") == Some(shmid)))
}

/// The first line names the columns; each further line is one segment.
fn parse_proc_sysvipc_shm(text: &str) -> Vec<ProcShmLine> {
    let mut lines = text.lines();
    let names: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    lines
        .map(|line| ProcShmLine {
            fields: names
                .iter()
                .zip(line.split_whitespace())
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        })
        .filter(|line| !line.fields.is_empty())
        .collect()
}
// ANCHOR_END: proc

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IPC_PRIVATE, Segment};

    #[test]
    fn a_proc_sysvipc_shm_line_is_read_by_column_name() {
        let text = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n\
                    \x20        0          3  1600                  5000 13577 13578      1  1000  1000  1000  1000 1795681872          0 1795681872                  4096                     0\n";
        let lines = parse_proc_sysvipc_shm(text);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].fields().len(), 16);
        assert_eq!(lines[0].get("perms"), Some("1600"));
        assert_eq!(lines[0].number("lpid"), Some(13578));
        assert_eq!(lines[0].number("rss"), Some(4096));
    }

    #[test]
    fn our_segment_has_a_line_in_proc_sysvipc_shm_while_it_exists() {
        let segment = Segment::create(IPC_PRIVATE, 5000, 0o600).unwrap();
        let shmid = segment.id();
        let line = proc_entry(shmid).unwrap().expect("listed");
        assert_eq!(line.get("perms"), Some("600"));
        assert_eq!(line.number("size"), Some(5000));
        assert_eq!(line.number("cpid"), Some(i64::from(std::process::id())));
        drop(segment);
        assert_eq!(proc_entry(shmid).unwrap(), None);
    }
}
