//! Sidebar: shared memory with a name in /dev/shm (`shm_open`), and with no name at all
//! (`memfd_create`).
//!
//! The main area never changes size, so one mapping made before the first fork serves all.
//! Parallel query needs memory that comes and goes while the server runs, shared by
//! processes that already exist, so PostgreSQL's dynamic shared memory (dsm_impl.c) makes it
//! as a named POSIX object that any of its processes can open: `/dev/shm/PostgreSQL.NNN`. A
//! name outlives a crash, like a System V segment; so the sidebar sweeps up what a killed
//! run left, as PostgreSQL does at its next start.

use std::fs::File;
use std::os::fd::OwnedFd;

use std::path::Path;

use common::on_signal::Remove;
use common::{Error, Result, child, fork_child, parent, section};
use l01_mmap::{Mapping, listed_mapping};
use l02_file_mapping::map_file;
use nix::fcntl::{OFlag, posix_fallocate};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::mman::{MapFlags, ProtFlags, shm_open, shm_unlink};
use nix::sys::stat::Mode;
use nix::unistd::ftruncate;

const SIZE: usize = 8192;
/// Our objects are `/dev/shm/l07-sidebar.PID`: one name per run, so runs never collide.
const PREFIX: &str = "l07-sidebar.";

pub fn run() -> Result<()> {
    sweep_leftovers()?;
    posix_shared_memory()?;
    memfd()
}

// ANCHOR: shm_open
fn posix_shared_memory() -> Result<()> {
    section("A. POSIX shared memory: a file in /dev/shm (shm_open)");
    let name = format!("/{PREFIX}{}", std::process::id());
    let path = format!("/dev/shm{name}");
    let flags = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL;
    // On Linux the name is a file in /dev/shm, and unlinking it is shm_unlink: what the
    // signal handler of `common::on_signal` does on Ctrl-C (registered before it exists).
    let _on_signal = Remove::file(Path::new(&path))?;
    let fd = shm_open(name.as_str(), flags, Mode::from_bits_truncate(0o600))
        .map_err(Error::sys("shm_open"))?;
    let object = Unlinker(name.clone()); // shm_unlink on every way out
    parent!(
        "shm_open(\"{name}\", O_RDWR|O_CREAT|O_EXCL, 0600): {}",
        describe(&path)?
    );

    // PostgreSQL's dsm_impl_posix_resize: ftruncate sets the size, but on tmpfs that leaves a
    // hole; posix_fallocate takes the pages now, so a full /dev/shm fails here with ENOSPC
    // instead of killing a process with SIGBUS when it first touches the memory.
    ftruncate(&fd, SIZE as i64).map_err(Error::sys("ftruncate"))?;
    posix_fallocate(&fd, 0, SIZE as i64).map_err(Error::sys("posix_fallocate"))?;
    parent!(
        "ftruncate and posix_fallocate to {SIZE}: {}",
        describe(&path)?
    );

    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let mapping = map_file(&File::from(fd), 0, SIZE, rw, MapFlags::MAP_SHARED)?;
    // SAFETY: the mapping is ours alone (no other process knows the name yet), and 19 bytes
    // fit in its 8192.
    unsafe { mapping.write_at(0, b"hello from shm_open") };
    let through_the_file = std::fs::read(&path)?;
    parent!(
        "wrote through the mapping; an ordinary read of the file says {:?}",
        text(&through_the_file)
    );
    show_maps_line(&mapping)?;

    drop(object); // shm_unlink
    let gone = !std::path::Path::new(&path).exists();
    parent!(
        "shm_unlink(\"{name}\"): {path} {}; the mapping still reads {:?} until munmap",
        if gone { "is gone" } else { "is still there" },
        read(&mapping)
    );
    Ok(())
}
// ANCHOR_END: shm_open

// ANCHOR: memfd
fn memfd() -> Result<()> {
    section("B. memfd_create: shared memory with no name at all");
    let fd: OwnedFd =
        memfd_create("l07-sidebar", MFdFlags::MFD_CLOEXEC).map_err(Error::sys("memfd_create"))?;
    let link = std::fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ))?;
    parent!(
        "memfd_create(\"l07-sidebar\", MFD_CLOEXEC): a file descriptor; /proc/self/fd says {:?}",
        link.display().to_string()
    );
    ftruncate(&fd, SIZE as i64).map_err(Error::sys("ftruncate"))?;
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let mapping = map_file(&File::from(fd), 0, SIZE, rw, MapFlags::MAP_SHARED)?;
    show_maps_line(&mapping)?;
    let child = fork_child(|| {
        // SAFETY: the parent does not touch the mapping until it has reaped this child.
        unsafe { mapping.write_at(0, b"hello from the child") };
        child!(
            "wrote {:?} into the inherited memfd mapping",
            read(&mapping)
        );
        0
    })?;
    child.wait()?;
    parent!("after waitpid the parent reads {:?}", read(&mapping));
    parent!(
        "no name in /dev/shm, nothing to unlink: the memory goes with the last descriptor and mapping"
    );
    Ok(())
}
// ANCHOR_END: memfd

// ANCHOR: sweep
/// Removes `/dev/shm/l07-sidebar.PID` objects whose PID is not running: a run killed between
/// `shm_open` and `shm_unlink` left them, and nothing else ever would remove them.
fn sweep_leftovers() -> Result<()> {
    let Ok(entries) = std::fs::read_dir("/dev/shm") else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = file_name
            .strip_prefix(PREFIX)
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if !l07_postgres_hybrid::owner_alive(pid) && pid != std::process::id() as i32 {
            shm_unlink(format!("/{file_name}").as_str()).map_err(Error::sys("shm_unlink"))?;
            parent!("removed /dev/shm/{file_name}, left behind by a run that was killed");
        }
    }
    Ok(())
}
// ANCHOR_END: sweep

/// Unlinks a POSIX shared memory name when dropped.
struct Unlinker(String);

impl Drop for Unlinker {
    fn drop(&mut self) {
        let _ = shm_unlink(self.0.as_str());
    }
}

fn describe(path: &str) -> Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)?;
    Ok(format!(
        "{path}, {} bytes, mode {:o}",
        meta.len(),
        meta.permissions().mode() & 0o777
    ))
}

fn show_maps_line(mapping: &Mapping) -> Result<()> {
    parent!("/proc/self/maps: {}", listed_mapping(mapping.as_ptr())?);
    Ok(())
}

/// The text at the start of a mapping (up to the first NUL).
fn read(mapping: &Mapping) -> String {
    // SAFETY: readable, and no other process writes while we read (the child has exited).
    text(&unsafe { mapping.read_at(0, 32) })
}

fn text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}
