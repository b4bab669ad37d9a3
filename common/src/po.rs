//! The book's translation, `book/po/zh-CN.po`: a gettext PO file read into its messages.
//!
//! `cargo course hint --lang zh-CN` looks each paragraph of a hint up in it, and the book's
//! tests (`snapshots/tests/translation.rs`) check it message by message. Only what those two
//! need is read: each entry's `fuzzy` flag, its `msgid` and its `msgstr`, with continued
//! lines joined and escapes undone. The header (the entry with an empty `msgid`) and the
//! obsolete entries (`#~`) are left out.

/// One message of a PO file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Message {
    /// The line of its `msgid`, for error messages.
    pub line: usize,
    /// Marked `#, fuzzy`: its English changed since it was translated.
    pub fuzzy: bool,
    /// The English.
    pub msgid: String,
    /// The translation; empty while there is none.
    pub msgstr: String,
}

/// The messages of a PO file's text, in order; an error names the line it cannot read.
pub fn parse(text: &str) -> Result<Vec<Message>, String> {
    let mut messages = Vec::new();
    let mut message = Message::default();
    let mut in_msgstr: Option<bool> = None; // which string a continued line belongs to
    for (index, line) in text.lines().enumerate() {
        let n = index + 1;
        if line.trim().is_empty() {
            finish(&mut message, &mut messages);
            in_msgstr = None;
        } else if let Some(flags) = line.strip_prefix("#,") {
            message.fuzzy |= flags.split(',').any(|flag| flag.trim() == "fuzzy");
        } else if line.starts_with('#') {
            continue;
        } else if let Some(rest) = line.strip_prefix("msgid ") {
            message.line = n;
            message.msgid = unquote(rest).ok_or(format!("line {n}: {line}"))?;
            in_msgstr = Some(false);
        } else if let Some(rest) = line.strip_prefix("msgstr ") {
            message.msgstr = unquote(rest).ok_or(format!("line {n}: {line}"))?;
            in_msgstr = Some(true);
        } else if line.starts_with('"') {
            let more = unquote(line).ok_or(format!("line {n}: {line}"))?;
            match in_msgstr {
                Some(false) => message.msgid += &more,
                Some(true) => message.msgstr += &more,
                None => return Err(format!("line {n}: a string outside msgid and msgstr")),
            }
        } else {
            return Err(format!("line {n}: cannot read {line:?}"));
        }
    }
    finish(&mut message, &mut messages);
    Ok(messages)
}

fn finish(message: &mut Message, messages: &mut Vec<Message>) {
    let done = std::mem::take(message);
    if !done.msgid.is_empty() {
        messages.push(done);
    }
}

/// The text of a quoted PO string, its escapes undone; None if it is not quoted.
fn unquote(quoted: &str) -> Option<String> {
    let inner = quoted.trim().strip_prefix('"')?.strip_suffix('"')?;
    let mut text = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            text.push(c);
            continue;
        }
        match chars.next()? {
            'n' => text.push('\n'),
            't' => text.push('\t'),
            other => text.push(other),
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_flags_continued_lines_and_escapes_and_leaves_out_the_header() {
        let po = "msgid \"\"\nmsgstr \"\"\n\"Language: zh_CN\\n\"\n\n\
                  #: src/a.md:1\n#, fuzzy\nmsgid \"\"\n\"Say \\\"hi\\\" \"\n\"to `x`\"\n\
                  msgstr \"说 `x`\"\n\n#~ msgid \"old\"\n#~ msgstr \"旧\"\n\n\
                  msgid \"b\"\nmsgstr \"\"\n";
        let messages = parse(po).unwrap();
        assert_eq!(messages.len(), 2);
        assert!(messages[0].fuzzy);
        assert_eq!(messages[0].line, 7);
        assert_eq!(messages[0].msgid, "Say \"hi\" to `x`");
        assert_eq!(messages[0].msgstr, "说 `x`");
        assert!(!messages[1].fuzzy);
        assert_eq!(messages[1].msgstr, "");
    }

    #[test]
    fn a_line_it_cannot_read_is_an_error_naming_it() {
        assert_eq!(
            parse("msgid \"a\"\nmsgstr b\n").unwrap_err(),
            "line 2: msgstr b"
        );
        assert!(parse("\"loose\"\n").unwrap_err().starts_with("line 1:"));
    }
}
