//! A tiny test runner for test targets that fork (`harness = false`).
//!
//! libtest runs tests on threads, and a process with threads must not fork (see `fork.rs`).
//! A test file that forks has its own `main` instead, which hands its tests to
//! [`run_tests`]: one at a time, on the main thread, each panic caught and counted.

use std::process::ExitCode;

/// Runs each `(name, test)` in order and reports like libtest: `test name ... ok`.
/// A test fails by panicking; its message (an assertion's text) is printed by the panic
/// hook. Exit status 0 only if every test passed.
pub fn run_tests(tests: &[(&str, fn())]) -> ExitCode {
    println!(
        "\nrunning {} tests (one process, one thread: these tests fork)",
        tests.len()
    );
    // A failing check's message is the lesson; print it plainly, without a backtrace.
    std::panic::set_hook(Box::new(|info| {
        println!("\n  {}\n", crate::panic_message(info))
    }));
    let mut failed = Vec::new();
    for (name, test) in tests {
        let outcome = std::panic::catch_unwind(test);
        println!(
            "test {name} ... {}",
            if outcome.is_ok() { "ok" } else { "FAILED" }
        );
        if outcome.is_err() {
            failed.push(*name);
        }
    }
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {verdict}. {} passed; {} failed\n",
        tests.len() - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `run_tests!(first, second)` runs the test functions `first` and `second` with
/// [`run_tests`], each reported under its own name. For a `harness = false` test's `main`.
#[macro_export]
macro_rules! run_tests {
    ($($test:ident),+ $(,)?) => {
        $crate::run_tests(&[$((::std::stringify!($test), $test as fn())),+])
    };
}
