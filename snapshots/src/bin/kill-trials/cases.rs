//! What is tried: the lessons with the commands of a normal run of each, and the ways a run
//! is stopped.

/// A lesson and the commands of one normal run of it; `{dir}` is its temporary directory.
pub(crate) const CASES: &[(&str, &[&[&str]])] = &[
    ("l01-mmap", &[&[]]),
    ("l02-file-mapping", &[&["--dir", "{dir}"]]),
    ("l03-fork-sharing", &[&[]]),
    ("l04-shared-structs", &[&[]]),
    ("l05-sysv-segments", &[&[]]),
    ("l06-keys-and-strangers", &[&[]]),
    (
        "l06-keys-and-strangers",
        &[
            &["create", "{dir}"],
            &["attach", "{dir}"],
            &["inspect", "{dir}"],
            &["remove", "{dir}"],
        ],
    ),
    ("l07-postgres-hybrid", &[&[]]),
    ("l07-postgres-hybrid", &[&["sidebar"]]),
    ("l08-races", &[&[]]),
    ("l09-spinlock", &[&[]]),
    ("l10-sleeping-locks", &[&[]]),
    ("l11-lwlock", &[&[]]),
    ("l12-dying-holders", &[&[]]),
    ("l13-shmem-index", &[&[]]),
    ("l14-mini-postmaster", &[&[]]),
    ("l15-crash-restart", &[&[]]),
    ("l16-fastest-ipc", &[&["--quick"]]),
];

#[derive(Clone, Copy, Debug)]
pub(crate) enum Stop {
    /// `kill -9 PID`
    Kill9,
    /// `kill PID`
    Term,
    /// Ctrl-C: SIGINT to the foreground process group.
    CtrlC,
    /// The terminal closed: SIGHUP to the process group.
    Hangup,
}

pub(crate) const STOPS: [Stop; 4] = [Stop::Kill9, Stop::Term, Stop::CtrlC, Stop::Hangup];
