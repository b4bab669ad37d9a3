//! `cargo course`: the learner's loop over the sixteen exercises.
//!
//! `cargo course` lists them with their state; `check NN` runs one lesson's checks against
//! your `src/exercise.rs` and shows only what you need (each check, the first failure in
//! full, a count); `watch` checks again whenever you save; `hint NN` shows the next level
//! of hints (`--lang zh-CN`: in Chinese, from the book's translation); `reset NN` puts the
//! original stub back; `verify` checks all sixteen. What it
//! remembers (the last verdict for each file, the hints shown) is in `.course/` at the
//! workspace root, which git ignores and `cargo clean` leaves alone.

mod check;
mod hints;
mod lessons;
mod report;
mod state;
mod watch;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use lessons::Lesson;
use state::State;

/// Your progress through the course's exercises, and the loop to do them.
#[derive(Parser)]
#[command(name = "cargo course", bin_name = "cargo course")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The sixteen exercises with their state, and how far you are (the default).
    List,
    /// Run one lesson's exercise checks against your src/exercise.rs.
    Check {
        /// The lesson: its number (3 or 03) or its package (l03-fork-sharing).
        lesson: String,
    },
    /// Check all sixteen exercises again.
    Verify,
    /// Check an exercise again each time you save it (the first not done, or LESSON).
    Watch {
        /// The lesson to start with: its number or its package.
        lesson: Option<String>,
    },
    /// Show the next level of a lesson's hints (or, with LEVEL, that one again).
    Hint {
        /// The lesson: its number or its package.
        lesson: String,
        /// A level already shown, to read it again (1 is the first).
        level: Option<usize>,
        /// The language: en (the default) or zh-CN, the book's Chinese edition (中文).
        #[arg(long, value_name = "LANG", default_value = "en", value_parser = ["en", "zh-CN"])]
        lang: String,
    },
    /// Put the original stub back in a lesson's src/exercise.rs (your version is lost).
    Reset {
        /// The lesson: its number or its package.
        lesson: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = workspace_root();
    match run(&root, cli.command.unwrap_or(Command::List)) {
        Ok(code) => code,
        Err(Failure::Usage(message)) => {
            eprintln!("cargo course: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Other(message)) => {
            eprintln!("cargo course: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Why the runner stopped: a request it cannot carry out (status 2, as a usage error from
/// the argument parser), or anything else that failed (status 1).
enum Failure {
    Usage(String),
    Other(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Other(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Failure {
        Failure::Other(message.to_string())
    }
}

fn run(root: &Path, command: Command) -> Result<ExitCode, Failure> {
    let lessons = lessons::all(root)?;
    let mut state = State::load(root);
    match command {
        Command::List => {
            report::list(root, &lessons, &state);
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { lesson } => {
            let lesson = lessons::find(&lessons, &lesson).map_err(Failure::Usage)?;
            let passed = check_and_show(root, &lesson, &lessons, &mut state)?;
            Ok(if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Verify => {
            let mut all = true;
            for lesson in &lessons {
                eprint!(
                    "\rchecking {} of {}: {}   ",
                    lesson.number,
                    lessons.len(),
                    lesson.package
                );
                let outcome = check_and_remember(root, lesson, &mut state, |_, _| {})?;
                all &= matches!(outcome, check::Outcome::Ran(report) if report.all_passed());
            }
            eprintln!("\r{:60}\r", "");
            report::list(root, &lessons, &state);
            Ok(if all {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Watch { lesson } => {
            let first = match lesson {
                Some(which) => lessons::find(&lessons, &which).map_err(Failure::Usage)?,
                None => report::first_not_done(root, &lessons, &state)
                    .ok_or("every exercise is done: nothing to watch")?,
            };
            Ok(watch::watch(root, &lessons, first, &mut state)?)
        }
        Command::Hint {
            lesson,
            level,
            lang,
        } => {
            let lesson = lessons::find(&lessons, &lesson).map_err(Failure::Usage)?;
            show_hint(root, &lesson, level, lang == "zh-CN", &mut state)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Reset { lesson } => {
            let lesson = lessons::find(&lessons, &lesson).map_err(Failure::Usage)?;
            let stub = std::fs::read(root.join(lesson.stub()))
                .map_err(|err| format!("cannot read {}: {err}", lesson.stub().display()))?;
            write_whole(&root.join(lesson.exercise()), &stub)?;
            state.set_checked(&lesson.package, None);
            state.save()?;
            println!(
                "{}: {} is the original stub again",
                lesson.name(),
                lesson.exercise().display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs a lesson's checks, shows the report, remembers the verdict; true if all passed.
fn check_and_show(
    root: &Path,
    lesson: &Lesson,
    lessons: &[Lesson],
    state: &mut State,
) -> Result<bool, String> {
    report::header(lesson);
    let outcome = check_and_remember(root, lesson, state, report::check_line)?;
    let passed = report::summary(lesson, &outcome);
    if passed {
        report::next(root, lessons, state, lesson);
    }
    Ok(passed)
}

/// Runs a lesson's checks and remembers the verdict, with the hash of the file it judged.
fn check_and_remember(
    root: &Path,
    lesson: &Lesson,
    state: &mut State,
    each: impl FnMut(&str, bool),
) -> Result<check::Outcome, String> {
    let hash = state::hash_file(&root.join(lesson.exercise()));
    let outcome = check::run(root, &lesson.package, each)?;
    let passed = matches!(&outcome, check::Outcome::Ran(report) if report.all_passed());
    state.set_checked(&lesson.package, Some(state::Checked { passed, hash }));
    state.save()?;
    Ok(outcome)
}

/// Shows the next level of a lesson's hints, or level `again` if the learner has seen it;
/// in Chinese, from the book's translation, when `chinese`.
fn show_hint(
    root: &Path,
    lesson: &Lesson,
    again: Option<usize>,
    chinese: bool,
    state: &mut State,
) -> Result<(), Failure> {
    let levels = hints::levels(&root.join(lesson.hints()))?;
    if levels.is_empty() {
        return Err(format!("{} has no hints", lesson.hints().display()).into());
    }
    let shown = state.hints(&lesson.package) as usize;
    let level = match again {
        Some(level) if (1..=shown.max(1)).contains(&level) && level <= levels.len() => level - 1,
        Some(level) => {
            return Err(Failure::Usage(format!(
                "hint {level} of {}: you have seen levels 1 to {} (without a level, \
                 `cargo course hint {:02}` shows the next)",
                lesson.name(),
                shown.min(levels.len()),
                lesson.number
            )));
        }
        None => shown.min(levels.len() - 1),
    };
    let (n, total, last) = (level + 1, levels.len(), level + 1 == levels.len());
    let answer = lesson.dir.join("src/solution.rs");
    if chinese {
        let (text, untranslated) = hints::in_chinese(&levels[level], &hints::chinese(root)?);
        println!("第 {:02} 课，提示 {n}/{total}：\n\n{text}\n", lesson.number);
        if untranslated > 0 {
            println!("（其中 {untranslated} 段还没有中文译文，显示的是英文原文。）");
        }
        if last {
            println!("这是最后一条提示。参考答案在 {}。", answer.display());
        } else {
            println!(
                "（再运行一次 `cargo course hint {:02} --lang zh-CN`，看下一条）",
                lesson.number
            );
        }
    } else {
        println!(
            "{}, hint {n} of {total}:\n\n{}\n",
            lesson.name(),
            levels[level]
        );
        if last {
            println!(
                "That was the last hint. An answer is in {}.",
                answer.display()
            );
        } else {
            println!(
                "(`cargo course hint {:02}` again for the next)",
                lesson.number
            );
        }
    }
    state.set_hints(&lesson.package, shown.max(n) as u32);
    Ok(state.save()?)
}

/// Writes a file as a whole: a new file, renamed over the old.
fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let new = path.with_extension("rs.new");
    std::fs::write(&new, bytes)
        .and_then(|()| std::fs::rename(&new, path))
        .map_err(|err| format!("cannot write {}: {err}", path.display()))
}

/// The workspace this runner was built in; `COURSE_ROOT` points it at another (its tests
/// use a small workspace of their own).
fn workspace_root() -> PathBuf {
    match std::env::var_os("COURSE_ROOT") {
        Some(root) => PathBuf::from(root),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("common is in the workspace")
            .to_path_buf(),
    }
}
