//! `Region`: a region of shared memory, written once before anyone else looks, and checked
//! by everyone else before they trust it.
//!
//! The creator writes the header and zeroed counters through raw pointers, while no other
//! process exists, and publishes them last with a Release store of `ready`. Everyone else
//! goes through `attach`, which reads nothing it has not yet proven is there and published.
//! A `Region` borrows the `Mapping` it lives in, so it cannot outlive the memory.

use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::ptr::{NonNull, addr_of_mut};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use common::{Error, Result};
use l01_mmap::Mapping;

use crate::{
    AttachError, COUNTERS_OFFSET, Counters, Header, MAGIC, REGION_SIZE, VERSION, atomic_u32,
    atomic_u64,
};

// ANCHOR: region
/// A checked view of a region: its base and length. Copying it copies two numbers; the memory
/// stays where it is, owned by a [`Mapping`] that must outlive every `Region` made from it
/// (the borrow `'a` makes the compiler check that).
#[derive(Debug, Clone, Copy)]
pub struct Region<'a> {
    base: NonNull<u8>,
    len: usize,
    mapping: PhantomData<&'a Mapping>,
}

impl<'a> Region<'a> {
    /// Writes a fresh header and zeroed counters into `mapping`, then publishes `ready`.
    /// Call it before forking: no other process may see the region half written.
    pub fn initialize(mapping: &'a Mapping) -> Result<Region<'a>> {
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
            mapping: PhantomData,
        })
    }

    /// Checks that `base..base + len` holds a ready region of ours, in an order that never
    /// reads a byte it has not yet proven is there and published: alignment and length
    /// first (no reads), then `ready` (Acquire), then magic, version and size.
    ///
    /// # Safety
    /// `base..base + len` must be mapped, readable and writable, for all of `'a`.
    pub unsafe fn attach(base: *mut u8, len: usize) -> Result<Region<'a>, AttachError> {
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
            mapping: PhantomData,
        })
    }

    // ANCHOR_END: region
    /// [`Region::attach`] on the whole of `mapping`, which the region then borrows: the
    /// borrow keeps the memory mapped for as long as the region is used. Like
    /// [`Region::initialize`], it trusts the mapping to be writable: the lesson maps every
    /// region `PROT_READ | PROT_WRITE`, and a read-only one would fault at the first count.
    pub fn attach_to(mapping: &'a Mapping) -> Result<Region<'a>, AttachError> {
        // SAFETY: the range is exactly `mapping`, which stays mapped for all of `'a`, the
        // borrow the returned Region holds; writable, as the doc comment above says.
        unsafe { Region::attach(mapping.as_ptr(), mapping.len()) }
    }

    /// A copy of the header, read after [`Region::attach`] or [`Region::initialize`] proved it ready.
    pub fn header(&self) -> Header {
        // SAFETY: in bounds and aligned (checked when this Region was made); published and
        // never written again, so a plain read of a copy races with nobody.
        unsafe { self.base.as_ptr().cast::<Header>().read() }
    }

    /// The shared counters, found by the offset the header stores, as atomics made in place.
    /// Panics if that offset leaves no room for them: the header is not what we wrote.
    pub fn counters(&self) -> (&'a AtomicU32, &'a AtomicU64) {
        let offset = self.header().counters_offset as usize;
        assert!(
            offset
                .checked_add(size_of::<Counters>())
                .is_some_and(|end| end <= self.len),
            "counters_offset {offset} leaves no room for the counters in {} bytes",
            self.len
        );
        // SAFETY: `offset + size_of::<Counters>() <= len` (checked above), so the sum stays
        // inside the region.
        let counters = unsafe { self.base.as_ptr().add(offset) }.cast::<Counters>();
        // SAFETY: both fields are inside the mapping, which stays mapped for `'a`, and every
        // process touches them only through these atomics (which check their alignment).
        unsafe {
            (
                atomic_u32(addr_of_mut!((*counters).attached)),
                atomic_u64(addr_of_mut!((*counters).total)),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use l01_mmap::PG_MMAP_FLAGS;
    use nix::sys::mman::ProtFlags;

    fn mapping(len: usize) -> Mapping {
        Mapping::anonymous(
            len,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            PG_MMAP_FLAGS,
        )
        .unwrap()
    }

    #[test]
    fn an_initialized_region_attaches_and_counts() {
        let mapping = mapping(REGION_SIZE);
        Region::initialize(&mapping).unwrap();
        let region = Region::attach_to(&mapping).unwrap();
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
        let err = Region::attach_to(&mapping).unwrap_err();
        assert_eq!(err, AttachError::NotReady);
    }

    #[test]
    fn a_region_seen_at_an_offset_is_misaligned_or_too_small() {
        let mapping = mapping(REGION_SIZE);
        Region::initialize(&mapping).unwrap();
        // SAFETY: both ranges lie inside the mapping, which lives until the end of the test.
        let (shifted, short) = unsafe {
            (
                Region::attach(mapping.as_ptr().add(4), REGION_SIZE - 4),
                Region::attach(mapping.as_ptr(), 16),
            )
        };
        assert!(matches!(shifted, Err(AttachError::Misaligned { .. })));
        assert_eq!(
            short.unwrap_err(),
            AttachError::TooSmall { len: 16, need: 32 }
        );
    }
}
