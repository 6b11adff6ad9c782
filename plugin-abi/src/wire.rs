//! What crosses the boundary as JSON text: the documents of each call and the data
//! they are made of. Part of the frozen contract like the types of this crate's root
//! (the golden files in `tests/wire/` pin every document kind byte for byte), but
//! free to grow: a new field carries `#[serde(default)]`, so older and newer peers
//! keep reading each other.

mod documents;
mod vocabulary;

pub use documents::*;
pub use vocabulary::*;
