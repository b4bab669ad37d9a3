//! The region's layout: a `#[repr(C)]` header at offset 0, the counters one cache line on.
//!
//! Every process that maps the region must agree, byte for byte, on where each field is,
//! and must be able to tell our region from fresh zero pages or a stranger's bytes before
//! it trusts any of them: hence a fixed layout, a magic, a version and a size.

use std::mem::{offset_of, size_of};

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
    pub(crate) reserved: u32,
}

/// What the children share after they attach. Both fields are only ever touched as atomics.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Counters {
    /// How many processes have attached and checked the header (`AtomicU32`).
    pub attached: u32,
    pub(crate) reserved: u32,
    /// The sum of every child's increments (`AtomicU64`).
    pub total: u64,
}

/// The counters start one cache line (64 bytes on x86-64) after the base, so the header,
/// read by everyone, does not share a line with counters that everyone writes.
pub const COUNTERS_OFFSET: usize = 64;
/// Bytes in a whole region: the header, padding to [`COUNTERS_OFFSET`], the counters.
pub const REGION_SIZE: usize = COUNTERS_OFFSET + size_of::<Counters>();
// ANCHOR_END: header

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

/// A 32-bit magic number as `0x5348_4d04`: readable, and never mistaken for an address.
pub fn hex32(value: u32) -> String {
    format!("0x{:04x}_{:04x}", value >> 16, value & 0xffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_layout_is_what_the_chapter_prints() {
        assert_eq!(size_of::<Header>(), 32);
        assert_eq!(align_of::<Header>(), 8);
        assert_eq!(offset_of!(Header, ready), 24);
        assert!(size_of::<Header>() <= COUNTERS_OFFSET);
        assert_eq!(REGION_SIZE, 80);
    }
}
