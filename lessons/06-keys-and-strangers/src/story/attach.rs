//! `attach DIR`: another process, related to nobody, finds the segment by key, checks that it
//! really is DIR's, reads the message and leaves another.
//!
//! `--hold` stays attached until Enter, so that another terminal can see the segment in use
//! (`nattch` 1) and watch `create` refuse and `remove` decline.

use std::io::{BufRead, Write};
use std::path::Path;

use common::Result;
use l05_sysv_segments::{attach, segment_stat};
use l06_keys_and_strangers::{check_message, read_message, write_message};

use crate::KeyFrom;
use crate::story::locate::{first_key, locate, not_an_interlock, said};

// ANCHOR: attach
pub fn attach_dir(dir: &Path, key_from: KeyFrom, message: &str, hold: bool) -> Result<()> {
    check_message(message)?;
    let first = first_key(dir, key_from)?;
    let probe = locate(dir, first, &mut |probe| println!("{}", said(probe, dir)))?;
    not_an_interlock(&probe, dir, "attach")?;
    let attachment = attach(probe.shmid)?;
    println!(
        "shmat(shmid {}): attached; nattch is now {}",
        probe.shmid,
        segment_stat(probe.shmid)?.nattch
    );
    println!("read:  {:?}", read_message(&attachment)?);
    write_message(&attachment, message)?;
    println!("wrote: {message:?}");
    if hold {
        println!("holding the attachment: press Enter to detach");
        std::io::stdout().flush()?;
        std::io::stdin().lock().read_line(&mut String::new())?;
    }
    drop(attachment); // shmdt
    match segment_stat(probe.shmid) {
        Ok(info) => println!("detached; nattch is now {}", info.nattch),
        Err(_) => println!(
            "detached; the segment is gone: it was marked for removal, and ours was the last attachment"
        ),
    }
    Ok(())
}
// ANCHOR_END: attach
