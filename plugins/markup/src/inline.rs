//! Helpers both converters use to find inline spans on one line.

fn is_boundary(c: char) -> bool {
    c.is_whitespace() || c.is_ascii_punctuation()
}

/// Whether `delim` at byte `at` may open an emphasis span: at the start of the line
/// or after a space or punctuation, and followed by something that is not a space
/// (so `a * b` and `snake_case` stay as they are).
pub(crate) fn can_open(text: &str, at: usize, delim: &str) -> bool {
    let before = text[..at].chars().next_back();
    let after = text[at + delim.len()..].chars().next();
    before.is_none_or(is_boundary) && after.is_some_and(|c| !c.is_whitespace())
}

/// The byte index of the `delim` that closes a span whose content starts at `from`:
/// not empty, preceded by a non-space, followed by the end, a space or punctuation.
pub(crate) fn find_close(text: &str, from: usize, delim: &str) -> Option<usize> {
    let mut search = from;
    while let Some(found) = text[search..].find(delim) {
        let at = search + found;
        let before = text[..at].chars().next_back();
        let after = text[at + delim.len()..].chars().next();
        if at > from && before.is_some_and(|c| !c.is_whitespace()) && after.is_none_or(is_boundary)
        {
            return Some(at);
        }
        search = at + delim.len();
    }
    None
}

/// Copies `text`, letting `span` convert the span starting at each position: it
/// writes the converted span and returns the bytes it consumed, or `None` to copy
/// one character as it is.
pub(crate) fn convert_spans(
    text: &str,
    span: fn(&str, usize, &mut String) -> Option<usize>,
) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut index = 0;
    while index < text.len() {
        if let Some(consumed) = span(text, index, &mut out) {
            index += consumed;
            continue;
        }
        let c = text[index..].chars().next().unwrap_or(' ');
        out.push(c);
        index += c.len_utf8();
    }
    out
}

/// The byte index of the next `needle` at or after `from`.
pub(crate) fn find_from(text: &str, from: usize, needle: &str) -> Option<usize> {
    text[from..].find(needle).map(|found| from + found)
}

/// Splits a table row into cells at `separator`, except inside `[...]`, `{...}` and
/// backticks, where a `|` belongs to a link or code.
pub(crate) fn split_cells<'a>(row: &'a str, separator: &str) -> Vec<&'a str> {
    let mut cells = Vec::new();
    let (mut depth, mut in_code, mut start, mut index) = (0i32, false, 0, 0);
    let bytes = row.as_bytes();
    while index < bytes.len() {
        match bytes[index] {
            b'`' => in_code = !in_code,
            b'[' | b'{' if !in_code => depth += 1,
            b']' | b'}' if !in_code => depth -= 1,
            _ if !in_code && depth <= 0 && row[index..].starts_with(separator) => {
                cells.push(&row[start..index]);
                index += separator.len();
                start = index;
                continue;
            }
            _ => {}
        }
        index += 1;
    }
    cells.push(&row[start..]);
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emphasis_needs_word_boundaries() {
        assert!(can_open("a *b*", 2, "*"));
        assert!(!can_open("a * b", 2, "*"));
        assert!(!can_open("snake_case", 5, "_"));
        assert_eq!(find_close("*b* c", 1, "*"), Some(2));
        assert_eq!(find_close("*b*c* d", 1, "*"), Some(4));
        assert_eq!(find_close("** x", 1, "*"), None);
    }

    #[test]
    fn cells_keep_links_and_code_whole() {
        assert_eq!(
            split_cells("a|[x|y]|`p|q`", "|"),
            vec!["a", "[x|y]", "`p|q`"]
        );
        assert_eq!(split_cells("h1||h2", "||"), vec!["h1", "h2"]);
    }
}
