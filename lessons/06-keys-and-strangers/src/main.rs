//! Lesson 06: unrelated processes meet by key; then they check whom they met.
//!
//! Four commands, each run as a separate process, around one directory. `create DIR` makes
//! the directory's segment, writes a header and a message, and leaves it in the kernel;
//! `attach DIR` finds it again by key from any process on the machine, checks that it really
//! is DIR's, reads the message and leaves another; `inspect DIR` shows what the kernel
//! (`IPC_STAT`) and the header say, and whether anyone is attached; `remove DIR` removes it.
//! Between them they meet every case PostgreSQL's postmaster meets at start-up: a free key,
//! a stranger's segment at our key, our own segment left stale, and ours still in use.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};
use common::{Error, Result, Signals};
use l05_sysv_segments::{attach, attach_read_only, remove, stat};
use l06_keys_and_strangers::{
    DirId, FTOK_PROJECT, Found, Key, MAGIC, Probe, SEGMENT_SIZE, check_message, create_from,
    find_for_dir, key_from_ftok, key_from_inode, key_hex, read_header, read_magic, read_message,
    write_message,
};
use nix::sys::signal::SigmaskHow;
use nix::sys::signal::Signal::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use nix::unistd::Pid;

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

// ANCHOR: conversation
/// Without a command: the four commands in turn, each a run of this program in a process of
/// its own (as from separate terminals), around a directory of the lesson's own. Only the key
/// connects them.
fn conversation(key_from: KeyFrom) -> Result<()> {
    // Ctrl-C and kill wait for us in a signalfd, with the end of each command (SIGCHLD).
    let signals = Signals::block(&[SIGCHLD, SIGINT, SIGTERM, SIGHUP])?;
    let dir = std::env::temp_dir().join("l06-keys-and-strangers");
    std::fs::create_dir_all(&dir)?;
    let me = std::env::current_exe()?;
    let key_from = match key_from {
        KeyFrom::Inode => "inode",
        KeyFrom::Ftok => "ftok",
    };
    let mut leftovers = Leftovers {
        me: &me,
        dir: &dir,
        key_from,
        segment: true,
    };
    for command in ["create", "attach", "inspect", "remove"] {
        println!("$ l06-keys-and-strangers {command} {}", dir.display());
        std::io::stdout().flush()?; // before the next process writes to the same stdout
        let mut run = std::process::Command::new(&me);
        run.args([command, "--key-from", key_from]).arg(&dir);
        let status = run_until_stopped(run, &signals)?;
        if !status.success() {
            return Err(Error::Failed(format!("`{command}` failed ({status})")));
        }
        println!();
    }
    leftovers.segment = false; // `remove` has removed it
    Ok(())
}

/// What the conversation leaves if it stops halfway (an error, a signal, a reader gone from
/// a pipe): the segment `create` left, which `remove` removes (it never touches a
/// stranger's), and the directory. Removed when dropped.
struct Leftovers<'a> {
    me: &'a Path,
    dir: &'a Path,
    /// `--key-from`'s value.
    key_from: &'a str,
    /// Whether the segment may still be there.
    segment: bool,
}

impl Drop for Leftovers<'_> {
    fn drop(&mut self) {
        if self.segment {
            let _ = std::process::Command::new(self.me)
                .args(["remove", "--key-from", self.key_from])
                .arg(self.dir)
                .output();
        }
        let _ = std::fs::remove_dir(self.dir);
    }
}

/// Runs `command` to its end, unless SIGINT, SIGTERM or SIGHUP comes first: then the
/// command is stopped (SIGTERM) and waited for, and the signal is the error. The command
/// gets the signal mask we had before, and SIGTERM if we die (`PR_SET_PDEATHSIG`).
fn run_until_stopped(
    mut command: std::process::Command,
    signals: &Signals,
) -> Result<std::process::ExitStatus> {
    use std::os::unix::process::CommandExt;
    let mut unblocked = nix::sys::signal::SigSet::empty();
    for signal in [SIGCHLD, SIGINT, SIGTERM, SIGHUP] {
        unblocked.add(signal);
    }
    // SAFETY: between fork and exec the closure makes only async-signal-safe calls
    // (sigprocmask, prctl) and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&unblocked), None)?;
            nix::sys::prctl::set_pdeathsig(SIGTERM)?;
            Ok(())
        })
    };
    let mut child = command.spawn()?;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        match signals.wait(None)? {
            Some(SIGCHLD) | None => continue,
            Some(signal) => {
                let _ = nix::sys::signal::kill(Pid::from_raw(child.id() as i32), SIGTERM);
                let _ = child.wait();
                return Err(Error::Failed(format!(
                    "interrupted by {}: stopped, and cleaned up",
                    signal.as_str()
                )));
            }
        }
    }
}
// ANCHOR_END: conversation

/// DIR's first key, without the line [`first_key`] prints.
fn first_key_quietly(dir: &Path, key_from: KeyFrom) -> Result<Key> {
    match key_from {
        KeyFrom::Inode => key_from_inode(dir),
        KeyFrom::Ftok => key_from_ftok(dir, FTOK_PROJECT),
    }
}

// ANCHOR: key
/// DIR's key, computed the chosen way, and a line that says how.
fn first_key(dir: &Path, key_from: KeyFrom) -> Result<Key> {
    let id = DirId::of(dir)?;
    let key = first_key_quietly(dir, key_from)?;
    let (shown, hex) = (dir.display(), key_hex(key));
    match key_from {
        KeyFrom::Inode => println!(
            "{shown}: inode {} on device {}; key {hex} is the inode number, as in PostgreSQL",
            id.inode, id.device
        ),
        KeyFrom::Ftok => println!(
            "{shown}: inode {} on device {}; key {hex} from ftok(DIR, '{}'): the project id, \
             then the low 8 bits of the device, then the low 16 bits of the inode",
            id.inode, id.device, FTOK_PROJECT as char
        ),
    }
    Ok(key)
}
// ANCHOR_END: key

// ANCHOR: create
fn create(dir: &Path, key_from: KeyFrom, message: &str) -> Result<()> {
    check_message(message)?;
    let first = first_key(dir, key_from)?;
    let created = create_from(dir, SEGMENT_SIZE, first, &mut |probe| {
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
            probe.found
        );
    })?;
    println!(
        "shmget(key {}, {SEGMENT_SIZE}, IPC_CREAT|IPC_EXCL|0600) = shmid {}",
        key_hex(created.key),
        created.segment.id()
    );
    let header = read_header(&created.attachment).expect("create_from writes the header");
    println!(
        "header: magic {}, creator pid {}, device {}, inode {}, size {}",
        header.magic, header.creator_pid, header.device, header.inode, header.total_size
    );
    write_message(&created.attachment, message)?;
    println!("message: {message:?}");
    created.segment.keep(); // no IPC_RMID when we exit: others will come for it
    println!("detaching: the segment stays in the kernel, with nobody attached");
    Ok(())
}
// ANCHOR_END: create

// ANCHOR: attach
fn attach_dir(dir: &Path, key_from: KeyFrom, message: &str, hold: bool) -> Result<()> {
    check_message(message)?;
    let first = first_key(dir, key_from)?;
    let probe = locate(dir, first, &mut |probe| println!("{}", said(probe)))?;
    not_an_interlock(&probe, dir, "attach")?;
    let attachment = attach(probe.shmid)?;
    println!(
        "shmat(shmid {}): attached; nattch is now {}",
        probe.shmid,
        stat(probe.shmid)?.nattch
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
    match stat(probe.shmid) {
        Ok(info) => println!("detached; nattch is now {}", info.nattch),
        Err(_) => println!(
            "detached; the segment is gone: it was marked for removal, and ours was the last attachment"
        ),
    }
    Ok(())
}
// ANCHOR_END: attach

// ANCHOR: inspect
fn inspect(dir: &Path, key_from: KeyFrom) -> Result<()> {
    let first = first_key(dir, key_from)?;
    let probe = locate(dir, first, &mut show)?;
    let attachment = attach_read_only(probe.shmid)?;
    if attachment.size() < SEGMENT_SIZE {
        println!(
            "  message:  none: a {}-byte segment is a server's interlock (lessons 07, 14 and \
             15), not a lesson 06 segment",
            attachment.size()
        );
        return Ok(());
    }
    println!("  message:  {:?}", read_message(&attachment)?);
    Ok(())
}

/// Everything there is to see about one segment the search met.
fn show(probe: &Probe) {
    println!("key {}: shmid {}", key_hex(probe.key), probe.shmid);
    match stat(probe.shmid) {
        Ok(info) => println!(
            "  IPC_STAT: size {}, perms {:o}, owner {}, creator pid {}, nattch {}",
            info.size,
            info.permissions(),
            owner(info.uid),
            info.creator_pid,
            info.nattch
        ),
        Err(err) => println!("  IPC_STAT: {err}"),
    }
    match attach_read_only(probe.shmid) {
        Ok(attachment) => match (read_header(&attachment), read_magic(&attachment)) {
            (Some(h), _) => println!(
                "  header:   magic {}, creator pid {}, device {}, inode {}, size {}",
                h.magic, h.creator_pid, h.device, h.inode, h.total_size
            ),
            (None, Some(magic)) => println!("  header:   magic {magic}, not {MAGIC}: none of ours"),
            (None, None) => println!(
                "  header:   none: {} bytes cannot hold one",
                attachment.size()
            ),
        },
        Err(err) => println!("  header:   cannot look: {err}"),
    }
    let verdict = match probe.found {
        Found::Stranger => "not made for this directory: leave it alone, look at the next key",
        Found::OursStale => "`create` would remove it and start afresh",
        Found::OursInUse { .. } => "`create` would refuse to touch it",
        Found::Gone => "removed while we looked",
    };
    println!("  verdict:  {}: {verdict}", probe.found);
}
// ANCHOR_END: inspect

// ANCHOR: remove
fn remove_dir(dir: &Path, key_from: KeyFrom, force: bool) -> Result<()> {
    let first = first_key(dir, key_from)?;
    let probe = locate(dir, first, &mut |probe| println!("{}", said(probe)))?;
    not_an_interlock(&probe, dir, "remove")?;
    match probe.found {
        Found::OursInUse { nattch, .. } if !force => Err(Error::Failed(format!(
            "shmid {} is in use by {nattch} process{}: removing it would pull it out from \
             under them (PostgreSQL never removes a segment in use); stop them first, or add \
             --force",
            probe.shmid,
            if nattch == 1 { "" } else { "es" }
        ))),
        Found::OursInUse { nattch, .. } => {
            remove(probe.shmid)?;
            println!(
                "shmctl(shmid {}, IPC_RMID): marked for removal; the key is free at once, the \
                 memory goes when the {nattch} attached process{} detach",
                probe.shmid,
                if nattch == 1 { "" } else { "es" }
            );
            Ok(())
        }
        _ => {
            remove(probe.shmid)?;
            println!("shmctl(shmid {}, IPC_RMID): removed", probe.shmid);
            Ok(())
        }
    }
}
// ANCHOR_END: remove

/// The key search `attach`, `inspect` and `remove` share: DIR's segment, or a clear error.
fn locate(dir: &Path, first: Key, report: &mut dyn FnMut(&Probe)) -> Result<Probe> {
    let mut strangers = 0;
    let found = find_for_dir(dir, first, &mut |probe| {
        strangers += usize::from(matches!(probe.found, Found::Stranger));
        report(probe)
    })?;
    found.ok_or_else(|| {
        let shown = dir.display();
        // Past somebody else's segment (a real PostgreSQL's, say), advising `create` in
        // their directory would be bad advice.
        let advice = match strangers {
            0 => format!("; make one with `create {shown}`"),
            n => format!(
                " (looked past {n} segment{} that {} not ours)",
                plural(n),
                if n == 1 { "is" } else { "are" }
            ),
        };
        Error::Failed(format!(
            "no segment of ours for {shown} from key {} on: never created, or removed since \
             (by `remove` or `ipcrm`){advice}",
            key_hex(first)
        ))
    })
}

/// Lessons 07, 14 and 15 keep a segment of their own at a data directory's key: the
/// interlock of a server, made by the same search with the same header, but only a header
/// big. It is theirs to create and remove (with the server's start and stop), never ours.
fn not_an_interlock(probe: &Probe, dir: &Path, what: &str) -> Result<()> {
    let size = stat(probe.shmid)?.size;
    if size >= SEGMENT_SIZE {
        return Ok(());
    }
    Err(Error::Failed(format!(
        "shmid {} at key {} is a server's interlock ({size} bytes, made by lesson 07, 14 or 15 \
         for {}), not a lesson 06 segment: {what} leaves it alone; stop that server instead",
        probe.shmid,
        key_hex(probe.key),
        dir.display()
    )))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// "you" for our own user (what matters here, and the same on every machine), else the uid.
fn owner(uid: u32) -> String {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if uid == unsafe { libc::geteuid() } {
        "you".into()
    } else {
        format!("uid {uid}")
    }
}

/// One line for a segment the search met: `key 0x0098c042: shmid 32769, a stranger's: ...`.
fn said(probe: &Probe) -> String {
    let then = match probe.found {
        Found::Stranger => ": leave it alone, try the next key",
        Found::Gone => ": try the same key again",
        Found::OursStale | Found::OursInUse { .. } => "",
    };
    format!(
        "key {}: shmid {}, {}{then}",
        key_hex(probe.key),
        probe.shmid,
        probe.found
    )
}
