//! Step 5: the interlock's key and shmid into line 7 of the lock file, which is how the next
//! start finds the segment: by its id, not by searching keys (`AddToDataDirLockFile`).

use common::{Result, parent, section};
use l07_postgres_hybrid::{PidFile, STATUS_STARTING};

use crate::Server;

// ANCHOR: record
pub fn record_in_the_lock_file(server: &mut Server) -> Result<()> {
    section("5. Record key and shmid in the lock file (AddToDataDirLockFile)");
    let (key, shmid) = (server.interlock.key, server.interlock.segment.id());
    server.lock.update(|pid_file| {
        pid_file.shmem = Some((key, shmid));
        pid_file.status = Some(STATUS_STARTING.into());
    })?;
    let text = std::fs::read_to_string(server.lock.path())?;
    let found = PidFile::parse(&text).expect("we just wrote it");
    let quoted = |n: usize| format!("{:?}", text.lines().nth(n - 1).unwrap_or(""));
    println!("  line 1: PID {}", found.pid);
    println!("  line 2: data directory {}", found.data_dir);
    println!("  line 3: started at {}", found.start_time);
    println!("  line 4: port {}", found.port);
    println!("  line 5: socket directory {}", quoted(5));
    println!("  line 6: listen address {}", quoted(6));
    println!("  line 7: {}", quoted(7));
    println!("  line 8: {}", quoted(8));
    parent!(
        "line 7 is the key in decimal and the shmid, each right-aligned in 9 columns (\"%9lu %9lu\")"
    );
    Ok(())
}
// ANCHOR_END: record
