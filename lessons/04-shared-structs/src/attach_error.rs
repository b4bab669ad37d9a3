//! Why a region (or the exercise's mailbox) was refused, each reason with its own advice.
//!
//! "This is not our region" and "this is our region from another build" call for different
//! actions, so every check that `attach` makes has its own variant and its own sentence.

use common::Error;

use crate::hex32;

/// Why [`Region::attach`](crate::Region::attach) (or the exercise's `attach`) refused a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachError {
    Misaligned { addr: usize, align: usize },
    TooSmall { len: usize, need: usize },
    NotReady,
    WrongMagic { found: u32, expected: u32 },
    WrongVersion { found: u32, expected: u32 },
    SizeMismatch { claimed: u64, mapped: usize },
}

impl std::fmt::Display for AttachError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttachError::Misaligned { addr, align } => write!(
                f,
                "address {addr:#x} is not a multiple of {align}: its atomics would be misaligned; \
                 attach at the start of the mapping"
            ),
            AttachError::TooSmall { len, need } => write!(
                f,
                "{len} bytes cannot hold the {need}-byte structure: is this the right region?"
            ),
            AttachError::NotReady => write!(
                f,
                "ready is 0: the creator has not finished initializing (or this is not our region)"
            ),
            AttachError::WrongMagic { found, expected } => write!(
                f,
                "magic is {}, not {}: this region is not one of ours",
                hex32(*found),
                hex32(*expected)
            ),
            AttachError::WrongVersion { found, expected } => write!(
                f,
                "layout version {found}, expected {expected}: made by another build; recreate it"
            ),
            AttachError::SizeMismatch { claimed, mapped } => write!(
                f,
                "the header claims {claimed} bytes but only {mapped} are mapped: truncated or foreign"
            ),
        }
    }
}

impl std::error::Error for AttachError {}

impl From<AttachError> for Error {
    fn from(err: AttachError) -> Self {
        Error::Failed(format!("attach: {err}"))
    }
}
