//! Escaping text for HTML and XML: element content and attribute values. Every
//! string that comes from a run folder (history values, errors, explanations, test
//! parameters) passes through here before it reaches report.html, junit.xml or the
//! index, so a value like `</script>` cannot break the page.

/// Escapes text for element content or a double-quoted attribute value, in HTML and
/// in XML alike. Characters XML 1.0 forbids (control characters other than tab,
/// newline and carriage return) are replaced by U+FFFD.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Escapes an attribute value (same rules as [`text`]; newlines kept as entities so
/// tooltips keep their line breaks).
pub fn attr(s: &str) -> String {
    text(s).replace('\n', "&#10;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            text("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(text("a\u{1}b"), "a\u{fffd}b");
        assert_eq!(attr("a\nb"), "a&#10;b");
    }
}
