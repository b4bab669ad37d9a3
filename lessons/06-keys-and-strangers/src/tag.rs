//! The course's tag: how the course tells its own segments from a real PostgreSQL's.
//!
//! The course writes PostgreSQL's header byte for byte, so the checks PostgreSQL makes
//! (magic, then the directory's device and inode: `PGSharedMemoryAttach`) cannot tell the
//! two apart, which is the point: each side must see the other's interlock. The course needs
//! one more mark to know its own, in a field PostgreSQL never reads in a segment it finds:
//! `index`. There it writes eight letters, `SHMEM-` and the number of the lesson that made
//! the segment, so lesson 06's own segments are told from the interlocks of lessons 07, 14
//! and 15 too. A real server never has letters there: its interlock holds 0 (PostgreSQL sets
//! `index` in its copy of the header at the start of the anonymous mapping, not in the
//! System V segment), or, with `shared_memory_type = sysv`, a pointer.

// ANCHOR: tag
/// The tag lesson `lesson` (0 to 99) writes in `index`: the bytes `SHMEM-06` for lesson 6,
/// in that order in memory (as a hex dump of the segment shows them at offset 32).
pub const fn course_tag(lesson: u8) -> u64 {
    assert!(lesson < 100, "a lesson number has two digits");
    let (tens, ones) = (b'0' + lesson / 10, b'0' + lesson % 10);
    u64::from_ne_bytes([b'S', b'H', b'M', b'E', b'M', b'-', tens, ones])
}

/// The lesson whose tag `index` holds, or `None` if it holds none (a real server's header).
pub fn tagged_lesson(index: u64) -> Option<u8> {
    let bytes = index.to_ne_bytes();
    let (prefix, digits) = bytes.split_at(6);
    if prefix != b"SHMEM-" || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some((digits[0] - b'0') * 10 + (digits[1] - b'0'))
}

/// `index` as the lesson prints it: a tag in quotes (`"SHMEM-06"`), anything else as a
/// number (`0`, or a pointer in hex).
pub fn index_shown(index: u64) -> String {
    match (tagged_lesson(index), index) {
        (Some(_), _) => format!("\"{}\"", String::from_utf8_lossy(&index.to_ne_bytes())),
        (None, 0) => "0".into(),
        (None, pointer) => format!("{pointer:#x}"),
    }
}
// ANCHOR_END: tag

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lessons_tag_names_the_lesson() {
        for lesson in [6, 7, 14, 15] {
            assert_eq!(tagged_lesson(course_tag(lesson)), Some(lesson));
        }
        assert_eq!(&course_tag(6).to_ne_bytes(), b"SHMEM-06");
        assert_eq!(index_shown(course_tag(14)), "\"SHMEM-14\"");
    }

    #[test]
    fn what_a_real_server_keeps_there_is_no_tag() {
        for index in [0, 0x55d0_3a2c_1e80, u64::MAX] {
            assert_eq!(tagged_lesson(index), None);
        }
        assert_eq!(index_shown(0), "0");
        assert_eq!(index_shown(0x55d0_3a2c_1e80), "0x55d03a2c1e80");
    }
}
