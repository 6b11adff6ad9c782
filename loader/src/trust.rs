//! Who may have put a plugin file where it is.
//!
//! Loading a plugin runs its code inside the host, so the file and the folder it sits
//! in must be writable only by the user running fieldsync (or root), as OpenSSH's
//! `StrictModes` demands of `authorized_keys`. Otherwise anyone who can write there
//! runs code as that user.

use std::path::Path;

/// Whether ownership and permission checks run. Turning them off is for development
/// only, and the loader says so loudly every time it scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermissionChecks {
    /// Refuse files and folders others may write (the default).
    Enforce,
    /// Load them anyway, with a warning.
    Off,
}

/// The environment variable that turns the checks off (`1`), for development.
pub const INSECURE_PERMISSIONS_ENV: &str = "FIELDSYNC_INSECURE_PLUGIN_PERMISSIONS";

impl PermissionChecks {
    /// `Off` when [`INSECURE_PERMISSIONS_ENV`] is set to `1`, else `Enforce`.
    pub fn from_env() -> PermissionChecks {
        match std::env::var(INSECURE_PERMISSIONS_ENV).as_deref() {
            Ok("1") => PermissionChecks::Off,
            _ => PermissionChecks::Enforce,
        }
    }
}

/// Why `path` (a `what`: "plugin file", "plugin folder", ...) may not be trusted, with
/// how to fix it; `None` when only its owner or root can change it.
#[cfg(unix)]
pub(crate) fn untrusted_because(path: &Path, what: &str) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) => return Some(format!("cannot check the {what}'s owner: {error}")),
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let owner = metadata.uid();
    if owner != me && owner != 0 {
        return Some(format!(
            "the {what} {} is owned by uid {owner}, not by the user running fieldsync \
             (uid {me}) or root; fix: `chown {me} {}`",
            path.display(),
            path.display()
        ));
    }
    let mode = metadata.mode() & 0o7777;
    let writers = match (mode & 0o020 != 0, mode & 0o002 != 0) {
        (true, true) => "its group and all users",
        (true, false) => "its group",
        (false, true) => "all users",
        (false, false) => return None,
    };
    Some(format!(
        "the {what} {} may be written by {writers} (mode {mode:04o}): anyone who can \
         write it could run code inside fieldsync; fix: `chmod go-w {}`",
        path.display(),
        path.display()
    ))
}

/// Other platforms have no owner/mode bits this check could read.
#[cfg(not(unix))]
pub(crate) fn untrusted_because(_path: &Path, _what: &str) -> Option<String> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn files_and_folders_others_may_write_are_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.so");
        std::fs::write(&file, b"x").unwrap();
        chmod(&file, 0o644);
        assert_eq!(untrusted_because(&file, "plugin file"), None);
        chmod(&file, 0o666);
        let reason = untrusted_because(&file, "plugin file").unwrap();
        assert!(reason.contains("may be written by its group and all users (mode 0666)"));
        assert!(reason.ends_with(&format!("fix: `chmod go-w {}`", file.display())));
        chmod(&file, 0o664);
        assert!(untrusted_because(&file, "plugin file")
            .unwrap()
            .contains("by its group (mode 0664)"));
        chmod(dir.path(), 0o777);
        assert!(untrusted_because(dir.path(), "plugin folder")
            .unwrap()
            .starts_with("the plugin folder"));
        chmod(dir.path(), 0o700);
    }

    #[test]
    fn a_file_owned_by_another_user_is_refused_and_root_is_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.so");
        std::fs::write(&file, b"x").unwrap();
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            std::os::unix::fs::chown(&file, Some(4242), None).unwrap();
            let reason = untrusted_because(&file, "plugin file").unwrap();
            assert!(
                reason.contains(
                    "is owned by uid 4242, not by the user running fieldsync (uid 0) or root"
                ),
                "{reason}"
            );
        } else {
            assert_eq!(untrusted_because(Path::new("/"), "folder"), None);
        }
    }
}
