//! Lesson 04: structures in shared memory.
//!
//! Once two processes map the same pages, Rust's usual promises stop covering them: the
//! compiler assumes that memory behind a `&T` does not change and that nobody reads what a
//! `&mut T` is writing, and another process keeps neither promise. So this lesson's rules are:
//! - reach shared memory through raw pointers, and make atomics *in place* with
//!   `AtomicU32::from_ptr` / `AtomicU64::from_ptr` (alignment checked first);
//! - start the region with a `#[repr(C)]` [`Header`] (magic, version, size), written before
//!   anyone else can look and published last with a Release store of `ready`;
//! - refuse to trust a region until [`Region::attach`] has checked it;
//! - store offsets from the region's base, never pointers: the same pages can sit at a
//!   different address in every process ([`map_twice`] shows it inside one process).
//!
//! The exercise ([`exercise`]) applies the same rules to a [`Mailbox`].

use std::fs::File;
use std::mem::{align_of, offset_of, size_of};
use std::ptr::{NonNull, addr_of_mut};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use common::{Error, Result};
use l01_mmap::Mapping;
use l02_file_mapping::map_file;
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::mman::{MapFlags, ProtFlags};

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;

// ANCHOR: header
/// Identifies our regions, the way PostgreSQL's `PGShmemMagic` (679834894) identifies its
/// segments. Any fixed, unlikely number will do.
pub const MAGIC: u32 = 0x5348_4d04;
/// The layout version. Change it whenever a field of [`Header`] or [`Counters`] moves.
pub const VERSION: u32 = 1;

/// The first bytes of every region. `#[repr(C)]` fixes the order and the offsets of the
/// fields, so every process (and every build of this program) agrees on where each one is.
/// Nothing here is a pointer: `counters_offset` counts bytes from the region's base.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Header {
    /// Always [`MAGIC`]: tells our region from a stranger's or from fresh zeroed pages.
    pub magic: u32,
    /// Always [`VERSION`]: tells today's layout from an older build's.
    pub version: u32,
    /// Bytes in the whole region, this header included.
    pub total_size: u64,
    /// Where the [`Counters`] start, in bytes from the region's base.
    pub counters_offset: u64,
    /// 0: being initialized, the fields above may be half written; 1: ready to read.
    /// Accessed only as an `AtomicU32`: stored with Release, loaded with Acquire.
    pub ready: u32,
    reserved: u32,
}

/// What the children share after they attach. Both fields are only ever touched as atomics.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Counters {
    /// How many processes have attached and checked the header (`AtomicU32`).
    pub attached: u32,
    reserved: u32,
    /// The sum of every child's increments (`AtomicU64`).
    pub total: u64,
}

/// The counters start one cache line (64 bytes on x86-64) after the base, so the header,
/// read by everyone, does not share a line with counters that everyone writes.
pub const COUNTERS_OFFSET: usize = 64;
/// Bytes in a whole region: the header, padding to [`COUNTERS_OFFSET`], the counters.
pub const REGION_SIZE: usize = COUNTERS_OFFSET + size_of::<Counters>();
// ANCHOR_END: header

// ANCHOR: atomic
/// The `AtomicU32` that lives at `ptr`, made in place. Panics if `ptr` is misaligned:
/// `from_ptr` requires `align_of::<AtomicU32>()`, and a misaligned atomic may tear or fault.
///
/// # Safety
/// `ptr` must stay valid for `'a`, and every process must access that word only atomically.
pub unsafe fn atomic_u32<'a>(ptr: *mut u32) -> &'a AtomicU32 {
    let align = align_of::<AtomicU32>();
    assert!(
        (ptr as usize).is_multiple_of(align),
        "AtomicU32 at {ptr:?} is not {align}-aligned"
    );
    // SAFETY: aligned (checked above); valid and only accessed atomically (the caller's promise).
    unsafe { AtomicU32::from_ptr(ptr) }
}

/// The `AtomicU64` that lives at `ptr`, made in place; like [`atomic_u32`]. On some 32-bit
/// targets `align_of::<AtomicU64>()` is 8 while `align_of::<u64>()` is 4, so check, don't assume.
///
/// # Safety
/// As for [`atomic_u32`].
pub unsafe fn atomic_u64<'a>(ptr: *mut u64) -> &'a AtomicU64 {
    let align = align_of::<AtomicU64>();
    assert!(
        (ptr as usize).is_multiple_of(align),
        "AtomicU64 at {ptr:?} is not {align}-aligned"
    );
    // SAFETY: aligned (checked above); valid and only accessed atomically (the caller's promise).
    unsafe { AtomicU64::from_ptr(ptr) }
}
// ANCHOR_END: atomic

/// A 32-bit magic number as `0x5348_4d04`: readable, and never mistaken for an address.
pub fn hex32(value: u32) -> String {
    format!("0x{:04x}_{:04x}", value >> 16, value & 0xffff)
}

/// Why [`Region::attach`] (or the exercise's `attach`) refused a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachError {
    Misaligned { addr: usize, align: usize },
    TooSmall { len: usize, need: usize },
    NotReady,
    WrongMagic { found: u32, expected: u32 },
    WrongVersion { found: u32, expected: u32 },
    SizeMismatch { claimed: u64, mapped: usize },
}

impl std::fmt::Display for AttachError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttachError::Misaligned { addr, align } => write!(
                f,
                "address {addr:#x} is not a multiple of {align}: its atomics would be misaligned; \
                 attach at the start of the mapping"
            ),
            AttachError::TooSmall { len, need } => write!(
                f,
                "{len} bytes cannot hold the {need}-byte structure: is this the right region?"
            ),
            AttachError::NotReady => write!(
                f,
                "ready is 0: the creator has not finished initializing (or this is not our region)"
            ),
            AttachError::WrongMagic { found, expected } => write!(
                f,
                "magic is {}, not {}: this region is not one of ours",
                hex32(*found),
                hex32(*expected)
            ),
            AttachError::WrongVersion { found, expected } => write!(
                f,
                "layout version {found}, expected {expected}: made by another build; recreate it"
            ),
            AttachError::SizeMismatch { claimed, mapped } => write!(
                f,
                "the header claims {claimed} bytes but only {mapped} are mapped: truncated or foreign"
            ),
        }
    }
}

impl std::error::Error for AttachError {}

impl From<AttachError> for Error {
    fn from(err: AttachError) -> Self {
        Error::Failed(format!("attach: {err}"))
    }
}

// ANCHOR: region
/// A checked view of a region: its base and length. Copying it copies two numbers; the memory
/// stays where it is, owned by a [`Mapping`] that must outlive every `Region` made from it.
#[derive(Debug, Clone, Copy)]
pub struct Region {
    base: NonNull<u8>,
    len: usize,
}

impl Region {
    /// Writes a fresh header and zeroed counters into `mapping`, then publishes `ready`.
    /// Call it before forking: no other process may see the region half written.
    pub fn initialize(mapping: &Mapping) -> Result<Region> {
        let (base, len) = (mapping.as_ptr(), mapping.len());
        if len < REGION_SIZE {
            return Err(Error::Failed(format!(
                "a region needs {REGION_SIZE} bytes, not {len}"
            )));
        }
        let header = base.cast::<Header>();
        let fields = Header {
            magic: MAGIC,
            version: VERSION,
            total_size: len as u64,
            counters_offset: COUNTERS_OFFSET as u64,
            ready: 0,
            reserved: 0,
        };
        // SAFETY: mmap returns page-aligned memory and `len >= REGION_SIZE` (checked), so both
        // writes are aligned and in bounds. No other process exists yet, so nobody reads them
        // half done; plain writes through raw pointers create no `&mut` to shared memory.
        unsafe {
            header.write(fields);
            base.add(COUNTERS_OFFSET)
                .cast::<Counters>()
                .write(Counters {
                    attached: 0,
                    reserved: 0,
                    total: 0,
                });
        }
        // SAFETY: `ready` lies inside the mapping, which outlives this call; from now on every
        // process touches it only as an atomic.
        let ready = unsafe { atomic_u32(addr_of_mut!((*header).ready)) };
        // Release: every write above happens-before any Acquire load that reads this 1.
        ready.store(1, Ordering::Release);
        Ok(Region {
            base: NonNull::new(base).expect("mmap never returns null"),
            len,
        })
    }

    /// Checks that `base..base + len` holds a ready region of ours, in an order that never
    /// reads a byte it has not yet proven is there and published: alignment and length
    /// first (no reads), then `ready` (Acquire), then magic, version and size.
    ///
    /// # Safety
    /// `base..base + len` must be mapped, readable and writable, for as long as the returned
    /// `Region` is used.
    pub unsafe fn attach(base: *mut u8, len: usize) -> Result<Region, AttachError> {
        let align = align_of::<Header>();
        if !(base as usize).is_multiple_of(align) {
            return Err(AttachError::Misaligned {
                addr: base as usize,
                align,
            });
        }
        if len < size_of::<Header>() {
            return Err(AttachError::TooSmall {
                len,
                need: size_of::<Header>(),
            });
        }
        let header = base.cast::<Header>();
        // SAFETY: aligned and in bounds (checked above); mapped (the caller's promise).
        let ready = unsafe { atomic_u32(addr_of_mut!((*header).ready)) };
        if ready.load(Ordering::Acquire) != 1 {
            return Err(AttachError::NotReady);
        }
        // SAFETY: the Acquire load saw 1, so the creator's writes are complete and visible,
        // and nobody writes these fields again; a plain read of a copy is sound.
        let fields = unsafe { header.read() };
        if fields.magic != MAGIC {
            return Err(AttachError::WrongMagic {
                found: fields.magic,
                expected: MAGIC,
            });
        }
        if fields.version != VERSION {
            return Err(AttachError::WrongVersion {
                found: fields.version,
                expected: VERSION,
            });
        }
        if fields.total_size > len as u64 || fields.total_size < REGION_SIZE as u64 {
            return Err(AttachError::SizeMismatch {
                claimed: fields.total_size,
                mapped: len,
            });
        }
        Ok(Region {
            base: NonNull::new(base).expect("aligned and in a mapping, so not null"),
            len,
        })
    }

    // ANCHOR_END: region
    /// A copy of the header, read after [`Region::attach`] or [`Region::initialize`] proved it ready.
    pub fn header(&self) -> Header {
        // SAFETY: in bounds and aligned (checked when this Region was made); published and
        // never written again, so a plain read of a copy races with nobody.
        unsafe { self.base.as_ptr().cast::<Header>().read() }
    }

    /// The shared counters, found by the offset the header stores, as atomics made in place.
    pub fn counters(&self) -> (&AtomicU32, &AtomicU64) {
        let offset = self.header().counters_offset as usize;
        // SAFETY: attach checked total_size >= REGION_SIZE and total_size <= len, and the
        // creator put the counters at COUNTERS_OFFSET, so base + offset is in bounds.
        let counters = unsafe { self.base.as_ptr().add(offset) }.cast::<Counters>();
        // SAFETY: both fields are inside the mapping, which outlives `self`, and every process
        // touches them only through these atomics.
        unsafe {
            (
                atomic_u32(addr_of_mut!((*counters).attached)),
                atomic_u64(addr_of_mut!((*counters).total)),
            )
        }
    }

    pub fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// `(name, offset, size)` of each field of [`Header`], for printing the layout.
pub fn header_layout() -> [(&'static str, usize, usize); 6] {
    [
        ("magic", offset_of!(Header, magic), size_of::<u32>()),
        ("version", offset_of!(Header, version), size_of::<u32>()),
        (
            "total_size",
            offset_of!(Header, total_size),
            size_of::<u64>(),
        ),
        (
            "counters_offset",
            offset_of!(Header, counters_offset),
            size_of::<u64>(),
        ),
        ("ready", offset_of!(Header, ready), size_of::<u32>()),
        ("reserved", offset_of!(Header, reserved), size_of::<u32>()),
    ]
}

// ANCHOR: views
/// Makes a memory file (`memfd_create`: no name on disk, nothing left in /dev/shm) of `len`
/// bytes and maps it twice, `MAP_SHARED`: two addresses, the same pages. Another process
/// that maps a shared segment sees it the way view B sees view A's bytes.
pub fn map_twice(name: &str, len: usize) -> Result<(Mapping, Mapping)> {
    let fd = memfd_create(name, MFdFlags::MFD_CLOEXEC).map_err(Error::sys("memfd_create"))?;
    let file = File::from(fd);
    file.set_len(len as u64)?; // ftruncate: no page of either view lies past the end
    let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let a = map_file(&file, 0, len, prot, MapFlags::MAP_SHARED)?;
    let b = map_file(&file, 0, len, prot, MapFlags::MAP_SHARED)?;
    // The file closes when `file` drops; the two mappings keep the memory alive.
    Ok((a, b))
}
// ANCHOR_END: views

// ANCHOR: mailbox
/// The exercise's structure: one record of [`MAILBOX_WORDS`] words, published whole.
pub const MAILBOX_MAGIC: u32 = 0x4d41_494c;
pub const MAILBOX_VERSION: u32 = 1;
/// Large on purpose: writing 32 KiB takes long enough for a reader to catch a writer midway.
pub const MAILBOX_WORDS: usize = 4096;

/// A mailbox in shared memory. The creator writes magic and version (and zeroes the rest)
/// before any reader can see it ([`Mailbox::initialize`]); a writer then fills `data` once
/// and publishes it through `ready`.
#[repr(C)]
pub struct Mailbox {
    /// Always [`MAILBOX_MAGIC`].
    pub magic: u32,
    /// Always [`MAILBOX_VERSION`].
    pub version: u32,
    /// 0: empty, or being written: readers must not look at `data`.
    /// 1: `data` is complete and will not change.
    /// Accessed only as an `AtomicU32` ([`atomic_u32`]).
    pub ready: u32,
    reserved: u32,
    /// The record. Written only while `ready` is 0, read only after `ready` is 1.
    pub data: [u64; MAILBOX_WORDS],
}

impl Mailbox {
    /// Writes an empty mailbox at `base`: magic, version, `ready` 0, every word 0.
    ///
    /// # Safety
    /// `base` must be aligned for `Mailbox` and have `size_of::<Mailbox>()` writable bytes
    /// that no other process reads or writes during this call.
    pub unsafe fn initialize(base: *mut u8) -> *mut Mailbox {
        let mailbox = base.cast::<Mailbox>();
        // SAFETY: aligned, in bounds and unobserved (the caller's promise); zero is a valid
        // value for every field, and magic and version are then written in place.
        unsafe {
            mailbox.write_bytes(0, 1);
            addr_of_mut!((*mailbox).magic).write(MAILBOX_MAGIC);
            addr_of_mut!((*mailbox).version).write(MAILBOX_VERSION);
        }
        mailbox
    }
}
// ANCHOR_END: mailbox

#[cfg(test)]
mod tests {
    use super::*;
    use l01_mmap::PG_MMAP_FLAGS;

    fn mapping(len: usize) -> Mapping {
        Mapping::anonymous(
            len,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            PG_MMAP_FLAGS,
        )
        .unwrap()
    }

    #[test]
    fn the_header_layout_is_what_the_chapter_prints() {
        assert_eq!(size_of::<Header>(), 32);
        assert_eq!(align_of::<Header>(), 8);
        assert_eq!(offset_of!(Header, ready), 24);
        assert!(size_of::<Header>() <= COUNTERS_OFFSET);
        assert_eq!(REGION_SIZE, 80);
    }

    #[test]
    fn an_initialized_region_attaches_and_counts() {
        let mapping = mapping(REGION_SIZE);
        Region::initialize(&mapping).unwrap();
        // SAFETY: the mapping lives until the end of the test.
        let region = unsafe { Region::attach(mapping.as_ptr(), mapping.len()) }.unwrap();
        let (attached, total) = region.counters();
        attached.fetch_add(1, Ordering::Relaxed);
        total.fetch_add(5, Ordering::Relaxed);
        assert_eq!(
            (
                attached.load(Ordering::Relaxed),
                total.load(Ordering::Relaxed)
            ),
            (1, 5)
        );
    }

    #[test]
    fn zeroed_pages_are_not_ready() {
        let mapping = mapping(REGION_SIZE);
        // SAFETY: the mapping lives until the end of the test.
        let err = unsafe { Region::attach(mapping.as_ptr(), mapping.len()) }.unwrap_err();
        assert_eq!(err, AttachError::NotReady);
    }

    #[test]
    fn two_views_share_their_bytes() {
        let (a, b) = map_twice("l04-test", 4096).unwrap();
        assert_ne!(a.as_ptr(), b.as_ptr());
        // SAFETY: both views are 4096 bytes, mapped read-write, used only by this test.
        unsafe {
            a.as_ptr().add(100).write(42);
            assert_eq!(b.as_ptr().add(100).read(), 42);
        }
    }
}
