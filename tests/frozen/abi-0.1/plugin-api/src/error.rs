//! The error a mapping (or the plugin machinery around it) reports.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;

use crate::abi::{error_kind, FfiError};

/// What went wrong, so hosts can react without parsing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The mapping could not map this value.
    Mapping,
    /// The options of a field relationship are invalid for this mapping.
    InvalidOptions,
    /// Data handed over by the other side of the plugin boundary could not be read.
    InvalidInput,
    /// Mapping or plugin code panicked.
    Panic,
    /// No such mapping in this plugin.
    UnknownMapping,
    /// A request the other side does not support.
    Unsupported,
    /// The plugin itself failed (for example while building its definition).
    Plugin,
}

/// An error from a mapping or from the plugin around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingError {
    kind: ErrorKind,
    message: String,
    /// Where the error happened, outermost first (e.g. the plugin and mapping).
    context: Option<String>,
}

impl MappingError {
    /// A mapping failure with a message for operators.
    pub fn new(message: impl Into<String>) -> Self {
        Self::with_kind(ErrorKind::Mapping, message)
    }

    /// Options that the mapping cannot work with.
    pub fn invalid_options(message: impl Into<String>) -> Self {
        Self::with_kind(ErrorKind::InvalidOptions, message)
    }

    /// An error of a given kind.
    pub fn with_kind(kind: ErrorKind, message: impl Into<String>) -> Self {
        MappingError {
            kind,
            message: message.into(),
            context: None,
        }
    }

    /// Builds the error for a caught panic from its payload, with the panic's location
    /// when the plugin's panic hook recorded one.
    pub fn from_panic(payload: &(dyn Any + Send)) -> Self {
        let message = panic_message(payload);
        let message = match take_panic_location() {
            Some(location) => format!("{message} (at {location})"),
            None => message,
        };
        Self::with_kind(ErrorKind::Panic, message)
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without the kind prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with `context` in front of its message, e.g. the plugin and
    /// mapping it came from.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.context = Some(match self.context.take() {
            Some(inner) => format!("{context}: {inner}"),
            None => context.to_string(),
        });
        self
    }
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(context) = &self.context {
            write!(f, "{context}: ")?;
        }
        match self.kind {
            ErrorKind::InvalidOptions => write!(f, "invalid options: {}", self.message),
            ErrorKind::Panic => write!(f, "panicked: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for MappingError {}

thread_local! {
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Remembers where the panic now unwinding on this thread started; called by the
/// panic hook a plugin library installs.
pub(crate) fn record_panic_location(location: Option<String>) {
    PANIC_LOCATION.with(|slot| *slot.borrow_mut() = location);
}

fn take_panic_location() -> Option<String> {
    PANIC_LOCATION.with(|slot| slot.borrow_mut().take())
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-text payload".to_owned()
    }
}

impl From<MappingError> for FfiError {
    fn from(error: MappingError) -> Self {
        let kind = match error.kind {
            ErrorKind::Mapping => error_kind::MAPPING,
            ErrorKind::InvalidOptions => error_kind::INVALID_OPTIONS,
            ErrorKind::InvalidInput => error_kind::INVALID_INPUT,
            ErrorKind::Panic => error_kind::PANIC,
            ErrorKind::UnknownMapping => error_kind::UNKNOWN_MAPPING,
            ErrorKind::Unsupported => error_kind::UNSUPPORTED,
            ErrorKind::Plugin => error_kind::PLUGIN,
        };
        // The context stays on this side of the boundary: the receiver adds its own.
        let message = match error.context {
            Some(context) => format!("{context}: {}", error.message),
            None => error.message,
        };
        FfiError {
            kind,
            message: message.into(),
        }
    }
}

impl From<FfiError> for MappingError {
    fn from(error: FfiError) -> Self {
        let kind = match error.kind {
            error_kind::INVALID_OPTIONS => ErrorKind::InvalidOptions,
            error_kind::INVALID_INPUT => ErrorKind::InvalidInput,
            error_kind::PANIC => ErrorKind::Panic,
            error_kind::UNKNOWN_MAPPING => ErrorKind::UnknownMapping,
            error_kind::UNSUPPORTED => ErrorKind::Unsupported,
            error_kind::PLUGIN => ErrorKind::Plugin,
            _ => ErrorKind::Mapping,
        };
        MappingError {
            kind,
            message: error.message.into_string(),
            context: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_survives_the_ffi_round_trip() {
        for kind in [
            ErrorKind::Mapping,
            ErrorKind::InvalidOptions,
            ErrorKind::InvalidInput,
            ErrorKind::Panic,
            ErrorKind::UnknownMapping,
            ErrorKind::Unsupported,
            ErrorKind::Plugin,
        ] {
            let error = MappingError::with_kind(kind, "why");
            let back = MappingError::from(FfiError::from(error.clone()));
            assert_eq!(back, error);
        }
    }

    #[test]
    fn unknown_ffi_kinds_read_as_mapping_errors() {
        let error = MappingError::from(FfiError {
            kind: 999,
            message: "new kind".into(),
        });
        assert_eq!(error.kind(), ErrorKind::Mapping);
        assert_eq!(error.to_string(), "new kind");
    }

    #[test]
    fn display_says_what_kind_of_failure_it_was() {
        let error = MappingError::from_panic(&"boom").context("plugin `a.b` mapping `a.c`");
        assert_eq!(
            error.to_string(),
            "plugin `a.b` mapping `a.c`: panicked: boom"
        );
        let outer = error.context("relationship `points`");
        assert_eq!(
            outer.to_string(),
            "relationship `points`: plugin `a.b` mapping `a.c`: panicked: boom"
        );
        let payload: Box<dyn Any + Send> = Box::new(String::from("owned"));
        assert_eq!(panic_message(payload.as_ref()), "owned");
        assert_eq!(
            MappingError::invalid_options("x").to_string(),
            "invalid options: x"
        );
    }
}
