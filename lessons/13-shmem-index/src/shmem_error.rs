//! What can go wrong in a region, each said the way PostgreSQL says it where it can.
//!
//! The errors are values the caller can match (the exercise's checks do), and their text
//! is PostgreSQL's own where PostgreSQL has one, so that a reader who meets the real
//! message in a server log knows it from here.

use common::Error;

use crate::NAME_LEN;

/// What can go wrong in a region, each said the way PostgreSQL says it where it can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShmemError {
    /// The allocator has fewer bytes left than a request needs.
    OutOfMemory {
        name: Option<String>,
        requested: usize,
        allocated: usize,
        left: usize,
        total: usize,
    },
    /// A name already in the index was asked for with another size.
    SizeMismatch {
        name: String,
        expected: usize,
        actual: usize,
    },
    /// A name longer than an entry can hold.
    NameTooLong { name: String },
    /// An empty name, or one with a NUL byte inside.
    BadName { name: String },
    /// Every entry of the index is in use.
    IndexFull { name: String, capacity: usize },
    /// A spinlock of the region that could not be taken for minutes: its holder has most
    /// likely died holding it (PostgreSQL PANICs: "stuck spinlock detected").
    Stuck { lock: &'static str, why: String },
}

impl std::fmt::Display for ShmemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShmemError::OutOfMemory {
                name,
                requested,
                allocated,
                left,
                total,
            } => {
                match name {
                    Some(name) => write!(
                        f,
                        "not enough shared memory for data structure \"{name}\" ({requested} bytes requested"
                    )?,
                    None => write!(f, "out of shared memory ({requested} bytes requested")?,
                }
                write!(
                    f,
                    ", {allocated} with alignment): {left} of {total} bytes left; make the region larger"
                )
            }
            ShmemError::SizeMismatch {
                name,
                expected,
                actual,
            } => write!(
                f,
                "ShmemIndex entry size is wrong for data structure \"{name}\": expected {expected}, \
                 actual {actual}"
            ),
            ShmemError::NameTooLong { name } => write!(
                f,
                "name \"{name}\" is {} bytes; an index entry holds at most {}",
                name.len(),
                NAME_LEN - 1
            ),
            ShmemError::BadName { name } => {
                write!(f, "name {name:?} is empty or holds a NUL byte")
            }
            ShmemError::IndexFull { name, capacity } => write!(
                f,
                "could not create ShmemIndex entry for data structure \"{name}\": all {capacity} \
                 entries are in use"
            ),
            ShmemError::Stuck { lock, why } => write!(f, "{why} ({lock})"),
        }
    }
}

impl std::error::Error for ShmemError {}

impl ShmemError {
    /// The same error, naming the structure it was for (an `OutOfMemory` from `alloc`
    /// knows only a size): "not enough shared memory for data structure \"NAME\"".
    pub fn for_structure(self, structure: &str) -> ShmemError {
        match self {
            ShmemError::OutOfMemory {
                requested,
                allocated,
                left,
                total,
                ..
            } => ShmemError::OutOfMemory {
                name: Some(structure.into()),
                requested,
                allocated,
                left,
                total,
            },
            other => other,
        }
    }
}

impl From<ShmemError> for Error {
    fn from(err: ShmemError) -> Self {
        Error::Failed(err.to_string())
    }
}
