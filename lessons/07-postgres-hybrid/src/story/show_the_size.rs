//! Step 2: the size of the shared area, shown as the sum PostgreSQL's `CalculateShmemSize`
//! adds up: a fixed slop, then each named part, rounded up.

use common::section;
use l07_postgres_hybrid::{SLOP, ShmemPart};

// ANCHOR: size
pub fn show_the_size(parts: &[ShmemPart], size: usize) {
    section("2. Size the shared area: a sum of named parts (CalculateShmemSize)");
    let row = |name: &str, bytes: usize| println!("  {name:<32}{bytes:>12}");
    row("fixed slop", SLOP);
    for part in parts {
        row(&part.name, part.size);
    }
    println!("  {}", "-".repeat(44));
    row("sum", SLOP + parts.iter().map(|p| p.size).sum::<usize>());
    row("rounded up to a multiple of 8192", size);
}
// ANCHOR_END: size
