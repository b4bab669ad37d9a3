//! What the postmaster holds while it runs: its children, by role, and the ends of the pipes
//! it talks to them through; the shutdown asked for so far; the interlock and the lock file.
//! Dropping a [`Server`] undoes a start in the right order, however the story ends.

use std::os::fd::OwnedFd;

use common::{Child, Signals};
use l06_keys_and_strangers::Created;
use l07_postgres_hybrid::LockFile;

/// Who a child is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Checkpointer,
    BgWriter,
    WalWriter,
    Backend(usize),
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Checkpointer => write!(f, "checkpointer"),
            Role::BgWriter => write!(f, "background writer"),
            Role::WalWriter => write!(f, "walwriter"),
            Role::Backend(n) => write!(f, "backend {n}"),
        }
    }
}

impl Role {
    /// The name the child gives itself (`prctl(PR_SET_NAME)`, at most 15 bytes): what
    /// `ps -o comm` and /proc/PID/comm show.
    pub fn process_name(self) -> String {
        match self {
            Role::Checkpointer => "checkpointer".into(),
            Role::BgWriter => "bgwriter".into(),
            Role::WalWriter => "walwriter".into(),
            Role::Backend(n) => format!("backend {n}"),
        }
    }

    /// The role whose process name this is: how a child's report names it on a pipe.
    pub fn from_process_name(name: &str) -> Option<Role> {
        match name {
            "checkpointer" => Some(Role::Checkpointer),
            "bgwriter" => Some(Role::BgWriter),
            "walwriter" => Some(Role::WalWriter),
            _ => Some(Role::Backend(name.strip_prefix("backend ")?.parse().ok()?)),
        }
    }
}

/// Smart (SIGTERM): let the backends finish. Fast (SIGINT): tell them to stop now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Shutdown {
    Smart,
    Fast,
}

/// Everything a start creates but the region. Fields drop in the order declared: children
/// killed and reaped, pipes closed, the interlock removed, the lock file deleted. (The
/// region is declared before it in `start`, so it is unmapped after.)
pub struct Server {
    pub children: Vec<(Role, Child)>,
    /// The postmaster's ends of the pipes its background processes wait on (their latches).
    pub requests: Requests,
    pub reports: OwnedFd,
    pub report_write: Option<OwnedFd>,
    /// Where SIGCHLD, SIGTERM and SIGINT wait for the server loop (they are blocked).
    pub signals: Signals,
    /// The shutdown requested so far, if any.
    pub shutdown: Option<Shutdown>,
    pub interlock: Option<Created>,
    pub lock: Option<LockFile>,
}

/// Write ends of the background processes' pipes (see the library's `latch.rs`).
pub struct Requests {
    pub checkpointer: OwnedFd,
    pub bgwriter: OwnedFd,
    pub walwriter: OwnedFd,
}

#[cfg(test)]
mod tests {
    use super::Role;

    #[test]
    fn a_process_name_names_its_role_back() {
        for role in [
            Role::Checkpointer,
            Role::BgWriter,
            Role::WalWriter,
            Role::Backend(3),
        ] {
            assert_eq!(Role::from_process_name(&role.process_name()), Some(role));
        }
        assert_eq!(Role::from_process_name("backend"), None);
    }
}
