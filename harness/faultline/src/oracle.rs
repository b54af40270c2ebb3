//! Ready-made oracles for user files. Each returns `Err` with what it saw; call several in
//! one oracle closure with `?`.

use std::path::Path;

use crate::check::State;

fn show(bytes: &[u8]) -> String {
    const SHOWN: usize = 48;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(SHOWN)]);
    let more = if bytes.len() > SHOWN { "..." } else { "" };
    format!("{} bytes {text:?}{more}", bytes.len())
}

/// The file at `path` holds exactly one of `versions`: never a mix, a prefix or nothing.
pub fn old_or_new(state: &State, path: impl AsRef<Path>, versions: &[&[u8]]) -> Result<(), String> {
    let path = path.as_ref();
    match state.read(path) {
        None => Err(format!("{} is missing", path.display())),
        Some(bytes) if versions.contains(&bytes.as_slice()) => Ok(()),
        Some(bytes) => Err(format!(
            "{} holds {}, none of the {} versions written",
            path.display(),
            show(&bytes),
            versions.len()
        )),
    }
}

/// Once the workload acknowledged a label listed in `versions` (in the order written), the
/// file at `path` holds that version or a later one: an acknowledged save is never undone.
/// States before any listed acknowledgement pass.
pub fn acknowledged_durable(
    state: &State,
    path: impl AsRef<Path>,
    versions: &[(&str, &[u8])],
) -> Result<(), String> {
    let path = path.as_ref();
    let Some((at, label)) = state
        .acknowledged()
        .iter()
        .rev()
        .find_map(|ack| versions.iter().position(|(l, _)| l == ack).map(|i| (i, ack)))
    else {
        return Ok(());
    };
    let bytes = state.read(path);
    if let Some(bytes) = &bytes
        && versions[at..].iter().any(|(_, v)| *v == bytes.as_slice())
    {
        return Ok(());
    }
    Err(format!(
        "\"{label}\" was acknowledged, but {} {}",
        path.display(),
        bytes.map_or_else(|| "is missing".to_string(), |b| format!("holds {}", show(&b)))
    ))
}

/// Directory `dir` holds no names but `expected`: no temp file is left behind (run it after
/// a recovery that should have removed them).
///
/// ```
/// use faultline::{Check, fs, oracle};
///
/// let save = || -> std::io::Result<()> {
///     fs::write("doc.tmp", "new")?;
///     fs::File::open("doc.tmp")?.sync_all()?;
///     fs::rename("doc.tmp", "doc")?;
///     fs::sync_dir(".")
/// };
/// let only_doc = |s: &faultline::State| oracle::no_leaked_temps(s, "/", &["doc"]);
/// // A crash before the rename leaves the temp behind...
/// assert!(Check::new().setup(|| fs::write("doc", "old")).run(save, only_doc).is_err());
/// // ...which a recovery that removes it puts right.
/// Check::new()
///     .setup(|| fs::write("doc", "old"))
///     .recover(|| if fs::exists("doc.tmp") { fs::remove_file("doc.tmp") } else { Ok(()) })
///     .run(save, only_doc)
///     .expect("no temp is left after the recovery");
/// ```
pub fn no_leaked_temps(state: &State, dir: impl AsRef<Path>, expected: &[&str]) -> Result<(), String> {
    let dir = dir.as_ref();
    let extra: Vec<String> = state
        .names(dir)
        .into_iter()
        .filter(|n| !expected.contains(&n.as_str()))
        .collect();
    if extra.is_empty() {
        Ok(())
    } else {
        Err(format!("{} holds {extra:?} besides {expected:?}", dir.display()))
    }
}

/// The file at `path` (if any) has permission bits `mode`: a replace kept the mode.
pub fn metadata_preserved(state: &State, path: impl AsRef<Path>, mode: u32) -> Result<(), String> {
    let path = path.as_ref();
    match state.mode(path) {
        Some(m) if m & 0o7777 != mode & 0o7777 => Err(format!(
            "{} has mode {:o}, not {:o}",
            path.display(),
            m & 0o7777,
            mode & 0o7777
        )),
        _ => Ok(()),
    }
}
