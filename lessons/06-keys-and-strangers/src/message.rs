//! The message: what the processes that meet in a segment leave there for each other.
//!
//! It lives after the header, as a length word and the text. There is no lock yet (Part IV):
//! two writers at the same moment could mix their bytes, so the lesson runs them one at a
//! time, and the length is published with `Release` so a reader never sees it before the text.

use std::sync::atomic::{AtomicU32, Ordering};

use common::{Error, Result};
use l05_sysv_segments::Attachment;

// ANCHOR: message
/// The size of every segment this lesson makes: a header, a message, room to spare.
pub const SEGMENT_SIZE: usize = 1024;
/// Where the message starts: a length word, then up to [`MESSAGE_CAPACITY`] bytes of text.
pub const MESSAGE_OFFSET: usize = 64;
pub const MESSAGE_CAPACITY: usize = 256;

/// Leaves `text` in the segment for the next process. There is no lock yet (Part IV): two
/// writers at the same moment could mix their bytes; the lesson runs them one at a time.
pub fn write_message(attachment: &Attachment, text: &str) -> Result<()> {
    check_message(text)?;
    check_room(attachment)?;
    let base = attachment.as_ptr();
    // SAFETY: offset, length word and text lie inside the segment (check_room, check_message);
    // the length word is 4-byte aligned; readers take the text only after the Release store.
    unsafe {
        let bytes = base.add(MESSAGE_OFFSET + 4);
        bytes.copy_from_nonoverlapping(text.as_ptr(), text.len());
        let len = AtomicU32::from_ptr(base.add(MESSAGE_OFFSET).cast::<u32>());
        len.store(text.len() as u32, Ordering::Release);
    }
    Ok(())
}

/// The message the last writer left ("" in a fresh segment, which is all zeros).
pub fn read_message(attachment: &Attachment) -> Result<String> {
    check_room(attachment)?;
    let base = attachment.as_ptr();
    // SAFETY: as in write_message; the Acquire load pairs with the writer's Release store.
    let bytes = unsafe {
        let len = AtomicU32::from_ptr(base.add(MESSAGE_OFFSET).cast::<u32>());
        let len = (len.load(Ordering::Acquire) as usize).min(MESSAGE_CAPACITY);
        std::slice::from_raw_parts(base.add(MESSAGE_OFFSET + 4), len).to_vec()
    };
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A message must fit in the message area.
pub fn check_message(text: &str) -> Result<()> {
    if text.len() > MESSAGE_CAPACITY {
        return Err(Error::Usage(format!(
            "the message is {} bytes; the segment has room for {MESSAGE_CAPACITY}",
            text.len()
        )));
    }
    Ok(())
}

fn check_room(attachment: &Attachment) -> Result<()> {
    if attachment.size() < MESSAGE_OFFSET + 4 + MESSAGE_CAPACITY {
        return Err(Error::Failed(format!(
            "the segment is {} bytes, too small for a message",
            attachment.size()
        )));
    }
    Ok(())
}
// ANCHOR_END: message

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{Header, read_header, write_header};
    use crate::keys::DirId;
    use l05_sysv_segments::{IPC_PRIVATE, Segment, attach};

    #[test]
    fn the_message_fits_between_the_header_and_the_end() {
        const { assert!(MESSAGE_OFFSET >= size_of::<Header>()) };
        const { assert!(MESSAGE_OFFSET + 4 + MESSAGE_CAPACITY <= SEGMENT_SIZE) };
    }

    #[test]
    fn header_and_message_round_trip_through_a_segment() {
        let segment = Segment::create(IPC_PRIVATE, SEGMENT_SIZE, 0o600).unwrap();
        let attachment = attach(segment.id()).unwrap();
        assert_eq!(read_header(&attachment), None, "zeros are not a header");
        assert_eq!(read_message(&attachment).unwrap(), "");
        let header = Header::new(DirId::of(&std::env::temp_dir()).unwrap(), SEGMENT_SIZE, 6);
        write_header(&attachment, &header);
        write_message(&attachment, "hello").unwrap();
        assert_eq!(read_header(&attachment), Some(header));
        assert_eq!(read_message(&attachment).unwrap(), "hello");
        let long = "x".repeat(MESSAGE_CAPACITY + 1);
        assert_eq!(
            write_message(&attachment, &long).unwrap_err().exit_status(),
            2
        );
    }

    #[test]
    fn a_segment_smaller_than_a_header_has_no_room_for_a_message() {
        let segment = Segment::create(IPC_PRIVATE, 8, 0o600).unwrap();
        let attachment = attach(segment.id()).unwrap();
        assert!(read_message(&attachment).is_err());
    }
}
