//! The steps of lesson 14's story, each in a file of its own, in the order `start` (in
//! src/main.rs) runs them; what the postmaster holds meanwhile (`server.rs`); what each of
//! its children does (`signals.rs`, `backend.rs`); and the `status` command. All of it is
//! the binary's: what later lessons reuse is the library, src/lib.rs.

pub mod backend;
pub mod check;
pub mod clean_up;
pub mod data_directory;
pub mod fork;
pub mod server;
pub mod server_loop;
pub mod shared_memory;
pub mod shutdown;
pub mod signals;
pub mod status;
