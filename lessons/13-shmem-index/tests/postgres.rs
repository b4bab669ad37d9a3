//! Lesson 13's listing beside a real PostgreSQL's `pg_shmem_allocations`
//! (`snapshots::postgres::Server`: initdb and a server in a temporary directory; skipped,
//! saying so, where PostgreSQL is not installed). The `Server` guard stops the server and
//! removes everything, even when the test fails. (Not run by `cargo exercise`.)
#![cfg(not(feature = "exercise"))]

use assert_cmd::cargo::cargo_bin_cmd;
use snapshots::postgres::{SKIPPED, Server};

/// The query both listings answer.
const QUERY: &str =
    "SELECT name, off, size, allocated_size FROM pg_shmem_allocations ORDER BY off;";

/// The same four columns, the same kinds of rows: PostgreSQL's named structures at offsets
/// that are multiples of its cache line size constant (128), each allocated rounded up to
/// it, `<anonymous>` without an offset, the unused rest without a name; and together the
/// rows account for the whole region, which is the `/dev/zero (deleted)` mapping in the
/// postmaster's maps (with huge pages off, as the test's server runs).
#[test]
fn pg_shmem_allocations_lists_the_same_columns_as_lesson_13() {
    let Some(mut server) = Server::init() else {
        println!("{SKIPPED}");
        return;
    };
    let lesson = cargo_bin_cmd!("l13-shmem-index").output().unwrap();
    let lesson = snapshots::success(&lesson);
    let listing = &lesson[lesson.find("== 6.").expect("step 6: the listing")..];

    server.start();
    let rows: Vec<Row> = server
        .sql(&QUERY.replace("SELECT name", "SELECT coalesce(name, '(null)')"))
        .lines()
        .map(Row::parse)
        .collect();
    assert!(rows.len() > 10, "a real server has many structures");
    for row in &rows {
        if row.name != "<anonymous>" {
            let offset = row
                .offset
                .unwrap_or_else(|| panic!("{row:?} has an offset"));
            assert_eq!(offset % 128, 0, "{row:?}: offset not cache-line aligned");
        }
        assert_eq!(
            row.allocated % 128,
            0,
            "{row:?}: not a whole number of cache lines"
        );
        assert!(row.allocated >= row.size, "{row:?}");
    }
    assert!(
        rows.iter()
            .any(|r| r.name == "<anonymous>" && r.offset.is_none())
    );
    assert!(
        rows.iter()
            .any(|r| r.name == "(null)" && r.offset.is_some())
    );
    let total: u64 = rows.iter().map(|r| r.allocated).sum();
    let mapping = region_size(server.pid().unwrap().as_raw());
    assert!(
        total <= mapping,
        "the rows add up to {total} bytes, more than the {mapping}-byte region"
    );

    let table: String = server
        .psql(&["-c", QUERY])
        .trim_end()
        .lines()
        .map(|line| format!("{}\n", line.trim_end()))
        .collect();
    let transcript = format!(
        "$ l13-shmem-index    # its last step\n{listing}\n\
         # PostgreSQL {} (shared_buffers=16MB, max_connections=100, huge_pages=off)\n\n\
         $ psql -c \"{QUERY}\"\n{table}\n\
         # {} rows; together {total} bytes, and the /dev/zero (deleted) mapping in the \
         postmaster's maps is {mapping} bytes\n",
        server.major_version(),
        rows.len(),
    );
    snapshots::assert_postgres_output!(server, "l13-shmem-index-real-postgresql", transcript, &[]);
}

/// One row of `pg_shmem_allocations`, from psql's unaligned output (`name|off|size|alloc`).
#[derive(Debug)]
struct Row {
    name: String,
    offset: Option<u64>,
    size: u64,
    allocated: u64,
}

impl Row {
    fn parse(line: &str) -> Row {
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(fields.len(), 4, "{line:?}");
        let number = |field: &str| field.parse::<u64>().unwrap_or_else(|_| panic!("{line:?}"));
        Row {
            name: fields[0].to_string(),
            offset: (!fields[1].is_empty()).then(|| number(fields[1])),
            size: number(fields[2]),
            allocated: number(fields[3]),
        }
    }
}

/// The size of the `/dev/zero (deleted)` mapping in process `pid`: PostgreSQL's region.
fn region_size(pid: i32) -> u64 {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let line = maps
        .lines()
        .find(|line| line.ends_with("/dev/zero (deleted)"))
        .unwrap_or_else(|| panic!("no /dev/zero (deleted) mapping:\n{maps}"));
    let range = line.split_whitespace().next().unwrap();
    let (start, end) = range.split_once('-').unwrap();
    let address = |hex: &str| u64::from_str_radix(hex, 16).unwrap();
    address(end) - address(start)
}
