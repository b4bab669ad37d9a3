//! Running one lesson's exercise checks against the learner's file, and reading the result.
//!
//! The runner asks cargo for exactly one test target, the lesson's `tests/exercise.rs`,
//! with the `exercise` feature (what `cargo exercise` runs), so that no unit test of the
//! library or the binary and no doc test is in the way; `RUST_BACKTRACE=0`, so that a
//! failed check is its message and nothing more. Both harnesses the lessons use print one
//! line per check, `test NAME ... ok` or `... FAILED`; a failure's message comes before that
//! line in the course's own harness (`common::run_tests`) and after it, under `---- NAME
//! stdout ----`, in libtest's. The checks run one at a time (`--test-threads=1`, which the
//! course's harness does anyway), so that their order is the same on every run, and each
//! verdict is passed on as it comes: a check that hangs until its watchdog ends it does not
//! hide the ones before it.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

/// What one run of a lesson's checks said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The learner's file does not compile: the compiler's errors, which are what to read.
    DoesNotCompile(String),
    /// The checks ran.
    Ran(Report),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// Each check in the order it ran, and whether it passed.
    pub checks: Vec<(String, bool)>,
    /// The first failed check's message, as the check printed it.
    pub first_failure: Option<(String, String)>,
    /// The test program ended before its summary: how (`signal: 11, SIGSEGV: …`).
    pub ended_early: Option<String>,
}

impl Report {
    pub fn passed(&self) -> usize {
        self.checks.iter().filter(|(_, ok)| *ok).count()
    }

    pub fn all_passed(&self) -> bool {
        !self.checks.is_empty() && self.passed() == self.checks.len() && self.ended_early.is_none()
    }
}

/// Runs `package`'s exercise checks in the workspace at `root`, telling `each` every
/// check's name and verdict as soon as the check has run.
pub fn run(
    root: &Path,
    package: &str,
    mut each: impl FnMut(&str, bool),
) -> Result<Outcome, String> {
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["test", "--color", "never", "--features", "exercise"])
        .args([
            "--package",
            package,
            "--test",
            "exercise",
            "--",
            "--test-threads=1",
        ])
        .current_dir(root)
        .env("RUST_BACKTRACE", "0")
        .env("CARGO_TERM_COLOR", "never")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot run cargo: {err}"))?;
    // Cargo's own messages go to stderr: read them on the side, or a full pipe would stop it.
    let mut stderr = cargo.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut stdout = String::new();
    for line in BufReader::new(cargo.stdout.take().expect("piped")).lines() {
        let line = line.map_err(|err| format!("cannot read cargo's output: {err}"))?;
        if let Some((name, passed)) = verdict(&line) {
            each(name, passed);
        }
        stdout += &line;
        stdout.push('\n');
    }
    let status = cargo
        .wait()
        .map_err(|err| format!("cannot wait for cargo: {err}"))?;
    let stderr = errors.join().unwrap_or_default();
    let started = stdout.lines().any(|line| line.starts_with("running "));
    if !started && !status.success() {
        return Ok(Outcome::DoesNotCompile(compiler_errors(&stderr)));
    }
    let mut report = read_report(&stdout);
    if !stdout.contains("test result:") {
        report.ended_early = Some(how_it_ended(&stderr));
    }
    Ok(Outcome::Ran(report))
}

/// A check's line, `test NAME ... ok`: its name and whether it passed.
fn verdict(line: &str) -> Option<(&str, bool)> {
    let (name, verdict) = line.strip_prefix("test ")?.rsplit_once(" ... ")?;
    Some((name, verdict.trim() == "ok"))
}

/// How the test program ended, from cargo's "process didn't exit successfully: … (HOW)".
fn how_it_ended(stderr: &str) -> String {
    stderr
        .lines()
        .find(|line| line.contains("process didn't exit successfully"))
        .and_then(|line| line.rsplit_once(" ("))
        .map(|(_, how)| how.trim_end_matches(')').to_string())
        .unwrap_or_else(|| "without its summary".to_string())
}

/// Cargo's stderr without its progress lines: the compiler's errors and warnings.
fn compiler_errors(stderr: &str) -> String {
    let noise = [
        "Compiling ",
        "Finished ",
        "Running ",
        "Blocking ",
        "Updating ",
    ];
    stderr
        .lines()
        .filter(|line| !noise.iter().any(|word| line.trim_start().starts_with(word)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The checks and the first failure's message, from a test binary's stdout.
pub fn read_report(stdout: &str) -> Report {
    let mut report = Report::default();
    let mut before: Vec<&str> = Vec::new(); // what was printed since the last check's line
    let mut after: Option<(String, Vec<&str>)> = None; // a libtest failure section
    let mut messages: Vec<(String, String)> = Vec::new();
    for line in stdout.lines() {
        if let Some((name, passed)) = verdict(line) {
            if !passed {
                messages.push((name.to_string(), tidy(&before)));
            }
            report.checks.push((name.to_string(), passed));
            before.clear();
            continue;
        }
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|rest| rest.strip_suffix(" stdout ----"))
        {
            flush(&mut after, &mut messages);
            after = Some((name.to_string(), Vec::new()));
            continue;
        }
        if line == "failures:" || line.starts_with("test result:") {
            flush(&mut after, &mut messages);
            continue;
        }
        match &mut after {
            Some((_, lines)) => lines.push(line),
            None => before.push(line),
        }
    }
    flush(&mut after, &mut messages);
    let first = report.checks.iter().find(|(_, passed)| !passed);
    report.first_failure = first.map(|(name, _)| {
        // A libtest section, if there is one, says more than the (empty) lines before.
        let message = messages
            .iter()
            .rev()
            .find(|(failed, text)| failed == name && !text.is_empty())
            .map(|(_, text)| text.clone())
            .unwrap_or_default();
        (name.clone(), message)
    });
    report
}

fn flush(section: &mut Option<(String, Vec<&str>)>, messages: &mut Vec<(String, String)>) {
    if let Some((name, lines)) = section.take() {
        messages.push((name, tidy(&lines)));
    }
}

/// A message's lines without the blank ones around it, nor libtest's "note: run with
/// `RUST_BACKTRACE=1`" and the harness's "running N tests" line.
fn tidy(lines: &[&str]) -> String {
    let kept: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|line| !line.starts_with("note: run with `RUST_BACKTRACE=1`"))
        .filter(|line| !line.starts_with("running "))
        // The course's harness: a parent's "failed (the message is above)" adds nothing.
        .filter(|line| !line.contains("(the message is above)"))
        .collect();
    let text = kept.join("\n");
    text.trim_matches('\n').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_courses_harness_prints_the_message_before_the_verdict() {
        let stdout = "\nrunning 2 tests (one process, one thread: these tests fork)\n\n  \
                      the child's value never arrived\n\ntest first ... FAILED\ntest second ... ok\n\n\
                      test result: FAILED. 1 passed; 1 failed\n";
        let report = read_report(stdout);
        assert_eq!(
            report.checks,
            [("first".to_string(), false), ("second".to_string(), true)]
        );
        assert_eq!(
            report.first_failure,
            Some(("first".into(), "  the child's value never arrived".into()))
        );
    }

    #[test]
    fn libtest_prints_the_message_after_the_verdicts() {
        let stdout = "\nrunning 2 tests\ntest a ... ok\ntest b ... FAILED\n\nfailures:\n\n\
                      ---- b stdout ----\n\nthread 'b' panicked at tests/exercise.rs:9:5:\nwrong size\n\
                      note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\n\n\
                      failures:\n    b\n\ntest result: FAILED. 1 passed; 1 failed\n";
        let report = read_report(stdout);
        assert_eq!(report.passed(), 1);
        assert_eq!(
            report.first_failure,
            Some((
                "b".into(),
                "thread 'b' panicked at tests/exercise.rs:9:5:\nwrong size".into()
            ))
        );
    }
}
