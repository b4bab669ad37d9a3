//! Checks for lesson 02's exercise. `cargo test -p l02-file-mapping` runs them against
//! src/solution.rs; `cargo exercise l02-file-mapping` runs them against your src/exercise.rs.

use std::path::PathBuf;
use std::sync::Once;

use l01_mmap::page_size;
use l02_file_mapping::exercise::write_through_mapping;
use tempfile::TempDir;

/// A file of `len` zero bytes in a fresh temporary directory, removed when dropped. The
/// directory is under cargo's `target/tmp`: if SIGBUS kills the test process before the
/// drop, nothing is left in the system's /tmp.
fn zero_file(len: u64) -> (TempDir, PathBuf) {
    explain_sigbus();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("data");
    std::fs::File::create_new(&path)
        .unwrap()
        .set_len(len)
        .unwrap();
    (dir, path)
}

/// What the file should hold: zeros, with `bytes` at `offset`.
fn zeros_with(len: usize, offset: usize, bytes: &[u8]) -> Vec<u8> {
    let mut want = vec![0; len];
    want[offset..offset + bytes.len()].copy_from_slice(bytes);
    want
}

/// Where `bytes` first occurs in `haystack`, to tell the learner where their write went.
fn found_at(haystack: &[u8], bytes: &[u8]) -> String {
    match haystack.windows(bytes.len()).position(|w| w == bytes) {
        Some(at) => format!("they are at offset {at}"),
        None => "they are nowhere in the file".into(),
    }
}

/// The first difference between the file and what it should hold, in words (`None` if
/// there is none). Files are thousands of bytes: never print them whole.
fn difference(file: &[u8], want: &[u8]) -> Option<String> {
    if file.len() != want.len() {
        return Some(format!(
            "the file is {} bytes long, and should still be {}",
            file.len(),
            want.len()
        ));
    }
    let at = file.iter().zip(want).position(|(got, want)| got != want)?;
    Some(format!(
        "byte {at} is {:?}, and should be {:?}",
        file[at] as char, want[at] as char
    ))
}

/// What a failed call most likely means, from the errno in its message.
fn hint_for(err: &common::Error) -> &'static str {
    let text = err.to_string();
    if text.contains("EACCES") {
        "A MAP_SHARED mapping with PROT_WRITE needs a file opened for reading and writing: \
         File::options().read(true).write(true).open(path)"
    } else if text.contains("EINVAL") {
        "mmap takes only page-aligned file offsets: map from the start of the page that holds \
         the offset, and write at offset % page_size() into the mapping"
    } else {
        ""
    }
}

#[test]
fn bytes_written_through_the_mapping_reach_the_file() {
    let (_dir, path) = zero_file(8192);
    write_through_mapping(&path, 0, b"hello").unwrap_or_else(|err| {
        panic!(
            "write_through_mapping(offset 0) failed: {err}. {}",
            hint_for(&err)
        )
    });
    let file = std::fs::read(&path).unwrap();
    assert!(
        file.starts_with(b"hello"),
        "read(2) of the file does not show \"hello\" at offset 0 ({}). A write through a \
         MAP_PRIVATE mapping lands in a private copy of the page and never reaches the file: \
         map it MAP_SHARED",
        found_at(&file, b"hello")
    );
    if let Some(difference) = difference(&file, &zeros_with(8192, 0, b"hello")) {
        panic!("only bytes 0..5 of the file should have changed, but {difference}");
    }
}

#[test]
fn offsets_inside_a_page_land_exactly_there() {
    let page = page_size();
    let len = 3 * page;
    for offset in [5, page - 3, page + 100] {
        let (_dir, path) = zero_file(len as u64);
        write_through_mapping(&path, offset as u64, b"inside").unwrap_or_else(|err| {
            panic!(
                "write_through_mapping(offset {offset}) failed: {err}. {}",
                hint_for(&err)
            )
        });
        let file = std::fs::read(&path).unwrap();
        if let Some(difference) = difference(&file, &zeros_with(len, offset, b"inside")) {
            let hint = if file.windows(6).any(|w| w == b"inside") {
                "Map from the page start (offset rounded down to a multiple of page_size()) \
                 and write at offset % page_size() into the mapping"
            } else {
                "Nothing reached the file: write through a MAP_SHARED mapping"
            };
            panic!(
                "write_through_mapping(offset {offset}, \"inside\"): {difference}; {}. {hint}",
                found_at(&file, b"inside")
            );
        }
    }
}

#[test]
fn a_range_past_the_end_of_the_file_is_refused() {
    let page = page_size();
    let (_dir, path) = zero_file(5000);
    let offset = 5000_usize.next_multiple_of(page) as u64; // the page after the file's last
    let result = write_through_mapping(&path, offset, b"beyond");
    // Had the function touched that page, SIGBUS would have ended this test process.
    assert!(
        result.is_err(),
        "writing at offset {offset} of a 5000-byte file should return an error: there is no \
         file there to write to"
    );
    if let Some(difference) = difference(&std::fs::read(&path).unwrap(), &[0; 5000]) {
        panic!(
            "a refused write should leave the file as it was, 5000 zero bytes, but {difference}"
        );
    }
}

#[test]
fn a_range_that_straddles_the_end_of_the_file_is_refused() {
    let (_dir, path) = zero_file(5000);
    let result = write_through_mapping(&path, 4998, b"tail");
    assert!(
        result.is_err(),
        "writing 4 bytes at offset 4998 of a 5000-byte file should return an error. The page \
         is mapped, so nothing crashes, but the kernel never writes bytes past the end of the \
         file to it: 2 of the 4 bytes would silently vanish. Compare offset + bytes.len() with \
         the file's length"
    );
    if let Some(difference) = difference(&std::fs::read(&path).unwrap(), &[0; 5000]) {
        panic!(
            "a refused write should leave the file as it was, but {difference}: check the \
             range before you write any of it"
        );
    }
}

/// A write to a mapped page wholly past the end of the file kills this whole test process
/// with SIGBUS, and cargo would only say "signal: 7, SIGBUS". Say what it means first.
fn explain_sigbus() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let action = nix::sys::signal::SigAction::new(
            nix::sys::signal::SigHandler::Handler(on_sigbus),
            nix::sys::signal::SaFlags::empty(),
            nix::sys::signal::SigSet::empty(),
        );
        // SAFETY: `on_sigbus` calls only async-signal-safe functions (write, _exit).
        unsafe { nix::sys::signal::sigaction(nix::sys::signal::Signal::SIGBUS, &action) }
            .expect("install a SIGBUS handler");
    });
}

extern "C" fn on_sigbus(_signal: libc::c_int) {
    const WHY: &str = "\nSIGBUS: write_through_mapping touched a mapped page that lies past \
                       the end of the file, and the kernel killed the test process.\n\
                       Compare offset + bytes.len() with the file's length (metadata().len()) \
                       and return an Error before you map anything.\n";
    // SAFETY: write(2) and _exit(2) are async-signal-safe; WHY is a static string.
    unsafe {
        libc::write(2, WHY.as_ptr().cast(), WHY.len());
        libc::_exit(1);
    }
}
