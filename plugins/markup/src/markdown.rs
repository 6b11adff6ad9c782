//! Markdown → Jira wiki markup.

use crate::inline::{can_open, convert_spans, find_close, find_from, split_cells};

/// Converts Markdown to Jira wiki markup.
pub fn markdown_to_wiki(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut in_code = false;
    let mut in_table = false;
    // Open lists: (indent of the marker, wiki marker character).
    let mut lists: Vec<(usize, char)> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(language) = trimmed.strip_prefix("```") {
            out.push(match (in_code, language.trim()) {
                (true, _) | (false, "") => "{code}".to_owned(),
                (false, language) => format!("{{code:{language}}}"),
            });
            in_code = !in_code;
            continue;
        }
        if in_code {
            out.push(line.to_owned());
            continue;
        }
        if trimmed.starts_with('|') {
            lists.clear();
            if let Some(row) = table_row(trimmed, in_table) {
                out.push(row);
            }
            in_table = true;
            continue;
        }
        in_table = false;
        if let Some(item) = list_item(line, &mut lists) {
            out.push(item);
            continue;
        }
        lists.clear();
        out.push(block(trimmed));
    }
    out.join("\n")
}

fn table_row(row: &str, in_table: bool) -> Option<String> {
    let inner = row.trim_start_matches('|').trim_end_matches('|');
    let is_separator = inner.chars().all(|c| matches!(c, '-' | ':' | '|' | ' '));
    if is_separator {
        return None;
    }
    let cells: Vec<String> = split_cells(inner, "|")
        .iter()
        .map(|cell| inline(cell.trim()))
        .collect();
    if in_table {
        Some(format!("|{}|", cells.join("|")))
    } else if cells.iter().all(String::is_empty) {
        // The empty header a plain wiki table was given on the way out.
        None
    } else {
        Some(format!("||{}||", cells.join("||")))
    }
}

/// A bullet (`-`, `*`, `+`) or numbered (`1.`, `1)`) item, nested by indentation.
fn list_item(line: &str, lists: &mut Vec<(usize, char)>) -> Option<String> {
    let indent = line.len() - line.trim_start().len();
    let trimmed = line.trim_start();
    let (marker, content) = if let Some(content) = ["- ", "* ", "+ "]
        .iter()
        .find_map(|bullet| trimmed.strip_prefix(bullet))
    {
        ('*', content)
    } else {
        let digits = trimmed.chars().take_while(char::is_ascii_digit).count();
        let after = &trimmed[digits..];
        let content = after
            .strip_prefix(". ")
            .or_else(|| after.strip_prefix(") "));
        match (digits, content) {
            (1..=9, Some(content)) => ('#', content),
            _ => return None,
        }
    };
    if trimmed.chars().all(|c| c == '-' || c == '*' || c == ' ') && trimmed.len() >= 3 {
        return None; // a rule such as `- - -`
    }
    while lists.last().is_some_and(|(open, _)| *open > indent) {
        lists.pop();
    }
    match lists.last() {
        Some((open, _)) if *open == indent => {
            lists.pop();
        }
        _ => {}
    }
    lists.push((indent, marker));
    let markers: String = lists.iter().map(|(_, marker)| *marker).collect();
    Some(format!("{markers} {}", inline(content.trim())))
}

fn block(line: &str) -> String {
    let hashes = line.chars().take_while(|c| *c == '#').count();
    if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
        return format!("h{hashes}. {}", inline(line[hashes..].trim()));
    }
    if let Some(quote) = line.strip_prefix("> ").or_else(|| line.strip_prefix('>')) {
        return format!("bq. {}", inline(quote.trim()));
    }
    let rule = line.replace(' ', "");
    if rule.len() >= 3
        && ['-', '*', '_']
            .iter()
            .any(|c| rule.chars().all(|r| r == *c))
    {
        return "----".to_owned();
    }
    inline(line)
}

/// Converts the inline markup of one line.
fn inline(text: &str) -> String {
    convert_spans(text, span)
}

/// Converts the span starting at `at`, if one does, and returns its length.
fn span(text: &str, at: usize, out: &mut String) -> Option<usize> {
    let rest = &text[at..];
    if let Some(escaped) = rest.strip_prefix('\\').and_then(|r| r.chars().next()) {
        if escaped.is_ascii_punctuation() {
            out.push(escaped);
            return Some(1 + escaped.len_utf8());
        }
    }
    if rest.starts_with('`') {
        let end = find_from(text, at + 1, "`")?;
        out.push_str(&format!("{{{{{}}}}}", &text[at + 1..end]));
        return Some(end + 1 - at);
    }
    if rest.starts_with("![") {
        let (_, source, length) = link(text, at + 1)?;
        out.push_str(&format!("!{source}!"));
        return Some(length + 1);
    }
    if rest.starts_with('[') {
        let (label, url, length) = link(text, at)?;
        out.push_str(&format!("[{}|{url}]", inline(label)));
        return Some(length);
    }
    if rest.starts_with('<') {
        let end = find_from(text, at + 1, ">")?;
        let url = &text[at + 1..end];
        if !(url.contains("://") || url.starts_with("mailto:")) || url.contains(char::is_whitespace)
        {
            return None;
        }
        out.push_str(&format!("[{url}]"));
        return Some(end + 1 - at);
    }
    for (delim, wiki) in [
        ("**", "*"),
        ("__", "*"),
        ("~~", "-"),
        ("*", "_"),
        ("_", "_"),
    ] {
        if rest.starts_with(delim) && can_open(text, at, delim) {
            let end = find_close(text, at + delim.len(), delim)?;
            out.push_str(&format!(
                "{wiki}{}{wiki}",
                inline(&text[at + delim.len()..end])
            ));
            return Some(end + delim.len() - at);
        }
    }
    None
}

/// `[label](url)` at `at` → (label, url, length).
fn link(text: &str, at: usize) -> Option<(&str, &str, usize)> {
    let label_end = find_from(text, at + 1, "](")?;
    let url_end = find_from(text, label_end + 2, ")")?;
    Some((
        &text[at + 1..label_end],
        text[label_end + 2..url_end].trim(),
        url_end + 1 - at,
    ))
}

#[cfg(test)]
mod tests {
    use super::markdown_to_wiki as wiki;
    use crate::wiki_to_markdown;

    #[test]
    fn blocks() {
        assert_eq!(wiki("# Title\n### Sub"), "h1. Title\nh3. Sub");
        assert_eq!(wiki("> quoted"), "bq. quoted");
        assert_eq!(wiki("---\n***"), "----\n----");
        assert_eq!(
            wiki("- one\n  - nested\n- two\n1. first\n   1. second"),
            "* one\n** nested\n* two\n# first\n## second"
        );
        assert_eq!(
            wiki("```rust\nlet *a* = 1;\n```"),
            "{code:rust}\nlet *a* = 1;\n{code}"
        );
    }

    #[test]
    fn inline_spans() {
        assert_eq!(
            wiki("a **bold** and *it* and _it_ and ~~gone~~"),
            "a *bold* and _it_ and _it_ and -gone-"
        );
        assert_eq!(wiki("run `cargo test` now"), "run {{cargo test}} now");
        assert_eq!(
            wiki("see [the docs](https://x.io/a) or <https://y.io>"),
            "see [the docs|https://x.io/a] or [https://y.io]"
        );
        assert_eq!(wiki("![shot](shot.png)"), "!shot.png!");
        assert_eq!(
            wiki("2 * 3, snake_case, a < b, \\*not bold\\*"),
            "2 * 3, snake_case, a < b, *not bold*"
        );
    }

    #[test]
    fn tables() {
        assert_eq!(
            wiki("| Name | Link |\n| --- | :-: |\n| a | [x](https://x.io) |"),
            "||Name||Link||\n|a|[x|https://x.io]|"
        );
    }

    #[test]
    fn a_wiki_document_survives_the_round_trip() {
        let document = "h2. Steps to reproduce\n\
            # Open *Settings* and go to _Billing_\n\
            ## Pick [the plan|https://example.com/plans]\n\
            # Run {{make invoice}}\n\
            \n\
            bq. It fails -every- time.\n\
            ----\n\
            {code:python}\n\
            total = price * count\n\
            {code}\n\
            ||Plan||Price||\n\
            |Basic|10|\n\
            * see https://example.com";
        assert_eq!(wiki(&wiki_to_markdown(document)), document);
    }
}
