//! One error type for every lesson, and the `main` wrapper that reports it.
//!
//! The contract with the reader: bad usage gets one line on stderr and exit status 2; a
//! failing system call gets one line naming the call and what its errno means, and exit
//! status 1. A lesson never shows a panic or a backtrace for something the user did.

use std::fmt;
use std::io::Write;
use std::process::ExitCode;

use nix::errno::Errno;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug)]
pub enum Error {
    /// A system call failed. Reported as `mmap: Cannot allocate memory (ENOMEM)`; exit 1.
    Sys { call: &'static str, errno: Errno },
    /// The user asked for something that cannot work; the text says what to do instead. Exit 2.
    Usage(String),
    /// The lesson detected something wrong that is not a single failed call. Exit 1.
    Failed(String),
}

impl Error {
    /// For `.map_err(Error::sys("mmap"))` after a nix call.
    pub fn sys(call: &'static str) -> impl FnOnce(Errno) -> Error {
        move |errno| Error::Sys { call, errno }
    }

    /// The exit status this error ends the lesson with.
    pub fn exit_status(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::Sys { .. } | Error::Failed(_) => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Sys { call, errno } => write!(f, "{call}: {} ({errno:?})", strerror(*errno)),
            Error::Usage(text) | Error::Failed(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for Error {}

/// The C library's words for an errno, as `perror` and `strerror` print them.
fn strerror(errno: Errno) -> String {
    let text = std::io::Error::from(errno).to_string(); // "No such file or directory (os error 2)"
    match text.rsplit_once(" (os error") {
        Some((meaning, _)) => meaning.to_string(),
        None => text,
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::Failed(err.to_string())
    }
}

/// Runs a lesson: parses its options with clap, calls `lesson`, and turns the outcome into
/// the exit status. Every lesson's `fn main` is a single call to this.
pub fn main<Args: clap::Parser>(lesson: impl FnOnce(Args) -> Result<()>) -> ExitCode {
    // A panic is a bug in the lesson, not the user's fault; still, one line, no backtrace.
    // `let _ = writeln!`, not `eprintln!`: if stderr is a closed pipe (`2>&1 | head`), a
    // panic inside the hook would abort the process, and no destructor would clean up.
    std::panic::set_hook(Box::new(|info| {
        if !stdout_reader_gone() {
            let _ = writeln!(std::io::stderr(), "error: {}", crate::panic_message(info));
        }
    }));

    // A negative number is a value to judge ("--bytes -1": at least 1), not an unknown option.
    let command = allow_negative_numbers(Args::command());
    let args = match command
        .try_get_matches()
        .and_then(|mut matches| Args::from_arg_matches_mut(&mut matches))
    {
        Ok(args) => args,
        Err(err) => return usage_error(err),
    };
    // A panic unwinds through the lesson, so every guard on the way cleans up.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lesson(args)));
    let failed = !matches!(outcome, Ok(Ok(())));
    if failed && stdout_reader_gone() {
        // `| head` took what it wanted and left, and a write failed (EPIPE: Rust ignores
        // SIGPIPE): stop quietly, as Unix tools do, now that everything is cleaned up. A
        // lesson that wrote everything before the reader left just succeeds.
        die_of_sigpipe();
    }
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(err)) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_status())
        }
        Err(_) => ExitCode::from(101), // the hook has said why
    }
}

/// Whether stdout is a pipe nobody reads any more (`lesson | head`, once head has exited):
/// `poll` then reports an error condition on it.
fn stdout_reader_gone() -> bool {
    let mut stdout = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: 0,
        revents: 0,
    };
    // SAFETY: one live pollfd, a count of 1, no waiting.
    let ready = unsafe { libc::poll(&mut stdout, 1, 0) };
    ready == 1 && stdout.revents & libc::POLLERR != 0
}

/// Ends the process the way a Unix tool whose reader left ends: by SIGPIPE.
fn die_of_sigpipe() -> ! {
    // SAFETY: restores the default action and raises the signal; nothing else is touched.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    std::process::exit(128 + libc::SIGPIPE)
}

/// A clap value parser for counts and sizes: a whole number, at least 1.
/// (`value_parser = common::positive`)
pub fn positive(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a whole number, at least 1".into()),
    }
}

/// A clap value parser for a bounded count or size: a whole number from 1 to `MAX`.
/// (`value_parser = common::up_to::<64>`)
pub fn up_to<const MAX: u64>(text: &str) -> Result<u64, String> {
    within::<1, MAX>(text)
}

/// A clap value parser for a whole number from `MIN` to `MAX`.
/// (`value_parser = common::within::<2, 64>`)
pub fn within<const MIN: u64, const MAX: u64>(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if (MIN..=MAX).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from {MIN} to {MAX}")),
    }
}

/// A clap value parser for a whole number that the lesson checks itself (with a message
/// that says why a value is too small or too big).
pub fn whole_number(text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .map_err(|_| "expected a whole number (digits only)".into())
}

/// The command and each of its subcommands, letting values start with `-`.
fn allow_negative_numbers(command: clap::Command) -> clap::Command {
    let names: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_string())
        .collect();
    let mut command = command.allow_negative_numbers(true);
    for name in names {
        command = command.mut_subcommand(name, allow_negative_numbers);
    }
    command
}

/// `--help` and `--version` print in full and succeed; any other parse error is cut to its
/// first line (clap's own words: what was wrong) plus a pointer to `--help`.
fn usage_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        // clap cannot say which argument it was: find it.
        ErrorKind::InvalidUtf8 => eprintln!("{}", not_utf8(std::env::args_os().skip(1))),
        _ => eprintln!("{}", one_line(&err.to_string())),
    }
    ExitCode::from(2)
}

/// The error for an argument that is not UTF-8 text, naming the option it was given to.
fn not_utf8(args: impl Iterator<Item = std::ffi::OsString>) -> String {
    let mut option = None;
    for arg in args {
        let Some(text) = arg.to_str() else {
            let bytes = arg.as_encoded_bytes();
            // `--name=value`: the option is the part before '=' (itself ASCII, if it is one).
            let inline = bytes
                .starts_with(b"--")
                .then(|| bytes.iter().position(|&b| b == b'='))
                .flatten()
                .map(|at| String::from_utf8_lossy(&bytes[..at]).into_owned());
            return match inline.or(option) {
                Some(name) => {
                    format!("error: the value given to {name} is not UTF-8 text (see --help)")
                }
                None => format!(
                    "error: the argument {:?} is not UTF-8 text (see --help)",
                    arg
                ),
            };
        };
        option = text.starts_with('-').then(|| text.to_string());
    }
    "error: an argument is not UTF-8 text (see --help)".into()
}

/// The first paragraph of clap's message on one line: usually one line already, but a
/// missing argument is named on the line after "the following required arguments...".
fn one_line(clap_message: &str) -> String {
    let first: Vec<&str> = clap_message
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    match first.is_empty() {
        true => "error: bad usage (see --help)".into(),
        false => format!("{} (see --help)", first.join(" ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Args {
        #[arg(long, value_parser = positive)]
        pages: u64,
    }

    #[test]
    fn the_argument_that_is_not_utf8_is_named() {
        use std::ffi::OsString;
        use std::os::unix::ffi::OsStringExt;
        let bad = || OsString::from_vec(b"\xff".to_vec());
        let args = |list: Vec<OsString>| not_utf8(list.into_iter());
        assert_eq!(
            args(vec!["--size".into(), bad()]),
            "error: the value given to --size is not UTF-8 text (see --help)"
        );
        assert_eq!(
            args(vec![OsString::from_vec(b"--dir=\xff".to_vec())]),
            "error: the value given to --dir is not UTF-8 text (see --help)"
        );
        assert_eq!(
            args(vec!["create".into(), bad()]),
            "error: the argument \"\\xFF\" is not UTF-8 text (see --help)"
        );
    }

    #[test]
    fn positive_takes_whole_numbers_from_one() {
        assert_eq!(positive("1"), Ok(1));
        assert_eq!(positive("0"), Err("must be at least 1".into()));
        assert!(positive("-1").is_err());
        assert!(
            positive("lots")
                .unwrap_err()
                .starts_with("expected a whole number")
        );
    }

    #[test]
    fn up_to_takes_whole_numbers_from_one_to_its_bound() {
        assert_eq!(up_to::<64>("1"), Ok(1));
        assert_eq!(up_to::<64>("64"), Ok(64));
        let refused = Err("expected a whole number from 1 to 64".to_string());
        for text in ["0", "65", "-1", "lots"] {
            assert_eq!(up_to::<64>(text), refused, "{text}");
        }
    }

    #[test]
    fn system_call_error_names_the_call_and_the_errno() {
        let err = Error::sys("mmap")(Errno::ENOMEM);
        assert_eq!(err.to_string(), "mmap: Cannot allocate memory (ENOMEM)");
        assert_eq!(err.exit_status(), 1);
    }

    #[test]
    fn usage_error_exits_2_and_keeps_its_text() {
        let err = Error::Usage("--pages must be at least 1".into());
        assert_eq!(err.to_string(), "--pages must be at least 1");
        assert_eq!(err.exit_status(), 2);
    }

    #[test]
    fn clap_errors_are_cut_to_one_line() {
        for argv in [&["t", "--pages", "0"][..], &["t", "--nope"], &["t"]] {
            let err = Args::try_parse_from(argv).unwrap_err();
            let line = one_line(&err.to_string());
            assert!(!line.contains('\n'), "{line:?}");
            assert!(line.starts_with("error: "), "{line:?}");
            assert!(line.ends_with("(see --help)"), "{line:?}");
        }
    }

    #[test]
    fn a_missing_argument_is_named_in_the_line() {
        let err = Args::try_parse_from(["t"]).unwrap_err();
        let line = one_line(&err.to_string());
        assert!(line.contains("--pages <PAGES>"), "{line:?}");
    }

    #[test]
    fn an_unknown_option_is_named_in_the_line() {
        let err = Args::try_parse_from(["t", "--nope"]).unwrap_err();
        assert!(one_line(&err.to_string()).contains("'--nope'"));
    }
}
