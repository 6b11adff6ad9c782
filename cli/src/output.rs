//! Writing to stdout and stderr without panicking (see the macros in `main.rs`).

use std::fmt;
use std::io::Write;

/// Writes `args` and a line break; a closed or full stream loses the text, never the
/// work in progress.
pub fn write_line(stream: &mut impl Write, args: fmt::Arguments<'_>) {
    let _ = writeln!(stream, "{args}");
}

/// Writes `args`, likewise.
pub fn write(stream: &mut impl Write, args: fmt::Arguments<'_>) {
    let _ = write!(stream, "{args}");
}
