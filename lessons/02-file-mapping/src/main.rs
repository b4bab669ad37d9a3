//! Lesson 02: one file, mapped two ways.
//!
//! The story: make a file in a fresh temporary directory and map it twice, `MAP_SHARED`
//! and `MAP_PRIVATE`. A write through the shared mapping is in the file at once, as plain
//! read(2) shows, with no msync; a write through the private mapping stays in a private
//! copy of the page. `/proc/self/smaps` shows the shared page dirty until msync writes it
//! to disk: msync is about durability, not visibility. Then a mapping one page longer
//! than the file, and a child killed by SIGBUS for touching that page. Every path out of
//! `run`, failures included, removes the temporary directory; so do Ctrl-C and `kill`, and
//! after a `kill -9` the next run.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Parser;
use common::on_signal::Remove;
use common::{Error, Result, child, fork_child, parent, section};
use l01_mmap::Mapping;
use l01_mmap::{listed_mapping, page_size};
use l02_file_mapping::{map_file, msync, smaps};
use nix::errno::Errno;
use nix::sys::mman::{MapFlags, MsFlags, ProtFlags};
use nix::sys::signal::kill;
use nix::unistd::Pid;
use tempfile::TempDir;

const LESSON: &str = env!("CARGO_PKG_NAME");

/// Map a file MAP_SHARED and MAP_PRIVATE, msync it, and touch past its end.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Size of the file in bytes: at least 6 (the words the lesson writes), at most 1 GiB.
    #[arg(long, default_value_t = 5000, value_parser = common::whole_number)]
    size: u64,

    /// An existing directory to make the lesson's temporary directory in. The default is on
    /// disk on most systems; /tmp is often a tmpfs, which keeps its files in memory only.
    #[arg(long, default_value = "/var/tmp")]
    dir: PathBuf,
}

/// What the story writes at offset 0, through each mapping.
const SHARED_WORD: &[u8] = b"public";
const PRIVATE_WORD: &[u8] = b"secret";

/// The largest file the lesson makes. The file is sparse, so this bounds typing mistakes,
/// not disk use.
const MAX_SIZE: u64 = 1 << 30;

fn main() -> std::process::ExitCode {
    common::main(run)
}

fn run(args: Args) -> Result<()> {
    let size = checked_size(args.size)?;
    let (dir, _removed_on_signal) = temporary_dir_in(&args.dir)?;
    let (file, path) = make_file(&dir, size)?;
    let (shared, private) = map_twice(&file, size)?;
    write_shared(&shared, &private, &path)?;
    write_private(&shared, &private, &path)?;
    msync_shared(&shared)?;
    touch_past_the_end(&file, size)?;
    clean_up(dir, file, [shared, private])
}

/// Refuses sizes the story cannot use, before anything is created.
fn checked_size(size: u64) -> Result<usize> {
    let words = SHARED_WORD.len() as u64;
    if size < words {
        return Err(Error::Usage(format!(
            "--size {size} is too small: the lesson writes {words}-byte words at offset 0; \
             use at least {words}"
        )));
    }
    if size > MAX_SIZE {
        return Err(Error::Usage(format!(
            "--size {size} is more than this lesson needs; use at most {MAX_SIZE} (1 GiB)"
        )));
    }
    Ok(size as usize)
}

/// A fresh directory inside `parent`, `parent/l02-file-mapping.PID.XXXXXX`, removed when the
/// `TempDir` is dropped (on success, and on every error that returns through `run`) or by
/// SIGINT, SIGTERM and SIGHUP. After a `kill -9` nothing runs: the next run finds the
/// directory by its name, sees that its PID is dead, and removes it.
fn temporary_dir_in(parent: &Path) -> Result<(TempDir, [Remove; 2])> {
    let shown = parent.display();
    match std::fs::metadata(parent) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(Error::Usage(format!(
                "--dir {shown} is not a directory; name an existing directory"
            )));
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Usage(format!(
                "--dir {shown} does not exist; create it first, or leave --dir out"
            )));
        }
        Err(err) => return Err(Error::Failed(format!("--dir {shown}: {err}"))),
    }
    for removed in remove_left_by_killed_runs(parent) {
        eprintln!(
            "{LESSON}: removed {}, left by a run that was killed",
            removed.display()
        );
    }
    let dir = tempfile::Builder::new()
        .prefix(&format!("{LESSON}.{}.", std::process::id()))
        .tempdir_in(parent)
        .map_err(|err| {
            // Its kind only: tempfile's message names the directory it tried to make.
            Error::Failed(format!(
                "--dir {shown}: cannot make a directory there ({}); name a writable directory",
                err.kind()
            ))
        })?;
    let on_signal = [
        Remove::directory(dir.path())?,
        Remove::file(&dir.path().join("data"))?,
    ];
    Ok((dir, on_signal))
}

/// Removes the directories of earlier runs in `parent` whose process is gone; their paths.
fn remove_left_by_killed_runs(parent: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(parent).into_iter().flatten().flatten();
    let dead = entries.filter(|entry| {
        let name = entry.file_name();
        let pid = name.to_str().and_then(|name| {
            let (pid, _) = name
                .strip_prefix(LESSON)?
                .strip_prefix('.')?
                .split_once('.')?;
            pid.parse::<i32>().ok()
        });
        pid.is_some_and(|pid| pid > 0 && kill(Pid::from_raw(pid), None) == Err(Errno::ESRCH))
    });
    dead.map(|entry| entry.path())
        .filter(|path| std::fs::remove_dir_all(path).is_ok())
        .collect()
}

// ANCHOR: file
fn make_file(dir: &TempDir, size: usize) -> Result<(File, PathBuf)> {
    section(&format!("1. A file of {size} bytes"));
    let path = dir.path().join("data");
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    file.set_len(size as u64)?; // ftruncate(2): the file now reads as `size` zero bytes
    println!(
        "created {}; ftruncate set its size to {size} bytes, all zero",
        path.display()
    );
    let page = page_size();
    let pages = size.div_ceil(page);
    println!(
        "page size {page}: the file covers {pages} page{}{}",
        if pages == 1 { "" } else { "s" },
        if size.is_multiple_of(page) {
            ""
        } else {
            ", the last one partly"
        }
    );
    Ok((file, path))
}
// ANCHOR_END: file

// ANCHOR: map
fn map_twice(file: &File, len: usize) -> Result<(Mapping, Mapping)> {
    section("2. Map it twice: MAP_SHARED and MAP_PRIVATE");
    let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let shared = map_file(file, 0, len, prot, MapFlags::MAP_SHARED)?;
    let private = map_file(file, 0, len, prot, MapFlags::MAP_PRIVATE)?;
    for (mapping, flag) in [(&shared, "MAP_SHARED"), (&private, "MAP_PRIVATE")] {
        println!(
            "mmap(NULL, {len}, PROT_READ|PROT_WRITE, {flag}, fd, 0) = {:#x}",
            mapping.as_ptr() as usize
        );
    }
    println!("/proc/self/maps names the file as what backs both (s: shared, p: private):");
    for mapping in [&shared, &private] {
        println!("{}", listed_mapping(mapping.as_ptr())?);
    }
    Ok((shared, private))
}
// ANCHOR_END: map

// ANCHOR: shared
fn write_shared(shared: &Mapping, private: &Mapping, path: &Path) -> Result<()> {
    section("3. A write through the shared mapping is in the file at once");
    // SAFETY: the first 6 bytes are inside the file (checked_size), and no other process
    // has the file open.
    unsafe { shared.write_at(0, SHARED_WORD) };
    println!("shared mapping: wrote {:?} at offset 0", text(SHARED_WORD));
    println!("read(2) of the file:   {:?}", read_file(path)?);
    println!("private mapping reads: {:?}", peek(private));
    println!(
        "no msync yet: read(2) copies from the very page the mapping wrote, in the page cache"
    );
    println!("the private mapping has written nothing, so it still maps that page too");
    Ok(())
}
// ANCHOR_END: shared

// ANCHOR: private
fn write_private(shared: &Mapping, private: &Mapping, path: &Path) -> Result<()> {
    section("4. A write through the private mapping stays private");
    let anonymous_before = counts(private)?.anonymous;
    // SAFETY: as in step 3; a private mapping is writable even though the write never
    // reaches the file.
    unsafe { private.write_at(0, PRIVATE_WORD) };
    let anonymous_after = counts(private)?.anonymous;
    println!(
        "private mapping: wrote {:?} at offset 0",
        text(PRIVATE_WORD)
    );
    println!("private mapping reads: {:?}", peek(private));
    println!("shared mapping reads:  {:?}", peek(shared));
    println!("read(2) of the file:   {:?}", read_file(path)?);
    println!(
        "/proc/self/smaps, private mapping: Anonymous {anonymous_before} kB before the write, \
         {anonymous_after} kB after"
    );
    println!("copy-on-write: the kernel gave the private mapping its own copy of the page");
    Ok(())
}
// ANCHOR_END: private

// ANCHOR: msync
fn msync_shared(shared: &Mapping) -> Result<()> {
    section("5. msync is about durability, not visibility");
    let before = counts(shared)?;
    println!(
        "/proc/self/smaps, shared mapping: {} kB dirty, {} kB clean",
        before.dirty(),
        before.clean()
    );
    msync(shared, MsFlags::MS_SYNC)?;
    println!(
        "msync({:#x}, {}, MS_SYNC) = 0",
        shared.as_ptr() as usize,
        shared.len()
    );
    let after = counts(shared)?;
    println!(
        "/proc/self/smaps, shared mapping: {} kB dirty, {} kB clean",
        after.dirty(),
        after.clean()
    );
    // Say only what the counts show: on a tmpfs there is no disk, and the page stays dirty.
    println!(
        "{}",
        match (before.dirty(), after.dirty()) {
            (0, _) => "nothing was dirty: the kernel had already written the page back itself",
            (_, 0) =>
                "msync wrote the page to disk and the kernel marked it clean; \
                 read(2) saw the bytes before any of that",
            _ =>
                "still dirty: this filesystem keeps files in memory, so there was no disk to write to",
        }
    );
    Ok(())
}
// ANCHOR_END: msync

// ANCHOR: sigbus
fn touch_past_the_end(file: &File, size: usize) -> Result<()> {
    section("6. Past the end of the file: SIGBUS");
    let page = page_size();
    let file_pages = size.div_ceil(page);
    let len = (file_pages + 1) * page;
    let mapping = map_file(file, 0, len, ProtFlags::PROT_READ, MapFlags::MAP_SHARED)?;
    println!(
        "mmap(NULL, {len}, PROT_READ, MAP_SHARED, fd, 0) = {:#x}: one page more than the file",
        mapping.as_ptr() as usize
    );
    if !size.is_multiple_of(page) {
        let last = file_pages * page - 1;
        // SAFETY: byte `last` is in the file's last page, which the file backs (partly);
        // nobody writes it now.
        let byte = unsafe { mapping.read_at(last, 1) }[0];
        println!("byte {last}, past the end of the file but inside its last page, reads {byte}");
    }

    let beyond = file_pages * page;
    let p = mapping.as_ptr();
    let child = fork_child(|| {
        // A deliberate crash should not leave a core file behind.
        let _ = nix::sys::prctl::set_dumpable(false);
        child!("reading byte {beyond}, in the page that lies wholly past the end of the file");
        // SAFETY: not sound, on purpose: no page of the file backs this address, so the
        // kernel sends SIGBUS instead of completing the read. Nothing after this runs.
        let byte = unsafe { p.add(beyond).read_volatile() };
        child!("read {byte} (it never should)");
        0
    })?;
    let pid = child.pid();
    let exit = child.wait()?;
    parent!("child pid {pid} {exit}");
    parent!("no page of the file backs byte {beyond}, so the kernel had nothing to map there");
    Ok(())
}
// ANCHOR_END: sigbus

// ANCHOR: clean_up
fn clean_up(dir: TempDir, file: File, mappings: [Mapping; 2]) -> Result<()> {
    section("7. Clean up");
    drop(mappings); // Mapping's Drop calls munmap
    drop(file);
    let path = dir.path().to_path_buf();
    dir.close()?;
    if path.exists() {
        return Err(Error::Failed(format!("{} is still there", path.display())));
    }
    println!(
        "unmapped both mappings, closed the file, removed {}",
        path.display()
    );
    Ok(())
}
// ANCHOR_END: clean_up

/// The first bytes of the file, read with open(2) and read(2), the way any other program
/// would read them.
fn read_file(path: &Path) -> Result<String> {
    let mut bytes = vec![0; SHARED_WORD.len()];
    File::open(path)?.read_exact(&mut bytes)?;
    Ok(text(&bytes))
}

/// The first bytes seen through a mapping.
fn peek(mapping: &Mapping) -> String {
    // SAFETY: the first 6 bytes are inside the file (checked_size), and no other process
    // writes the file.
    text(&unsafe { mapping.read_at(0, SHARED_WORD.len()) })
}

fn counts(mapping: &Mapping) -> Result<l02_file_mapping::Smaps> {
    smaps(mapping.as_ptr())?
        .ok_or_else(|| Error::Failed("a mapping is missing from /proc/self/smaps".into()))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
