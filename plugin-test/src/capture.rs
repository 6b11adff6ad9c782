//! The host a plugin under test logs to: it keeps each record on the thread that
//! made it, so tests running in parallel each see their own.

use std::cell::RefCell;

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RStr, RString};
use fieldsync_plugin_api::abi::{error_kind, FfiError, FfiHost, FfiHostBox, FfiHost_TO};

/// The most verbose level the plugin is asked to forward (the ABI counts 0 off … 5).
pub(crate) const TRACE: u32 = 5;

/// One log record the plugin made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Its level.
    pub level: log::Level,
    /// The module path it was logged from, e.g. `my_plugin::scale`.
    pub target: String,
    /// The formatted message.
    pub message: String,
}

thread_local! {
    static RECORDS: RefCell<Vec<LogRecord>> = const { RefCell::new(Vec::new()) };
}

struct CapturingHost;

impl FfiHost for CapturingHost {
    fn log(&self, level: u32, target: RStr<'_>, message: RStr<'_>) {
        // The plugin shares this program's `log` state, so logging the record again
        // would hand it straight back here: keep it instead.
        let record = LogRecord {
            level: match level {
                0 | 1 => log::Level::Error,
                2 => log::Level::Warn,
                3 => log::Level::Info,
                4 => log::Level::Debug,
                _ => log::Level::Trace,
            },
            target: target.as_str().to_owned(),
            message: message.as_str().to_owned(),
        };
        // A record made while the thread is being torn down is dropped.
        let _ = RECORDS.try_with(|records| records.borrow_mut().push(record));
    }

    fn request(&self, request: RStr<'_>) -> RResult<RString, FfiError> {
        RResult::RErr(FfiError {
            kind: error_kind::UNSUPPORTED,
            message: format!(
                "the test host answers no requests (asked: {})",
                request.as_str()
            )
            .into(),
        })
    }
}

pub(crate) fn host() -> FfiHostBox {
    FfiHost_TO::from_value(CapturingHost, TD_Opaque)
}

pub(crate) fn take() -> Vec<LogRecord> {
    RECORDS.with(|records| std::mem::take(&mut *records.borrow_mut()))
}
