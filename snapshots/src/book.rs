//! The book's chapters, for the tests that check them (`tests/book.rs`: includes and links;
//! `tests/translation.rs`: the Chinese edition).

use std::fs;
use std::path::{Path, PathBuf};

/// The book's folder, `book/` at the workspace root.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../book")
}

/// Every chapter of the book (`book/src/*.md`): its file name and its text, by name.
pub fn chapters() -> Vec<(String, String)> {
    let mut found: Vec<_> = fs::read_dir(dir().join("src"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read_to_string(&path).unwrap())
        })
        .collect();
    found.sort();
    found
}
