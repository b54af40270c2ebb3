//! Private scratch directories: what faultline makes in a temp directory that others may
//! share (trials, crash states, recordings) is its user's alone, 0700.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

/// A new directory named `prefix` and a random tail, in `root` or the system's temp
/// directory, readable and writable by this user only; removed when dropped.
pub fn private_dir(prefix: &str, root: Option<&Path>) -> std::io::Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder
        .prefix(prefix)
        .permissions(std::fs::Permissions::from_mode(0o700));
    match root {
        Some(root) => builder.tempdir_in(root),
        None => builder.tempdir(),
    }
}

/// A private directory for states that are written, judged and thrown away: on tmpfs
/// (`/dev/shm`) when this machine has one, since the states are simulated and their medium
/// does not matter; in the system's temp directory otherwise.
pub fn fast_dir(prefix: &str) -> std::io::Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    let on_tmpfs = rustix::fs::statfs(shm).is_ok_and(|s| s.f_type == TMPFS_MAGIC);
    if on_tmpfs && let Ok(dir) = private_dir(prefix, Some(shm)) {
        return Ok(dir);
    }
    private_dir(prefix, None)
}

/// statfs(2)'s type for tmpfs.
const TMPFS_MAGIC: rustix::fs::FsWord = 0x0102_1994;

#[cfg(test)]
mod tests {
    #[test]
    fn a_scratch_directory_is_its_users_alone() {
        let dir = super::private_dir("faultline-test-", None).expect("made");
        let mode = std::fs::metadata(dir.path()).expect("there").permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o700);
    }
}
