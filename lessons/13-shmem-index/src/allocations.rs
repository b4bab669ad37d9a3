//! The region as PostgreSQL's `pg_shmem_allocations` view lists it.
//!
//! One row per named structure, then what was allocated outside the index (`<anonymous>`),
//! then the unused rest: enough to see where every byte of the region went. The rows are
//! taken under the index lock, with the free offset read inside it, so that they add up.

use crate::{Shmem, decode_name};

// ANCHOR: allocations
impl Shmem<'_> {
    /// The rows of PostgreSQL's `pg_shmem_allocations` view: each named structure; then
    /// `<anonymous>` (no offset: memory allocated outside the index, here the header and
    /// the index itself); then the unused rest, whose name is NULL (`None`).
    pub fn allocations(&self) -> Vec<Row> {
        let index = self.lock_index().unwrap_or_else(|stuck| panic!("{stuck}"));
        let mut rows: Vec<Row> = index
            .entries()
            .into_iter()
            .map(|entry| Row {
                name: Some(decode_name(&entry.name)),
                offset: Some(entry.offset as usize),
                size: entry.size as usize,
                allocated_size: entry.allocated_size as usize,
            })
            .collect();
        let free = self.free_offset(); // ShmemLock inside the index lock, as PostgreSQL nests them
        drop(index);
        let named: usize = rows.iter().map(|row| row.allocated_size).sum();
        let anonymous = free - named;
        rows.push(Row {
            name: Some("<anonymous>".into()),
            offset: None,
            size: anonymous,
            allocated_size: anonymous,
        });
        let unused = self.total_size() - free;
        rows.push(Row {
            name: None,
            offset: Some(free),
            size: unused,
            allocated_size: unused,
        });
        rows
    }
}
// ANCHOR_END: allocations

/// One row of [`Shmem::allocations`]; `None` is SQL's NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub name: Option<String>,
    pub offset: Option<usize>,
    pub size: usize,
    pub allocated_size: usize,
}

/// `rows` as psql would print `SELECT name, off, size, allocated_size FROM
/// pg_shmem_allocations ORDER BY off`: a header, a rule, then one line per row, the NULL
/// offsets last (as `ORDER BY` puts them).
pub fn allocation_table(mut rows: Vec<Row>) -> Vec<String> {
    rows.sort_by_key(|row| row.offset.unwrap_or(usize::MAX));
    let mut lines = vec![
        format!(
            "{:<20} | {:>6} | {:>6} | {:>14}",
            "name", "off", "size", "allocated_size"
        ),
        format!("{:-<21}+{:-<8}+{:-<8}+{:-<15}", "", "", "", ""),
    ];
    for row in &rows {
        let offset = row.offset.map(|o| o.to_string()).unwrap_or_default();
        let name = row.name.as_deref().unwrap_or("");
        lines.push(format!(
            "{name:<20} | {offset:>6} | {:>6} | {:>14}",
            row.size, row.allocated_size
        ));
    }
    lines
}
