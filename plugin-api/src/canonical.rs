//! Reads documents laid out exactly as this project's writers lay them out (serde's
//! compact form, fields in declaration order) with a cursor instead of a generic JSON
//! reader: the keys are compared as literals and strings without escapes are
//! borrowed. Anything else (another layout, an escape, a newer field) makes the
//! cursor give up, and the caller reads the document with serde instead, so the
//! cursor is only ever a shortcut to the same answer.
//!
//! Public only for the host side: the loader reads plugin replies, and the SQLite
//! store its stored values, the same way.

use serde::Deserialize;
use serde_json::Value;

/// A position in a document; every step returns `None` when the document is not
/// what the step expects.
pub struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    /// At the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Cursor { text, at: 0 }
    }

    /// Steps over `literal`, which must come next.
    pub fn literal(&mut self, literal: &str) -> Option<()> {
        let rest = &self.text.as_bytes()[self.at..];
        rest.starts_with(literal.as_bytes()).then(|| {
            self.at += literal.len();
        })
    }

    /// A JSON string without escapes, borrowed from the document.
    pub fn plain_string(&mut self) -> Option<&'a str> {
        let bytes = self.text.as_bytes();
        if bytes.get(self.at) != Some(&b'"') {
            return None;
        }
        let start = self.at + 1;
        let length = bytes[start..]
            .iter()
            .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)?;
        if bytes[start + length] != b'"' {
            return None;
        }
        self.at = start + length + 1;
        // Both ends are next to a `"`, so both are character boundaries.
        Some(&self.text[start..start + length])
    }

    /// Any JSON value: `null`, booleans, integers and plain strings read here (what
    /// most fields hold), anything else by serde_json.
    pub fn value(&mut self) -> Option<Value> {
        if let Some(value) = self.scalar() {
            return Some(value);
        }
        let mut values = serde_json::Deserializer::from_str(&self.text[self.at..]).into_iter();
        let value = values.next()?.ok()?;
        self.at += values.byte_offset();
        Some(value)
    }

    fn scalar(&mut self) -> Option<Value> {
        let rest = &self.text.as_bytes()[self.at..];
        let (value, length) = match *rest.first()? {
            b'"' => {
                return self
                    .plain_string()
                    .map(|text| Value::String(text.to_owned()));
            }
            b'n' if rest.starts_with(b"null") => (Value::Null, 4),
            b't' if rest.starts_with(b"true") => (Value::Bool(true), 4),
            b'f' if rest.starts_with(b"false") => (Value::Bool(false), 5),
            b'-' | b'0'..=b'9' => {
                let length = integer_length(rest)?;
                // Both parses refuse what does not fit, which serde would read as a
                // float: that is left to serde.
                let digits = &self.text[self.at..self.at + length];
                let value = if rest[0] == b'-' {
                    Value::from(digits.parse::<i64>().ok()?)
                } else {
                    Value::from(digits.parse::<u64>().ok()?)
                };
                (value, length)
            }
            _ => return None,
        };
        // A literal run on into more letters (`nullx`) is not one.
        if rest.get(length).is_some_and(u8::is_ascii_alphanumeric) {
            return None;
        }
        self.at += length;
        Some(value)
    }

    /// Steps over the document's last `literal`: nothing may follow it.
    pub fn last(&mut self, literal: &str) -> Option<()> {
        self.literal(literal)?;
        (self.at == self.text.len()).then_some(())
    }
}

/// The length of the JSON integer `rest` starts with (`-?(0|[1-9][0-9]*)`), `None`
/// when it starts with something else or the number goes on as a float (`.`, `e`) or
/// is `-0` (a float to serde).
fn integer_length(rest: &[u8]) -> Option<usize> {
    let sign = usize::from(rest[0] == b'-');
    let digits = rest[sign..]
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    let number = &rest[sign..sign + digits];
    let plain = match number {
        [] => false,
        [b'0'] => sign == 0,
        [b'0', ..] => false,
        _ => true,
    };
    let continues = matches!(rest.get(sign + digits), Some(b'.' | b'e' | b'E'));
    (plain && !continues).then_some(sign + digits)
}

/// Reads `text` with `canonical` when the document has the layout it expects, with
/// serde otherwise: the shortcut and the reference reader of one document kind.
pub fn read_with<'a, T: Deserialize<'a>>(
    text: &'a str,
    canonical: impl FnOnce(&mut Cursor<'a>) -> Option<T>,
) -> serde_json::Result<T> {
    match canonical(&mut Cursor::new(text)) {
        Some(read) => Ok(read),
        None => serde_json::from_str(text),
    }
}

/// A document that is one JSON value (a field value the host hands a plugin).
pub fn read_value(text: &str) -> serde_json::Result<Value> {
    read_with(text, |cursor| {
        let value = cursor.scalar()?;
        cursor.last("")?;
        Some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_literals_plain_strings_and_values_and_nothing_else() {
        let mut cursor = Cursor::new(r#"{"a":"x y é","b":[1,{"c":null}],"d":4}"#);
        assert_eq!(cursor.literal(r#"{"a":"#), Some(()));
        assert_eq!(cursor.plain_string(), Some("x y é"));
        assert_eq!(cursor.literal(r#","b":"#), Some(()));
        assert_eq!(cursor.value(), Some(json!([1, {"c": null}])));
        assert_eq!(cursor.literal(r#","d":"#), Some(()));
        assert_eq!(cursor.value(), Some(json!(4)));
        assert_eq!(cursor.last("}"), Some(()));

        assert_eq!(Cursor::new(r#""a\"b""#).plain_string(), None);
        assert_eq!(Cursor::new("\"a\nb\"").plain_string(), None);
        assert_eq!(Cursor::new(r#""unterminated"#).plain_string(), None);
        assert_eq!(Cursor::new("x").plain_string(), None);
        assert_eq!(Cursor::new(r#"{"a":1}"#).literal(r#"{"b""#), None);
        assert_eq!(Cursor::new("4x").value(), None);
        assert_eq!(Cursor::new("}}").last("}"), None);
    }

    #[test]
    fn values_read_as_serde_reads_them() {
        for text in [
            "0",
            "-0",
            "01",
            "-01",
            "7",
            "-1",
            "-",
            "--1",
            "1-",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "1.5",
            "1e3",
            "2E-1",
            "null",
            "nul",
            "nullx",
            "true",
            "false",
            "falsey",
            r#""a""#,
            r#""""#,
            r#""a\n""#,
            r#""\u00e9""#,
            r#""é""#,
            "[1]",
            "{}",
            " 1",
            "1 ",
            "",
        ] {
            let expected = serde_json::from_str::<Value>(text).ok();
            assert_eq!(read_value(text).ok(), expected, "{text:?}");
            // Inside a document, as the call readers meet values (whitespace makes the
            // cursor give up on the document, which is then read by serde).
            if text.contains(' ') {
                continue;
            }
            let document = format!("{text}}}");
            let mut cursor = Cursor::new(&document);
            let read = cursor.value().filter(|_| cursor.last("}").is_some());
            assert_eq!(read, expected, "{text:?} in {document:?}");
        }
    }
}
