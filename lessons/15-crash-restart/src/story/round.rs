//! A round: one run of the backends, from the fork to the end of their work. A start begins
//! one, and so does every restart. How long a round is decides what a crash can hit and
//! what the run costs, since every commit waits for `fdatasync`.

use l15_crash_restart::Crash;

/// Updates each backend makes in a round where one of them is to die: room for `--crash`
/// to choose where. Each is a commit that waits for `fdatasync`.
pub const UPDATES: usize = 50;

/// Updates each backend makes in the other rounds (the default run has three): enough to
/// show that new children work and to put WAL after the round's checkpoint, few because
/// every commit waits for `fdatasync`.
const UPDATES_WITHOUT_CRASH: usize = 10;

/// How many updates each backend makes in a round with this crash, or none.
pub fn updates_in_round(crash: Option<Crash>) -> usize {
    if crash.is_some() {
        UPDATES
    } else {
        UPDATES_WITHOUT_CRASH
    }
}
