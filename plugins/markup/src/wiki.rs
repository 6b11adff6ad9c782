//! Jira wiki markup → Markdown.

use crate::inline::{can_open, convert_spans, find_close, find_from, split_cells};

/// Converts Jira wiki markup to Markdown.
pub fn wiki_to_markdown(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut in_code = false;
    let mut in_table = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if in_code {
            if trimmed == "{code}" || trimmed == "{noformat}" {
                out.push("```".to_owned());
                in_code = false;
            } else {
                out.push(line.to_owned());
            }
            continue;
        }
        if let Some(language) = code_fence(trimmed) {
            out.push(format!("```{language}"));
            in_code = true;
            in_table = false;
            continue;
        }
        if trimmed.starts_with('|') {
            table_row(trimmed, &mut in_table, &mut out);
            continue;
        }
        in_table = false;
        out.push(block(line));
    }
    out.join("\n")
}

/// `{code}`, `{code:rust}`, `{code:language=rust}` or `{noformat}` → the language.
fn code_fence(line: &str) -> Option<&str> {
    if line == "{noformat}" || line == "{code}" {
        return Some("");
    }
    let parameters = line.strip_prefix("{code:")?.strip_suffix('}')?;
    let language = parameters.split('|').next().unwrap_or("");
    Some(language.strip_prefix("language=").unwrap_or(language))
}

fn table_row(row: &str, in_table: &mut bool, out: &mut Vec<String>) {
    let is_header = row.starts_with("||");
    let separator = if is_header { "||" } else { "|" };
    let inner = row.trim_start_matches('|').trim_end_matches('|');
    let cells: Vec<String> = split_cells(inner, separator)
        .iter()
        .map(|cell| inline(cell.trim()))
        .collect();
    if !*in_table && !is_header {
        // Markdown tables need a header row; give a plain table an empty one.
        out.push(format!("|{}|", vec!["  "; cells.len()].join("|")));
        out.push(format!("|{}|", vec![" --- "; cells.len()].join("|")));
    }
    out.push(format!("| {} |", cells.join(" | ")));
    if is_header {
        out.push(format!("|{}|", vec![" --- "; cells.len()].join("|")));
    }
    *in_table = true;
}

fn block(line: &str) -> String {
    let trimmed = line.trim_start();
    for level in 1..=6 {
        if let Some(title) = trimmed.strip_prefix(&format!("h{level}. ")) {
            return format!("{} {}", "#".repeat(level), inline(title.trim()));
        }
    }
    if let Some(quote) = trimmed.strip_prefix("bq. ") {
        return format!("> {}", inline(quote));
    }
    if trimmed.len() >= 4 && trimmed.chars().all(|c| c == '-') {
        return "---".to_owned();
    }
    let markers: String = trimmed
        .chars()
        .take_while(|c| matches!(c, '*' | '#' | '-'))
        .collect();
    if !markers.is_empty() && trimmed[markers.len()..].starts_with(' ') {
        let content = trimmed[markers.len()..].trim_start();
        let mut indent = String::new();
        for parent in markers.chars().take(markers.chars().count() - 1) {
            indent.push_str(if parent == '#' { "   " } else { "  " });
        }
        let bullet = if markers.ends_with('#') { "1." } else { "-" };
        return format!("{indent}{bullet} {}", inline(content));
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
    if rest.starts_with("{{") {
        let end = find_from(text, at + 2, "}}")?;
        out.push_str(&format!("`{}`", &text[at + 2..end]));
        return Some(end + 2 - at);
    }
    if rest.starts_with('[') {
        let end = find_from(text, at + 1, "]")?;
        let inner = &text[at + 1..end];
        match inner.rsplit_once('|') {
            Some((label, url)) => out.push_str(&format!("[{}]({})", inline(label), url.trim())),
            None if inner.contains("://") || inner.starts_with("mailto:") => {
                out.push_str(&format!("<{inner}>"))
            }
            None => out.push_str(&format!("[{inner}]")),
        }
        return Some(end + 1 - at);
    }
    if rest.starts_with('!') {
        let end = find_from(text, at + 1, "!")?;
        let inner = &text[at + 1..end];
        if inner.is_empty() || inner.contains(char::is_whitespace) {
            return None;
        }
        let source = inner.split('|').next().unwrap_or(inner);
        out.push_str(&format!("![]({source})"));
        return Some(end + 1 - at);
    }
    for (delim, open, close) in [
        ("*", "**", "**"),
        ("_", "_", "_"),
        ("-", "~~", "~~"),
        ("+", "<ins>", "</ins>"),
    ] {
        if rest.starts_with(delim) && can_open(text, at, delim) {
            let end = find_close(text, at + 1, delim)?;
            out.push_str(&format!("{open}{}{close}", inline(&text[at + 1..end])));
            return Some(end + 1 - at);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::wiki_to_markdown as md;

    #[test]
    fn blocks() {
        assert_eq!(md("h1. Title\nh3. Sub"), "# Title\n### Sub");
        assert_eq!(md("bq. quoted"), "> quoted");
        assert_eq!(md("----"), "---");
        assert_eq!(
            md("* one\n** nested\n# first\n## second"),
            "- one\n  - nested\n1. first\n   1. second"
        );
        assert_eq!(
            md("{code:java}\nint *a* = 1;\n{code}"),
            "```java\nint *a* = 1;\n```"
        );
        assert_eq!(md("{noformat}\n*raw*\n{noformat}"), "```\n*raw*\n```");
    }

    #[test]
    fn inline_spans() {
        assert_eq!(
            md("a *bold* and _it_ and -gone- and +under+"),
            "a **bold** and _it_ and ~~gone~~ and <ins>under</ins>"
        );
        assert_eq!(md("run {{cargo test}} now"), "run `cargo test` now");
        assert_eq!(
            md("see [the docs|https://x.io/a] or [https://y.io]"),
            "see [the docs](https://x.io/a) or <https://y.io>"
        );
        assert_eq!(md("!shot.png|thumbnail!"), "![](shot.png)");
        assert_eq!(
            md("well-known 2 * 3 snake_case [~alice]"),
            "well-known 2 * 3 snake_case [~alice]"
        );
        assert_eq!(
            md("*bold with _italic_ inside*"),
            "**bold with _italic_ inside**"
        );
    }

    #[test]
    fn tables() {
        assert_eq!(
            md("||Name||Link||\n|a|[x|https://x.io]|"),
            "| Name | Link |\n| --- | --- |\n| a | [x](https://x.io) |"
        );
        assert_eq!(md("|a|b|"), "|  |  |\n| --- | --- |\n| a | b |");
    }
}
