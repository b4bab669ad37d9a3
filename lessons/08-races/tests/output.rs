//! Lesson 08's output, as the chapter shows it. (Not run by `cargo exercise`.)
//!
//! The counts a race leaves (lost updates, torn audits) and its timings differ on every
//! run, so the snapshot shows them redacted; tests/race.rs asserts what they must be.
#![cfg(not(feature = "exercise"))]

/// What a race left behind, which differs from run to run: how many races it took to see
/// a lost update or a torn read (`after 3 races`), the count that lost updates (`reads 9835,
/// not 20000`), how many were lost of a total that stays (`lost 9835 of 20000 updates`), and
/// how many of an auditor's looks caught the invariant broken (`yet 5035 of 315171 audits`).
const FILTERS: &[snapshots::Filter] = &[
    (r"\bafter \d+ races?\b", "after [RACES]"),
    (r"\breads \d+, not (\d+)\b", "reads [COUNT], not $1"),
    (
        r"\blost \d+ of (\d+) updates\b",
        "lost [COUNT] of $1 updates",
    ),
    (
        r"\byet \d+ of \d+ audits\b",
        "yet [COUNT] of [COUNT] audits",
    ),
];

snapshots::output_tests!(
    "l08-races",
    [
        (&["--workers", "0"], 2),
        (&["--workers", "64"], 2),
        (&["--iterations", "0"], 2),
        (&["--iterations", "1000000000"], 2),
        (&["--lock", "spin"], 2),
    ],
    FILTERS
);
