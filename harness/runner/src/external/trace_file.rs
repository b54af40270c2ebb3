//! The trace file: a base image and a trace, as `faultline record` writes them and
//! `faultline explore --trace` reads them.
//!
//! It holds exactly what [`faultline_core::SimFs`] traces hold (inodes, mutations, barriers),
//! so a recorded program and a built-in variant are judged by the same enumerator. Each entry
//! may also carry where it came from (the line of strace's output and the process) and what
//! the program printed to its standard output, which a checker reads to know what the
//! program had acknowledged before the crash. Bytes are base64.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use faultline_core::file_data::MAX_FILE_LEN;
use faultline_core::trace::{Barrier, Effect, Mutation, TraceEntry};
use faultline_core::{FileData, FsImage, Ino, Node};

use crate::envelope::ReadError;

/// The version of the trace format this build writes and reads.
pub const TRACE_FORMAT_VERSION: u32 = 1;

/// Where an entry came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Source {
    /// The process that made the call.
    pub pid: i32,
    /// The line of strace's output (1-based); 0 when the entry was not recorded from strace.
    pub line: usize,
    /// The call as strace printed it, shortened.
    pub syscall: String,
}

/// A call the recording could not model, though it touched (or may have touched) the recorded
/// directory: every crash state after it may be wrong, so none is judged.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unsupported {
    /// Trace entries before the call: crash states at this moment or earlier are unaffected.
    pub moment: usize,
    /// The line of strace's output.
    pub line: usize,
    /// The call as strace printed it, shortened.
    pub syscall: String,
    /// What the recording could not model.
    pub why: String,
}

/// A recorded or simulated trace, ready to explore.
#[derive(Clone, Debug)]
pub struct TraceFile {
    /// The command that was recorded (empty for a built-in variant).
    pub command: Vec<String>,
    /// The host directory the image's root stands for.
    pub dir: String,
    /// How the command ended: its exit code, or `None` if a signal killed it.
    pub exit_code: Option<i32>,
    /// The file system before the first entry.
    pub base: FsImage,
    /// The calls.
    pub entries: Vec<TraceEntry>,
    /// For each entry, where it came from.
    pub sources: Vec<Source>,
    /// For each entry, what it printed on the program's standard output (usually nothing).
    pub output: Vec<Vec<u8>>,
    /// What the recording noted but does not change a verdict (extended attributes, a string
    /// strace cut short, ...).
    pub warnings: Vec<String>,
    /// Calls the recording could not model: states after the first are not judged.
    pub unsupported: Vec<Unsupported>,
}

impl TraceFile {
    /// The last state, with every change persisted.
    pub fn final_image(&self) -> FsImage {
        let mut image = self.base.clone();
        for effect in self.entries.iter().flat_map(|e| &e.effects) {
            if let Effect::Mutation(m) = effect {
                m.apply(&mut image, u64::MAX, faultline_core::BlockSize::DEFAULT.bytes());
            }
        }
        image
    }

    /// The moment after which crash states are not judged: the first unsupported call's.
    pub fn supported_until(&self) -> Option<usize> {
        self.unsupported.iter().map(|u| u.moment).min()
    }

    /// The standard output printed before moment `moment` (after `moment` entries).
    pub fn output_before(&self, moment: usize) -> Vec<u8> {
        self.output[..moment.min(self.output.len())].concat()
    }

    /// The file's JSON text.
    pub fn to_json(&self) -> String {
        let file = RawFile {
            format_version: TRACE_FORMAT_VERSION,
            kind: "trace".into(),
            command: self.command.clone(),
            dir: self.dir.clone(),
            exit_code: self.exit_code,
            nodes: raw_nodes(&self.base),
            entries: self
                .entries
                .iter()
                .enumerate()
                .map(|(i, e)| RawEntry {
                    call: e.call.clone(),
                    effects: e.effects.iter().map(raw_effect).collect(),
                    source: self.sources.get(i).cloned().filter(|s| s.line > 0),
                    output: self
                        .output
                        .get(i)
                        .filter(|o| !o.is_empty())
                        .map(|o| B64.encode(o)),
                })
                .collect(),
            warnings: self.warnings.clone(),
            unsupported: self.unsupported.clone(),
        };
        let mut text = serde_json::to_string_pretty(&file).expect("trace files serialise infallibly");
        text.push('\n');
        text
    }

    /// Reads a trace file; errors name the file, line and column.
    pub fn read(path: &Path) -> Result<TraceFile, ReadError> {
        let text = std::fs::read_to_string(path).map_err(|e| ReadError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Self::from_text(path, &text)
    }

    /// Parses trace-file text as if read from `path`.
    pub fn from_text(path: &Path, text: &str) -> Result<TraceFile, ReadError> {
        let bad = |line: usize, column: usize, message: String| ReadError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            expected: "trace".into(),
            message,
        };
        let raw: RawFile =
            serde_json::from_str(text).map_err(|e| bad(e.line(), e.column(), e.to_string()))?;
        if raw.kind != "trace" || raw.format_version != TRACE_FORMAT_VERSION {
            return Err(bad(
                1,
                1,
                format!(
                    "this is a '{}' file of format {}, not a trace of format {TRACE_FORMAT_VERSION}; \
                     record one with `faultline record --out TRACE -- COMMAND`",
                    raw.kind, raw.format_version
                ),
            ));
        }
        let base = image_of(&raw.nodes).map_err(|m| bad(1, 1, m))?;
        let mut entries = Vec::with_capacity(raw.entries.len());
        let mut sources = Vec::with_capacity(raw.entries.len());
        let mut output = Vec::with_capacity(raw.entries.len());
        for (i, e) in raw.entries.into_iter().enumerate() {
            let effects = e
                .effects
                .into_iter()
                .map(effect_of)
                .collect::<Result<Vec<_>, String>>()
                .map_err(|m| bad(1, 1, format!("entry {i}: {m}")))?;
            entries.push(TraceEntry {
                call: e.call,
                errno: None,
                crash_point: None,
                effects,
            });
            sources.push(e.source.unwrap_or_default());
            output.push(match e.output {
                Some(o) => B64
                    .decode(o)
                    .map_err(|err| bad(1, 1, format!("entry {i}: output is not base64: {err}")))?,
                None => Vec::new(),
            });
        }
        validate(&base, &entries).map_err(|m| bad(1, 1, m))?;
        Ok(TraceFile {
            command: raw.command,
            dir: raw.dir,
            exit_code: raw.exit_code,
            base,
            entries,
            sources,
            output,
            warnings: raw.warnings,
            unsupported: raw.unsupported,
        })
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    format_version: u32,
    kind: String,
    command: Vec<String>,
    dir: String,
    exit_code: Option<i32>,
    nodes: Vec<RawNode>,
    entries: Vec<RawEntry>,
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    unsupported: Vec<Unsupported>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    ino: Ino,
    mode: u32,
    /// A file's bytes, base64; a sparse file has `len` and `extents` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<String>,
    /// A sparse file's length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    len: Option<u64>,
    /// A sparse file's written extents, in order; the rest are holes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    extents: Option<Vec<RawExtent>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entries: Option<BTreeMap<String, Ino>>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExtent {
    at: u64,
    data: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    call: String,
    #[serde(default)]
    effects: Vec<RawEffect>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<Source>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    output: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum RawEffect {
    NewFile {
        ino: Ino,
        mode: u32,
    },
    NewDir {
        ino: Ino,
        mode: u32,
    },
    Write {
        ino: Ino,
        offset: u64,
        data: String,
    },
    Truncate {
        ino: Ino,
        len: u64,
    },
    SetMode {
        ino: Ino,
        mode: u32,
    },
    Link {
        dir: Ino,
        name: String,
        ino: Ino,
    },
    Unlink {
        dir: Ino,
        name: String,
        ino: Ino,
    },
    Rename {
        from_dir: Ino,
        from_name: String,
        to_dir: Ino,
        to_name: String,
        ino: Ino,
    },
    Fsync {
        ino: Ino,
    },
    Fdatasync {
        ino: Ino,
    },
    FsyncDir {
        ino: Ino,
    },
}

fn raw_nodes(image: &FsImage) -> Vec<RawNode> {
    (1..image.next_ino())
        .filter_map(|ino| {
            let node = image.node(ino)?;
            Some(match node {
                Node::File { data, mode } if data.is_sparse() => RawNode {
                    ino,
                    mode: *mode,
                    data: None,
                    len: Some(data.len()),
                    extents: Some(
                        data.extents()
                            .map(|(at, bytes)| RawExtent {
                                at,
                                data: B64.encode(bytes),
                            })
                            .collect(),
                    ),
                    entries: None,
                },
                Node::File { data, mode } => RawNode {
                    ino,
                    mode: *mode,
                    data: Some(B64.encode(data.bytes())),
                    len: None,
                    extents: None,
                    entries: None,
                },
                Node::Dir { entries, mode } => RawNode {
                    ino,
                    mode: *mode,
                    data: None,
                    len: None,
                    extents: None,
                    entries: Some(entries.iter().map(|(n, i)| (n.to_string(), *i)).collect()),
                },
            })
        })
        .collect()
}

fn image_of(nodes: &[RawNode]) -> Result<FsImage, String> {
    let mut image = FsImage::new();
    let mut has_root = false;
    let mut seen = std::collections::BTreeSet::new();
    for n in nodes {
        if n.ino == 0 || n.ino > 1 << 32 {
            return Err(format!("inode number {} is out of range", n.ino));
        }
        if !seen.insert(n.ino) {
            return Err(format!("inode {} is given twice", n.ino));
        }
        if let Some(bad) = n
            .entries
            .iter()
            .flat_map(BTreeMap::keys)
            .find(|k| !is_file_name(k))
        {
            return Err(format!("inode {}: '{bad}' is not a file name", n.ino));
        }
        has_root |= n.ino == faultline_core::image::ROOT_INO && n.entries.is_some();
        let decode = |data: &str| B64.decode(data).map_err(|e| format!("inode {}: {e}", n.ino));
        let node = match (&n.data, &n.len, &n.extents, &n.entries) {
            (Some(data), None, None, None) => Node::File {
                data: Arc::new(decode(data)?.into()),
                mode: n.mode,
            },
            (None, Some(len), Some(extents), None) => Node::File {
                data: Arc::new(sparse_file(n.ino, *len, extents, decode)?),
                mode: n.mode,
            },
            (None, None, None, Some(entries)) => Node::Dir {
                entries: Arc::new(entries.iter().map(|(k, v)| (Arc::from(k.as_str()), *v)).collect()),
                mode: n.mode,
            },
            _ => {
                return Err(format!(
                    "inode {} must have data (a file), len and extents (a sparse file) or entries (a directory)",
                    n.ino
                ));
            }
        };
        image.insert(n.ino, node);
    }
    if !has_root {
        return Err("the image has no root directory (inode 1)".into());
    }
    Ok(image)
}

/// [`MAX_FILE_LEN`] in words.
const LIMIT_TEXT: &str = "1 TiB";

/// A sparse file from its length and extents, which must be in order, apart and within the
/// length.
fn sparse_file(
    ino: Ino,
    len: u64,
    extents: &[RawExtent],
    decode: impl Fn(&str) -> Result<Vec<u8>, String>,
) -> Result<FileData, String> {
    if len > MAX_FILE_LEN {
        return Err(format!(
            "inode {ino}: a length of {len} bytes is past {LIMIT_TEXT}, the longest a file may be"
        ));
    }
    let mut file = FileData::new();
    let mut end = 0;
    for extent in extents {
        let bytes = decode(&extent.data)?;
        let stop = extent.at.checked_add(bytes.len() as u64);
        if extent.at < end || bytes.is_empty() || stop.is_none_or(|stop| stop > len) {
            return Err(format!(
                "inode {ino}: the extent at {} is empty, overlaps the one before, or runs past the length",
                extent.at
            ));
        }
        file.write_at(extent.at, &bytes);
        end = stop.unwrap_or(len);
    }
    file.set_len(len);
    Ok(file)
}

fn raw_effect(effect: &Effect) -> RawEffect {
    match effect {
        Effect::Mutation(m) => match m {
            Mutation::NewFile { ino, mode } => RawEffect::NewFile {
                ino: *ino,
                mode: *mode,
            },
            Mutation::NewDir { ino, mode } => RawEffect::NewDir {
                ino: *ino,
                mode: *mode,
            },
            Mutation::Write { ino, offset, data } => RawEffect::Write {
                ino: *ino,
                offset: *offset,
                data: B64.encode(data),
            },
            Mutation::Truncate { ino, len } => RawEffect::Truncate { ino: *ino, len: *len },
            Mutation::SetMode { ino, mode } => RawEffect::SetMode {
                ino: *ino,
                mode: *mode,
            },
            Mutation::Link { dir, name, ino } => RawEffect::Link {
                dir: *dir,
                name: name.to_string(),
                ino: *ino,
            },
            Mutation::Unlink { dir, name, ino } => RawEffect::Unlink {
                dir: *dir,
                name: name.to_string(),
                ino: *ino,
            },
            Mutation::Rename {
                from_dir,
                from_name,
                to_dir,
                to_name,
                ino,
            } => RawEffect::Rename {
                from_dir: *from_dir,
                from_name: from_name.to_string(),
                to_dir: *to_dir,
                to_name: to_name.to_string(),
                ino: *ino,
            },
        },
        Effect::Barrier(Barrier::File(ino)) => RawEffect::Fsync { ino: *ino },
        Effect::Barrier(Barrier::FileData(ino)) => RawEffect::Fdatasync { ino: *ino },
        Effect::Barrier(Barrier::Dir(ino)) => RawEffect::FsyncDir { ino: *ino },
    }
}

/// One path component: not empty, not `.` or `..`, no `/` and no NUL.
fn is_file_name(n: &str) -> bool {
    !(n.is_empty() || n.contains(['/', '\0']) || n == "." || n == "..")
}

/// The whole trace, checked before anything is materialised: the base image is a tree (every
/// name leads to an inode it holds, every directory has one name, none is its own ancestor),
/// and every effect, replayed in order, refers to inodes that exist and are of the right kind,
/// names what is there, and never makes a directory its own ancestor.
fn validate(base: &FsImage, entries: &[TraceEntry]) -> Result<(), String> {
    use faultline_core::image::ROOT_INO;
    // Each directory's parent, from the base image; a second parent or a cycle is refused.
    let mut parent: BTreeMap<Ino, Ino> = BTreeMap::new();
    let mut stack = vec![ROOT_INO];
    let mut reached = std::collections::BTreeSet::from([ROOT_INO]);
    while let Some(dir) = stack.pop() {
        let Some(Node::Dir { entries, .. }) = base.node(dir) else {
            continue;
        };
        for (name, child) in entries.iter() {
            let node = base.node(*child).ok_or_else(|| {
                format!("the name '{name}' leads to inode {child}, which the image does not hold")
            })?;
            if matches!(node, Node::Dir { .. }) {
                if *child == ROOT_INO || parent.insert(*child, dir).is_some() || !reached.insert(*child) {
                    return Err(format!(
                        "directory inode {child} has more than one name, or contains itself"
                    ));
                }
                stack.push(*child);
            }
            reached.insert(*child);
        }
    }
    let mut image = base.clone();
    let is_dir = |image: &FsImage, ino: Ino| matches!(image.node(ino), Some(Node::Dir { .. }));
    for (i, entry) in entries.iter().enumerate() {
        for effect in &entry.effects {
            let bad = |m: String| format!("entry {i}: {m}");
            let exists = |image: &FsImage, ino: Ino| {
                image
                    .node(ino)
                    .map(|_| ())
                    .ok_or_else(|| bad(format!("inode {ino} does not exist")))
            };
            match effect {
                Effect::Barrier(Barrier::File(ino) | Barrier::FileData(ino) | Barrier::Dir(ino)) => {
                    exists(&image, *ino)?;
                    continue;
                }
                Effect::Mutation(m) => {
                    match m {
                        Mutation::NewFile { ino, .. } | Mutation::NewDir { ino, .. } => {
                            if image.node(*ino).is_some() || *ino == 0 || *ino > 1 << 32 {
                                return Err(bad(format!("inode {ino} is made again, or out of range")));
                            }
                        }
                        Mutation::Write { ino, .. } | Mutation::Truncate { ino, .. } => {
                            exists(&image, *ino)?;
                            if is_dir(&image, *ino) {
                                return Err(bad(format!("inode {ino} is a directory, and is written to")));
                            }
                        }
                        Mutation::SetMode { ino, .. } => exists(&image, *ino)?,
                        Mutation::Link { dir, name, ino } => {
                            exists(&image, *ino)?;
                            if !is_dir(&image, *dir) || image.entry(*dir, name).is_some() {
                                return Err(bad(format!(
                                    "'{name}' is linked into inode {dir}, no free name of a directory"
                                )));
                            }
                            if is_dir(&image, *ino)
                                && (*ino == ROOT_INO || parent.insert(*ino, *dir).is_some())
                            {
                                return Err(bad(format!("directory inode {ino} gets a second name")));
                            }
                        }
                        Mutation::Unlink { dir, name, ino } => {
                            if image.entry(*dir, name) != Some(*ino) {
                                return Err(bad(format!("'{name}' in inode {dir} is not inode {ino}")));
                            }
                            parent.remove(ino);
                        }
                        Mutation::Rename {
                            from_dir,
                            from_name,
                            to_dir,
                            to_name,
                            ino,
                        } => {
                            if image.entry(*from_dir, from_name) != Some(*ino) || !is_dir(&image, *to_dir) {
                                return Err(bad(format!(
                                    "'{from_name}' in inode {from_dir} is not inode {ino}, or its new directory is none"
                                )));
                            }
                            if is_dir(&image, *ino) {
                                // The new directory must not be the moved one or inside it.
                                let mut at = Some(*to_dir);
                                while let Some(a) = at {
                                    if a == *ino {
                                        return Err(bad(format!(
                                            "directory inode {ino} is moved into itself"
                                        )));
                                    }
                                    at = parent.get(&a).copied();
                                }
                                let over = image.entry(*to_dir, to_name).and_then(|t| image.node(t));
                                if matches!(over, Some(Node::Dir { entries, .. }) if !entries.is_empty()) {
                                    return Err(bad(format!(
                                        "directory inode {ino} is renamed over a full directory"
                                    )));
                                }
                                parent.insert(*ino, *to_dir);
                            }
                        }
                    }
                    // Only the tree matters here: bytes are not applied.
                    if !matches!(m, Mutation::Write { .. } | Mutation::Truncate { .. }) {
                        m.apply(&mut image, u64::MAX, faultline_core::BlockSize::DEFAULT.bytes());
                    }
                }
            }
        }
    }
    Ok(())
}

fn effect_of(raw: RawEffect) -> Result<Effect, String> {
    let name = |n: String| -> Result<Arc<str>, String> {
        if !is_file_name(&n) {
            return Err(format!("'{n}' is not a file name"));
        }
        Ok(Arc::from(n))
    };
    Ok(match raw {
        RawEffect::NewFile { ino, mode } => Effect::Mutation(Mutation::NewFile { ino, mode }),
        RawEffect::NewDir { ino, mode } => Effect::Mutation(Mutation::NewDir { ino, mode }),
        RawEffect::Write { ino, offset, data } => {
            let data = B64.decode(data).map_err(|e| format!("write data: {e}"))?;
            if offset
                .checked_add(data.len() as u64)
                .is_none_or(|end| end > MAX_FILE_LEN)
            {
                return Err(format!(
                    "a write to inode {ino} at {offset} ends past {}, the longest a file may be",
                    LIMIT_TEXT
                ));
            }
            Effect::Mutation(Mutation::Write {
                ino,
                offset,
                data: Arc::from(data),
            })
        }
        RawEffect::Truncate { ino, len } if len > MAX_FILE_LEN => {
            return Err(format!(
                "inode {ino} is truncated to {len} bytes, past {LIMIT_TEXT}, the longest a file may be"
            ));
        }
        RawEffect::Truncate { ino, len } => Effect::Mutation(Mutation::Truncate { ino, len }),
        RawEffect::SetMode { ino, mode } => Effect::Mutation(Mutation::SetMode { ino, mode }),
        RawEffect::Link { dir, name: n, ino } => Effect::Mutation(Mutation::Link {
            dir,
            name: name(n)?,
            ino,
        }),
        RawEffect::Unlink { dir, name: n, ino } => Effect::Mutation(Mutation::Unlink {
            dir,
            name: name(n)?,
            ino,
        }),
        RawEffect::Rename {
            from_dir,
            from_name,
            to_dir,
            to_name,
            ino,
        } => Effect::Mutation(Mutation::Rename {
            from_dir,
            from_name: name(from_name)?,
            to_dir,
            to_name: name(to_name)?,
            ino,
        }),
        RawEffect::Fsync { ino } => Effect::Barrier(Barrier::File(ino)),
        RawEffect::Fdatasync { ino } => Effect::Barrier(Barrier::FileData(ino)),
        RawEffect::FsyncDir { ino } => Effect::Barrier(Barrier::Dir(ino)),
    })
}
