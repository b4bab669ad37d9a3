//! Checks for lesson 03's exercise. `cargo test -p l03-fork-sharing` runs them against
//! src/solution.rs; `cargo exercise l03-fork-sharing` against your src/exercise.rs.
//! They fork, so they run in this file's own single-threaded `main`.

use l03_fork_sharing::exercise::run_in_child;

fn main() -> std::process::ExitCode {
    common::run_tests!(
        the_childs_value_reaches_the_parent,
        the_value_was_computed_in_another_process,
        a_large_value_arrives_whole,
        a_child_that_panics_is_an_error_not_a_value,
        no_mapping_is_left_behind,
    )
}

/// `run_in_child(work)`, or a failed check that shows the error as the lesson prints it.
fn run<T: Copy>(what: &str, work: impl FnOnce() -> T) -> T {
    run_in_child(work).unwrap_or_else(|err| panic!("run_in_child({what}) failed: {err}"))
}

fn the_childs_value_reaches_the_parent() {
    let got = run("|| 6 * 7", || 6 * 7_u64);
    assert_eq!(
        got, 42,
        "the child computed 42 but the parent read {got}. Either the child wrote to private \
         memory (the heap, the stack, a MAP_PRIVATE mapping: that stays in the child's copy; \
         use MAP_SHARED), or the parent read before wait() returned"
    );
}

fn the_value_was_computed_in_another_process() {
    let child_pid = run("std::process::id", std::process::id);
    assert_ne!(
        child_pid,
        std::process::id(),
        "work() ran in the parent: call it in the forked child"
    );
}

fn a_large_value_arrives_whole() {
    // 64 KiB: more than one page, so the mapping must be sized for T, not one page.
    let words = run("a 64 KiB array", || {
        std::array::from_fn::<u64, 8192, _>(|i| i as u64 * 3)
    });
    assert!(
        words.iter().any(|&w| w != 0),
        "nothing arrived: all 8192 words read 0 (a MAP_PRIVATE mapping, or a read before wait()?)"
    );
    if let Some(i) = (0..words.len()).find(|&i| words[i] != i as u64 * 3) {
        panic!(
            "word {i} of 8192 came back as {}, not {}: only part of the value arrived",
            words[i],
            i * 3
        );
    }
}

fn a_child_that_panics_is_an_error_not_a_value() {
    let got = run_in_child(|| -> u32 {
        std::panic::set_hook(Box::new(|_| {})); // keep the test's output quiet
        panic!("the work failed")
    });
    match got {
        Err(err) => assert!(
            err.to_string().contains("101"),
            "the error should say how the child ended (fork_child exits 101 on panic): {err}"
        ),
        Ok(_) => panic!(
            "the child panicked, yet a value came back: check the child's Exit before reading"
        ),
    }
}

fn no_mapping_is_left_behind() {
    let count = || {
        std::fs::read_to_string("/proc/self/maps")
            .unwrap()
            .lines()
            .count()
    };
    let before = count();
    for i in 0..50_u32 {
        run("move || i", move || i);
    }
    let after = count();
    assert!(
        after <= before + 2,
        "/proc/self/maps grew from {before} to {after} lines over 50 calls: unmap (drop) the mapping"
    );
}
