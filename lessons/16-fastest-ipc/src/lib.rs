//! Lesson 16: why shared memory is the fastest way for processes to talk, measured.
//!
//! Every other channel between processes goes through the kernel: a pipe or a socket copies
//! each message into a kernel buffer and out again, and a reader with nothing to read sleeps
//! until a writer's system call wakes it. Shared memory leaves the kernel out: once two
//! processes map the same pages, a store by one is a load away for the other, and the only
//! cost is the hardware moving a cache line between cores. This crate measures that claim
//! on the reader's machine, in one run, and reports ratios from that run:
//!
//! - [`round_trip`]: ping-pong between two pinned processes (spin, futex, pipe, Unix socket)
//!   and, as the reference, two threads of one process;
//! - [`stream`]: moving a large amount through a shared-memory [`ring`] (which the exercise
//!   completes), a pipe and a Unix socket, against `memcpy`;
//! - [`locks`]: what each lock of Part IV costs per increment as processes outnumber CPUs;
//! - [`figures`] (medians of several runs, tables, JSON) and [`chart`] (an SVG) report them;
//! - [`machine`] says what they were measured on.

pub mod chart;
pub mod figures;
pub mod locks;
pub mod machine;
pub mod ring;
pub mod round_trip;
pub mod stream;

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;
