//! Lesson 13's output, as the chapter shows it. (Not run by `cargo exercise`.)
#![cfg(not(feature = "exercise"))]

snapshots::output_tests!(
    "l13-shmem-index",
    [
        (&["--size", "1000"], 2),
        (&["--size", "lots"], 2),
        (&["--size", "0"], 2),
        (&["--workers", "1"], 2),
        (&["--workers", "65"], 2),
        (&["--workers", "-1"], 2),
    ]
);
