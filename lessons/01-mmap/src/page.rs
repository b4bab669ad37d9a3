//! The page: the unit in which the kernel maps, protects and unmaps memory.
//!
//! A mapping always covers whole pages, whatever length was asked for. Lessons that round,
//! print or protect memory ask here rather than calling `sysconf` themselves.

use nix::unistd::{SysconfVar, sysconf};

/// The size of one page, the unit in which the kernel maps memory.
pub fn page_size() -> usize {
    sysconf(SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .expect("the kernel always knows its page size") as usize
}
