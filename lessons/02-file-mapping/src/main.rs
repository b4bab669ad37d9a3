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
//!
//! The longer steps are modules of this binary, one file per step under `src/story/`;
//! `src/lib.rs` and its modules are what later lessons reuse.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Parser;
use common::{Error, Result, section};
use l01_mmap::{Mapping, listed_mapping, page_size};
use l02_file_mapping::{Smaps, map_file, smaps};
use nix::sys::mman::{MapFlags, ProtFlags};
use tempfile::TempDir;

mod story {
    pub mod msync;
    pub mod sigbus;
    pub mod temporary_dir;
}
use story::msync::msync_shared;
use story::sigbus::touch_past_the_end;
use story::temporary_dir::temporary_dir_in;

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

fn counts(mapping: &Mapping) -> Result<Smaps> {
    smaps(mapping.as_ptr())?
        .ok_or_else(|| Error::Failed("a mapping is missing from /proc/self/smaps".into()))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
