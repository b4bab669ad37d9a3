//! Lesson 06's output, as the chapter shows it: one conversation between separate runs of
//! the binary around a fresh temporary directory. (Not run by `cargo exercise`.)
//!
//! Nothing may outlive the test, even when it fails halfway: the `Scene` guard kills a
//! holding process and removes every segment made for its directory; strangers' segments
//! are `Segment`s owned here, removed by their own `Drop`.
#![cfg(not(feature = "exercise"))]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdout, Command, Output, Stdio};

use assert_cmd::cargo::cargo_bin;
use l05_sysv_segments::{Segment, attach, find, remove};
use l06_keys_and_strangers::{
    DirId, FTOK_PROJECT, Header, Key, SEGMENT_SIZE, key_from_ftok, key_from_inode, next_key,
    read_header, read_pg_shmem_header, write_header,
};
use tempfile::TempDir;

const NAME: &str = "l06-keys-and-strangers";
/// The machine-wide turn these tests and the exercise's take where they cannot have keys of
/// their own (`snapshots::keys_of_our_own`).
const TURN: &str = "l06-keys-and-strangers-tests";

#[test]
fn conversation() {
    let mut scene = Scene::new();
    let dir = scene.dir.path().to_str().unwrap().to_owned();
    let dir = dir.as_str();

    // Part 1: two processes meet; live and stale; in use means hands off.
    let mut meet = String::new();
    meet += &scene.run(&["create", dir], 0);
    meet += &scene.run(&["attach", dir], 0);
    meet += &scene.run(&["inspect", dir], 0);
    meet += &scene.hold(&[
        "attach",
        dir,
        "--hold",
        "--message",
        "hello from the holder",
    ]);
    meet += &scene.run(&["inspect", dir], 0);
    meet += &scene.run(&["create", dir], 1);
    meet += &scene.run(&["remove", dir], 1);
    meet += &scene.release();
    meet += &scene.run(&["create", dir], 0);
    meet += &scene.run(&["remove", dir], 0);

    // Part 2: a stranger at our key; ipcrm behind our back; the ftok key.
    let mut strangers = String::new();
    let key = scene.inode_key;
    let stranger = Segment::create(key, SEGMENT_SIZE, 0o600).expect("the key was free");
    strangers += &format!(
        "# meanwhile a stranger's segment takes key {} (as `ipcmk -M {SEGMENT_SIZE}` would, \
         but at our key): shmid {}, all zeros\n\n",
        l06_keys_and_strangers::key_hex(key),
        stranger.id()
    );
    scene.strangers.push(stranger);
    strangers += &scene.run(&["attach", dir], 1);
    strangers += &scene.run(&["create", dir], 0);
    strangers += &scene.run(&["attach", dir], 0);
    strangers += &scene.run(&["inspect", dir], 0);
    let ours = find(next_key(key))
        .unwrap()
        .expect("create used the next key");
    assert!(
        scene.made(ours),
        "the segment at the next key is not the test's"
    );
    remove(ours).unwrap();
    strangers += &format!(
        "# meanwhile someone runs `ipcrm -m` on our segment, shmid {ours} (the test calls \
         shmctl(IPC_RMID) itself, as ipcrm does)\n\n"
    );
    strangers += &scene.run(&["attach", dir], 1);
    strangers += &scene.run(&["create", dir, "--key-from", "ftok"], 0);
    strangers += &scene.run(&["remove", dir, "--key-from", "ftok"], 0);

    snapshots::assert_output!("l06-keys-and-strangers", meet);
    snapshots::assert_output!("l06-keys-and-strangers-strangers", strangers);
}

/// What lesson 06 says of a server's interlock (lessons 07, 14 and 15 make one at their
/// data directory's key, with the same header, only a header big): it shows it, and never
/// attaches to it read-write nor removes it, even while nobody else holds it.
#[test]
fn a_servers_interlock_is_left_alone() {
    let scene = Scene::new();
    let dir = scene.dir.path().to_str().unwrap().to_owned();
    let header = std::mem::size_of::<Header>();
    let interlock = l06_keys_and_strangers::create_from(
        scene.dir.path(),
        header,
        7,
        scene.inode_key,
        &mut |_| {},
    )
    .unwrap();
    let mut transcript = format!(
        "# a server (lesson 07) holds its {header}-byte interlock for {dir}: shmid {}\n\n",
        interlock.segment.id()
    );
    for command in ["inspect", "attach", "remove"] {
        let status = if command == "inspect" { 0 } else { 1 };
        transcript += &scene.run(&[command, &dir], status);
    }
    transcript += &scene.run(&["remove", &dir, "--force"], 1);
    assert!(
        l05_sysv_segments::segment_stat(interlock.segment.id()).is_ok(),
        "lesson 06 removed a server's interlock"
    );
    drop(interlock); // detaches and removes it: the test made it
    snapshots::assert_output!("l06-keys-and-strangers-interlock", transcript);
}

/// What lesson 06 says of a real PostgreSQL's interlock for the directory: PostgreSQL's
/// header with the directory's device and inode, and no course tag in `index` (0, as in the
/// interlock of a server 9.4 to 18 with the default `shared_memory_type = mmap`). The test
/// stages it, and stands for the server's processes by staying attached (no PostgreSQL runs
/// here). `inspect` names it and shows its fields, `create` refuses while it is attached and
/// leaves it alone once it is not; nothing touches it.
#[test]
fn a_real_postgresqls_interlock_is_named() {
    let mut scene = Scene::new();
    let dir = scene.dir.path().to_str().unwrap().to_owned();
    let size = std::mem::size_of::<Header>();
    let theirs = Segment::create(scene.inode_key, size, 0o600).expect("the key was free");
    let shmid = theirs.id();
    let total_size = 148_324_352; // a PostgreSQL 15's shared memory, with default settings
    let header = Header {
        index: 0,
        ..Header::new(scene.id, total_size, 0)
    };
    write_header(&attach(shmid).unwrap(), &header);
    scene.strangers.push(theirs);
    let server = attach(shmid).unwrap();
    let mut transcript = format!(
        "# a PostgreSQL server holds its {size}-byte interlock for {dir}: shmid {shmid}, \
         total size {total_size}, index 0 (staged by the test, which stays attached)\n\n"
    );
    transcript += &scene.run(&["inspect", &dir], 0);
    transcript += &scene.run(&["create", &dir], 1);
    drop(server);
    transcript += "# the server and its children are gone: nattch 0\n\n";
    transcript += &scene.run(&["inspect", &dir], 0);
    transcript += &scene.run(&["create", &dir], 0);
    transcript += &scene.run(&["remove", &dir], 0);
    let after = attach(shmid).ok().and_then(|a| read_pg_shmem_header(&a));
    assert_eq!(
        after,
        Some(header),
        "lesson 06 changed PostgreSQL's interlock"
    );
    snapshots::assert_output!("l06-keys-and-strangers-postgresql", transcript);
}

/// Without a command the lesson plays the conversation itself, in a directory of its own
/// under TMPDIR (here the test's own), each command a process of its own.
#[test]
fn the_conversation_it_plays_by_itself() {
    let _turn = snapshots::keys_of_our_own(TURN);
    let tmp = tempfile::tempdir().unwrap();
    let output = Command::new(cargo_bin!("l06-keys-and-strangers"))
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let stdout = snapshots::success(&output);
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "its directory is still there"
    );
    snapshots::assert_output!("l06-keys-and-strangers-by-itself", stdout);
}

#[test]
fn bad_input() {
    let stdout = snapshots::failures(
        cargo_bin!("l06-keys-and-strangers"),
        &[
            (&["create"], 2),
            (&["create", "/no/such/dir"], 2),
            (&["attach", "Cargo.toml"], 2),
            (&["inspect", ".", "--key-from", "md5"], 2),
            (&["remove", ".", "--force=yes"], 2),
        ],
    );
    snapshots::assert_output!("l06-keys-and-strangers-errors", stdout);
}

/// A fresh directory whose keys nobody holds, and everything the conversation leaves behind.
struct Scene {
    dir: TempDir,
    /// The TMPDIR of the lesson's runs: its marks (see `create_from`) are nobody else's.
    tmp: TempDir,
    /// Held while the scene plays, where it cannot have System V keys of its own.
    _turn: Option<std::fs::File>,
    id: DirId,
    inode_key: Key,
    ftok_key: Key,
    holder: Option<(Child, BufReader<ChildStdout>)>,
    strangers: Vec<Segment>,
}

/// How many keys from each starting key the guard sweeps, and must find free at the start.
const NEIGHBOURHOOD: i32 = 4;

impl Scene {
    /// A temporary directory whose inode and ftok keys, and the few after each, are free:
    /// another test run (or lesson 07's) may hold a neighbouring key, and the story would
    /// then skip one key more than the snapshot shows.
    fn new() -> Scene {
        // Keys come from directories' inodes: see `snapshots::keys_of_our_own`.
        let turn = snapshots::keys_of_our_own(TURN);
        for _ in 0..50 {
            let dir = tempfile::tempdir().unwrap();
            let inode_key = key_from_inode(dir.path()).unwrap();
            let ftok_key = key_from_ftok(dir.path(), FTOK_PROJECT).unwrap();
            let taken = [inode_key, ftok_key]
                .iter()
                .flat_map(|&key| keys_from(key))
                .any(|key| find(key).unwrap().is_some());
            if !taken {
                let id = DirId::of(dir.path()).unwrap();
                return Scene {
                    dir,
                    tmp: tempfile::tempdir().unwrap(),
                    _turn: turn,
                    id,
                    inode_key,
                    ftok_key,
                    holder: None,
                    strangers: Vec::new(),
                };
            }
        }
        panic!(
            "50 temporary directories in a row had a neighbouring System V key taken: see `ipcs -m`"
        )
    }

    /// Runs the binary to the end; returns the transcript: the command, its stdout, and for a
    /// failure its one line of stderr and the exit status.
    fn run(&self, args: &[&str], status: i32) -> String {
        let output = Command::new(cargo_bin!("l06-keys-and-strangers"))
            .args(args)
            .env("TMPDIR", self.tmp.path())
            .output()
            .unwrap();
        transcript(&command_line(args), &output, status)
    }

    /// Starts the binary in the background and returns its transcript up to the line where
    /// it waits: from then on it holds an attachment, until `release`.
    fn hold(&mut self, args: &[&str]) -> String {
        let mut child = Command::new(cargo_bin!("l06-keys-and-strangers"))
            .args(args)
            .env("TMPDIR", self.tmp.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut text = format!("$ {} &\n", command_line(args));
        loop {
            let mut line = String::new();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "the holder ended early:\n{text}"
            );
            text += &line;
            if line.contains("press Enter") {
                break;
            }
        }
        self.holder = Some((child, stdout));
        text + "\n"
    }

    /// Presses Enter for the holder, and returns the rest of what it prints.
    fn release(&mut self) -> String {
        let (mut child, mut stdout) = self.holder.take().expect("a holder");
        child.stdin.take().unwrap().write_all(b"\n").unwrap();
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        assert!(
            child.wait().unwrap().success(),
            "the holder failed:\n{rest}"
        );
        format!("# Enter, in the holder's terminal:\n{rest}\n")
    }
}

impl Scene {
    /// Whether `shmid` is a segment of ours for the scene's directory (header and identity).
    fn made(&self, shmid: i32) -> bool {
        attach(shmid)
            .ok()
            .and_then(|a| read_header(&a))
            .is_some_and(|h| h.dir() == self.id)
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        if let Some((mut child, _)) = self.holder.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for key in [self.inode_key, self.ftok_key]
            .into_iter()
            .flat_map(keys_from)
        {
            if let Ok(Some(shmid)) = find(key)
                && self.made(shmid)
            {
                let _ = remove(shmid);
            }
        }
        // self.strangers drop next: Segment's Drop removes each (we created them).
    }
}

fn keys_from(key: Key) -> impl Iterator<Item = Key> {
    std::iter::successors(Some(key), |&k| Some(next_key(k))).take(NEIGHBOURHOOD as usize)
}

fn command_line(args: &[&str]) -> String {
    let quoted: Vec<String> = args
        .iter()
        .map(|a| {
            if a.contains(' ') {
                format!("{a:?}")
            } else {
                a.to_string()
            }
        })
        .collect();
    format!("{NAME} {}", quoted.join(" "))
}

fn transcript(command_line: &str, output: &Output, status: i32) -> String {
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(status),
        "`{command_line}` should exit with {status}:\n{stdout}{stderr}"
    );
    if status == 0 {
        assert!(
            stderr.is_empty(),
            "`{command_line}` wrote to stderr:\n{stderr}"
        );
        format!("$ {command_line}\n{stdout}\n")
    } else {
        assert_eq!(
            stderr.lines().count(),
            1,
            "`{command_line}` should print one line:\n{stderr}"
        );
        format!("$ {command_line}\n{stdout}{stderr}[exit status {status}]\n\n")
    }
}
