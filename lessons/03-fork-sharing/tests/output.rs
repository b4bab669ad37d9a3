//! Lesson 03's output, as the chapter shows it. (Not run by `cargo exercise`.)
#![cfg(not(feature = "exercise"))]

snapshots::output_tests!(
    "l03-fork-sharing",
    [(&["--seed-timing=yes"], 2), (&["--sleep", "5"], 2)]
);
