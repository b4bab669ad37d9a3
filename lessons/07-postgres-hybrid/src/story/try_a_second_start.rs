//! Step 7: a second start on the same directory while the first runs, as another terminal
//! would try it, and what stopped it.
//!
//! The lock file alone does not stop it here: its PID is the second start's parent, which
//! `CreateLockFile` takes for a stale file left before a reboot. The interlock does.

use std::path::Path;

use common::{Result, parent, section};

// ANCHOR: second
pub fn try_a_second_start(dir: &Path) -> Result<()> {
    section("7. A second start on the same directory, while this one runs");
    let output = std::process::Command::new(std::env::current_exe()?)
        .arg("start")
        .arg(dir)
        .output()?;
    println!("$ l07-postgres-hybrid start {}", dir.display());
    print!("{}", String::from_utf8_lossy(&output.stderr));
    parent!("the lock file names us, the new process's parent: CreateLockFile takes its own and");
    parent!("its parent's PID for a stale file (after a reboot, PIDs repeat), so the interlock,");
    parent!("shm_nattch, had to stop it");
    parent!(
        "it {}, and created nothing",
        match output.status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "was killed".into(),
        }
    );
    Ok(())
}
// ANCHOR_END: second
