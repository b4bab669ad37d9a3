//! Lesson 06 beside a real PostgreSQL (`snapshots::postgres::Server`: initdb and a server in
//! a temporary directory; skipped, saying so, where PostgreSQL is not installed). `inspect`
//! finds the server's interlock at the data directory's key and names it, with the fields
//! PostgreSQL wrote; `create` refuses to start beside it. Neither touches it. The `Server`
//! guard stops the server and removes everything, even when the test fails. (Not run by
//! `cargo exercise`.)
#![cfg(not(feature = "exercise"))]

use std::process::Command;

use assert_cmd::cargo::cargo_bin;
use l05_sysv_segments::{attach_read_only, find, segment_stat};
use l06_keys_and_strangers::{DirId, key_from_inode, key_hex, next_key, read_pg_shmem_header};
use snapshots::postgres::{SKIPPED, Server, attached};

/// The machine-wide turn of the tests that put segments at keys made from directories'
/// inodes (`snapshots::keys_of_our_own`): `inspect` shows every key it looks at.
const TURN: &str = "l06-keys-and-strangers-tests";

/// What lesson 06 says of a real server's interlock: at the data directory's key (its inode
/// number, as PostgreSQL chose it), 56 bytes, 600, one attachment per server process; the
/// header PostgreSQL wrote (its magic, the postmaster's PID, the directory's device and
/// inode, the size of its shared memory, `index` 0), named for what it is. `create` refuses,
/// and the segment is as it was.
#[test]
fn inspect_names_a_real_servers_interlock_and_create_refuses_beside_it() {
    // Before the server starts: where allowed, it gets a System V namespace of its own too.
    let _turn = snapshots::keys_of_our_own(TURN);
    let Some(mut server) = Server::init() else {
        println!("{SKIPPED}");
        return;
    };
    server.start();
    let data = server.data();
    let (key, shmid) = line_7(&std::fs::read_to_string(data.join("postmaster.pid")).unwrap());
    assert_eq!(key, key_from_inode(&data).unwrap(), "its key is the inode");
    let header = attach_read_only(shmid)
        .ok()
        .and_then(|a| read_pg_shmem_header(&a))
        .expect("PostgreSQL's header");
    assert_eq!(header.dir(), DirId::of(&data).unwrap());
    assert_eq!(header.creator_pid, server.pid().unwrap().as_raw());
    let processes = attached(&server.processes(), key).len();
    let next = find(next_key(key)).unwrap();

    let mut transcript = format!(
        "# PostgreSQL {} runs in {} (initdb, then postgres -D): postmaster.pid line 7 names \
         key {} and shmid {shmid}\n\n",
        server.major_version(),
        data.display(),
        key_hex(key)
    );
    let inspect = run(&["inspect", data.to_str().unwrap()]);
    let stdout = snapshots::success(&inspect);
    for expected in [
        format!("key {}: shmid {shmid}", key_hex(key)),
        "size 56, perms 600".to_string(),
        format!("nattch {processes}"),
        format!("creator pid {}, device", header.creator_pid),
        "PostgreSQL's interlock for this directory".to_string(),
        format!("in use by {processes})"),
        "is a PostgreSQL data directory".to_string(),
    ] {
        assert!(stdout.contains(&expected), "no {expected:?} in:\n{stdout}");
    }
    transcript += &format!(
        "$ l06-keys-and-strangers inspect {}\n{stdout}\n",
        data.display()
    );
    let create = run(&["create", data.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&create.stderr).into_owned();
    assert_eq!(
        create.status.code(),
        Some(1),
        "create must refuse:\n{stderr}"
    );
    assert!(stderr.contains("is still in use"), "{stderr}");
    transcript += &format!(
        "$ l06-keys-and-strangers create {}\n{}{stderr}[exit status 1]\n",
        data.display(),
        String::from_utf8_lossy(&create.stdout)
    );

    let after = attach_read_only(shmid)
        .ok()
        .and_then(|a| read_pg_shmem_header(&a));
    assert_eq!(
        after,
        Some(header),
        "lesson 06 changed PostgreSQL's interlock"
    );
    assert_eq!(segment_stat(shmid).unwrap().nattch as usize, processes);
    assert_eq!(find(next_key(key)).unwrap(), next, "create made a segment");
    snapshots::assert_postgres_output!(
        server,
        "l06-keys-and-strangers-real-postgresql",
        transcript,
        &[]
    );
}

fn run(args: &[&str]) -> std::process::Output {
    let tmp = tempfile::tempdir().unwrap();
    Command::new(cargo_bin!("l06-keys-and-strangers"))
        .args(args)
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap()
}

/// Line 7 of `postmaster.pid`: the interlock's key (in decimal) and shmid.
fn line_7(lock_file: &str) -> (l06_keys_and_strangers::Key, i32) {
    let line = lock_file.lines().nth(6).expect("line 7");
    let mut fields = line.split_whitespace();
    let key: u32 = fields.next().unwrap().parse().unwrap();
    let shmid = fields.next().unwrap().parse().unwrap();
    (key as l06_keys_and_strangers::Key, shmid)
}
