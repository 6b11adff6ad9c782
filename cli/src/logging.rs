//! The program's logger: `env_logger` as `RUST_LOG` says (default `warn`), less what
//! must never be written whatever `RUST_LOG` asks.

use log::{Log, Metadata, Record};

/// Keeps the HTTP layer's byte dumps out: at trace level `ureq_proto` writes every
/// byte a request sends, the tracker's API key included.
struct WithoutSecrets(env_logger::Logger);

fn may_hold_secrets(metadata: &Metadata<'_>) -> bool {
    metadata.level() == log::Level::Trace && metadata.target().starts_with("ureq_proto")
}

impl Log for WithoutSecrets {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        !may_hold_secrets(metadata) && self.0.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !may_hold_secrets(record.metadata()) {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

/// Installs the logger (once, at start).
pub fn init() {
    let logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).build();
    let level = logger.filter();
    if log::set_boxed_logger(Box::new(WithoutSecrets(logger))).is_ok() {
        log::set_max_level(level);
    }
}
