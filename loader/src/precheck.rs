//! Checks a file before the dynamic linker sees it.
//!
//! dlopen trusts the file: a library cut short (a copy still in progress, a broken
//! download) is mapped anyway, and the first touch of a missing page kills the whole
//! host with SIGBUS. So the headers are read first, and every part they point to
//! must lie inside the file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::LoadError;

/// Rejects files that are not a complete shared library of this platform.
pub(crate) fn check_library_file(path: &Path) -> Result<(), LoadError> {
    let unreadable = |error: std::io::Error| LoadError::Unreadable(error.to_string());
    let mut file = File::open(path).map_err(unreadable)?;
    let len = file.metadata().map_err(unreadable)?.len();
    if len == 0 {
        return Err(LoadError::Empty);
    }
    let mut head = vec![0u8; len.min(64) as usize];
    file.read_exact(&mut head).map_err(unreadable)?;
    if cfg!(target_os = "windows") {
        return expect_magic(&head, &[b"MZ"], "PE");
    }
    if cfg!(target_vendor = "apple") {
        return expect_magic(
            &head,
            &[&[0xcf, 0xfa, 0xed, 0xfe], &[0xca, 0xfe, 0xba, 0xbe]],
            "Mach-O",
        );
    }
    expect_magic(&head, &[b"\x7fELF"], "ELF")?;
    check_elf(&mut file, &head, len)
}

fn expect_magic(head: &[u8], magics: &[&[u8]], format: &str) -> Result<(), LoadError> {
    if magics.iter().any(|magic| head.starts_with(magic)) {
        Ok(())
    } else {
        Err(LoadError::NotALibrary(format!(
            "the file does not start with an {format} header"
        )))
    }
}

/// Reads integers of the file's width and byte order.
struct Fields<'a> {
    bytes: &'a [u8],
    big_endian: bool,
}

impl Fields<'_> {
    fn uint(&self, offset: usize, size: usize) -> Option<u64> {
        let bytes = self.bytes.get(offset..offset + size)?;
        let mut value = 0u64;
        for index in 0..size {
            let byte = if self.big_endian {
                bytes[index]
            } else {
                bytes[size - 1 - index]
            };
            value = (value << 8) | u64::from(byte);
        }
        Some(value)
    }
}

fn truncated(what: &str, needed: u64, len: u64) -> LoadError {
    LoadError::Unloadable(format!(
        "the file is truncated: its {what} reach byte {needed}, but it has only {len} bytes"
    ))
}

fn check_elf(file: &mut File, head: &[u8], len: u64) -> Result<(), LoadError> {
    let corrupt = |what: &str| LoadError::NotALibrary(format!("corrupt ELF header ({what})"));
    let is_64 = match head.get(4) {
        Some(1) => false,
        Some(2) => true,
        _ => return Err(corrupt("unknown class")),
    };
    let big_endian = match head.get(5) {
        Some(1) => false,
        Some(2) => true,
        _ => return Err(corrupt("unknown byte order")),
    };
    let header_len: u64 = if is_64 { 64 } else { 52 };
    if len < header_len {
        return Err(truncated("header", header_len, len));
    }
    let header = Fields {
        bytes: head,
        big_endian,
    };
    let word = if is_64 { 8 } else { 4 };
    let read =
        |offset: usize, size: usize| header.uint(offset, size).ok_or_else(|| corrupt("short"));
    const SHARED_OBJECT: u64 = 3;
    if read(16, 2)? != SHARED_OBJECT {
        return Err(LoadError::NotALibrary(
            "an ELF file, but an executable or object file, not a shared library".into(),
        ));
    }
    let (phoff, shoff) = if is_64 {
        (read(0x20, 8)?, read(0x28, 8)?)
    } else {
        (read(0x1c, 4)?, read(0x20, 4)?)
    };
    let at = if is_64 { 0x36 } else { 0x2a };
    let (phentsize, phnum, shentsize, shnum) = (
        read(at, 2)?,
        read(at + 2, 2)?,
        read(at + 4, 2)?,
        read(at + 6, 2)?,
    );

    let program_headers_end = phoff.saturating_add(phentsize.saturating_mul(phnum));
    if program_headers_end > len {
        return Err(truncated("program headers", program_headers_end, len));
    }
    if shnum > 0 {
        let section_headers_end = shoff.saturating_add(shentsize.saturating_mul(shnum));
        if section_headers_end > len {
            return Err(truncated("section headers", section_headers_end, len));
        }
    }

    let mut table = vec![0u8; (program_headers_end - phoff) as usize];
    file.seek(SeekFrom::Start(phoff))
        .and_then(|_| file.read_exact(&mut table))
        .map_err(|e| LoadError::Unreadable(e.to_string()))?;
    let table = Fields {
        bytes: &table,
        big_endian,
    };
    const LOADABLE: u64 = 1;
    for index in 0..phnum as usize {
        let base = index * phentsize as usize;
        let entry = |offset: usize, size: usize| {
            table
                .uint(base + offset, size)
                .ok_or_else(|| corrupt("short program header"))
        };
        if entry(0, 4)? != LOADABLE {
            continue;
        }
        let (offset, file_size) = if is_64 {
            (entry(8, word)?, entry(0x20, word)?)
        } else {
            (entry(4, word)?, entry(0x10, word)?)
        };
        let end = offset.saturating_add(file_size);
        if end > len {
            return Err(truncated("loadable segments", end, len));
        }
    }
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn write(bytes: &[u8]) -> tempfile_path::TempFile {
        tempfile_path::TempFile::new(bytes)
    }

    /// A tiny stand-in for the tempfile crate, which the loader does not depend on.
    mod tempfile_path {
        pub struct TempFile(pub std::path::PathBuf);
        impl TempFile {
            pub fn new(bytes: &[u8]) -> Self {
                static COUNTER: std::sync::atomic::AtomicUsize =
                    std::sync::atomic::AtomicUsize::new(0);
                let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let path = std::env::temp_dir()
                    .join(format!("fieldsync-precheck-{}-{n}.so", std::process::id()));
                std::fs::write(&path, bytes).unwrap();
                TempFile(path)
            }
        }
        impl Drop for TempFile {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    fn own_library() -> Vec<u8> {
        // The C library every Linux test process maps: a real, complete shared object.
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let path = maps
            .lines()
            .filter_map(|line| line.split_whitespace().nth(5))
            .find(|path| path.contains("libc.so") || path.contains("libc-"))
            .expect("libc is mapped");
        std::fs::read(path).unwrap()
    }

    #[test]
    fn a_complete_library_passes_and_any_cut_of_it_is_caught() {
        let library = own_library();
        assert_eq!(check_library_file(&write(&library).0), Ok(()));
        for cut in [20, 63, 100, 4096, library.len() / 2, library.len() - 1] {
            let error = check_library_file(&write(&library[..cut]).0).unwrap_err();
            assert!(
                error.to_string().contains("truncated") || error.to_string().contains("corrupt"),
                "cut at {cut}: {error}"
            );
        }
    }

    #[test]
    fn executables_and_garbage_are_not_libraries() {
        // A real library with its ELF type rewritten to ET_EXEC (2).
        let mut executable = own_library();
        let big_endian = executable[5] == 2;
        executable[16..18].copy_from_slice(if big_endian { &[0, 2] } else { &[2, 0] });
        let error = check_library_file(&write(&executable).0).unwrap_err();
        assert!(
            error.to_string().contains("an executable or object file"),
            "{error}"
        );
        assert!(matches!(
            check_library_file(&write(b"#!/bin/sh\n").0),
            Err(LoadError::NotALibrary(_))
        ));
        assert_eq!(check_library_file(&write(b"").0), Err(LoadError::Empty));
    }
}
