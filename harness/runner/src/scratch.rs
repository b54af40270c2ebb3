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

#[cfg(test)]
mod tests {
    #[test]
    fn a_scratch_directory_is_its_users_alone() {
        let dir = super::private_dir("faultline-test-", None).expect("made");
        let mode = std::fs::metadata(dir.path()).expect("there").permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o700);
    }
}
