//! Each exercise's hints, from `lessons/NN-slug/hints.md`: one home, read by the runner
//! and included by the chapter.
//!
//! A level is the Markdown between `<!-- ANCHOR: name -->` and `<!-- ANCHOR_END: name -->`
//! (the markers mdBook's `{{#include file:name}}` understands, and invisible in Markdown),
//! in the order the file gives them: where to look first, then the idea, then the shape of
//! the code.
//!
//! The chapters include these files, so the book's Chinese translation (`book/po/zh-CN.po`)
//! has every paragraph of every hint: [`in_chinese`] looks them up there.

use std::collections::HashMap;
use std::path::Path;

use common::po;

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

/// The book's Chinese translations, by their English: what [`in_chinese`] looks up.
pub fn chinese(root: &Path) -> Result<HashMap<String, String>, String> {
    let file = root.join("book/po/zh-CN.po");
    let text = std::fs::read_to_string(&file)
        .map_err(|err| format!("cannot read the translation, {}: {err}", file.display()))?;
    let messages = po::parse(&text).map_err(|err| format!("{}: {err}", file.display()))?;
    Ok(messages
        .into_iter()
        .filter(|m| !m.fuzzy && !m.msgstr.is_empty())
        .map(|m| (m.msgid, m.msgstr))
        .collect())
}

/// A level in Chinese: each paragraph and each list item replaced by its translation, as
/// the book's extractor cut them (lines joined by spaces, `*emphasis*` written `_emphasis_`).
/// One without a translation stays in English; the second value counts them.
pub fn in_chinese(level: &str, chinese: &HashMap<String, String>) -> (String, usize) {
    let mut untranslated = 0;
    let mut look_up = |english: String| match chinese.get(&message_id(&english)) {
        Some(text) => text.clone(),
        None => {
            untranslated += 1;
            english
        }
    };
    let mut blocks = Vec::new();
    for block in level.split("\n\n").map(str::trim).filter(|b| !b.is_empty()) {
        if block.starts_with("```") {
            blocks.push(block.to_string());
            continue;
        }
        let mut items: Vec<(String, Vec<&str>)> = Vec::new();
        for line in block.lines() {
            match (list_marker(line), items.last_mut()) {
                (Some((marker, rest)), _) => items.push((marker.to_string(), vec![rest])),
                (None, Some((_, lines))) => lines.push(line.trim()),
                (None, None) => items.push((String::new(), vec![line.trim()])),
            }
        }
        let translated: Vec<String> = items
            .into_iter()
            .map(|(marker, lines)| format!("{marker}{}", look_up(lines.join(" "))))
            .collect();
        blocks.push(translated.join("\n"));
    }
    (blocks.join("\n\n"), untranslated)
}

/// `- text` or `1. text`: the marker (with its indent) and the text after it.
fn list_marker(line: &str) -> Option<(&str, &str)> {
    let body = line.trim_start();
    let digits = body.chars().take_while(char::is_ascii_digit).count();
    let marker = if body.starts_with("- ") {
        2
    } else if digits > 0 && body[digits..].starts_with(". ") {
        digits + 2
    } else {
        return None;
    };
    let end = line.len() - body.len() + marker;
    Some((&line[..end], &line[end..]))
}

/// The message the book's extractor makes of a paragraph: single `*` (emphasis) outside
/// code spans becomes `_`.
fn message_id(text: &str) -> String {
    let mut id = String::with_capacity(text.len());
    let mut in_code = false;
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let starred = |j: Option<usize>| j.and_then(|j| chars.get(j)) == Some(&'*');
        if c == '`' {
            in_code = !in_code;
        }
        if c == '*' && !in_code && !starred(i.checked_sub(1)) && !starred(Some(i + 1)) {
            id.push('_');
        } else {
            id.push(c);
        }
    }
    id
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
    fn a_level_in_chinese_is_looked_up_paragraph_by_paragraph_and_item_by_item() {
        let chinese: HashMap<String, String> = [
            ("**Where to look.** Read _this_,\nnot `a*b*c`.", "看这里"),
            ("first item on two lines", "第一项"),
            ("`x` second", "`x` 第二项"),
        ]
        .into_iter()
        .map(|(en, zh)| (en.replace('\n', " "), zh.to_string()))
        .collect();
        let level = "**Where to look.** Read *this*,\nnot `a*b*c`.\n\n\
                     - first item\n  on two lines\n- `x` second\n\n\
                     1. not in the book";
        let (text, untranslated) = in_chinese(level, &chinese);
        assert_eq!(
            text,
            "看这里\n\n- 第一项\n- `x` 第二项\n\n1. not in the book"
        );
        assert_eq!(untranslated, 1);
    }

    #[test]
    fn every_paragraph_of_every_hint_is_in_the_chinese_translation() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let chinese = chinese(root).unwrap();
        for lesson in crate::lessons::all(root).unwrap() {
            for (n, level) in levels(&root.join(lesson.hints()))
                .unwrap()
                .iter()
                .enumerate()
            {
                let (_, untranslated) = in_chinese(level, &chinese);
                assert_eq!(untranslated, 0, "{} hint {}", lesson.package, n + 1);
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
