//! A structure's name as an index entry stores it: a fixed array of bytes, NUL-padded.
//!
//! A `String` would put a pointer to its creator's heap into shared memory, where no other
//! process could follow it; so a name is copied into [`NAME_LEN`] bytes of the entry, and
//! one that does not fit, or could not be read back (empty, or with a NUL inside), is
//! refused rather than cut short.

use crate::{NAME_LEN, ShmemError};

/// A name as an index entry stores it: the bytes, then NULs up to [`NAME_LEN`].
pub fn encode_name(name: &str) -> Result<[u8; NAME_LEN], ShmemError> {
    if name.is_empty() || name.contains('\0') {
        return Err(ShmemError::BadName { name: name.into() });
    }
    if name.len() >= NAME_LEN {
        return Err(ShmemError::NameTooLong { name: name.into() });
    }
    let mut key = [0; NAME_LEN];
    key[..name.len()].copy_from_slice(name.as_bytes());
    Ok(key)
}

/// The name an entry stores, without its NUL padding.
pub fn decode_name(key: &[u8; NAME_LEN]) -> String {
    let end = key.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
    String::from_utf8_lossy(&key[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_nul_padded_and_checked() {
        let key = encode_name("XLOG Ctl").unwrap();
        assert_eq!(decode_name(&key), "XLOG Ctl");
        assert_eq!(key[8..], [0; NAME_LEN - 8]);
        assert!(encode_name(&"x".repeat(NAME_LEN - 1)).is_ok());
        assert!(matches!(
            encode_name(&"x".repeat(NAME_LEN)),
            Err(ShmemError::NameTooLong { .. })
        ));
        assert!(matches!(encode_name(""), Err(ShmemError::BadName { .. })));
    }
}
