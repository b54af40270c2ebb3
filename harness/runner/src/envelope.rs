//! The envelope every JSON file faultline writes shares (`format_version`, `kind`), reading
//! one back with its envelope checked first, and writing files with faultline's own durable
//! atomic write. Reports, baselines and trace files sit on top of this module.

use std::path::{Path, PathBuf};

use faultline_core::{Errno, FileKind, Fs, FsError, RealFs};
use faultline_targets::atomic_write::{AtomicWrite, Durable};

/// The version of the JSON layout; bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;

/// A JSON report: the envelope every report shares, around its results.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report<R> {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// `explore` or `run`.
    pub kind: &'static str,
    /// One per variant (and model, for explore).
    pub results: Vec<R>,
    /// Where a run ran (run and model reports; explore reports hold none, so that the same
    /// command writes the same bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<Box<crate::environment::Environment>>,
}

impl<R: serde::Serialize> Report<R> {
    /// The report as pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("report types serialise infallibly");
        text.push('\n');
        text
    }
}

/// A report file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("failed to write report {}", path.display())]
pub struct ReportError {
    /// The file or directory.
    pub path: PathBuf,
    /// What the file system said.
    #[source]
    pub source: FsError,
}

/// Creates `dir` and any missing parents, fsyncing each parent that gained an entry.
pub fn create_dir_durable<F: Fs + ?Sized>(fs: &F, dir: &Path) -> Result<(), FsError> {
    match fs.metadata(dir) {
        Ok(meta) if meta.kind == FileKind::Dir => return Ok(()),
        Ok(_) => return Err(FsError::at(faultline_core::FsCall::Mkdir, dir, Errno::NOTDIR)),
        Err(e) if e.errno == Errno::NOENT => {}
        Err(e) => return Err(e),
    }
    let parent = faultline_core::fs::parent_dir(dir);
    if parent != dir {
        create_dir_durable(fs, parent)?;
    }
    match fs.mkdir(dir, 0o755) {
        Ok(()) => fs.fsync_dir(parent),
        Err(e) if e.errno == Errno::EXIST => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes each `(file name, text)` into `dir` with the durable atomic write, creating `dir`
/// durably first; returns the paths written.
pub fn write_files<N: AsRef<str>>(dir: &Path, files: &[(N, String)]) -> Result<Vec<PathBuf>, ReportError> {
    let fs = RealFs::new();
    create_dir_durable(&fs, dir).map_err(|source| ReportError {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name.as_ref());
        let failed = |source| ReportError {
            path: path.clone(),
            source,
        };
        // A run interrupted mid-write (Ctrl-C, kill) leaves its temp behind; its pid is dead
        // now, so recovery removes it before this run writes.
        Durable.recover(&fs, &path).map_err(failed)?;
        Durable.replace(&fs, &path, text.as_bytes()).map_err(failed)?;
        written.push(path);
    }
    Ok(written)
}

/// A report that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be read.
    #[error("{path}: cannot read it ({source})")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not JSON, or not a report of the expected layout.
    #[error("{path}:{line}:{column}: not a faultline {expected} report: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was expected.
        expected: String,
        /// What serde said.
        message: String,
    },
    /// Another layout version.
    #[error(
        "{path}: format_version {found}, but this faultline reads {FORMAT_VERSION}; write it again with this faultline"
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u64,
    },
    /// Another kind of report.
    #[error("{path}: a report of kind '{found}'; expected {expected}")]
    Kind {
        /// The file.
        path: PathBuf,
        /// Its kind.
        found: String,
        /// The kinds accepted.
        expected: String,
    },
}

#[derive(serde::Deserialize)]
struct Envelope {
    format_version: u64,
    kind: String,
}

/// Reads the text of a report at `path` and checks its envelope: `format_version` must be
/// this faultline's and `kind` one of `kinds`. Returns the kind and the text.
pub fn read_checked(path: &Path, kinds: &[&str]) -> Result<(String, String), ReadError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let kind = check_envelope(path, &text, kinds)?;
    Ok((kind, text))
}

/// Checks the envelope of a report's `text` (read from `path`, named in errors): its
/// `format_version` must be this faultline's and its `kind` one of `kinds`. Returns the kind.
pub fn check_envelope(path: &Path, text: &str, kinds: &[&str]) -> Result<String, ReadError> {
    let expected = kinds.join(" or ");
    let envelope: Envelope = serde_json::from_str(text).map_err(|e| parse_error(path, &expected, &e))?;
    if envelope.format_version != u64::from(FORMAT_VERSION) {
        return Err(ReadError::Version {
            path: path.to_path_buf(),
            found: envelope.format_version,
        });
    }
    if !kinds.contains(&envelope.kind.as_str()) {
        return Err(ReadError::Kind {
            path: path.to_path_buf(),
            found: envelope.kind,
            expected,
        });
    }
    Ok(envelope.kind)
}

/// The error for JSON that did not parse as what was `expected`, with line and column.
pub fn parse_error(path: &Path, expected: &str, e: &serde_json::Error) -> ReadError {
    ReadError::Parse {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        expected: expected.to_string(),
        message: e.to_string(),
    }
}
