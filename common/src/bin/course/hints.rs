//! Each exercise's hints, from `lessons/NN-slug/hints.md`: one home, read by the runner
//! and included by the chapter.
//!
//! A level is the Markdown between `<!-- ANCHOR: name -->` and `<!-- ANCHOR_END: name -->`
//! (the markers mdBook's `{{#include file:name}}` understands, and invisible in Markdown),
//! in the order the file gives them: where to look first, then the idea, then the shape of
//! the code.

use std::path::Path;

/// The levels of the hints in `file`, in order: each one's text.
pub fn levels(file: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|err| format!("cannot read the hints, {}: {err}", file.display()))?;
    Ok(parse(&text))
}

/// The levels of a hints file's text.
pub fn parse(text: &str) -> Vec<String> {
    let mut levels = Vec::new();
    let mut open: Option<(String, Vec<&str>)> = None;
    for line in text.lines() {
        if let Some(name) = marker(line, "ANCHOR:") {
            open = Some((name, Vec::new()));
        } else if let Some(name) = marker(line, "ANCHOR_END:") {
            if let Some((opened, lines)) = open.take()
                && opened == name
            {
                levels.push(lines.join("\n").trim().to_string());
            }
        } else if let Some((_, lines)) = &mut open {
            lines.push(line);
        }
    }
    levels
}

/// `<!-- ANCHOR: where -->` is the marker `ANCHOR:` named `where`.
fn marker(line: &str, kind: &str) -> Option<String> {
    let inner = line
        .trim()
        .strip_prefix("<!--")?
        .strip_suffix("-->")?
        .trim();
    Some(inner.strip_prefix(kind)?.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lesson_has_at_least_three_levels_and_none_is_empty() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let lessons = crate::lessons::all(root).unwrap();
        assert_eq!(lessons.len(), 16);
        for lesson in lessons {
            let levels = levels(&root.join(lesson.hints())).unwrap();
            assert!(
                levels.len() >= 3,
                "{}: {} levels",
                lesson.package,
                levels.len()
            );
            for (n, text) in levels.iter().enumerate() {
                assert!(
                    text.len() > 40,
                    "{} level {}: {text:?}",
                    lesson.package,
                    n + 1
                );
            }
        }
    }

    #[test]
    fn levels_come_in_file_order_without_their_markers() {
        let text = "<!-- A comment that is no level. -->\n\n<!-- ANCHOR: where -->\n\
                    **Where to look.** Lesson 01.\n<!-- ANCHOR_END: where -->\n\n\
                    <!-- ANCHOR: idea -->\nOne idea,\non two lines.\n<!-- ANCHOR_END: idea -->\n";
        assert_eq!(
            parse(text),
            ["**Where to look.** Lesson 01.", "One idea,\non two lines."]
        );
    }
}
