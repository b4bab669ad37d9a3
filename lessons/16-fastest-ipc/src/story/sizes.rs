//! How big everything is: the full run, whose figures are worth reading, and `--quick`, which
//! only checks that everything works (what the tests run). The full run's sizes are chosen
//! to be long enough to measure and, for memcpy through DRAM, far larger than any CPU's
//! caches. The chunk and the rings are sized against the caches of one core (chapter 16,
//! "Sized against the caches"): a chunk well inside the level-1 data cache (32 to 48 KiB on
//! today's cores), and rings twice the size of a level-2 cache (1 MiB on this course's
//! machine), inside the level-3 cache the two cores share.

use std::time::Duration;

use l16_fastest_ipc::figures::Plan;
use l16_fastest_ipc::locks::Limit;
use l16_fastest_ipc::round_trip::Budget;
use l16_fastest_ipc::stream::Amount;

use crate::Args;

/// How big everything is, in the full run and in `--quick`.
pub struct Sizes {
    pub plan: Plan,
    pub trips: Budget,
    pub amount: Amount,
    /// Each of memcpy's two buffers for the DRAM figure: far larger than any CPU's caches.
    pub dram_buffer: usize,
    /// The copying ring's bytes, and the zero-copy ring's (its slots are one chunk each).
    pub ring: usize,
    /// Each lock race: at most this many increments per process, for at most this long.
    pub limit: Limit,
    /// Increments per process in the races without a lock (never cut short by time, so
    /// that the number lost is out of a fixed total).
    pub unlocked: u64,
}

pub const KIB: usize = 1024;
pub const MIB: usize = 1024 * KIB;
const CHUNK: usize = 16 * KIB;
const RING: usize = 2 * MIB;

impl Sizes {
    pub fn new(args: &Args) -> Sizes {
        if args.quick {
            return Sizes {
                plan: Plan {
                    runs: 1,
                    warm_up: false,
                },
                trips: Budget {
                    trips: 2_000,
                    time: Duration::from_millis(10),
                },
                amount: Amount {
                    chunk: CHUNK,
                    chunks: 256,
                },
                dram_buffer: 4 * MIB,
                ring: RING,
                limit: Limit {
                    increments: 5_000,
                    time: Duration::from_millis(20),
                },
                unlocked: 1_000_000,
            };
        }
        Sizes {
            plan: Plan {
                runs: args.runs as usize,
                warm_up: true,
            },
            trips: Budget {
                trips: 1_000_000,
                time: Duration::from_millis(100),
            },
            amount: Amount {
                chunk: args.chunk * KIB,
                chunks: args.mib * (MIB / (args.chunk * KIB)) as u64,
            },
            dram_buffer: 256 * MIB,
            ring: RING,
            // Time decides: no lock allows a billion increments in 100 ms. A fixed count
            // would end a race as soon as its luckiest process is done, and leave the
            // others to finish alone (chapter 16, section 3).
            limit: Limit {
                increments: 1_000_000_000,
                time: Duration::from_millis(100),
            },
            unlocked: 1_000_000,
        }
    }
}
