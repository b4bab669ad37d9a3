//! Who a child of the postmaster is, under the three names it goes by: the name it gives
//! itself for `ps` (which is also how its lines on the pipes name it), the one PostgreSQL's
//! postmaster uses in its log, and the one our story prints. The postmaster learns everything about its children from `waitpid` and its
//! pipes, and this is how it names them when it tells.

// ANCHOR: role
/// Who a child of the postmaster is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads pg_control, loads the pages, replays the WAL, then exits 0.
    Startup,
    Checkpointer,
    BgWriter,
    WalWriter,
    /// A backend, by number from 1.
    Backend(usize),
}

impl Role {
    /// The name the child gives itself (`prctl(PR_SET_NAME)`, at most 15 bytes): what
    /// `ps -o comm` and /proc/PID/comm show, as in lesson 14.
    pub fn process_name(self) -> String {
        match self {
            Role::Startup => "startup".into(),
            Role::Checkpointer => "checkpointer".into(),
            Role::BgWriter => "bgwriter".into(),
            Role::WalWriter => "walwriter".into(),
            Role::Backend(n) => format!("backend {n}"),
        }
    }

    /// The role whose process name this is: how a child's report names it on a pipe.
    pub fn from_process_name(name: &str) -> Option<Role> {
        match name {
            "startup" => Some(Role::Startup),
            "checkpointer" => Some(Role::Checkpointer),
            "bgwriter" => Some(Role::BgWriter),
            "walwriter" => Some(Role::WalWriter),
            _ => Some(Role::Backend(name.strip_prefix("backend ")?.parse().ok()?)),
        }
    }

    /// The name PostgreSQL 15's postmaster gives such a child in its log (`LogChildExit`'s
    /// `procname`): "server process" for a backend, "checkpointer process" and so on.
    pub fn procname(self) -> &'static str {
        match self {
            Role::Startup => "startup process",
            Role::Checkpointer => "checkpointer process",
            Role::BgWriter => "background writer process",
            Role::WalWriter => "WAL writer process",
            Role::Backend(_) => "server process",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Startup => write!(f, "startup process"),
            Role::Checkpointer => write!(f, "checkpointer"),
            Role::BgWriter => write!(f, "background writer"),
            Role::WalWriter => write!(f, "walwriter"),
            Role::Backend(n) => write!(f, "backend {n}"),
        }
    }
}
// ANCHOR_END: role

#[cfg(test)]
mod tests {
    use super::Role;

    #[test]
    fn a_process_name_names_its_role_back() {
        for role in [
            Role::Startup,
            Role::Checkpointer,
            Role::BgWriter,
            Role::WalWriter,
            Role::Backend(12),
        ] {
            assert_eq!(Role::from_process_name(&role.process_name()), Some(role));
        }
        assert_eq!(Role::from_process_name("backend x"), None);
        assert_eq!(Role::from_process_name("Backend(1)"), None);
    }
}
