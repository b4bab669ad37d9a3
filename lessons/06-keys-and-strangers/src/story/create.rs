//! `create DIR`: the key search, told step by step, then a message left for the next process.
//!
//! The segment must outlive this process, which is the point of a key: `Segment::keep` (lesson
//! 05) is how a creator declines to remove it when it exits.

use std::path::Path;

use common::Result;
use l06_keys_and_strangers::{
    Found, LESSON, SEGMENT_SIZE, check_message, create_from, index_shown, key_hex, read_header,
    write_message,
};

use crate::KeyFrom;
use crate::story::locate::{first_key, whose};

// ANCHOR: create
pub fn create(dir: &Path, key_from: KeyFrom, message: &str) -> Result<()> {
    check_message(message)?;
    let first = first_key(dir, key_from)?;
    let created = create_from(dir, SEGMENT_SIZE, LESSON, first, &mut |probe| {
        let next = match probe.found {
            Found::Stranger => "leave it alone, try the next key",
            Found::OursStale => "remove it (IPC_RMID), try the same key again",
            Found::Gone => "try the same key again",
            Found::OursInUse { .. } => "refuse",
        };
        println!(
            "key {} is taken by shmid {}, {}: {next}",
            key_hex(probe.key),
            probe.shmid,
            whose(probe, dir)
        );
    })?;
    println!(
        "shmget(key {}, {SEGMENT_SIZE}, IPC_CREAT|IPC_EXCL|0600) = shmid {}",
        key_hex(created.key),
        created.segment.id()
    );
    let header = read_header(&created.attachment).expect("create_from writes the header");
    println!(
        "header: magic {}, creator pid {}, device {}, inode {}, size {}, index {}",
        header.magic,
        header.creator_pid,
        header.device,
        header.inode,
        header.total_size,
        index_shown(header.index)
    );
    write_message(&created.attachment, message)?;
    println!("message: {message:?}");
    created.segment.keep(); // no IPC_RMID when we exit: others will come for it
    println!("detaching: the segment stays in the kernel, with nobody attached");
    Ok(())
}
// ANCHOR_END: create
