//! Lesson 04's output, as the chapter shows it. (Not run by `cargo exercise`.)
#![cfg(not(feature = "exercise"))]

snapshots::output_tests!(
    "l04-shared-structs",
    [
        (&["--children", "0"], 2),
        (&["--children", "lots"], 2),
        (&["--children", "1000"], 2),
        (&["--threads", "2"], 2),
    ]
);
