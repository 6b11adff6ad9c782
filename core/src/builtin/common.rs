//! Pieces shared by several built-in mappings: the `unmapped` rule of the table
//! mappings, list handling and how values are quoted in error messages.

use std::collections::BTreeSet;

use fieldsync_plugin_api::MappingError;
use serde::Deserialize;
use serde_json::Value;

/// The `unmapped` option as written: what to do with a value a table does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Unmapped {
    Error,
    Default,
    Keep,
}

/// The `unmapped` rule once checked against the `default` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fallback {
    Fail,
    Default(String),
    Keep,
}

impl Fallback {
    /// Combines `unmapped` and `default`: a default alone means "use it", neither means
    /// `when_neither`. Contradictions are refused rather than guessed at, so a
    /// relationship never silently ignores half of what the operator wrote.
    pub(crate) fn from_options(
        unmapped: Option<Unmapped>,
        default: Option<String>,
        when_neither: Fallback,
    ) -> Result<Self, MappingError> {
        match (unmapped, default) {
            (None | Some(Unmapped::Default), Some(default)) => Ok(Fallback::Default(default)),
            (None, None) => Ok(when_neither),
            (Some(Unmapped::Error), None) => Ok(Fallback::Fail),
            (Some(Unmapped::Keep), None) => Ok(Fallback::Keep),
            (Some(Unmapped::Default), None) => Err(MappingError::invalid_options(
                "`unmapped` is `default` but no `default` value is given",
            )),
            (Some(rule), Some(default)) => Err(MappingError::invalid_options(format!(
                "`default` is {} but `unmapped` is `{}`, so the default would never be used; \
                 drop `default` or set `unmapped` to `default`",
                show_text(&default),
                match rule {
                    Unmapped::Error => "error",
                    Unmapped::Keep => "keep",
                    Unmapped::Default => "default",
                }
            ))),
        }
    }

    /// What `value`, unknown to the table, becomes; `miss` words the error.
    pub(crate) fn apply(
        &self,
        value: &str,
        miss: impl FnOnce() -> String,
    ) -> Result<String, MappingError> {
        match self {
            Fallback::Fail => Err(MappingError::new(miss())),
            Fallback::Default(default) => Ok(default.clone()),
            Fallback::Keep => Ok(value.to_owned()),
        }
    }
}

/// Applies `map` to a text value, or to each text of a list (options, labels, users).
/// `null` stays `null`. Duplicates that the mapping creates (two values mapped to the
/// same one) are dropped, keeping the first, since these lists are sets to trackers.
pub(crate) fn map_text_or_list(
    value: &Value,
    mut map: impl FnMut(&str) -> Result<String, MappingError>,
) -> Result<Value, MappingError> {
    match value {
        Value::Null => Ok(Value::Null),
        Value::String(text) => Ok(Value::String(map(text)?)),
        Value::Array(items) => {
            let mut seen = BTreeSet::new();
            let mut mapped = Vec::with_capacity(items.len());
            for item in items {
                let text = item.as_str().ok_or_else(|| {
                    MappingError::new(format!("list element {} is not text", show(item)))
                })?;
                let new = map(text)?;
                if seen.insert(new.clone()) {
                    mapped.push(Value::String(new));
                }
            }
            Ok(Value::Array(mapped))
        }
        other => Err(MappingError::new(format!(
            "expected text or a list of text, got {}",
            show(other)
        ))),
    }
}

/// The first `max` characters of `text`: cut on a char boundary, never inside a
/// multi-byte UTF-8 sequence.
pub(crate) fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// How much of a value an error message quotes, so one huge field cannot flood logs.
const SHOWN_CHARS: usize = 80;

/// A value quoted for an error message: text as is, anything else as JSON.
pub(crate) fn show(value: &Value) -> String {
    match value {
        Value::String(text) => show_text(text),
        other => show_text(&other.to_string()),
    }
}

/// Text quoted for an error message, e.g. `` `Urgent` ``.
pub(crate) fn show_text(text: &str) -> String {
    let clipped = truncate_chars(text, SHOWN_CHARS);
    let ellipsis = if clipped.len() < text.len() {
        "…"
    } else {
        ""
    };
    format!("`{clipped}{ellipsis}`")
}

/// How many keys an error lists before summing up the rest.
const SHOWN_KEYS: usize = 10;

/// The keys a table knows, for "has no entry" errors: `High, Low`.
pub(crate) fn list_keys<'a>(keys: impl ExactSizeIterator<Item = &'a String>) -> String {
    let total = keys.len();
    let shown: Vec<&str> = keys.take(SHOWN_KEYS).map(String::as_str).collect();
    let mut list = shown.join(", ");
    if total > SHOWN_KEYS {
        list.push_str(&format!(", … ({total} in all)"));
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn truncation_never_splits_a_character() {
        assert_eq!(truncate_chars("日本語", 2), "日本");
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(truncate_chars("abc", 5), "abc");
        assert_eq!(truncate_chars("abc", 0), "");
    }

    #[test]
    fn error_quotes_are_clipped() {
        assert_eq!(show(&json!("Urgent")), "`Urgent`");
        assert_eq!(show(&json!({"a": 1})), "`{\"a\":1}`");
        let long = "x".repeat(200);
        assert_eq!(show_text(&long), format!("`{}…`", "x".repeat(80)));
        let keys: Vec<String> = (0..12).map(|n| format!("k{n:02}")).collect();
        assert_eq!(
            list_keys(keys.iter()),
            "k00, k01, k02, k03, k04, k05, k06, k07, k08, k09, … (12 in all)"
        );
    }

    #[test]
    fn a_default_contradicting_unmapped_is_refused() {
        let error =
            Fallback::from_options(Some(Unmapped::Error), Some("P3".into()), Fallback::Fail)
                .unwrap_err();
        assert!(error
            .message()
            .contains("`default` is `P3` but `unmapped` is `error`"));
        assert_eq!(
            Fallback::from_options(None, None, Fallback::Keep).ok(),
            Some(Fallback::Keep)
        );
    }
}
