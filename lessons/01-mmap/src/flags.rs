//! The flags PostgreSQL maps its shared memory with, spelled for every Unix.
//!
//! PostgreSQL's `src/include/portability/mem.h` names its flag set `PG_MMAP_FLAGS` and
//! covers for systems that lack a flag, so that one `mmap` call reads the same everywhere.
//! In Rust the fallback is a `cfg`; every later lesson maps with these flags.

use nix::sys::mman::MapFlags;

// ANCHOR: shim
/// `MAP_HASSEMAPHORE` tells BSD kernels the region will hold semaphores. Linux has no such
/// flag and needs none, so, like PostgreSQL's `src/include/portability/mem.h`, we define it
/// as "no bits" where the system lacks it. (`MAP_ANON` vs `MAP_ANONYMOUS`, the other half of
/// the article's C shim, needs nothing in Rust: the `libc` crate offers `MAP_ANONYMOUS` on
/// every Unix.)
#[cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd"
))]
pub const MAP_HASSEMAPHORE: MapFlags = MapFlags::from_bits_retain(libc::MAP_HASSEMAPHORE);
#[cfg(not(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd"
)))]
pub const MAP_HASSEMAPHORE: MapFlags = MapFlags::empty();

/// PostgreSQL's `PG_MMAP_FLAGS`: memory shared with every process forked after the call.
/// (`mmap_anonymous` adds `MAP_ANONYMOUS` itself.)
pub const PG_MMAP_FLAGS: MapFlags = MapFlags::MAP_SHARED.union(MAP_HASSEMAPHORE);
// ANCHOR_END: shim
