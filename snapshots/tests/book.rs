//! mdBook 0.5 builds happily when an `{{#include}}` names a missing file or anchor: it
//! leaves the directive or an empty block. This test fails instead, so the book can never
//! show code or output that is not in the repository.
//!
//! It also checks that every PostgreSQL source path and every manual page the book names is
//! a link to the file at a fixed release or to the page on man7.org (see the second half).

use std::fs;
use std::path::PathBuf;

use snapshots::book::chapters;

fn book_src() -> PathBuf {
    snapshots::book::dir().join("src")
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
    for (name, text) in chapters() {
        for (path, selector) in includes(&text) {
            count += 1;
            let file = book_src().join(&path);
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

// ---------------------------------------------------------------------------------------
// Links to PostgreSQL's source and to the Linux manual pages.
//
// Outside code fences, every PostgreSQL source path (`src/backend/…`, `src/include/…`,
// `src/port/…`, `src/common/…` or `src/bin/…`, ending in `.c` or `.h`) must be the text of
// a link to that very file at a fixed revision: `https://github.com/postgres/postgres/blob/`
// + `REL_<major>_<minor>` (the release whose code the sentence describes) + `/` + the path.
// A file that exists only after the newest release may name a full 40-digit commit instead
// of a tag. Every manual page reference `name(N)` (N from 1 to 8, the name in lowercase
// letters, digits and underscores, written right after a space, a backtick or a bracket)
// must be the text of a link to `https://man7.org/linux/man-pages/manN/name.N.html`.
// A paragraph or list item links a file or page at its first mention; later mentions in
// the same paragraph or item may stay plain. Links whose text is a base name
// (`postmaster.c`) must open a file of that name. Nothing here needs the network: it
// checks shapes only.

const POSTGRES_BLOB: &str = "https://github.com/postgres/postgres/blob/";
const MAN7: &str = "https://man7.org/linux/man-pages/man";
const POSTGRES_DIRS: [&str; 5] = ["backend", "include", "port", "common", "bin"];

/// `name(N)` code spans that are calls, not manual pages: lesson 09's `swap(1)` (the
/// atomic swap of 1 into the lock word) and lesson 15's `_exit(2)` (exit status 2).
const CALLS_NOT_MAN_PAGES: [&str; 2] = ["swap(1)", "_exit(2)"];

/// The prose of a chapter, outside code fences and `{{#…}}` lines, cut into paragraphs,
/// list items, headings and table rows: (number of the unit's first line, its lines
/// joined with '\n').
fn prose_units(text: &str) -> Vec<(usize, String)> {
    let mut units = Vec::new();
    let mut current: Option<(usize, String)> = None;
    let mut fence: Option<(char, usize)> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let body = line.trim_start_matches(|c: char| c == '>' || c.is_whitespace());
        let marker = body.chars().next().filter(|&c| c == '`' || c == '~');
        let run = marker.map_or(0, |m| body.chars().take_while(|&c| c == m).count());
        if let Some((open, length)) = fence {
            if marker == Some(open) && run >= length && body[run..].trim().is_empty() {
                fence = None;
            }
            continue;
        }
        if run >= 3 {
            units.extend(current.take());
            fence = marker.map(|m| (m, run));
            continue;
        }
        if body.is_empty() || body.starts_with("{{#") {
            units.extend(current.take());
            continue;
        }
        let digits = body.chars().take_while(char::is_ascii_digit).count();
        let starts_unit = body.starts_with(['#', '|'])
            || ["- ", "* ", "+ "].iter().any(|m| body.starts_with(m))
            || (digits > 0 && body[digits..].starts_with(". "));
        if starts_unit {
            units.extend(current.take());
        }
        match &mut current {
            Some((_, unit)) => {
                unit.push('\n');
                unit.push_str(line);
            }
            None => current = Some((number, line.to_string())),
        }
        if body.starts_with(['#', '|']) {
            units.extend(current.take());
        }
    }
    units.extend(current);
    units
}

/// A markdown link `[text](url)`: byte ranges into the unit.
struct Link {
    text: std::ops::Range<usize>,
    url: std::ops::Range<usize>,
}

fn links(unit: &str) -> Vec<Link> {
    let bytes = unit.as_bytes();
    let mut open = Vec::new();
    let mut found = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'[' => open.push(i),
            b']' => {
                let Some(start) = open.pop() else { continue };
                if bytes.get(i + 1) != Some(&b'(') {
                    continue;
                }
                let Some(end) = unit[i + 2..].find(')') else {
                    continue;
                };
                found.push(Link {
                    text: start + 1..i,
                    url: i + 2..i + 2 + end,
                });
            }
            _ => {}
        }
    }
    found
}

/// A link's visible text without code and emphasis marks.
fn bare(text: &str) -> &str {
    text.trim_matches(|c| c == '`' || c == '*' || c == '_')
}

fn is_revision(revision: &str) -> bool {
    let release = revision
        .strip_prefix("REL_")
        .and_then(|r| r.split_once('_'));
    let numbers = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    release.is_some_and(|(major, minor)| numbers(major) && numbers(minor))
        || (revision.len() == 40 && revision.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')))
}

fn man_url(name: &str, section: char) -> String {
    format!("{MAN7}{section}/{name}.{section}.html")
}

/// Every PostgreSQL source path in `unit`: (byte offset, path).
fn postgres_paths(unit: &str) -> Vec<(usize, &str)> {
    let path_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-');
    let mut found = Vec::new();
    for (start, _) in unit.match_indices("src/") {
        if unit[..start].chars().next_back().is_some_and(path_char) {
            continue;
        }
        let end = unit[start..]
            .find(|c: char| !path_char(c))
            .map_or(unit.len(), |n| start + n);
        let path = unit[start..end].trim_end_matches('.');
        let dir = path.split('/').nth(1).unwrap_or("");
        if POSTGRES_DIRS.contains(&dir) && (path.ends_with(".c") || path.ends_with(".h")) {
            found.push((start, path));
        }
    }
    found
}

/// Every manual page reference `name(N)` in `unit`: (byte offset, name, section).
fn man_references(unit: &str) -> Vec<(usize, &str, char)> {
    let bytes = unit.as_bytes();
    let name_byte = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
    let mut found = Vec::new();
    for (paren, _) in unit.match_indices('(') {
        let section = bytes.get(paren + 1).copied().unwrap_or(0);
        if !(b'1'..=b'8').contains(&section) || bytes.get(paren + 2) != Some(&b')') {
            continue;
        }
        let start = unit[..paren]
            .bytes()
            .rposition(|b| !name_byte(b))
            .map_or(0, |n| n + 1);
        let name = &unit[start..paren];
        let first_ok = name.bytes().next().is_some_and(|b| !b.is_ascii_digit());
        let before_ok = start == 0 || matches!(bytes[start - 1], b' ' | b'\n' | b'`' | b'[' | b'(');
        if first_ok && before_ok {
            found.push((start, name, section as char));
        }
    }
    found
}

/// What is wrong with the links in one chapter, as "file:line: …" messages, and how many
/// paths and manual page references it checked.
fn link_problems(name: &str, text: &str) -> (Vec<String>, usize) {
    let mut problems = Vec::new();
    let mut checked = 0;
    for (first_line, unit) in prose_units(text) {
        let line_of = |offset: usize| first_line + unit[..offset].matches('\n').count();
        let links = links(&unit);
        let link_at = |offset: usize| links.iter().find(|l| l.text.contains(&offset));
        let in_url = |offset: usize| links.iter().any(|l| l.url.contains(&offset));

        // Every link to PostgreSQL's source or a manual page names what it opens.
        for link in &links {
            let text = bare(&unit[link.text.clone()]);
            let url = &unit[link.url.clone()];
            let line = line_of(link.text.start);
            if let Some(rest) = url.strip_prefix(POSTGRES_BLOB) {
                let (revision, path) = rest.split_once('/').unwrap_or((rest, ""));
                if !is_revision(revision) {
                    problems.push(format!(
                        "{name}:{line}: {url} is not at a fixed release: use blob/REL_<major>_<minor>/ \
                         (e.g. REL_18_0) for the version the sentence describes"
                    ));
                }
                if path != text && !path.ends_with(&format!("/{text}")) {
                    problems.push(format!(
                        "{name}:{line}: the link [{text}] opens {path}, a different file: \
                         its URL must end in the path it shows"
                    ));
                }
            } else if url.starts_with(MAN7) {
                let page = text.strip_suffix(')').and_then(|t| t.split_once('('));
                match page.map(|(n, s)| (n, s.chars().next().unwrap_or('0'))) {
                    Some((n, s)) if man_url(n, s) == url => {}
                    Some((n, s)) => problems.push(format!(
                        "{name}:{line}: the link [{text}] opens {url}; {n}({s}) is {}",
                        man_url(n, s)
                    )),
                    None => problems.push(format!(
                        "{name}:{line}: the man7.org link [{text}] should show the page as name(N)"
                    )),
                }
            }
        }

        // Every PostgreSQL path is such a link, at least at its first mention in the unit.
        let mut linked: Vec<String> = Vec::new();
        for (offset, path) in postgres_paths(&unit) {
            if in_url(offset) {
                continue;
            }
            checked += 1;
            let ok = link_at(offset).is_some_and(|l| {
                bare(&unit[l.text.clone()]) == path
                    && unit[l.url.clone()]
                        .strip_prefix(POSTGRES_BLOB)
                        .is_some_and(|rest| {
                            rest.split_once('/')
                                .is_some_and(|(r, p)| is_revision(r) && p == path)
                        })
            });
            if ok {
                linked.push(path.to_string());
            } else if !linked.iter().any(|p| p == path) {
                problems.push(format!(
                    "{name}:{}: `{path}` is not linked; write [`{path}`]({POSTGRES_BLOB}REL_18_0/{path}) \
                     (REL_18_0, or REL_<major>_0 of the version the sentence describes) at its first \
                     mention in the paragraph or list item",
                    line_of(offset)
                ));
            }
        }

        // Every manual page reference is a man7.org link, at least at its first mention.
        let mut linked: Vec<String> = Vec::new();
        for (offset, page, section) in man_references(&unit) {
            if in_url(offset) {
                continue;
            }
            let reference = format!("{page}({section})");
            let end = offset + reference.len();
            let code_span = offset > 0
                && unit.as_bytes()[offset - 1] == b'`'
                && unit.as_bytes().get(end) == Some(&b'`');
            if code_span && CALLS_NOT_MAN_PAGES.contains(&reference.as_str()) {
                continue;
            }
            checked += 1;
            // A wrong man7 URL is reported by the link check above.
            if link_at(offset).is_some_and(|l| unit[l.url.clone()].starts_with(MAN7)) {
                linked.push(reference);
            } else if !linked.contains(&reference) {
                let shown = if code_span {
                    format!("`{reference}`")
                } else {
                    reference.clone()
                };
                problems.push(format!(
                    "{name}:{}: the manual page {reference} is not linked; write [{shown}]({}) \
                     at its first mention in the paragraph or list item (if it is a call, not a \
                     page, add it to CALLS_NOT_MAN_PAGES in snapshots/tests/book.rs)",
                    line_of(offset),
                    man_url(page, section)
                ));
            }
        }
    }
    (problems, checked)
}

#[test]
fn every_postgres_file_and_man_page_is_linked() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for (name, text) in chapters() {
        let (found, count) = link_problems(&format!("book/src/{name}"), &text);
        problems.extend(found);
        checked += count;
    }
    problems.sort();
    assert!(
        checked > 0,
        "found no PostgreSQL paths or manual pages in {}",
        book_src().display()
    );
    assert!(
        problems.is_empty(),
        "unlinked or mislinked references:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_link_checker_tells_files_and_man_pages_from_look_alikes() {
    let gh = |rev: &str, path: &str| format!("{POSTGRES_BLOB}{rev}/{path}");
    let ok = format!(
        "See [`src/backend/port/sysv_shmem.c`]({}) and [`postmaster.c`]({}); \
         `src/backend/port/sysv_shmem.c` again.\n\
         Calls: `main()`, `lock()`, `stat(dir)`, `x.swap(1)`, `swap(1)`, `_exit(2)`, (1), \
         `common/src/parent_death.rs`, `lessons/x/src/main.rs`, `mm/shmem.c`.\n\
         The [mmap(2)]({}) page, then `mmap(2)` again.\n\n\
         ```text\nsrc/include/storage/spin.h read(2)\n```\n\
         - [`s_lock.c`]({})\n",
        gh("REL_18_0", "src/backend/port/sysv_shmem.c"),
        gh("REL_15_0", "src/backend/postmaster/postmaster.c"),
        man_url("mmap", '2'),
        gh(
            "0123456789abcdef0123456789abcdef01234567",
            "src/backend/storage/lmgr/s_lock.c"
        ),
    );
    let (problems, checked) = link_problems("ok.md", &ok);
    assert_eq!(problems, Vec::<String>::new());
    assert_eq!(checked, 4, "two mentions of sysv_shmem.c, two of mmap(2)");

    let bad = format!(
        "Plain `src/include/storage/spin.h` and shmctl(2).\n\n\
         - [`src/backend/port/sysv_shmem.c`]({})\n\
         - `src/backend/port/sysv_shmem.c` in the next item\n\
         - [`src/bin/pg_ctl/pg_ctl.c`]({})\n\
         - [`ipci.c`]({})\n\
         - [`futex(2)`]({})\n",
        gh("master", "src/backend/port/sysv_shmem.c"),
        gh("REL_18_0", "src/bin/pg_ctl/pg_ctl.h"),
        gh("REL_18_0", "src/backend/storage/ipc/dsm.c"),
        man_url("futex", '7'),
    );
    let (problems, _) = link_problems("bad.md", &bad);
    let lines: Vec<&str> = problems
        .iter()
        .map(|p| p.split(": ").next().unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            "bad.md:1", "bad.md:1", "bad.md:3", "bad.md:3", "bad.md:4", "bad.md:5", "bad.md:5",
            "bad.md:6", "bad.md:7",
        ],
        "{problems:#?}"
    );
}
