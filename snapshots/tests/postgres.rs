//! The harness that runs a real PostgreSQL for the course's side-by-side tests: it starts,
//! answers, stops, and leaves nothing behind, even after a SIGKILL.

use nix::sys::signal::Signal;
use snapshots::postgres::{SKIPPED, Server, processes_in};

#[test]
fn a_server_starts_answers_and_leaves_nothing_after_a_kill_9() {
    let Some(mut server) = Server::init() else {
        println!("{SKIPPED}");
        return;
    };
    server.start();
    assert_eq!(server.sql("select 6 * 7").trim(), "42");
    let data = server.data();
    let lock_file = std::fs::read_to_string(data.join("postmaster.pid")).unwrap();
    // Line 7: the interlock's key and shmid.
    let shmid = lock_file
        .lines()
        .nth(6)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    let exists = |shmid: &str| {
        let table = std::fs::read_to_string("/proc/sysvipc/shm").unwrap();
        table
            .lines()
            .any(|line| line.split_whitespace().nth(1) == Some(shmid))
    };
    assert!(exists(&shmid), "the interlock named on line 7 exists");
    assert!(
        processes_in(&data).len() >= 3,
        "a postmaster and its background processes"
    );
    server.signal(Signal::SIGKILL);
    drop(server);
    assert!(
        processes_in(&data).is_empty(),
        "a process of the server is left"
    );
    assert!(!data.exists(), "the cluster's directory is left");
    assert!(!exists(&shmid), "the killed server's interlock is left");
}
