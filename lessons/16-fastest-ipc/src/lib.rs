//! Lesson 16: why shared memory is the fastest way for processes to talk, measured.
//!
//! Every other channel between processes goes through the kernel: a pipe or a socket copies
//! each message into a kernel buffer and out again, and a reader with nothing to read sleeps
//! until a writer's system call wakes it. Through shared memory a store by one process is a
//! load away for the other: the only cost is the hardware moving a cache line between cores.
//! This crate measures that on the reader's machine, in one run, and reports ratios from
//! that run: round trips, throughput through a shared-memory ring (the exercise completes
//! it) and through a ring of slots that copies nothing at all (slots.rs), and what each
//! lock of Part IV costs. The story is the binary (src/main.rs).

pub mod aligned;
pub mod chart;
pub mod figures;
pub mod locks;
pub mod machine;
pub mod message;
pub mod ring;
pub mod round_trip;
pub mod slots;
pub mod stream;
pub mod table;

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;
