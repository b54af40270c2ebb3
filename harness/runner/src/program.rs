//! Programs given in a scenario's `[commands.NAME]` tables: a variant of the scenario's family
//! that is programs instead of bundled code. A variant is one kind of program, one for each
//! family programs can implement, with the roles that family lists (its `ProgramKind`):
//! - a document writer run once per version, with an optional reader that prints what it read
//!   and a checker that exits non-zero on a bad state;
//! - a queue: a producer run once per item and a consumer that prints what it delivered;
//! - a lock: a holder that runs the command `{critical}` while it holds the lock.
//!
//! Words may hold placeholders ([`PLACEHOLDERS`]), filled in for each run. Commands run in the
//! trial's directory and die with the worker that started them, so a kill of the worker is a
//! kill of the program mid-write.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use faultline_core::FailureKind;

use crate::document::{Read, Version, classify};

/// The placeholders a role's words may use, and what each becomes.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("{path}", "the file under test (absolute)"),
    (
        "{dir}",
        "the trial's directory, which is also the working directory",
    ),
    ("{writer}", "the writer's number, from 1"),
    ("{version}", "the version being written: 1, 2, ... per writer"),
    ("{size}", "the document's size in bytes"),
    (
        "{document}",
        "the exact document to write (JSON, `size` bytes with its newline)",
    ),
    (
        "{scenario_dir}",
        "the directory of the scenario file, for programs kept beside it",
    ),
    (
        "{faultline}",
        "the running faultline binary (for `faultline adapter`)",
    ),
    (
        "{item}",
        "queues: the payload the producer enqueues (ASCII, `size` bytes)",
    ),
    ("{count}", "queues: how many items the consumer delivers at most"),
    ("{lock}", "locks: the lock file every holder locks (absolute)"),
    (
        "{acked}",
        "a checker of crash states ([explore]): the newest version acknowledged before the crash (0 elsewhere)",
    ),
    (
        "{critical}",
        "locks: a whole word that becomes the command a holder runs while it holds the lock",
    ),
];

/// The line a consumer prints once it has processed an item, before acknowledging it:
/// `delivered PAYLOAD`.
pub const DELIVERED: &str = "delivered ";
/// The line a consumer prints once its acknowledgement (the removal) returned.
pub const ACKED: &str = "acked";
/// The exit code with which a consumer says the queue reported a corrupt record.
pub const EXIT_CORRUPT: i32 = 3;

/// The commands of one `[commands.NAME]` table.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CommandRoles {
    /// What kind of program, and its commands.
    pub programs: Programs,
    /// The scenario file's directory (`{scenario_dir}`).
    pub scenario_dir: PathBuf,
}

/// One role of a kind of program: its key in `[commands.NAME]` and its rules. Each family
/// programs can implement lists its roles (`family::ProgramKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramRole {
    /// Its key: `writer`, `holder`.
    pub name: &'static str,
    /// Whether a table of this kind must give it.
    pub required: bool,
    /// For the role that runs the critical section (`{critical}` once, as a word of its own):
    /// what to do when it does not. No other role may use `{critical}`.
    pub critical: Option<&'static str>,
}

/// The programs of one variant: their kind (the family they implement) and each role's
/// command, by role.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Programs {
    /// The kind's name in messages: `document`, `queue` or `lock`.
    pub kind: &'static str,
    /// Each given role's command words.
    pub commands: std::collections::BTreeMap<&'static str, Vec<String>>,
}

impl Programs {
    /// The kind's name in messages: `document`, `queue` or `lock`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The command of role `role`, if given.
    pub fn command(&self, role: &str) -> Option<&[String]> {
        self.commands.get(role).map(Vec::as_slice)
    }
}

/// The values of the placeholders for one run.
#[derive(Clone, Debug)]
pub struct Vars<'a> {
    /// `{path}`.
    pub path: &'a Path,
    /// `{writer}`.
    pub writer: u32,
    /// `{version}`.
    pub version: u64,
    /// `{size}`.
    pub size: usize,
    /// `{document}`.
    pub document: &'a str,
    /// `{item}`.
    pub item: &'a str,
    /// `{count}`.
    pub count: u64,
    /// The words `{critical}` becomes.
    pub critical: &'a [String],
    /// `{acked}`.
    pub acked: u64,
}

impl<'a> Vars<'a> {
    /// Placeholders for a run on `path` with documents or items of `size` bytes; the rest
    /// empty or 0.
    pub fn new(path: &'a Path, size: usize) -> Self {
        Vars {
            path,
            writer: 0,
            version: 0,
            size,
            document: "",
            item: "",
            count: 0,
            critical: &[],
            acked: 0,
        }
    }
}

impl CommandRoles {
    /// `words` with the placeholders filled in; a word that is exactly `{critical}` becomes
    /// the words of `vars.critical`.
    pub fn expand(&self, words: &[String], vars: &Vars<'_>) -> Vec<String> {
        let dir = faultline_core::fs::parent_dir(vars.path);
        let mut out = Vec::with_capacity(words.len());
        for w in words {
            if w == "{critical}" {
                out.extend(vars.critical.iter().cloned());
            } else if !w.contains('{') {
                out.push(w.clone());
            } else {
                out.push(
                    w.replace("{path}", &vars.path.display().to_string())
                        .replace("{lock}", &vars.path.display().to_string())
                        .replace("{dir}", &dir.display().to_string())
                        .replace("{writer}", &vars.writer.to_string())
                        .replace("{version}", &vars.version.to_string())
                        .replace("{size}", &vars.size.to_string())
                        .replace("{count}", &vars.count.to_string())
                        .replace("{acked}", &vars.acked.to_string())
                        .replace("{scenario_dir}", &self.scenario_dir.display().to_string())
                        .replace("{faultline}", &faultline_binary())
                        .replace("{document}", vars.document)
                        .replace("{item}", vars.item),
                );
            }
        }
        out
    }
}

/// The path of the running binary (`{faultline}`), or `faultline` if it cannot be found.
pub fn faultline_binary() -> String {
    std::env::current_exe().map_or_else(|_| "faultline".into(), |p| p.display().to_string())
}

/// The directory of the scenario file at `path` (`.` for a bare file name).
pub fn scenario_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The first unknown `{...}` in `words`, if any.
pub fn unknown_placeholder(words: &[String]) -> Option<String> {
    unknown_among(words, PLACEHOLDERS, |_| true)
}

/// The first `{...}` in `words` that is not one of `known` and that `is_one` takes for a
/// placeholder (given the text between the braces).
pub fn unknown_among(
    words: &[String],
    known: &[(&str, &str)],
    is_one: impl Fn(&str) -> bool,
) -> Option<String> {
    for w in words {
        let mut rest = w.as_str();
        while let Some(start) = rest.find('{') {
            let Some(len) = rest[start..].find('}') else { break };
            let name = &rest[start..=start + len];
            if is_one(&name[1..name.len() - 1]) && !known.iter().any(|(p, _)| *p == name) {
                return Some(name.to_string());
            }
            rest = &rest[start + len + 1..];
        }
    }
    None
}

/// Runs `words` in `dir` and waits. The program gets SIGKILL if the calling process dies, so
/// killing a worker kills the program it is running.
pub fn run(words: &[String], dir: &Path) -> std::io::Result<Output> {
    let mut command = Command::new(&words[0]);
    command
        .args(&words[1..])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    crate::child::die_with_parent(&mut command);
    command.output()
}

/// One line on how a command failed: its exit and the start of its stderr (of its stdout when
/// it printed nothing on stderr, as checkers often do).
pub fn failure_detail(words: &[String], output: &Output) -> String {
    let said = if output.stderr.iter().all(u8::is_ascii_whitespace) {
        &output.stdout
    } else {
        &output.stderr
    };
    let said = String::from_utf8_lossy(said);
    let shown: String = said.trim().chars().take(160).collect();
    format!(
        "`{}` {}{}",
        words.first().map_or("", String::as_str),
        match output.status.code() {
            Some(code) => format!("exited {code}"),
            None => "was killed".to_string(),
        },
        if shown.is_empty() {
            String::new()
        } else {
            format!(": {shown}")
        }
    )
}

/// Classifies what a program wrote or a reader printed. Programs re-serialise JSON their own
/// way (`json.dump` adds spaces), so besides the exact document, any JSON object with integer
/// `writer` and `seq` fields is a complete version. Cut-off JSON is a `TornRead`; anything
/// else that does not parse is a `ParseError`.
pub fn classify_json(bytes: &[u8], size: usize) -> Read {
    if let Read::Complete(v) = classify(bytes, size) {
        return Read::Complete(v);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Read::Bad {
            kind: FailureKind::TornRead,
            detail: format!("read {} bytes of nothing but whitespace", bytes.len()),
        };
    }
    // Only the two fields are kept; the rest is checked for syntax and skipped.
    #[derive(serde::Deserialize)]
    struct Head {
        writer: Option<serde_json::Value>,
        seq: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Head>(bytes) {
        Ok(head) => {
            let field = |v: &Option<serde_json::Value>| v.as_ref().and_then(serde_json::Value::as_u64);
            match (field(&head.writer), field(&head.seq)) {
                (Some(writer), Some(seq)) => Read::Complete(Version {
                    writer: u32::try_from(writer).unwrap_or(u32::MAX),
                    seq,
                }),
                _ => Read::Bad {
                    kind: FailureKind::ParseError,
                    detail: format!(
                        "read {} bytes of JSON without integer writer and seq",
                        bytes.len()
                    ),
                },
            }
        }
        Err(e) if e.is_eof() => Read::Bad {
            kind: FailureKind::TornRead,
            detail: format!("read {} bytes of JSON cut off at the end", bytes.len()),
        },
        Err(e) => Read::Bad {
            kind: FailureKind::ParseError,
            detail: format!(
                "read {} bytes that do not parse ({e}): {:?}",
                bytes.len(),
                String::from_utf8_lossy(&bytes[..bytes.len().min(24)])
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_expand_and_unknown_ones_are_named() {
        let writer: Vec<String> = ["python3", "{scenario_dir}/w.py", "{path}", "v{version}"]
            .map(String::from)
            .to_vec();
        let roles = CommandRoles {
            programs: Programs {
                kind: "document",
                commands: [("writer", writer.clone())].into_iter().collect(),
            },
            scenario_dir: PathBuf::from("/s"),
        };
        let vars = Vars {
            writer: 2,
            version: 7,
            document: "{}",
            ..Vars::new(Path::new("/t/config.json"), 64)
        };
        assert_eq!(
            roles.expand(&writer, &vars),
            ["python3", "/s/w.py", "/t/config.json", "v7"]
        );
        assert_eq!(unknown_placeholder(&writer), None);
        // `{critical}` is spliced in as whole words.
        let critical: Vec<String> = ["faultline", "critical-section", "cs.1.log"]
            .map(String::from)
            .to_vec();
        let holder: Vec<String> = ["flock", "{lock}", "{critical}"].map(String::from).to_vec();
        let vars = Vars {
            critical: &critical,
            ..Vars::new(Path::new("/t/main.lock"), 0)
        };
        assert_eq!(
            roles.expand(&holder, &vars),
            [
                "flock",
                "/t/main.lock",
                "faultline",
                "critical-section",
                "cs.1.log"
            ]
        );
        assert_eq!(
            unknown_placeholder(&["{path}".into(), "{file}".into()]).as_deref(),
            Some("{file}")
        );
    }

    #[test]
    fn reserialised_json_is_complete_and_cut_json_is_torn() {
        let full = br#"{"writer": 1, "seq": 4, "pad": "xx"}"#;
        assert_eq!(
            classify_json(full, 4096),
            Read::Complete(Version { writer: 1, seq: 4 })
        );
        assert!(matches!(
            classify_json(&full[..20], 4096),
            Read::Bad {
                kind: FailureKind::TornRead,
                ..
            }
        ));
        assert!(matches!(
            classify_json(b"", 4096),
            Read::Bad {
                kind: FailureKind::TornRead,
                ..
            }
        ));
        assert!(matches!(
            classify_json(br#"{"writer": 1, "seq": 4}garbage"#, 4096),
            Read::Bad {
                kind: FailureKind::ParseError,
                ..
            }
        ));
    }
}
