//! mdBook 0.5 builds happily when an `{{#include}}` names a missing file or anchor: it
//! leaves the directive or an empty block. This test fails instead, so the book can never
//! show code or output that is not in the repository.

use std::fs;
use std::path::{Path, PathBuf};

fn book_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../book/src")
}

/// Every `{{#include path[:anchor|:lines]}}` (and `#rustdoc_include`) in `text`.
fn includes(text: &str) -> Vec<(String, Option<String>)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{#") {
        rest = &rest[start + 3..];
        let Some(end) = rest.find("}}") else { break };
        let directive = &rest[..end];
        rest = &rest[end..];
        let Some(target) = directive
            .strip_prefix("include ")
            .or_else(|| directive.strip_prefix("rustdoc_include "))
        else {
            continue;
        };
        let (path, selector) = match target.trim().split_once(':') {
            Some((path, selector)) => (path, Some(selector.to_string())),
            None => (target.trim(), None),
        };
        found.push((path.to_string(), selector));
    }
    found
}

#[test]
fn every_include_names_a_file_and_anchor_that_exist() {
    let mut problems = Vec::new();
    let mut count = 0;
    for entry in fs::read_dir(book_src()).unwrap() {
        let chapter = entry.unwrap().path();
        if chapter.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = fs::read_to_string(&chapter).unwrap();
        let name = chapter.file_name().unwrap().to_string_lossy().into_owned();
        for (path, selector) in includes(&text) {
            count += 1;
            let file = chapter.parent().unwrap().join(&path);
            let Ok(body) = fs::read_to_string(&file) else {
                problems.push(format!("{name}: includes {path}, which does not exist"));
                continue;
            };
            let Some(selector) = selector else { continue };
            let anchor = selector.split(':').next().unwrap();
            if anchor.is_empty() || anchor.chars().all(|c| c.is_ascii_digit()) {
                let first = anchor.parse::<usize>().unwrap_or(1);
                if first > body.lines().count() {
                    problems.push(format!("{name}: {path} has no line {first}"));
                }
            } else if !body.contains(&format!("ANCHOR: {anchor}"))
                || !body.contains(&format!("ANCHOR_END: {anchor}"))
            {
                problems.push(format!("{name}: {path} has no anchor `{anchor}`"));
            }
        }
    }
    assert!(
        count > 0,
        "found no includes at all in {}",
        book_src().display()
    );
    assert!(
        problems.is_empty(),
        "broken includes:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_chapter_in_the_summary_exists() {
    let summary = fs::read_to_string(book_src().join("SUMMARY.md")).unwrap();
    for link in summary.split("](").skip(1) {
        let target = link.split(')').next().unwrap();
        assert!(
            book_src().join(target).exists(),
            "SUMMARY.md links to missing {target}"
        );
    }
}

#[test]
fn the_include_parser_reads_paths_and_selectors() {
    let text = "a {{#include ../../x.rs:fork}} b {{#include ../../y.snap:5:}} {{#title T}}";
    assert_eq!(
        includes(text),
        [
            ("../../x.rs".to_string(), Some("fork".to_string())),
            ("../../y.snap".to_string(), Some("5:".to_string())),
        ]
    );
}
