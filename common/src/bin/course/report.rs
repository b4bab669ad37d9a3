//! What the runner prints: the list of exercises with their state, and a check's result.

use std::path::Path;

use crate::check::Outcome;
use crate::lessons::Lesson;
use crate::state::{self, State};

/// Where one exercise stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Still the stub it came with.
    NotStarted,
    /// Changed, never checked.
    NotChecked,
    /// Changed since its last check, whose verdict no longer says anything.
    ChangedSinceChecked,
    Failing,
    Done,
}

impl Status {
    fn words(self) -> &'static str {
        match self {
            Status::NotStarted => "not started",
            Status::NotChecked => "not checked yet",
            Status::ChangedSinceChecked => "edited since check",
            Status::Failing => "failing",
            Status::Done => "done",
        }
    }
}

pub fn status(root: &Path, lesson: &Lesson, state: &State) -> Status {
    let mine = std::fs::read(root.join(lesson.exercise())).unwrap_or_default();
    // The stub as given is "not started", checked or not: its checks fail by design.
    if std::fs::read(root.join(lesson.stub())).is_ok_and(|stub| stub == mine) {
        return Status::NotStarted;
    }
    match state.checked(&lesson.package) {
        Some(checked) if checked.hash != state::hash_of(&mine) => Status::ChangedSinceChecked,
        Some(checked) if checked.passed => Status::Done,
        Some(_) => Status::Failing,
        None => Status::NotChecked,
    }
}

/// The first exercise, in order, that is not done.
pub fn first_not_done(root: &Path, lessons: &[Lesson], state: &State) -> Option<Lesson> {
    lessons
        .iter()
        .find(|lesson| status(root, lesson, state) != Status::Done)
        .cloned()
}

/// What comes after `done`: the next exercise not done after it, in order, or else the
/// first not done before it (a learner who skipped ahead comes back to what is left).
pub fn next_after(root: &Path, lessons: &[Lesson], state: &State, done: &Lesson) -> Option<Lesson> {
    let not_done = |lesson: &&Lesson| status(root, lesson, state) != Status::Done;
    let later = lessons
        .iter()
        .filter(|l| l.number > done.number)
        .find(not_done);
    later.or_else(|| lessons.iter().find(not_done)).cloned()
}

/// One line per exercise, then the progress bar and what to do next.
pub fn list(root: &Path, lessons: &[Lesson], state: &State) {
    println!("The exercises (your code goes in lessons/NN-slug/src/exercise.rs):\n");
    let width = lessons
        .iter()
        .map(|l| short(&l.title).chars().count())
        .max()
        .unwrap_or(0);
    let mut done = 0;
    for lesson in lessons {
        let status = status(root, lesson, state);
        done += usize::from(status == Status::Done);
        println!(
            "  {:02}  {:width$}  {:18}  cargo course check {:02}",
            lesson.number,
            short(&lesson.title),
            status.words(),
            lesson.number,
        );
    }
    println!(
        "\n  {}  {done} of {} done",
        bar(done, lessons.len()),
        lessons.len()
    );
    match first_not_done(root, lessons, state) {
        Some(next) => println!(
            "\nNext: {} · {} (`cargo course watch` checks it each time you save; \
             `cargo course hint {:02}` if you are stuck)",
            next.name(),
            next.title,
            next.number
        ),
        None => println!("\nEvery exercise is done."),
    }
}

/// A title cut to 40 characters, so that a line of the list fits in 100 columns.
fn short(title: &str) -> String {
    match title.char_indices().nth(39) {
        Some((end, _)) => format!("{}…", title[..end].trim_end()),
        None => title.to_string(),
    }
}

/// `██████░░░░░░░░░░░░░░`, 20 cells.
fn bar(done: usize, total: usize) -> String {
    let full = (done * 20).checked_div(total).unwrap_or(0);
    format!("{}{}", "█".repeat(full), "░".repeat(20 - full))
}

/// Before a check runs: which lesson, and its title.
pub fn header(lesson: &Lesson) {
    println!("{} · {}\n", lesson.name(), lesson.title);
}

/// One check's verdict, as soon as it is known.
pub fn check_line(name: &str, passed: bool) {
    println!(
        "  {} {}",
        if passed { "✓" } else { "✗" },
        name.replace('_', " ")
    );
}

/// After the checks: the first failure in full, how the run ended if it ended early, a
/// count. True if every check passed.
pub fn summary(lesson: &Lesson, outcome: &Outcome) -> bool {
    let report = match outcome {
        Outcome::DoesNotCompile(errors) => {
            println!("{errors}\n");
            println!(
                "{}: {} does not compile yet (the compiler's messages are above)",
                lesson.name(),
                lesson.exercise().display()
            );
            return false;
        }
        Outcome::Ran(report) => report,
    };
    if let Some(how) = &report.ended_early {
        println!(
            "\nThe checks stopped before the end: the test program ended ({how}) after {} \
             checks, during the next one. `cargo exercise {}` shows everything it printed.",
            report.checks.len(),
            lesson.package
        );
    }
    if let Some((name, message)) = &report.first_failure {
        println!("\nThe first failure, {}:\n", name.replace('_', " "));
        println!("{}", indent(message));
    }
    println!(
        "\n{}: {} of {} checks pass{}",
        lesson.name(),
        report.passed(),
        report.checks.len(),
        if report.ended_early.is_some() {
            ", then the test program stopped"
        } else {
            ""
        }
    );
    report.all_passed()
}

/// After a success at `done`: what is next.
pub fn next(root: &Path, lessons: &[Lesson], state: &State, done: &Lesson) {
    match next_after(root, lessons, state, done) {
        Some(next) => println!(
            "Done. Next: {} · {}, in {}",
            next.name(),
            next.title,
            next.exercise().display()
        ),
        None => println!("Done, and so is every other exercise: well done."),
    }
}

/// A message indented by four spaces, its lines keeping their indentation relative to
/// each other.
fn indent(message: &str) -> String {
    let margin = message
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    message
        .lines()
        .map(|line| format!("    {}", line.get(margin..).unwrap_or("").trim_end()))
        .collect::<Vec<_>>()
        .join("\n")
}
