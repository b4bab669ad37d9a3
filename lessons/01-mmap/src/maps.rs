//! `/proc/self/maps`: the kernel's own list of this process's mappings.
//!
//! The lessons read it to show what the kernel really did (whole pages, `rw-s`, the name
//! of what backs a range) rather than what the program asked for.

use common::{Error, Result};

// ANCHOR: maps
/// One line of `/proc/self/maps`: a range of addresses and what backs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapsEntry {
    pub start: usize,
    pub end: usize,
    /// `rw-s`: readable, writable, not executable, **s**hared (`p` would be private).
    pub perms: String,
    /// What backs the range: a file path, `[heap]`, or empty for private anonymous memory.
    pub name: String,
}

impl MapsEntry {
    pub fn size(&self) -> usize {
        self.end - self.start
    }
}

/// The line as the lessons print it: `7f3a5c000000-7f3a5c002000 rw-s /dev/zero (deleted)`.
impl std::fmt::Display for MapsEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:x}-{:x} {} {}",
            self.start, self.end, self.perms, self.name
        )
    }
}

/// The entries of `/proc/self/maps` that overlap `addr..addr + len`, in address order.
pub fn maps_entries(addr: *const u8, len: usize) -> Result<Vec<MapsEntry>> {
    let (lo, hi) = (addr as usize, addr as usize + len);
    let text = std::fs::read_to_string("/proc/self/maps")?;
    Ok(text
        .lines()
        .filter_map(parse_maps_line)
        .filter(|e| e.start < hi && lo < e.end)
        .collect())
}

/// The one entry of `/proc/self/maps` that contains `addr`, if any.
pub fn maps_entry(addr: *const u8) -> Result<Option<MapsEntry>> {
    Ok(maps_entries(addr, 1)?.into_iter().next())
}

/// The entry of `/proc/self/maps` that contains `addr`, which must be mapped.
pub fn listed_mapping(addr: *const u8) -> Result<MapsEntry> {
    maps_entry(addr)?.ok_or_else(|| {
        Error::Failed(format!(
            "nothing is mapped at {:#x}, says /proc/self/maps",
            addr as usize
        ))
    })
}

/// `7f3a5c000000-7f3a5c002000 rw-s 00000000 00:01 2058 /dev/zero (deleted)`
fn parse_maps_line(line: &str) -> Option<MapsEntry> {
    let mut fields = line.splitn(6, ' ');
    let (start, end) = fields.next()?.split_once('-')?;
    let perms = fields.next()?.to_string();
    let (_offset, _device, _inode) = (fields.next()?, fields.next()?, fields.next()?);
    let name = fields.next().unwrap_or("").trim_start().to_string();
    Some(MapsEntry {
        start: usize::from_str_radix(start, 16).ok()?,
        end: usize::from_str_radix(end, 16).ok()?,
        perms,
        name,
    })
}
// ANCHOR_END: maps

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_maps_line_is_parsed_with_its_name() {
        let entry =
            parse_maps_line("7f3a5c000000-7f3a5c002000 rw-s 00000000 00:01 2058                       /dev/zero (deleted)")
                .unwrap();
        assert_eq!(entry.size(), 0x2000);
        assert_eq!(entry.perms, "rw-s");
        assert_eq!(entry.name, "/dev/zero (deleted)");
    }

    #[test]
    fn an_anonymous_private_line_has_an_empty_name() {
        let entry = parse_maps_line("7f3a5c000000-7f3a5c001000 rw-p 00000000 00:00 0 ").unwrap();
        assert_eq!(entry.name, "");
    }
}
