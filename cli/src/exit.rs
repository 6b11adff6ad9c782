//! Exit codes, and the one error every command ends with: its message and the exit
//! code that says whose the failure is.

use std::fmt;

/// Exit code when the command ran but found problems (a failed issue, a rejected
/// plugin).
pub const EXIT_PROBLEMS: u8 = 1;
/// Exit code for bad input: a command line, a configuration, a file (clap uses it
/// too).
pub const EXIT_USAGE: u8 = 2;
/// Exit code when a tracker or store cannot be used now (the round's failure, not an
/// issue's): try again later.
pub const EXIT_UNAVAILABLE: u8 = 3;
/// Exit code when another process runs rounds on the same stores (`sync`).
pub const EXIT_BUSY: u8 = 4;

/// Why a command stopped, and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub message: String,
    pub exit_code: u8,
}

impl CliError {
    /// Bad input (exit code 2).
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            exit_code: EXIT_USAGE,
        }
    }

    /// A tracker or store that cannot be used now (exit code 3).
    pub fn unavailable(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            exit_code: EXIT_UNAVAILABLE,
        }
    }
}

/// Most failures of a command are bad input: a message alone is one.
impl From<String> for CliError {
    fn from(message: String) -> CliError {
        CliError::usage(message)
    }
}

impl From<&str> for CliError {
    fn from(message: &str) -> CliError {
        CliError::usage(message)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
