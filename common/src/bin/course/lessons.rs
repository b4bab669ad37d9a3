//! The sixteen exercises, found on disk: each lesson's folder, its package, its title.
//!
//! Nothing here is a list to keep up to date by hand: a lesson is a folder
//! `lessons/NN-slug/` with a `src/exercise.rs`, and its title is its chapter's heading.

use std::path::{Path, PathBuf};

/// One lesson's exercise.
#[derive(Debug, Clone)]
pub struct Lesson {
    /// 1 to 16.
    pub number: u32,
    /// `l03-fork-sharing`: the package, and the binary.
    pub package: String,
    /// `A child's write, seen by its parent`, from the chapter's first heading.
    pub title: String,
    /// `lessons/03-fork-sharing`, relative to the workspace.
    pub dir: PathBuf,
}

impl Lesson {
    /// The learner's file, relative to the workspace.
    pub fn exercise(&self) -> PathBuf {
        self.dir.join("src/exercise.rs")
    }

    /// The stub as it was given, for `reset`.
    pub fn stub(&self) -> PathBuf {
        self.dir.join("stub/exercise.rs")
    }

    /// The hints, in levels.
    pub fn hints(&self) -> PathBuf {
        self.dir.join("hints.md")
    }

    /// `lesson 03`
    pub fn name(&self) -> String {
        format!("lesson {:02}", self.number)
    }
}

/// Every lesson under `root/lessons`, in order.
pub fn all(root: &Path) -> Result<Vec<Lesson>, String> {
    let folder = root.join("lessons");
    let entries = std::fs::read_dir(&folder)
        .map_err(|err| format!("cannot list {}: {err}", folder.display()))?;
    let mut lessons = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((number, _slug)) = name.split_once('-') else {
            continue;
        };
        let Ok(number) = number.parse::<u32>() else {
            continue;
        };
        let dir = Path::new("lessons").join(&name);
        if !root.join(&dir).join("src/exercise.rs").exists() {
            continue;
        }
        lessons.push(Lesson {
            number,
            package: format!("l{name}"),
            title: title(&root.join("book/src").join(format!("{name}.md"))),
            dir,
        });
    }
    lessons.sort_by_key(|lesson| lesson.number);
    Ok(lessons)
}

/// The lesson `which` names: its number (`3`, `03`, `l03`), its package (`l03-fork-sharing`)
/// or its folder (`03-fork-sharing`).
pub fn find(lessons: &[Lesson], which: &str) -> Result<Lesson, String> {
    let bare = which.strip_prefix('l').unwrap_or(which);
    let (number, slug) = match bare.split_once('-') {
        Some((number, _)) => (number, Some(format!("l{bare}"))),
        None => (bare, None),
    };
    let number = number.parse::<u32>().ok();
    lessons
        .iter()
        .find(|lesson| {
            Some(lesson.number) == number
                && slug.as_ref().is_none_or(|slug| *slug == lesson.package)
        })
        .cloned()
        .ok_or_else(|| {
            let last = lessons.last().map_or(0, |lesson| lesson.number);
            format!(
                "there is no lesson {which}: give a number from 1 to {last}, or a package name \
                 like l03-fork-sharing"
            )
        })
}

/// A chapter's title: its first `# ` heading without the `NN · ` in front.
fn title(chapter: &Path) -> String {
    let text = std::fs::read_to_string(chapter).unwrap_or_default();
    let heading = text
        .lines()
        .find_map(|line| line.strip_prefix("# "))
        .unwrap_or("(no chapter)");
    match heading.split_once(" · ") {
        Some((_, title)) => title.to_string(),
        None => heading.to_string(),
    }
}
