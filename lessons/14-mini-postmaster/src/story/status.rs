//! `status DIR`, our `pg_ctl status`: is a postmaster running in DIR, and if so, what the
//! system's own tools see of it: the interlock as `ipcs -m` lists it, the process tree as
//! `ps` shows it (found in /proc as every process whose parent is the postmaster), and the
//! two shared mappings in /proc/PID/maps. It reads; it never attaches. Pointed at a real
//! PostgreSQL's data directory it shows that server the same way: its lock file has the same
//! lines, its shared memory the same two mappings.

use std::path::Path;

use common::{Error, Result};
use l05_sysv_segments::segment_stat;
use l06_keys_and_strangers::key_hex;
use l07_postgres_hybrid::{LOCK_FILE, PidFile};
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// `status DIR`, like `pg_ctl status`: is a postmaster running in DIR? If so, what `ps`,
/// `ipcs -m` and /proc/PID/maps show of it. Exit status 3 when none runs.
pub fn status(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        let what = match dir.exists() {
            true => "not a directory",
            false => "no such directory",
        };
        return Err(Error::Usage(format!(
            "{}: {what}; give the path of an existing directory",
            dir.display()
        )));
    }
    let path = dir.join(LOCK_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => no_server(&format!(
            "no server running in {}: there is no {LOCK_FILE}",
            dir.display()
        )),
        Err(err) => {
            return Err(Error::Failed(format!(
                "cannot read {}: {err}",
                path.display()
            )));
        }
    };
    let pid_file = PidFile::parse(&text)
        .ok_or_else(|| Error::Failed(format!("{} is damaged: no PID on line 1", path.display())))?;
    let postmaster = Pid::from_raw(pid_file.pid);
    if kill(postmaster, None) == Err(Errno::ESRCH) {
        no_server(&format!(
            "no server running in {}: {LOCK_FILE} names PID {}, which is gone (a stale lock file)",
            dir.display(),
            pid_file.pid
        ));
    }
    let line8 = pid_file.status.as_deref().unwrap_or("(none yet)");
    println!("postmaster: parent pid {postmaster}, {LOCK_FILE} line 8: {line8:?}");

    let Some((key, shmid)) = pid_file.shmem else {
        return Ok(()); // still starting: no interlock yet
    };
    let interlock = segment_stat(shmid)?;
    println!("\nthe interlock, as ipcs -m shows it ({LOCK_FILE} line 7):");
    println!(
        "  key {}, shmid {shmid}, owner uid {}, perms {:o}, {} bytes, nattch {}",
        key_hex(key),
        interlock.uid,
        interlock.permissions(),
        interlock.size,
        interlock.nattch
    );

    println!("\nthe process tree, as ps -o pid,ppid,comm shows it (children: whose ppid is ours):");
    let mut children = children_of(postmaster)?;
    children.sort_by_key(|(pid, name)| (rank(name), pid.as_raw()));
    for line in tree(postmaster, &children) {
        println!("  {line}");
    }
    if children.iter().any(|(_, name)| name.contains(": ")) {
        println!(
            "  (a real PostgreSQL: ps -o comm shows \"postgres\" for each; these are the titles \
             they set,\n  as ps -o args shows them)"
        );
    }

    println!("\nthe shared mappings in /proc/{postmaster}/maps:");
    let maps = shared_mappings(postmaster)?;
    for (range, perms, name) in &maps {
        let what = match (name.starts_with("/SYSV"), is_region(name)) {
            (true, _) => "the interlock (System V, shmat)",
            (false, true) if name.starts_with("/anon_hugepage") => {
                "the region (mmap MAP_SHARED|MAP_ANONYMOUS|MAP_HUGETLB)"
            }
            _ => "the region (mmap MAP_SHARED|MAP_ANONYMOUS)",
        };
        println!("  {range} {perms} {name}: {what}");
    }
    let theirs = children
        .iter()
        .map(|(pid, _)| shared_mappings(*pid))
        .collect::<Result<Vec<_>>>()?;
    // A child with no region has detached from shared memory, as PostgreSQL's logger does
    // (and its statistics collector did, before 15); every other must map it where we do.
    let region = |mappings: &[(String, String, String)]| {
        mappings
            .iter()
            .find(|(_, _, name)| is_region(name))
            .map(|(range, _, _)| range.clone())
    };
    let ours = region(&maps);
    let attached: Vec<Option<String>> = theirs.iter().map(|m| region(m)).collect();
    let detached = attached.iter().filter(|range| range.is_none()).count();
    if ours.is_some()
        && attached
            .iter()
            .flatten()
            .all(|range| Some(range) == ours.as_ref())
    {
        match detached {
            0 => println!(
                "  every child maps the region at the same address (inherited at fork), and the \
                 interlock: nattch {}",
                interlock.nattch
            ),
            n => println!(
                "  every child still attached maps the region at the same address (inherited at \
                 fork), and the\n  interlock: nattch {}; {n} detached from shared memory (a \
                 logger, say)",
                interlock.nattch
            ),
        }
    }
    Ok(())
}

/// `pg_ctl status` without a server: one line, exit status 3 (the LSB's "not running").
fn no_server(line: &str) -> ! {
    eprintln!("error: {line}");
    std::process::exit(3)
}

/// The process tree as the postmaster's step 5 and `status` print it: the postmaster, then
/// each child under the name it gave itself (what `ps -o comm` shows).
pub fn tree(postmaster: Pid, children: &[(Pid, String)]) -> Vec<String> {
    let longest = children.iter().map(|(_, name)| name.chars().count()).max();
    let width = longest.unwrap_or(0).max(18);
    let mut lines = vec![format!(
        "{:<indent$}parent pid {postmaster}",
        "postmaster",
        indent = width + 4
    )];
    for (i, (pid, name)) in children.iter().enumerate() {
        let branch = if i + 1 == children.len() {
            "└─"
        } else {
            "├─"
        };
        lines.push(format!("{branch} {name:<width$} child pid {pid}"));
    }
    lines
}

// ANCHOR: tree
/// Every process whose parent is `parent`, with its name (/proc/PID/stat, /proc/PID/comm).
fn children_of(parent: Pid) -> Result<Vec<(Pid, String)>> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(pid) = entry?.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // "PID (comm) S PPID ...": the name may hold spaces, so split after its last ')'.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue; // gone meanwhile
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|ppid| ppid.parse::<i32>().ok());
        if ppid == Some(parent.as_raw()) {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let comm = comm.trim_end();
            let name = title(pid, comm).unwrap_or_else(|| comm.to_string());
            children.push((Pid::from_raw(pid), name));
        }
    }
    Ok(children)
}

/// A real PostgreSQL's process names itself by overwriting its command line ("postgres:
/// checkpointer", what `ps -o args` shows); its `comm` stays "postgres". That title, if
/// process `pid` (named `comm`) has one.
fn title(pid: i32, comm: &str) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    let cmdline = cmdline.trim_end();
    let rest = cmdline.strip_prefix(comm)?;
    rest.starts_with(": ").then(|| cmdline.to_string())
}
// ANCHOR_END: tree

/// The order the postmaster forks them in.
fn rank(name: &str) -> (usize, usize) {
    match name {
        "checkpointer" => (0, 0),
        "bgwriter" => (1, 0),
        "walwriter" => (2, 0),
        _ => (3, name.trim_start_matches("backend ").parse().unwrap_or(0)),
    }
}

// ANCHOR: maps
/// Whether a shared mapping named `name` is an anonymous one, the region: Linux names it
/// `/dev/zero (deleted)`, or `/anon_hugepage (deleted)` when it is made of huge pages (a
/// real PostgreSQL's, with `huge_pages` on, or `try` when it got them).
fn is_region(name: &str) -> bool {
    name.starts_with("/dev/zero") || name.starts_with("/anon_hugepage")
}

/// The shared mappings (`rw-s`) of process `pid`: address range, permissions, name.
fn shared_mappings(pid: Pid) -> Result<Vec<(String, String, String)>> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    Ok(maps
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.splitn(6, ' ').collect();
            let name = fields.get(5)?.trim_start();
            let shared = fields[1].ends_with('s');
            (shared && (is_region(name) || name.starts_with("/SYSV"))).then(|| {
                (
                    fields[0].to_string(),
                    fields[1].to_string(),
                    name.to_string(),
                )
            })
        })
        .collect())
}
// ANCHOR_END: maps
