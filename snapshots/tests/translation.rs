//! The Chinese edition (`book/po/zh-CN.po`, see `book/po/README.md`) must keep up with the
//! English book and must never change what a reader types or sees on their screen.
//!
//! - Every block of included code or output is marked `<!-- i18n:skip -->`, so that a
//!   snapshot change never makes a message of the translation stale.
//! - Every message is translated, none is fuzzy, and each translation keeps its message's
//!   inline code, link targets and bold text; its images exist.
//! - With `mdbook` and `mdbook-gettext` installed, the Chinese book builds, with every
//!   include in, and its chapters are in Chinese. Without them this part says it was skipped
//!   (CI installs both, and checks against a fresh extraction that nothing is missing).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use common::po::{self, Message};

const SKIP: &str = "<!-- i18n:skip -->";

use snapshots::book::{chapters, dir as book};

/// The fenced blocks of a chapter that include a file: (line of the fence, the line before).
fn include_blocks(text: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].trim_start();
        if fence.starts_with("```") {
            let end = (i + 1..lines.len())
                .find(|&j| lines[j].trim_start().starts_with("```"))
                .unwrap_or(lines.len());
            if lines[i + 1..end].iter().any(|l| l.contains("{{#include")) {
                let before = (0..i)
                    .rev()
                    .map(|j| lines[j])
                    .find(|l| !l.trim().is_empty());
                blocks.push((i + 1, before.unwrap_or("").trim().to_string()));
            }
            i = end + 1;
        } else {
            i += 1;
        }
    }
    blocks
}

#[test]
fn every_included_block_is_left_out_of_the_translation() {
    let mut problems = Vec::new();
    let mut count = 0;
    for (name, text) in chapters() {
        for (line, before) in include_blocks(&text) {
            count += 1;
            if before != SKIP {
                problems.push(format!(
                    "{name}:{line}: put {SKIP} on the line before this block"
                ));
            }
        }
    }
    assert!(
        count > 200,
        "only {count} include blocks found: is the parser broken?"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// How many times each inline code span occurs (`` `x` ``, ``` ``x`` ```).
fn code_spans(text: &str) -> BTreeMap<String, usize> {
    let mut spans = BTreeMap::new();
    let mut rest = text;
    while let Some(start) = rest.find('`') {
        let ticks = rest[start..].chars().take_while(|&c| c == '`').count();
        let after = &rest[start + ticks..];
        let fence = "`".repeat(ticks);
        let Some(end) = after.find(&fence) else { break };
        *spans.entry(after[..end].trim().to_string()).or_default() += 1;
        rest = &after[end + ticks..];
    }
    spans
}

/// How many times each link or image target `](target)` occurs; a Chinese copy of a
/// diagram (`img/zh-CN/x.svg`) counts as the diagram.
fn targets(text: &str) -> BTreeMap<String, usize> {
    let mut found = BTreeMap::new();
    for piece in text.split("](").skip(1) {
        if let Some(end) = piece.find(')') {
            let target = piece[..end].replace("img/zh-CN/", "img/");
            *found.entry(target).or_default() += 1;
        }
    }
    found
}

fn is_cjk(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

/// Words of English prose in a message, outside its code spans and link targets.
fn english_words(text: &str) -> usize {
    let mut prose = text.to_string();
    for span in code_spans(text).keys() {
        prose = prose.replace(span.as_str(), " ");
    }
    for target in targets(text).keys() {
        prose = prose.replace(target.as_str(), " ");
    }
    prose
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() > 2)
        .count()
}

/// A comment or a quoted string from a command block (the extractor takes both, each
/// comment with its line's end): it may stay as it is, being a command (`# echo 8 > …`, a
/// root prompt) or a string the reader types.
fn from_a_command_block(msgid: &str) -> bool {
    let quoted = |q: char| msgid.len() > 1 && msgid.starts_with(q) && msgid.ends_with(q);
    msgid.ends_with('\n') || quoted('"') || quoted('\'')
}

fn translation() -> Vec<Message> {
    let text = fs::read_to_string(book().join("po/zh-CN.po")).unwrap();
    po::parse(&text).unwrap_or_else(|err| panic!("book/po/zh-CN.po: {err}"))
}

#[test]
fn every_message_is_translated_and_keeps_code_links_and_bold() {
    let entries = translation();
    assert!(
        entries.len() > 1000,
        "only {} messages: is the parser broken?",
        entries.len()
    );
    let mut problems = Vec::new();
    for e in &entries {
        let at = format!("zh-CN.po:{} ({:.60}…)", e.line, e.msgid.replace('\n', " "));
        if e.fuzzy {
            problems.push(format!(
                "{at}: fuzzy (check the translation, then remove the flag)"
            ));
        }
        if e.msgstr.trim().is_empty() {
            problems.push(format!("{at}: not translated"));
            continue;
        }
        if code_spans(&e.msgid) != code_spans(&e.msgstr) {
            problems.push(format!("{at}: inline code differs from the English"));
        }
        if targets(&e.msgid) != targets(&e.msgstr) {
            problems.push(format!(
                "{at}: link or image targets differ from the English"
            ));
        }
        if e.msgid.matches("**").count() != e.msgstr.matches("**").count() {
            problems.push(format!("{at}: bold text differs from the English"));
        }
        if english_words(&e.msgid) >= 4
            && !from_a_command_block(&e.msgid)
            && !e.msgstr.chars().any(is_cjk)
        {
            problems.push(format!("{at}: English prose left in English"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_translated_images_exist_and_are_the_chinese_copies() {
    let src = book().join("src");
    let mut count = 0;
    for e in translation() {
        for piece in e.msgstr.split("](").skip(1) {
            let Some(end) = piece.find(')') else { continue };
            let target = &piece[..end];
            if target.starts_with("img/") {
                count += 1;
                assert!(
                    src.join(target).is_file(),
                    "{target}: no such file in book/src"
                );
                assert!(
                    target.starts_with("img/zh-CN/"),
                    "{target}: the Chinese edition would show the diagram with its English \
                     text (make a Chinese copy in img/zh-CN/)"
                );
            }
        }
    }
    assert!(count >= 8, "only {count} images in the translation");
}

/// Whether the program `name` can be started (with `--help`: mdbook-gettext has no such
/// option and fails, having started).
fn installed(name: &str) -> bool {
    Command::new(name).arg("--help").output().is_ok()
}

#[test]
fn the_chinese_edition_builds_in_chinese() {
    if !installed("mdbook") || !installed("mdbook-gettext") {
        eprintln!(
            "skipped: the Chinese build needs mdbook and mdbook-gettext \
             (cargo install mdbook-i18n-helpers --locked --version 0.4.0)"
        );
        return;
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("zh-CN-{}", std::process::id()));
    let built = Command::new("mdbook")
        .arg("build")
        .arg(book())
        .arg("-d")
        .arg(&out)
        .env("MDBOOK_BOOK__LANGUAGE", "zh-CN")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&built.stderr).into_owned();
    let result = check_chinese_build(&out, built.status.success(), &log);
    let _ = fs::remove_dir_all(&out);
    if let Err(problems) = result {
        panic!("{problems}");
    }
}

fn check_chinese_build(out: &Path, ok: bool, log: &str) -> Result<(), String> {
    if !ok || log.contains("ERROR") || log.contains("WARN") {
        return Err(format!("mdbook build of the Chinese edition:\n{log}"));
    }
    let mut problems = Vec::new();
    for (name, _) in chapters() {
        if name == "SUMMARY.md" {
            continue;
        }
        let page = out.join(name.replace(".md", ".html"));
        let Ok(html) = fs::read_to_string(&page) else {
            problems.push(format!("{}: not built", page.display()));
            continue;
        };
        let main = html.split("<main>").nth(1).unwrap_or("");
        if !html.contains(r#"<html lang="zh-CN""#) {
            problems.push(format!("{name}: not marked lang=\"zh-CN\""));
        }
        if !html.contains("theme/language-picker") {
            problems.push(format!(
                "{name}: no language menu (book.toml's additional-js)"
            ));
        }
        if main.contains("{{#") {
            problems.push(format!("{name}: an include was left unexpanded"));
        }
        if main.chars().filter(|&c| is_cjk(c)).count() < 200 {
            problems.push(format!("{name}: hardly any Chinese in the built chapter"));
        }
        // Markdown's emphasis rules trip over Chinese punctuation: `**粗体。**后文` is not
        // bold (a closing `**` after punctuation must be followed by a space or punctuation),
        // and the asterisks are printed. Outside code, none may be left.
        for stray in stray_asterisks(main) {
            problems.push(format!("{name}: Markdown left unrendered: …{stray}…"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Pieces of a page's prose (code left out) that still hold `**`.
fn stray_asterisks(html: &str) -> Vec<String> {
    let mut prose = String::new();
    let mut rest = html;
    while let Some(start) = rest.find("<code") {
        prose += &rest[..start];
        rest = rest[start..]
            .split_once("</code>")
            .map_or("", |(_, after)| after);
    }
    prose += rest;
    let chars: Vec<char> = prose.chars().collect();
    (1..chars.len())
        .filter(|&i| chars[i - 1] == '*' && chars[i] == '*')
        .map(|i| {
            let around = &chars[i.saturating_sub(12)..(i + 12).min(chars.len())];
            around.iter().collect::<String>().replace('\n', " ")
        })
        .collect()
}

#[test]
fn the_checks_read_code_spans_links_and_words() {
    assert_eq!(code_spans("`a` and ``b`c`` and `a`")["a"], 2);
    assert_eq!(code_spans("`a` and ``b`c`` and `a`")["b`c"], 1);
    assert_eq!(targets("[x](img/zh-CN/f.svg) [y](a.md#b)")["img/f.svg"], 1);
    assert_eq!(english_words("`mmap` maps [a page](x.md)"), 2);
    assert_eq!(
        stray_asterisks("<p>ok <code>**x</code> **没有加粗。**后文</p>").len(),
        2
    );
}
