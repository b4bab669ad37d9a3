//! Lesson 14 beside a real PostgreSQL (`snapshots::postgres::Server`: initdb and a server in
//! a temporary directory; skipped, saying so, where PostgreSQL is not installed). Three
//! scenes, each with its own server, so that they may run side by side:
//!
//! - `status`, `ipcs -m` and /proc/PID/maps describe the real server as they describe ours:
//!   its `postmaster.pid` has the same lines, its shared memory the same two mappings;
//! - the mini postmaster refuses a live server's directory (its lock file names a live PID),
//!   and, once the real postmaster is killed, the segment its frozen children still hold;
//! - the other way round: a real PostgreSQL refuses to start while the orphans of a killed
//!   mini postmaster hold the directory's interlock, and starts once they are gone.
//!
//! Nothing is left behind, even when a test fails: the `Server` guard kills whatever runs in
//! its directory or was handed to it (`watch`), reaps it, removes the segments its
//! postmasters made, and removes the directory. (Not run by `cargo exercise`.)
#![cfg(not(feature = "exercise"))]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use assert_cmd::cargo::cargo_bin;
use l06_keys_and_strangers::key_hex;
use l07_postgres_hybrid::{LOCK_FILE, PidFile};
use nix::sys::signal::{Signal, kill};
mod held;
use held::Held;
use snapshots::postgres::{SKIPPED, Server, attached, children_of, wait_until_gone};

/// `postmaster.pid`'s lines, shown one by one after what each holds (`line 1: the
/// postmaster's PID   "25026"`): the PID, the start time, and line 7 (`"%9lu %9lu"`: the key
/// in decimal and the shmid).
const FILTERS: &[snapshots::Filter] = &[
    (r#"(?m)^(line 1: .*)"\d+"$"#, r#"$1"[PID]""#),
    (r#"(?m)^(line 3: .*)"\d+"$"#, r#"$1"[EPOCH]""#),
    (r#"(?m)^(line 7: .*)" *\d+ +\d+"$"#, r#"$1"[KEY] [SHMID]""#),
];

/// The lines of `postmaster.pid`, as PostgreSQL's src/include/utils/pidfile.h names them.
const LOCK_FILE_LINES: [&str; 8] = [
    "the postmaster's PID",
    "the data directory",
    "when it started (seconds since 1970)",
    "the port",
    "the first socket directory",
    "the first listen address (none here)",
    "the interlock: its key (in decimal) and its shmid",
    "the server's status",
];

/// The course's tools and the system's, pointed at a real server: `postmaster.pid` parsed
/// as lesson 07 parses ours, line 7 naming the segment `ipcs -m` lists (56 bytes, 600, one
/// attachment per process), the `/dev/zero (deleted)` region and the `/SYSV<key> (deleted)`
/// interlock in the postmaster's maps, and `status` finding all of it as it finds ours.
#[test]
fn status_and_the_system_tools_see_a_real_server_as_they_see_ours() {
    let Some(mut server) = Server::init() else {
        println!("{SKIPPED}");
        return;
    };
    server.start();
    let postmaster = server.pid().unwrap();
    let processes = server.processes();
    let data = server.data();
    let lock_file = std::fs::read_to_string(data.join(LOCK_FILE)).unwrap();
    let parsed = PidFile::parse(&lock_file).expect("lesson 07 reads PostgreSQL's lock file");
    assert_eq!(parsed.pid, postmaster.as_raw());
    assert_eq!(Path::new(&parsed.data_dir), data);
    assert_eq!(parsed.status.as_deref(), Some("ready   "));
    let (key, shmid) = parsed.shmem.expect("line 7: the interlock's key and shmid");
    let attached = attached(&processes, key).len();

    let mut lock_file_text = format!(
        "# PostgreSQL {} runs in {} (initdb, then postgres -D, as the server's user)\n\n",
        server.major_version(),
        data.display()
    );
    lock_file_text += &format!(
        "$ cat {}    # line by line\n",
        data.join(LOCK_FILE).display()
    );
    for (number, (line, meaning)) in lock_file.lines().zip(LOCK_FILE_LINES).enumerate() {
        let what = format!("line {}: {meaning}", number + 1);
        lock_file_text += &format!("{what:<60} {line:?}\n");
    }

    let ipcs = Command::new("ipcs").arg("-m").output().unwrap();
    let ipcs = snapshots::success(&ipcs);
    let hex = key_hex(key);
    let ours: Vec<&str> = ipcs.lines().filter(|l| l.starts_with(&hex)).collect();
    assert_eq!(ours.len(), 1, "ipcs -m lists the interlock once:\n{ipcs}");
    let fields: Vec<&str> = ours[0].split_whitespace().collect();
    assert_eq!(fields[1], shmid.to_string(), "ipcs -m: {}", ours[0]);
    assert_eq!(&fields[3..6], ["600", "56", &attached.to_string()]);
    let mut ipcs_text = String::from(
        "$ ipcs -m    # its header, and the server's line (other segments left out)\n",
    );
    for line in ipcs.trim_end().lines() {
        if line.starts_with("0x") && !line.starts_with(&hex) {
            continue;
        }
        // The key and the owner as the snapshot shows them; the rest as ipcs prints it.
        let line = line
            .replace(&hex, "[KEY]     ")
            .replacen(&format!(" {shmid} "), " [SHMID]  ", 1)
            .replacen(
                &format!(" {} ", fields[2]),
                &format!(" {:<8} ", "[OWNER]"),
                1,
            );
        ipcs_text += line.trim_end();
        ipcs_text += "\n";
    }

    let maps = std::fs::read_to_string(format!("/proc/{postmaster}/maps")).unwrap();
    let shared: Vec<&str> = maps
        .lines()
        .filter(|l| l.contains("zero") || l.contains("SYSV"))
        .collect();
    let interlock = format!("/SYSV{:08x} (deleted)", key as u32);
    for name in ["/dev/zero (deleted)", &interlock] {
        assert!(
            shared
                .iter()
                .any(|l| l.ends_with(name) && l.split_whitespace().nth(1) == Some("rw-s")),
            "no rw-s mapping {name} in the postmaster's maps:\n{maps}"
        );
    }
    let mut maps_text = format!("$ grep -E 'zero|SYSV' /proc/{postmaster}/maps\n");
    for line in shared {
        maps_text += line;
        maps_text += "\n";
    }

    let status = Command::new(cargo_bin!("l14-mini-postmaster"))
        .arg("status")
        .arg(&data)
        .output()
        .unwrap();
    let status = snapshots::success(&status);
    for expected in [
        format!("parent pid {postmaster}"),
        format!("key {hex}, shmid {shmid}"),
        "perms 600, 56 bytes".to_string(),
        "maps the region at the same address".to_string(),
        format!("nattch {attached}"),
        "/dev/zero (deleted): the region".to_string(),
        format!("{interlock}: the interlock"),
    ] {
        assert!(status.contains(&expected), "no {expected:?} in:\n{status}");
    }
    for child in &processes[1..] {
        assert!(status.contains(&format!("child pid {child}")), "{status}");
    }
    let status_text = format!("$ l14-mini-postmaster status {}\n{status}", data.display());
    for (name, text) in [
        (
            "l14-mini-postmaster-real-postgresql-lock-file",
            lock_file_text,
        ),
        ("l14-mini-postmaster-real-postgresql-ipcs", ipcs_text),
        ("l14-mini-postmaster-real-postgresql-maps", maps_text),
        ("l14-mini-postmaster-real-postgresql-status", status_text),
    ] {
        snapshots::assert_postgres_output!(server, name, text, FILTERS);
    }
}

/// The mini postmaster never starts in a real server's place. In its data directory the
/// cluster's files refuse it first (PG_VERSION). What the lock file check makes of
/// PostgreSQL's own `postmaster.pid` is shown where nothing else can refuse: a directory
/// holding only a copy of it, whose PID lives. Then the real postmaster is killed while its
/// children, frozen with SIGSTOP, keep its interlock attached: PostgreSQL itself refuses to
/// start ("pre-existing shared memory block … is still in use"), and so does the mini
/// postmaster, in the same directory (the same inode, which the interlock's header names)
/// with the cluster's two files moved aside, so that the lock file's dead PID leaves the
/// segment's `shm_nattch` as the only thing that can refuse. A copied lock file could not
/// show this: its segment belongs to another directory, so it proves nothing there, for
/// PostgreSQL as for us.
#[test]
fn the_mini_postmaster_refuses_a_live_server_and_its_orphans() {
    let Some(mut server) = Server::init() else {
        println!("{SKIPPED}");
        return;
    };
    server.start();
    let data = server.data();
    let processes = server.processes();
    let children = processes[1..].to_vec();
    let mut transcript = format!(
        "# PostgreSQL {} runs in {}: its postmaster and {} children\n\n",
        server.major_version(),
        data.display(),
        children.len()
    );
    transcript += &refused_start(&data);

    let copy = server.home().join("copy");
    std::fs::create_dir(&copy).unwrap();
    std::fs::copy(data.join(LOCK_FILE), copy.join(LOCK_FILE)).unwrap();
    transcript += &format!(
        "\n# {} holds nothing but a copy of the server's {LOCK_FILE}\n\n",
        copy.display()
    );
    transcript += &refused_start(&copy);
    assert!(
        transcript.contains("is another postmaster (PID"),
        "{transcript}"
    );

    // Frozen, the children cannot notice their parent's death: they stay attached.
    let (key, shmid) = lock_file_shmem(&data);
    let holders = attached(&children, key).len() as u64;
    for &child in &children {
        kill(child, Signal::SIGSTOP).unwrap();
    }
    server.signal(Signal::SIGKILL);
    let nattch = l05_sysv_segments::segment_stat(shmid).unwrap().nattch;
    assert_eq!(nattch, holders, "the frozen children hold it");
    transcript += &format!(
        "\n# kill -STOP each child, then kill -9 the postmaster: the interlock (key {}, shmid \
         {shmid}) keeps nattch {nattch}\n",
        key_hex(key)
    );
    let log = server.start_refused();
    assert!(
        log.contains("pre-existing shared memory block") && log.contains("is still in use"),
        "PostgreSQL should refuse beside its own orphans:\n{log}"
    );
    transcript += &format!(
        "\n$ postgres -D {}    # PostgreSQL itself, as the server's user\n{log}[exit status 1]\n",
        data.display()
    );

    let aside = server.home().join("aside");
    std::fs::create_dir(&aside).unwrap();
    for name in ["PG_VERSION", "global"] {
        std::fs::rename(data.join(name), aside.join(name)).unwrap();
    }
    transcript += &format!(
        "\n# PG_VERSION and global/ moved aside: the directory (the same inode) no longer looks \
         like a cluster,\n# and {LOCK_FILE} names a PID that is gone\n\n"
    );
    transcript += &refused_start(&data);
    assert!(
        transcript.contains(&format!("is still in use by {nattch} processes")),
        "{transcript}"
    );
    for name in ["PG_VERSION", "global"] {
        std::fs::rename(aside.join(name), data.join(name)).unwrap();
    }

    // Thawed, they find their postmaster gone, and leave.
    for &child in &children {
        kill(child, Signal::SIGCONT).unwrap();
    }
    assert!(
        wait_until_gone(&children, Duration::from_secs(30)),
        "the children of the killed postmaster did not exit"
    );
    let nattch = l05_sysv_segments::segment_stat(shmid).unwrap().nattch;
    assert_eq!(nattch, 0);
    transcript += &format!(
        "\n# kill -CONT each child: they see their postmaster gone and exit; nattch {nattch}\n"
    );
    snapshots::assert_postgres_output!(
        server,
        "l14-mini-postmaster-beside-postgresql",
        transcript,
        FILTERS
    );
}

/// A real PostgreSQL refuses to start while the orphans of a killed mini postmaster hold the
/// interlock of its data directory: the header the course writes is PostgreSQL's, so its
/// check (magic, the directory's device and inode, then `shm_nattch`) takes it for one of its
/// own. The mini postmaster runs as the server's user (PostgreSQL takes EPERM from `kill(pid,
/// 0)` for "not running" and EACCES on a segment for "not mine"), from a copy of its binary
/// that user may run, in an empty directory; it is killed with its children frozen, and a
/// cluster made by initdb elsewhere is moved in beside its lock file. Once the children are
/// gone, PostgreSQL starts: it removes the stale segment and makes its own at the same key.
#[test]
fn postgresql_refuses_while_the_mini_postmasters_orphans_live() {
    let Some(mut server) = Server::init() else {
        println!("{SKIPPED}");
        return;
    };
    let data = server.data();
    let cluster = server.home().join("cluster");
    std::fs::rename(&data, &cluster).unwrap();
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    server.give_to_server_user(&data);
    let binary = server.home().join("l14-mini-postmaster");
    std::fs::copy(cargo_bin!("l14-mini-postmaster"), &binary).unwrap();
    std::fs::set_permissions(&binary, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let mut mini = Held::start(server.as_server_user(&binary), &data);
    let story = mini.until_holding();
    let postmaster = mini.pid();
    let children = children_of(postmaster);
    server.watch(&[postmaster]);
    server.watch(&children);
    assert_eq!(children.len(), 3, "the held mini postmaster has 3 children");
    let mut transcript = format!(
        "$ l14-mini-postmaster start {} --hold    # as the server's user; its lines about the \
         interlock:\n",
        data.display()
    );
    for line in story.lines() {
        if line.contains("shmget(") || line.contains("line 7") || line.contains("holding:") {
            transcript += line;
            transcript += "\n";
        }
    }
    for &child in &children {
        kill(child, Signal::SIGSTOP).unwrap();
    }
    kill(postmaster, Signal::SIGKILL).unwrap();
    mini.process.wait().unwrap();
    let (key, shmid) = lock_file_shmem(&data);
    let nattch = l05_sysv_segments::segment_stat(shmid).unwrap().nattch;
    assert_eq!(nattch, 3, "the frozen children hold the interlock");
    for entry in std::fs::read_dir(&cluster).unwrap() {
        let entry = entry.unwrap();
        std::fs::rename(entry.path(), data.join(entry.file_name())).unwrap();
    }
    transcript += &format!(
        "\n# kill -STOP its 3 children, kill -9 the mini postmaster: its interlock (key {}, \
         shmid {shmid}) keeps nattch {nattch}\n# then a cluster made by initdb elsewhere is \
         moved in, beside the mini postmaster's {LOCK_FILE}\n",
        key_hex(key)
    );
    let log = server.start_refused();
    assert!(
        log.contains(&format!(
            "pre-existing shared memory block (key {}, ID {shmid}) is still in use",
            key as u32
        )),
        "PostgreSQL should refuse beside the mini postmaster's orphans:\n{log}"
    );
    transcript += &format!(
        "\n$ postgres -D {}    # as the server's user\n{log}[exit status 1]\n",
        data.display()
    );

    for &child in &children {
        kill(child, Signal::SIGCONT).unwrap();
    }
    assert!(
        wait_until_gone(&children, Duration::from_secs(30)),
        "the mini postmaster's children did not exit"
    );
    assert_eq!(l05_sysv_segments::segment_stat(shmid).unwrap().nattch, 0);
    transcript +=
        "\n# kill -CONT the 3 children: they see their postmaster gone and exit; nattch 0\n";
    server.start();
    let log = server.log();
    let (new_key, new_shmid) = lock_file_shmem(&data);
    assert_eq!(new_key, key, "PostgreSQL's interlock takes the same key");
    assert_ne!(new_shmid, shmid, "in a new segment");
    assert!(
        l05_sysv_segments::segment_stat(shmid).is_err(),
        "PostgreSQL removes the mini postmaster's stale interlock"
    );
    assert_eq!(server.sql("select 6 * 7").trim(), "42");
    transcript += &format!(
        "\n$ postgres -D {}    # as the server's user\n{log}\n# {LOCK_FILE} line 7: key {}, \
         shmid {new_shmid}: the same key, a new segment; the mini postmaster's is gone\n",
        data.display(),
        key_hex(new_key)
    );
    snapshots::assert_postgres_output!(
        server,
        "l14-mini-postmaster-before-postgresql",
        transcript,
        FILTERS
    );
}

/// `l14-mini-postmaster start DIR`, which must be refused (one line, status 1) and leave
/// DIR as it was. Returns the transcript.
fn refused_start(dir: &Path) -> String {
    let before = snapshots::postmaster::file_names(dir);
    let lock_file = std::fs::read(dir.join(LOCK_FILE)).ok();
    let output = Command::new(cargo_bin!("l14-mini-postmaster"))
        .arg("start")
        .arg(dir)
        .output()
        .unwrap();
    let line = format!("l14-mini-postmaster start {}", dir.display());
    let transcript = snapshots::failure(&line, &output, 1);
    assert_eq!(
        snapshots::postmaster::file_names(dir),
        before,
        "files changed"
    );
    assert_eq!(std::fs::read(dir.join(LOCK_FILE)).ok(), lock_file);
    transcript
}

/// Line 7 of DIR's lock file: the interlock's key and shmid.
fn lock_file_shmem(dir: &Path) -> (l06_keys_and_strangers::Key, i32) {
    let text = std::fs::read_to_string(dir.join(LOCK_FILE)).unwrap();
    PidFile::parse(&text)
        .and_then(|pid_file| pid_file.shmem)
        .expect("line 7: key and shmid")
}
