//! Plumbing every lesson shares, so that a lesson's own files show only its topic.
//!
//! - [`fork_child`] runs a closure in a forked child and hands back a [`Child`] to wait on.
//!   It keeps the three rules of forking from Rust: only a single-threaded process forks;
//!   everything buffered is flushed first (or the child prints it a second time); the
//!   child leaves with `_exit`, never running the parent's destructors.
//! - [`parent!`] and [`child!`] print the tagged lines of a lesson's lab notebook.
//! - [`Error`] and [`main`]: a lesson returns `Result` all the way up; `main` turns a
//!   failure into one line on stderr and exit status 1 (2 for bad usage), never a panic.
//! - [`run_tests`] runs the tests of a `harness = false` test target, for tests that fork.
//! - [`pause`] waits for Enter so the reader can look from another terminal; Ctrl-C there
//!   is an error that cleans up, not a death that leaks.
//! - [`on_signal::Remove`]: what the kernel would keep after a SIGINT, SIGTERM or SIGHUP
//!   (a System V segment or semaphore set, a file) is removed by the signal's handler;
//!   [`on_signal::holding_off`] keeps those signals out between making it and registering it.
//! - [`marks`]: files in `$TMPDIR` by which the next run finds what a `kill -9` left.
//! - [`watchdog`]: an alarm for checks that must not hang, and a child that runs one.
//! - [`Signals`]: signals blocked and read from a signalfd, the way a postmaster sleeps
//!   until a child ends or it is told to stop.
//! - [`po`]: the book's Chinese translation read into its messages, for
//!   `cargo course hint --lang zh-CN` and the book's tests (no lesson uses it).

mod error;
mod fork;
mod harness;
pub mod marks;
pub mod on_signal;
pub mod parent_death;
mod pause;
pub mod po;
mod signals;
pub mod watchdog;

pub use error::{Error, Result, main, positive, up_to, whole_number, within};
pub use fork::{Child, Exit, OnParentDeath, fork_child, fork_child_with, thread_count};
pub use harness::run_tests;
pub use pause::{Wake, pause, wait_for_input};
pub use signals::Signals;

/// Prints one line of the parent's story: `[parent] ...`.
#[macro_export]
macro_rules! parent {
    ($($arg:tt)*) => { ::std::println!("[parent] {}", ::std::format_args!($($arg)*)) };
}

/// Prints one line of a child's story: `[child]  ...` (padded to line up with `[parent]`).
#[macro_export]
macro_rules! child {
    ($($arg:tt)*) => { ::std::println!("[child]  {}", ::std::format_args!($($arg)*)) };
}

/// A count and its noun, singular or plural: `count(1, "child", "children")` is "1 child".
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    match n.into() {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

/// Prints a section heading, the way every lesson separates the steps of its story:
/// a blank line (except before the first heading), then `== title`.
pub fn section(title: &str) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static STARTED: AtomicBool = AtomicBool::new(false);
    if STARTED.swap(true, Ordering::Relaxed) {
        println!();
    }
    println!("== {title}");
}

/// A panic's message and where it happened, on one line: `not yet implemented (at src/x.rs:3:5)`.
fn panic_message(info: &std::panic::PanicHookInfo) -> String {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("panic");
    match info.location() {
        Some(place) => format!("{message} (at {place})"),
        None => message.to_string(),
    }
}
