//! The messages the lesson's processes leave each other at the start of the segment.
//!
//! Each process writes a short text and a terminating 0, and the next one reads it: proof
//! that they share the pages. They take turns, ordered by `waitpid`, so no lock is needed;
//! these two functions are the only places the story touches the segment's memory.

use l01_mmap::page_size;
use l05_sysv_segments::Attachment;

/// Longest text the lesson keeps at the start of the segment, with its terminating 0.
const TEXT_CAPACITY: usize = 64;

/// Copies `text` and a terminating 0 to the start of the segment.
pub fn write_text(attachment: &Attachment, text: &str) {
    assert!(text.len() < TEXT_CAPACITY && TEXT_CAPACITY <= page_size());
    // SAFETY: the attachment maps at least one whole page, so the first TEXT_CAPACITY
    // bytes are mapped and writable (whatever shm_segsz is); the lesson's processes take
    // turns, ordered by waitpid, so nobody else reads or writes them meanwhile.
    unsafe {
        let p = attachment.as_ptr();
        p.copy_from_nonoverlapping(text.as_ptr(), text.len());
        p.add(text.len()).write(0);
    }
}

/// The text at the start of the segment, up to its terminating 0.
pub fn read_text(attachment: &Attachment) -> String {
    let mut bytes = [0u8; TEXT_CAPACITY];
    // SAFETY: as in `write_text`: mapped, readable, and nobody writes while we read.
    unsafe {
        attachment
            .as_ptr()
            .copy_to_nonoverlapping(bytes.as_mut_ptr(), TEXT_CAPACITY)
    };
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(TEXT_CAPACITY);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}
