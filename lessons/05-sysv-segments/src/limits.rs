//! The kernel's limits on System V shared memory, from `/proc/sys/kernel/shm*`.
//!
//! They are why PostgreSQL moved its big area out of System V in 9.3: many kernels once
//! capped one segment (`shmmax`) at a few tens of megabytes.

use common::{Error, Result};

/// The kernel's limits on System V shared memory, from `/proc/sys/kernel/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest segment, in bytes.
    pub shmmax: u64,
    /// All segments together, in pages.
    pub shmall: u64,
    /// How many segments may exist system-wide.
    pub shmmni: u64,
}

pub fn limits() -> Result<Limits> {
    let read = |name: &str| -> Result<u64> {
        let path = format!("/proc/sys/kernel/{name}");
        let text = std::fs::read_to_string(&path)?;
        text.trim()
            .parse()
            .map_err(|_| Error::Failed(format!("{path}: not a number: {text:?}")))
    };
    Ok(Limits {
        shmmax: read("shmmax")?,
        shmall: read("shmall")?,
        shmmni: read("shmmni")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_read() {
        let limits = limits().unwrap();
        assert!(limits.shmmax > 0 && limits.shmall > 0 && limits.shmmni > 0);
    }
}
