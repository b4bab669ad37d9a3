//! The steps of lesson 15's story, each in a file of its own: what `postmaster` (in
//! src/main.rs) does, in the order it does it, and what its children do (`backend.rs`,
//! `checkpoint.rs`); scene 2 is `postmaster_killed.rs`. All of it is the binary's: what
//! later lessons reuse is the library, src/lib.rs.

pub mod backend;
pub mod check;
pub mod checkpoint;
pub mod children;
pub mod clean_up;
pub mod crash_response;
pub mod data_directory;
pub mod postmaster_killed;
pub mod round;
pub mod server_loop;
pub mod shmem;
pub mod shutdown;
pub mod startup;
