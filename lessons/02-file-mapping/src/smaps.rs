//! `/proc/self/smaps`: the kernel's page counts for each mapping.
//!
//! They are how the lesson shows, rather than asserts, that a shared page is dirty until
//! `msync` and clean after it, and that a write to a private mapping made a copy.

use common::Result;

// ANCHOR: smaps
/// The kernel's page counts for one mapping, from `/proc/self/smaps`, in kB.
///
/// Careful with the names: here "shared" and "private" say how many mappings use a page
/// (more than one, or just this one), not whether it was mapped `MAP_SHARED`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Smaps {
    /// Resident: pages of the mapping that are in memory now.
    pub rss: u64,
    pub shared_clean: u64,
    pub shared_dirty: u64,
    pub private_clean: u64,
    pub private_dirty: u64,
    /// Pages that belong to no file: for a `MAP_PRIVATE` file mapping, the copies made
    /// when we wrote.
    pub anonymous: u64,
}

impl Smaps {
    /// Changed in memory and not yet written back to the file.
    pub fn dirty(&self) -> u64 {
        self.shared_dirty + self.private_dirty
    }

    /// The same as the file's blocks on disk (or never changed).
    pub fn clean(&self) -> u64 {
        self.shared_clean + self.private_clean
    }
}

/// The counts for the mapping that starts at `addr`, if there is one.
pub fn smaps(addr: *const u8) -> Result<Option<Smaps>> {
    let text = std::fs::read_to_string("/proc/self/smaps")?;
    let mut lines = text.lines();
    // Each mapping is a header line like /proc/self/maps has, then "Key:  value kB" lines.
    let found = lines
        .by_ref()
        .any(|line| range_start(line) == Some(addr as usize));
    if !found {
        return Ok(None);
    }
    let mut counts = Smaps::default();
    for line in lines.take_while(|line| range_start(line).is_none()) {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let kb = || {
            value
                .trim()
                .trim_end_matches(" kB")
                .parse::<u64>()
                .unwrap_or(0)
        };
        match key {
            "Rss" => counts.rss = kb(),
            "Shared_Clean" => counts.shared_clean = kb(),
            "Shared_Dirty" => counts.shared_dirty = kb(),
            "Private_Clean" => counts.private_clean = kb(),
            "Private_Dirty" => counts.private_dirty = kb(),
            "Anonymous" => counts.anonymous = kb(),
            _ => {}
        }
    }
    Ok(Some(counts))
}

/// `7f3a5c000000-7f3a5c002000 rw-s ...` gives `0x7f3a5c000000`; a "Key: value" line gives
/// `None` (no key is a range of hex numbers).
fn range_start(line: &str) -> Option<usize> {
    let (start, end) = line.split_whitespace().next()?.split_once('-')?;
    usize::from_str_radix(end, 16).ok()?;
    usize::from_str_radix(start, 16).ok()
}
// ANCHOR_END: smaps

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines_give_a_start_and_counts_do_not() {
        assert_eq!(
            range_start("7f3a5c000000-7f3a5c002000 rw-s 00000000 fd:00 42 /tmp/x"),
            Some(0x7f3a5c000000)
        );
        assert_eq!(range_start("Rss:                   4 kB"), None);
        assert_eq!(range_start("VmFlags: rd wr sh mr mw me ms sd"), None);
    }
}
