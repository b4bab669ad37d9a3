//! Step 3: the big area, one anonymous shared mapping, with huge pages or not, and the line
//! of /proc/self/maps that shows it (`/dev/zero (deleted)`, or `/anon_hugepage (deleted)`).

use common::{Result, parent, section};
use l01_mmap::{listed_mapping, page_size};
use l07_postgres_hybrid::{HugePages, SharedMemory, create_anonymous_segment, huge_page_size};

// ANCHOR: big
pub fn map_the_big_area(size: usize, huge_pages: HugePages) -> Result<SharedMemory> {
    section("3. The big area: one anonymous shared mapping (CreateAnonymousSegment)");
    let shmem = create_anonymous_segment(size, huge_pages)?;
    let flags = if shmem.huge_pages {
        "MAP_SHARED|MAP_ANONYMOUS|MAP_HUGETLB"
    } else {
        "MAP_SHARED|MAP_ANONYMOUS"
    };
    if let Some(err) = &shmem.fallback {
        parent!("huge_pages = try: mmap with MAP_HUGETLB failed ({err}); normal pages then");
    }
    parent!(
        "mmap(NULL, {}, PROT_READ|PROT_WRITE, {flags}, -1, 0) = {:#x}",
        shmem.mapping.len(),
        shmem.mapping.as_ptr() as usize
    );
    parent!(
        "huge_pages_status = {}",
        if shmem.huge_pages { "on" } else { "off" }
    );
    let unit = if shmem.huge_pages {
        huge_page_size()
    } else {
        page_size()
    };
    show_maps_line(shmem.mapping.as_ptr(), unit)?;
    Ok(shmem)
}
// ANCHOR_END: big

/// This process's line of /proc/self/maps for the mapping at `addr`, made of `unit`-byte pages.
pub fn show_maps_line(addr: *const u8, unit: usize) -> Result<()> {
    let entry = listed_mapping(addr)?;
    let pages = entry.size() / unit;
    parent!(
        "/proc/self/maps: {entry}  ({} bytes, {pages} page{} of {unit})",
        entry.size(),
        if pages == 1 { "" } else { "s" },
    );
    Ok(())
}
