//! `cargo course watch`: check an exercise again each time its file is saved.
//!
//! It looks at the file's modification time four times a second: no watcher crate, and
//! the same on every filesystem. Once an exercise passes it moves on to the next one not
//! done. Ctrl-C ends it: the signal also reaches a check's cargo, which stops with it.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use crate::lessons::Lesson;
use crate::report::{self, Status};
use crate::state::State;

const LOOK_EVERY: Duration = Duration::from_millis(250);

pub fn watch(
    root: &Path,
    lessons: &[Lesson],
    mut lesson: Lesson,
    state: &mut State,
) -> Result<ExitCode, String> {
    loop {
        let file = root.join(lesson.exercise());
        let seen = modified(&file);
        clear_screen();
        let passed = crate::check_and_show(root, &lesson, lessons, state)?;
        if passed {
            match report::next_after(root, lessons, state, &lesson) {
                Some(next) => lesson = next,
                None => return Ok(ExitCode::SUCCESS),
            }
            if report::status(root, &lesson, state) == Status::Failing {
                // Already checked and failing: show where it stands, then wait for a save.
                continue;
            }
            println!(
                "\nWatching {} now; save it to check it.",
                lesson.exercise().display()
            );
        } else {
            println!(
                "\nWatching {}: save it to check again (Ctrl-C to stop; `cargo course hint {:02}` for a hint).",
                lesson.exercise().display(),
                lesson.number
            );
        }
        let file = root.join(lesson.exercise());
        let seen = if passed { modified(&file) } else { seen };
        while modified(&file) == seen {
            std::thread::sleep(LOOK_EVERY);
        }
    }
}

fn modified(file: &Path) -> Option<SystemTime> {
    std::fs::metadata(file)
        .and_then(|meta| meta.modified())
        .ok()
}

/// ANSI: erase the screen and go to its top-left corner (on a terminal only).
fn clear_screen() {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        print!("\x1b[2J\x1b[H");
    }
}
