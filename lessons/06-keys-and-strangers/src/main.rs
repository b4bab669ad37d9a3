//! Lesson 06: unrelated processes meet by key; then they check whom they met.
//!
//! Four commands, each run as a separate process, around one directory. `create DIR` makes
//! the directory's segment, writes a header and a message, and leaves it in the kernel;
//! `attach DIR` finds it again by key from any process on the machine, checks that it really
//! is DIR's, reads the message and leaves another; `inspect DIR` shows what the kernel
//! (`IPC_STAT`) and the header say, and whether anyone is attached; `remove DIR` removes it.
//! Between them they meet every case PostgreSQL's postmaster meets at start-up: a free key,
//! a stranger's segment at our key, our own segment left stale, and ours still in use.
//!
//! This file is the table of contents: the command line, and which step each command runs.
//! The steps are in src/story/, one file per command, plus `locate`, the search `attach`,
//! `inspect` and `remove` share. Files in src/story/ belong to this binary; the other files
//! in src/ are the library, which lesson 07 reuses.

mod story {
    pub mod attach;
    pub mod conversation;
    pub mod create;
    pub mod inspect;
    pub mod locate;
    pub mod remove;
}

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use common::Result;

use story::attach::attach_dir;
use story::conversation::conversation;
use story::create::create;
use story::inspect::inspect;
use story::remove::remove_dir;

/// Meet other processes through a System V segment whose key comes from a directory.
#[derive(Parser)]
#[command(
    version,
    arg_required_else_help = false,
    after_help = "Without a command it plays a conversation in $TMPDIR/l06-keys-and-strangers \
                  (/tmp when TMPDIR is unset): create, attach, inspect and remove, each run as a \
                  process of its own, as you would from separate terminals."
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,

    /// How DIR becomes a key: its inode number (PostgreSQL's way) or ftok(3).
    #[arg(long, global = true, value_enum, default_value_t = KeyFrom::Inode)]
    key_from: KeyFrom,
}

#[derive(Clone, Copy, ValueEnum)]
enum KeyFrom {
    Inode,
    Ftok,
}

#[derive(Subcommand)]
enum Command {
    /// Make DIR's segment (IPC_CREAT|IPC_EXCL|0600), write its header and a message, and
    /// leave it in the kernel for other processes.
    Create {
        dir: PathBuf,
        /// The message to leave in the new segment.
        #[arg(long, default_value = "hello from create")]
        message: String,
    },
    /// Find DIR's segment by key, check its header, read the message and leave another.
    Attach {
        dir: PathBuf,
        /// The message to leave for the next process.
        #[arg(long, default_value = "hello from attach")]
        message: String,
        /// Stay attached until Enter (or the end of input), so that another terminal can see
        /// the segment in use.
        #[arg(long)]
        hold: bool,
    },
    /// Show what IPC_STAT and the header say about DIR's segment, and whether anyone is
    /// attached.
    Inspect { dir: PathBuf },
    /// Remove DIR's segment (IPC_RMID), leaving strangers' segments alone, and ours too while
    /// a process has it attached (unless --force).
    Remove {
        dir: PathBuf,
        /// Remove it even though processes have it attached: they keep their memory, but
        /// anyone who comes later finds nothing.
        #[arg(long)]
        force: bool,
    },
}

fn main() -> std::process::ExitCode {
    common::main(run)
}

fn run(args: Args) -> Result<()> {
    let Some(command) = args.command else {
        return conversation(args.key_from);
    };
    match command {
        Command::Create { dir, message } => create(&dir, args.key_from, &message),
        Command::Attach { dir, message, hold } => attach_dir(&dir, args.key_from, &message, hold),
        Command::Inspect { dir } => inspect(&dir, args.key_from),
        Command::Remove { dir, force } => remove_dir(&dir, args.key_from, force),
    }
}
