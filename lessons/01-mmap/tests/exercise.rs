//! Checks for lesson 01's exercise. `cargo test -p l01-mmap` runs them against
//! src/solution.rs; `cargo exercise l01-mmap` runs them against your src/exercise.rs.

use l01_mmap::exercise::{map_with_guard_page, round_up_to_pages};
use l01_mmap::{maps_entries, page_size};

#[test]
fn lengths_round_up_to_whole_pages() {
    for (len, page, want) in [
        (1, 4096, 4096),
        (4096, 4096, 4096),
        (4097, 4096, 8192),
        (5000, 4096, 8192),
        (0, 4096, 0),
        (70_000, 65_536, 131_072),
    ] {
        assert_eq!(
            round_up_to_pages(len, page),
            Some(want),
            "round_up_to_pages({len}, {page}): a length that spills even one byte into a page needs that whole page"
        );
    }
}

#[test]
fn rounding_that_overflows_is_none() {
    assert_eq!(
        round_up_to_pages(usize::MAX - 10, 4096),
        None,
        "usize::MAX - 10 rounded up to pages does not fit in a usize: return None, do not wrap or panic"
    );
}

#[test]
fn the_usable_pages_are_shared_and_writable_and_the_guard_page_is_not() {
    let page = page_size();
    let mapping = map_with_guard_page(5000).unwrap_or_else(|err| {
        panic!(
            "map_with_guard_page(5000) failed: {err}. (mprotect says EINVAL when the offset \
             is not a multiple of the page size: protect from the rounded length)"
        )
    });
    let entries = maps_entries(mapping.as_ptr(), mapping.len()).unwrap();
    let seen: Vec<_> = entries
        .iter()
        .map(|e| (e.perms.as_str(), e.size()))
        .collect();
    assert_eq!(
        seen,
        [("rw-s", 2 * page), ("---s", page)],
        "/proc/self/maps should show 2 pages rw-s (PG_MMAP_FLAGS, read+write) then 1 page ---s \
         (the guard: mprotect it PROT_NONE); it shows {seen:?}"
    );
    // SAFETY: the first two pages are mapped read-write and only this test uses them.
    unsafe { mapping.as_ptr().add(2 * page - 1).write(7) };
}

#[test]
fn zero_bytes_is_refused_as_bad_usage() {
    let err = map_with_guard_page(0)
        .expect_err("map_with_guard_page(0) should be an error, not an empty mapping");
    assert_eq!(
        err.exit_status(),
        2,
        "0 bytes is the caller's mistake: return Error::Usage"
    );
}
