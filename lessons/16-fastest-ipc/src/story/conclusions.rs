//! Part 4 of the story: the ratios the lesson is about, each of two medians taken in the
//! same rounds, so that whatever the machine did meanwhile fell on both.

use l16_fastest_ipc::table::{Table, number};

use super::Story;

// ANCHOR: conclusions
impl Story {
    /// The ratios the lesson is about, each of two medians from the same rounds.
    pub fn conclusions(&self, trips: &Table, moved: &Table, costs: &Table) {
        self.section("4. What this run shows (ratios of medians)");
        // Row `a.0`, column `a.1` over row `b.0`, column `b.1`, as `1.23×`.
        let ratio = |table: &Table, a: (&str, usize), b: (&str, usize)| {
            let (a, b) = (table.get(a.0, a.1)?, table.get(b.0, b.1)?);
            Some(format!("{}×", number(a.median / b.median)))
        };
        let (spin, pipe, ring) = ("spin, shared memory", "pipe", "shared-memory ring");
        let (slots, socket) = ("zero-copy slot ring", "Unix socket");
        let (tas, slock, futex) = ("plain test-and-set", "s_lock with backoff", "futex mutex");
        let lines = [
            ratio(trips, (spin, 0), ("spin, 2 threads", 0)).map(|r| {
                format!("a round trip between processes through shared memory: {r} the threads'")
            }),
            ratio(trips, (pipe, 1), (spin, 0))
                .map(|r| format!("a pipe round trip on 1 CPU: {r} the shared-memory one on 2")),
            ratio(trips, (pipe, 0), (pipe, 1)).map(|r| {
                format!("a pipe round trip on 2 CPUs: {r} the same on 1 (waking the other CPU)")
            }),
            ratio(moved, (ring, 0), ("memcpy, through DRAM", 0))
                .map(|r| format!("the ring's throughput: {r} memcpy through DRAM")),
            ratio(moved, (ring, 0), (socket, 0))
                .zip(ratio(moved, (ring, 0), (pipe, 0)))
                .map(|(s, p)| format!("the ring's throughput: {s} a Unix socket's, {p} a pipe's")),
            ratio(moved, (slots, 0), (socket, 0))
                .zip(ratio(moved, (slots, 0), (ring, 0)))
                .map(|(s, r)| {
                    format!("zero copies: {s} a Unix socket's throughput, {r} the copying ring's")
                }),
            ratio(moved, (slots, 0), ("memcpy, in cache", 0))
                .map(|r| format!("zero copies: {r} the throughput of memcpy in cache")),
            (1..=3)
                .map(|column| ratio(costs, (futex, column), ("pthread mutex", column)))
                .collect::<Option<Vec<String>>>()
                .map(|r| {
                    format!(
                        "futex mutex against pthread mutex, 2/4/8 processes: {}",
                        r.join(", ")
                    )
                }),
            ratio(costs, (tas, 3), (tas, 1))
                .zip(ratio(costs, (slock, 3), (slock, 1)))
                .map(|(t, s)| {
                    format!(
                        "from 2 to 8 processes: plain test-and-set {t}, s_lock with backoff {s}"
                    )
                }),
            ratio(costs, ("System V semaphore", 3), (futex, 3))
                .map(|r| format!("System V semaphore against futex mutex, 8 processes: {r}")),
        ];
        for line in lines.into_iter().flatten() {
            self.say(&line);
        }
    }
}
// ANCHOR_END: conclusions
