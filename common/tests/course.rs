//! `cargo course`, tried as a learner uses it, on a small workspace of its own: two lessons
//! in the course's layout, whose checks compile in a second.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const STUB: &str = "pub fn answer() -> u32 {\n    todo!(\"return the answer\")\n}\n";
const SOLUTION: &str = "pub fn answer() -> u32 {\n    42\n}\n";
const CHECKS: &str = r#"
#[test]
fn the_answer_is_42() {
    assert_eq!(LIB::exercise::answer(), 42, "the answer is 42, not what answer() returned");
}

#[test]
fn the_answer_is_even() {
    assert!(LIB::exercise::answer() % 2 == 0, "the answer is even");
}

#[test]
fn the_answer_is_not_unlucky() {
    if LIB::exercise::answer() == 13 {
        std::process::abort(); // a check whose program dies, as a wild pointer would
    }
}
"#;
const HINTS: &str = "<!-- The hints, one level per anchor. -->\n\n\
    <!-- ANCHOR: where -->\n**Where to look.** The chapter.\n<!-- ANCHOR_END: where -->\n\n\
    <!-- ANCHOR: idea -->\n**The idea.** Six times seven.\n<!-- ANCHOR_END: idea -->\n\n\
    <!-- ANCHOR: shape -->\n**The code.** `42`\n<!-- ANCHOR_END: shape -->\n";

/// A workspace with lessons 01 and 02, each with a stub, a solution, two checks, hints.
struct Course {
    dir: tempfile::TempDir,
}

impl Course {
    fn new() -> Course {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let root = dir.path();
        write(
            root,
            "Cargo.toml",
            "[workspace]\nresolver = \"3\"\nmembers = [\"lessons/*\"]\n",
        );
        for (number, slug, title) in [("01", "first", "The first"), ("02", "second", "The second")]
        {
            let package = format!("l{number}-{slug}");
            let lesson = format!("lessons/{number}-{slug}");
            write(
                root,
                &format!("{lesson}/Cargo.toml"),
                &format!(
                    "[package]\nname = \"{package}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
                     [features]\nexercise = []\n"
                ),
            );
            write(
                root,
                &format!("{lesson}/src/lib.rs"),
                "#[cfg_attr(feature = \"exercise\", path = \"exercise.rs\")]\n\
                 #[cfg_attr(not(feature = \"exercise\"), path = \"solution.rs\")]\n\
                 pub mod exercise;\n",
            );
            write(root, &format!("{lesson}/src/exercise.rs"), STUB);
            write(root, &format!("{lesson}/stub/exercise.rs"), STUB);
            write(root, &format!("{lesson}/src/solution.rs"), SOLUTION);
            let checks = CHECKS.replace("LIB", &package.replace('-', "_"));
            write(root, &format!("{lesson}/tests/exercise.rs"), &checks);
            write(root, &format!("{lesson}/hints.md"), HINTS);
            write(
                root,
                &format!("book/src/{number}-{slug}.md"),
                &format!("# {number} · {title}\n"),
            );
        }
        Course { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn exercise(&self, number: &str) -> PathBuf {
        let slug = if number == "01" { "first" } else { "second" };
        self.root()
            .join(format!("lessons/{number}-{slug}/src/exercise.rs"))
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_course"));
        command
            .args(args)
            .env("COURSE_ROOT", self.root())
            // A build folder of its own: cargo names a workspace's build products by their
            // path inside the workspace, so two copies sharing one would overwrite each other's.
            .env("CARGO_TARGET_DIR", self.root().join("target"))
            .env("RUST_BACKTRACE", "1"); // the learner's setting must not bring backtraces back
        command
    }

    fn run(&self, args: &[&str]) -> (Output, String) {
        let output = self.command(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        (output, stdout)
    }
}

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_fresh_course_lists_every_exercise_as_not_started() {
    let course = Course::new();
    let (output, stdout) = course.run(&[]);
    assert!(output.status.success());
    assert!(stdout.contains("01  The first "), "{stdout}");
    assert!(stdout.contains("02  The second "), "{stdout}");
    assert_eq!(stdout.matches("not started").count(), 2, "{stdout}");
    assert!(stdout.contains("0 of 2 done"), "{stdout}");
}

#[test]
fn a_stub_fails_quietly_and_a_solution_passes_then_reset_restores_the_stub() {
    let course = Course::new();
    let (output, stdout) = course.run(&["check", "01"]);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        course.run(&["list"]).1.matches("not started").count() == 2,
        "a stub that was checked is still not started"
    );
    assert!(stdout.contains("✗ the answer is 42"), "{stdout}");
    assert!(
        stdout.contains("return the answer"),
        "the first failure's message: {stdout}"
    );
    assert!(
        stdout.ends_with("lesson 01: 0 of 3 checks pass\n"),
        "{stdout}"
    );
    let everything = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    for noise in [
        "stack backtrace",
        "Compiling",
        "running 2 tests",
        "doc-tests",
        "test result",
    ] {
        assert!(!everything.contains(noise), "`{noise}` in:\n{everything}");
    }

    std::fs::write(course.exercise("01"), SOLUTION).unwrap();
    let (output, stdout) = course.run(&["check", "l01-first"]);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("lesson 01: 3 of 3 checks pass"), "{stdout}");
    assert!(
        stdout.contains("Next: lesson 02 · The second"),
        "what is next: {stdout}"
    );
    assert!(course.run(&["list"]).1.contains("1 of 2 done"));

    std::fs::write(
        course.exercise("01"),
        "pub fn answer() -> u32 {\n    41\n}\n",
    )
    .unwrap();
    assert!(course.run(&["list"]).1.contains("edited since check"));

    let (output, _) = course.run(&["reset", "1"]);
    assert!(output.status.success());
    assert_eq!(
        std::fs::read_to_string(course.exercise("01")).unwrap(),
        STUB
    );
    let (_, stdout) = course.run(&["list"]);
    assert!(stdout.contains("0 of 2 done"), "{stdout}");
    assert_eq!(stdout.matches("not started").count(), 2, "{stdout}");
}

#[test]
fn code_that_does_not_compile_shows_the_compilers_errors() {
    let course = Course::new();
    std::fs::write(course.exercise("02"), "pub fn answer() -> u32 { \"42\" }\n").unwrap();
    let (output, stdout) = course.run(&["check", "02"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout.contains("error[E0308]"), "{stdout}");
    assert!(stdout.contains("does not compile yet"), "{stdout}");
}

#[test]
fn a_lesson_is_named_by_number_package_or_folder() {
    let course = Course::new();
    for name in ["2", "02", "l02", "02-second", "l02-second"] {
        let (output, stdout) = course.run(&["hint", name]);
        assert!(output.status.success(), "`hint {name}`: {stdout}");
    }
    assert_eq!(course.run(&["hint", "l02-first"]).0.status.code(), Some(2));
}

#[test]
fn a_test_program_that_dies_is_not_taken_for_a_compile_error() {
    let course = Course::new();
    std::fs::write(
        course.exercise("01"),
        "pub fn answer() -> u32 {\n    13\n}\n",
    )
    .unwrap();
    let (output, stdout) = course.run(&["check", "01"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(!stdout.contains("does not compile"), "{stdout}");
    assert!(
        stdout.contains("The checks stopped before the end"),
        "{stdout}"
    );
    assert!(stdout.contains("SIGABRT"), "how it ended: {stdout}");
}

#[test]
fn hints_come_one_level_at_a_time() {
    let course = Course::new();
    let shown: Vec<String> = (0..4).map(|_| course.run(&["hint", "02"]).1).collect();
    assert!(shown[0].contains("hint 1 of 3") && shown[0].contains("Where to look"));
    assert!(shown[1].contains("hint 2 of 3") && shown[1].contains("Six times seven"));
    assert!(shown[2].contains("hint 3 of 3") && shown[2].contains("src/solution.rs"));
    assert!(
        shown[3].contains("hint 3 of 3"),
        "the last level stays: {}",
        shown[3]
    );
    assert!(
        !course.run(&["hint", "01"]).1.contains("hint 2"),
        "each lesson counts its own"
    );
}

#[test]
fn hints_in_chinese_come_from_the_books_translation() {
    let course = Course::new();
    // Two of the three levels translated; the third stays in English, and says so.
    let po = "msgid \"\"\nmsgstr \"\"\n\"Language: zh_CN\\n\"\n\n\
              msgid \"**Where to look.** The chapter.\"\nmsgstr \"**看哪里。** 本章。\"\n\n\
              msgid \"**The idea.** Six times seven.\"\nmsgstr \"**思路。** 六乘七。\"\n";
    write(course.dir.path(), "book/po/zh-CN.po", po);
    let shown: Vec<String> = (0..3)
        .map(|_| course.run(&["hint", "02", "--lang", "zh-CN"]).1)
        .collect();
    assert!(shown[0].contains("提示 1/3") && shown[0].contains("**看哪里。** 本章。"));
    assert!(shown[0].contains("--lang zh-CN`，看下一条"), "{}", shown[0]);
    assert!(shown[1].contains("提示 2/3") && shown[1].contains("六乘七"));
    assert!(shown[2].contains("**The code.** `42`") && shown[2].contains("1 段还没有中文译文"));
    assert!(shown[2].contains("参考答案在"), "{}", shown[2]);
    // The levels seen are the same whatever the language.
    assert!(course.run(&["hint", "02"]).1.contains("hint 3 of 3"));
    let (output, _) = course.run(&["hint", "02", "--lang", "fr"]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "an unknown language is a usage error"
    );
}

#[test]
fn a_lesson_that_does_not_exist_is_one_clear_line() {
    let course = Course::new();
    let (output, stdout) = course.run(&["check", "17"]);
    assert_eq!(output.status.code(), Some(2), "a usage error");
    assert!(stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "cargo course: there is no lesson 17: give a number from 1 to 2, or a package name \
         like l03-fork-sharing\n"
    );
}

#[test]
fn watch_checks_again_when_the_file_is_saved() {
    let course = Course::new();
    let mut watcher = Watcher(
        course
            .command(&["watch"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (lines, said) = mpsc::channel();
    let stdout = watcher.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |text: &str| {
        let mut seen = String::new();
        loop {
            match said.recv_timeout(Duration::from_secs(120)) {
                Ok(line) if line.contains(text) => return,
                Ok(line) => seen += &format!("{line}\n"),
                Err(_) => panic!("watch never said `{text}`; it said:\n{seen}"),
            }
        }
    };
    wait_for("lesson 01: 0 of 3 checks pass");
    wait_for("save it to check again");
    std::fs::write(course.exercise("01"), SOLUTION).unwrap();
    wait_for("lesson 01: 3 of 3 checks pass");
    wait_for("Watching lessons/02-second/src/exercise.rs now");
}

/// The watching runner, stopped when the test ends, however it ends.
struct Watcher(std::process::Child);

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
