//! Lesson 16's output, as the chapter shows it. (Not run by `cargo exercise`.)
//!
//! Only `--quick` runs here: small sizes, one run of each. Every figure is redacted by a
//! named filter and nothing here asserts a time. What is asserted is what must hold on any
//! machine: every byte through the two rings, the pipe and the socket arrived (the lesson
//! fails otherwise), every lock counted exactly (likewise), and two pinned processes without a
//! lock lost updates.

#![cfg(not(feature = "exercise"))]

use std::sync::Mutex;

use assert_cmd::cargo::{cargo_bin, cargo_bin_cmd};

/// The machine the figures were measured on (`cpu: AMD EPYC`, `Linux 6.1.0-13-amd64, debug
/// build`, `CPUs 0 and 1 (two cores)`), and every figure: a table cell `median (min–max)`,
/// right-aligned in 24 columns, is replaced at that width (the match takes the cell's leading
/// spaces: cells follow a `│` or another cell's `)`); in the conclusions, each ratio
/// (`0.719×`) and the updates a race without a lock lost (`lost 439505 of 2000000 updates`).
const FILTERS: &[snapshots::Filter] = &[
    (r"(?m)^cpu: .*$", "cpu: [CPU]"),
    (
        r"\bLinux \S+, (debug|release) build\b",
        "Linux [KERNEL], [BUILD] build",
    ),
    (
        r"\bCPUs \d+ and \d+ \((two cores|hyperthreads of one core)\)",
        "CPUs [CPU] and [CPU] ([TOPOLOGY])",
    ),
    (
        r" *\b\d+(\.\d+)? \(\d+(\.\d+)?–\d+(\.\d+)?\)",
        "      [median (min–max)]",
    ),
    (r"\b\d+(\.\d+)?×", "[RATIO]"),
    (
        r"\blost \d+ of (\d+) updates\b",
        "lost [COUNT] of $1 updates",
    ),
];

/// The measuring runs take turns: each pins its processes to the same two CPUs, and two at
/// once would disturb each other's races (libtest runs tests on parallel threads).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn story() {
    if l08_races::usable_cpus().unwrap().len() < 2 {
        eprintln!("skipped: the story races two processes on two CPUs, and this has one");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("chart.svg");
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // Two processes lose updates only while both run at once; on a busy machine one quick
    // run may never overlap them, so the run is repeated until they lose some (at most 10).
    let mut runs = 0;
    let (stdout, lost) = loop {
        runs += 1;
        let output = cargo_bin_cmd!("l16-fastest-ipc")
            .args(["--quick", "--svg"])
            .arg(&chart)
            .env("TMPDIR", dir.path()) // its own: other runs' leftovers are not its to clean
            .output()
            .unwrap();
        let stdout = snapshots::success(&output);
        let lost = stdout
            .lines()
            .find_map(|line| line.strip_prefix("without a lock, 2 processes on 2 CPUs lost "))
            .and_then(|rest| rest.split(' ').next()?.parse::<u64>().ok())
            .expect("the story says how many updates two processes lost without a lock");
        if lost > 0 || runs == 10 {
            break (stdout, lost);
        }
    };
    assert!(
        lost > 0,
        "two pinned processes without a lock lost nothing in {runs} runs:\n{stdout}"
    );

    let svg = std::fs::read_to_string(&chart).expect("the chart was written");
    assert!(
        svg.starts_with("<svg ") && svg.ends_with("</svg>\n"),
        "{svg}"
    );
    for name in [
        "spin, shared memory",
        "shared-memory ring",
        "zero-copy slot ring",
        "System V semaphore",
    ] {
        assert!(svg.contains(name), "the chart does not show {name}");
    }

    snapshots::assert_output!("l16-fastest-ipc", stdout, FILTERS);
}

/// `--json` prints one JSON document and nothing else, with every table, a cell for every
/// column in each row, and a positive number in every cell that was measured (the 1-process
/// loss and the interrupts may be 0): what a tool reading it relies on.
#[test]
fn json_holds_every_table() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let tmp = tempfile::tempdir().unwrap(); // as in `story`
    let output = cargo_bin_cmd!("l16-fastest-ipc")
        .args(["--quick", "--json"])
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let stdout = snapshots::success(&output);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    assert!(json["machine"]["cpu"].is_string(), "{json}");
    assert_eq!(json["runs"], 1);
    let titles: Vec<&str> = json["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .map(|table| table["title"].as_str().expect("a title"))
        .collect();
    assert_eq!(
        titles,
        [
            "round trips",
            "interrupts",
            "throughput",
            "lock costs",
            "lost updates"
        ]
    );
    for table in json["tables"].as_array().unwrap() {
        let columns = table["columns"].as_array().expect("columns").len();
        let may_be_zero =
            ["interrupts", "lost updates"].contains(&table["title"].as_str().unwrap());
        for row in table["rows"].as_array().unwrap() {
            let cells = row["cells"].as_array().expect("cells");
            assert_eq!(cells.len(), columns, "{row}");
            for cell in cells.iter().filter(|cell| !cell.is_null()) {
                for key in ["median", "min", "max"] {
                    let value = cell[key].as_f64().expect("a number");
                    assert!(value > 0.0 || may_be_zero && value == 0.0, "{row}");
                }
            }
        }
    }
}

#[test]
fn bad_input() {
    let stdout = snapshots::failures(
        cargo_bin!("l16-fastest-ipc"),
        &[
            (&["--runs", "0"], 2),
            (&["--runs", "101"], 2),
            (&["--mib", "lots"], 2),
            (&["--chunk", "12"], 2),
            (&["--quick", "--runs", "3"], 2),
            (&["--quick", "--svg", "/nonexistent/chart.svg"], 1),
        ],
    );
    snapshots::assert_output!("l16-fastest-ipc-errors", stdout, FILTERS);
}
