//! Family `document` in the process detector: a file replaced with whole documents by an
//! atomic-write variant, a store variant (threads that mutate and save one store), or a
//! document program, while readers read it. Writers replace until the readers are done; the
//! readers judge every read, and after the trial the file must be one complete version and the
//! variant's recovery must leave no temp behind.

pub mod programs;
pub mod simulated;
pub mod worker;
pub mod workload;

use std::path::{Path, PathBuf};

use faultline_core::{Errno, Failure, FailureKind, Fs, RealFs};
use faultline_targets::registry::FamilyInfo;
use faultline_targets::{atomic_write, store};

use self::worker::{ReaderPlan, WriterPlan};
use super::target::Target;
use super::{Family, ProgramKind, Simulated};
use crate::crash::Sweep;
use crate::document::{Read, Version, classify, document};
use crate::family::document::workload::Saver;
use crate::process::fork::{Group, SpawnError};
use crate::process::outcome::{TrialError, TrialOutcome};
use crate::process::roles::{Ended, Role, Roles, Start, Started, Stop, Trial};
use crate::process::trial::FILE_NAME;
use crate::process::worker::{FirstFailure, Pipes};
use crate::program::{self, CommandRoles, ProgramRole};
use crate::scenario::{Check, Scenario};

/// Family `atomic-write`: a document replaced whole by one of the atomic-write variants, or by
/// document programs.
pub struct AtomicWriteFamily;

/// What a document family judges.
const DOCUMENT_CHECKS: [Check; 5] = [
    Check::TornRead,
    Check::StaleRegression,
    Check::OldOrNew,
    Check::NoLeakedTemps,
    Check::NoWriterErrors,
];

impl Family for AtomicWriteFamily {
    fn info(&self) -> &'static FamilyInfo {
        &atomic_write::INFO
    }

    fn checks(&self) -> &'static [Check] {
        &DOCUMENT_CHECKS
    }

    /// For programs, all but no-leaked-temps: faultline cannot tell a program's temps from
    /// its other files.
    fn default_checks(&self, programs: bool) -> Vec<Check> {
        DOCUMENT_CHECKS
            .into_iter()
            .filter(|c| !(programs && *c == Check::NoLeakedTemps))
            .collect()
    }

    fn programs(&self) -> Option<ProgramKind> {
        Some(ProgramKind {
            kind: "document",
            gives: "writer = [...] (and optionally reader and checker)",
            roles: &[
                ProgramRole {
                    name: "writer",
                    required: true,
                    critical: None,
                },
                ProgramRole {
                    name: "reader",
                    required: false,
                    critical: None,
                },
                ProgramRole {
                    name: "checker",
                    required: false,
                    critical: None,
                },
            ],
            needs: "a document needs writer = [...] (writes {document} to {path})",
        })
    }

    fn roles<'s>(&self, scenario: &'s Scenario, target: Target<'s>) -> Option<Box<dyn Roles + 's>> {
        let writes = match target {
            Target::BuiltIn(v) => Writes::AtomicWrite(atomic_write::Variant::by_name(v.name)?),
            Target::Program(p) => Writes::Program(DocumentProgram::of(p.roles)?),
        };
        Some(Box::new(DocumentRoles::new(scenario, writes)))
    }

    fn crash_trials(
        &self,
        scenario: &Scenario,
        target: Target<'_>,
        select: &dyn Fn(u64) -> bool,
    ) -> Option<Result<Sweep, String>> {
        let (Target::Program(p), Some(plan)) = (target, scenario.explore) else {
            return None;
        };
        Some(
            programs::explore(p, plan, scenario.document_bytes, select)
                .map_err(|e| format!("recording or judging the programs failed: {e}")),
        )
    }

    fn live_workload<'s>(
        &self,
        scenario: &'s Scenario,
        target: Target<'s>,
    ) -> Option<Result<crate::live::trial::LiveWorkload<'s>, String>> {
        let (Target::Program(p), Some(plan)) = (target, scenario.live) else {
            return None;
        };
        Some(programs::live(p, plan, scenario.document_bytes))
    }

    fn simulated(&self) -> Option<&dyn Simulated> {
        Some(self)
    }
}

/// Family `store`: an in-memory store whose threads mutate it and save it as a document.
pub struct StoreFamily;

impl Family for StoreFamily {
    fn info(&self) -> &'static FamilyInfo {
        &store::INFO
    }

    fn checks(&self) -> &'static [Check] {
        &DOCUMENT_CHECKS
    }

    fn roles<'s>(&self, scenario: &'s Scenario, target: Target<'s>) -> Option<Box<dyn Roles + 's>> {
        match target {
            Target::BuiltIn(v) => {
                let v = store::Variant::by_name(v.name)?;
                Some(Box::new(DocumentRoles::new(scenario, Writes::Store(v))))
            }
            Target::Program(_) => None,
        }
    }

    fn simulated(&self) -> Option<&dyn Simulated> {
        Some(self)
    }
}

/// Document programs: the commands of a `[commands.NAME]` table with a writer.
#[derive(Clone, Copy, Debug)]
pub struct DocumentProgram<'s> {
    /// The table's commands and directory.
    pub roles: &'s CommandRoles,
    /// Writes one version and exits 0.
    pub writer: &'s [String],
    /// Prints the file as it read it; `None`: faultline reads the file itself.
    pub reader: Option<&'s [String]>,
    /// Judges the file after a trial: exit 0 means fine.
    pub checker: Option<&'s [String]>,
}

impl<'s> DocumentProgram<'s> {
    /// The document programs of `roles`, if they are document programs.
    pub fn of(roles: &'s CommandRoles) -> Option<Self> {
        let programs = &roles.programs;
        Some(DocumentProgram {
            roles,
            writer: programs.command("writer")?,
            reader: programs.command("reader"),
            checker: programs.command("checker"),
        })
    }
}

/// What writes the document.
#[derive(Clone, Copy, Debug)]
pub enum Writes<'s> {
    /// Each writer replaces the file with this atomic-write variant.
    AtomicWrite(atomic_write::Variant),
    /// Each writer is a process whose threads mutate and save one store of this variant.
    Store(store::Variant),
    /// Each writer runs the writer program once per version.
    Program(DocumentProgram<'s>),
}

impl Writes<'_> {
    /// The crash points a writer passes, seen rather than declared: an atomic-write variant
    /// replaces a file twice on the simulated file system, whose trace names each point
    /// passed. Stores and programs: not known, so every point counts as passed.
    fn points(self) -> Option<Vec<&'static str>> {
        let Writes::AtomicWrite(variant) = self else {
            return None;
        };
        use faultline_targets::atomic_write::AtomicWrite as _;
        let fs = faultline_core::SimFs::default();
        let path = Path::new("/document");
        for data in [&b"first"[..], b"second"] {
            variant.replace(&fs, path, data).ok()?;
        }
        Some(fs.trace().iter().filter_map(|e| e.crash_point).collect())
    }

    /// The variant's own recovery after a crash. Programs recover the next time they run;
    /// the checker judges after.
    fn recover(self, fs: &dyn Fs, path: &Path) -> faultline_core::FsResult<()> {
        match self {
            Writes::AtomicWrite(v) => Saver::AtomicWrite(v).recover(fs, path),
            Writes::Store(v) => Saver::Store(v).recover(fs, path),
            Writes::Program(_) => Ok(()),
        }
    }

    /// How the file's bytes are read: a program may write JSON its own way.
    fn classify(self, bytes: &[u8], size: usize) -> Read {
        match self {
            Writes::Program(_) => program::classify_json(bytes, size),
            _ => classify(bytes, size),
        }
    }
}

/// A document variant's roles: writers replace the file, readers read it.
pub struct DocumentRoles<'s> {
    scenario: &'s Scenario,
    writes: Writes<'s>,
    /// With `reads-are-versions`: where writers log the hash of each version they left and
    /// readers the hash of each read (outside the trial's directory, which programs see).
    hashes: Option<tempfile::TempDir>,
    /// The check is on, so a missing `hashes` is an error, not a check skipped.
    wants_hashes: bool,
    /// The crash points a writer passes, where that is known.
    points: Option<Vec<&'static str>>,
}

impl<'s> DocumentRoles<'s> {
    /// The roles of `writes` in trials of `scenario`.
    pub fn new(scenario: &'s Scenario, writes: Writes<'s>) -> Self {
        let wants_hashes = matches!(writes, Writes::Program(p) if p.reader.is_some())
            && scenario.checks.contains(&Check::ReadsAreVersions);
        let hashes = wants_hashes
            .then(|| crate::scratch::private_dir("faultline-hashes-", None).ok())
            .flatten();
        DocumentRoles {
            scenario,
            writes,
            hashes,
            wants_hashes,
            points: writes.points(),
        }
    }

    /// The log of version hashes (`None`) or of reader `reader`'s reads, with the check on.
    fn hash_log(&self, reader: Option<u32>) -> Option<PathBuf> {
        let dir = self.hashes.as_ref()?.path();
        Some(match reader {
            None => dir.join("versions"),
            Some(id) => dir.join(format!("reads.{id}")),
        })
    }
}

/// The hash by which `reads-are-versions` compares a read with the versions written.
pub(crate) fn content_hash(bytes: &[u8]) -> u64 {
    use std::hash::Hasher as _;
    let mut h = std::hash::DefaultHasher::new();
    h.write(bytes);
    h.finish()
}

/// Appends `hash` to the log at `path` (one 8-byte write, atomic with O_APPEND).
pub(crate) fn log_hash(path: &Path, hash: u64) {
    use std::io::Write as _;
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(&hash.to_le_bytes()));
}

/// The hashes in the log at `path`.
fn logged_hashes(path: &Path) -> Vec<u64> {
    std::fs::read(path)
        .unwrap_or_default()
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("chunks of 8")))
        .collect()
}

/// `reads-are-versions`: reads whose hash is none of the versions': counted as failed reads.
fn reads_are_versions(roles: &DocumentRoles<'_>, outcome: &mut TrialOutcome, file: &Path, at_s: f64) {
    let Some(versions_log) = roles.hash_log(None) else {
        return;
    };
    let mut versions: std::collections::BTreeSet<u64> = logged_hashes(&versions_log).into_iter().collect();
    // A writer killed after its program returned logged nothing for the version it left.
    if let Ok(bytes) = std::fs::read(file) {
        versions.insert(content_hash(&bytes));
    }
    for reader in 1..=roles.scenario.readers {
        let Some(log) = roles.hash_log(Some(reader)) else {
            continue;
        };
        let reads = logged_hashes(&log);
        let strange = reads.iter().filter(|h| !versions.contains(h)).count() as u64;
        if strange == 0 {
            continue;
        }
        outcome.failed_reads += strange;
        let kind = FailureKind::TornRead;
        *outcome.failures_by_kind.entry(kind).or_default() += strange;
        outcome.first_by_kind.entry(kind).or_insert(FirstFailure {
            kind,
            detail: format!(
                "reader {reader}: {strange} of its {} complete reads printed bytes that are none of \
                 the {} versions the writers left (compared by hash)",
                reads.len(),
                versions.len()
            ),
            at_s,
        });
    }
}

impl Roles for DocumentRoles<'_> {
    fn setup(&mut self, trial: &Trial<'_>) -> Result<(), TrialError> {
        let initial = document(Version { writer: 0, seq: 0 }, self.scenario.document_bytes);
        if self.wants_hashes && self.hashes.is_none() {
            return Err(TrialError::Setup(
                "cannot make a temporary directory for reads-are-versions' hashes".into(),
            ));
        }
        if let Some(dir) = &self.hashes {
            for entry in std::fs::read_dir(dir.path()).into_iter().flatten().flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
            if let Some(versions) = self.hash_log(None) {
                log_hash(&versions, content_hash(&initial));
            }
        }
        // Process runs keep the kernel alive, so version 0 needs no fsync to be there for
        // every reader and after every kill: a plain create and write is enough.
        std::fs::write(trial.file, &initial).map_err(|e| TrialError::Setup(format!("initial version: {e}")))
    }

    fn start(
        &self,
        worker: &Start,
        trial: &Trial<'_>,
        group: &mut Group,
        pipes: &Pipes<'_>,
    ) -> Result<Started, SpawnError> {
        let s = self.scenario;
        match worker.role {
            Role::Writer => {
                let plan = WriterPlan {
                    id: worker.index,
                    writes: self.writes,
                    threads: s.threads,
                    path: trial.file.to_path_buf(),
                    size: s.document_bytes,
                    max_writes: match self.writes {
                        Writes::Program(_) if s.readers > 0 => s.program_versions,
                        _ => s.writes_per_writer,
                    },
                    pause_us: s.write_pause_us,
                    crash: worker.crash.clone(),
                    versions_log: self.hash_log(None),
                };
                let index = group.spawn(|| worker::writer(&plan, pipes))?;
                Ok(Started {
                    index,
                    killable: true,
                    holder: false,
                })
            }
            Role::Reader => {
                let plan = ReaderPlan {
                    id: worker.index,
                    path: trial.file.to_path_buf(),
                    size: s.document_bytes,
                    reads: s.reads_per_reader,
                    until_stopped: matches!(self.writes, Writes::Program(_)),
                    pause_us: s.read_pause_us,
                    check_regression: s.writers == 1 && s.checks.contains(&Check::StaleRegression),
                    program: match self.writes {
                        Writes::Program(p) => Some(p),
                        _ => None,
                    },
                    reads_log: self.hash_log(Some(worker.index)),
                };
                let index = group.spawn(|| worker::reader(&plan, pipes))?;
                Ok(Started {
                    index,
                    killable: false,
                    holder: false,
                })
            }
        }
    }

    /// Bundled writers replace until the readers are done; readers of programs read until
    /// the programs have written their versions, so the two overlap however slowly the
    /// programs start.
    fn passes(&self, point: &str) -> bool {
        self.points.as_ref().is_none_or(|points| points.contains(&point))
    }

    fn stop(&self) -> Stop {
        match self.writes {
            Writes::Program(_) => Stop::ReadersAfterWriters,
            _ => Stop::WritersAfterReaders,
        }
    }

    fn runs_programs(&self) -> bool {
        matches!(self.writes, Writes::Program(_))
    }

    fn clock_starts_at_first_write(&self) -> bool {
        matches!(self.writes, Writes::Program(_))
    }

    fn judge(
        &mut self,
        outcome: &mut TrialOutcome,
        trial: &Trial<'_>,
        ended: &Ended,
    ) -> Result<Option<Vec<String>>, TrialError> {
        reads_are_versions(self, outcome, trial.file, ended.at_s);
        Ok(after_checks(
            outcome,
            self.writes,
            trial.file,
            self.scenario,
            ended.at_s,
        ))
    }
}

/// Records a failure of the trial as a whole.
fn fail(outcome: &mut TrialOutcome, kind: FailureKind, detail: String, at_s: f64) {
    outcome.trial_failures.push(Failure {
        kind,
        detail: detail.clone(),
    });
    outcome.note(FirstFailure { kind, detail, at_s });
}

/// After the workers are gone: the file must be a complete version (a store that finished, its
/// newest generation), a checker program must accept it, and after the variant's recovery no
/// temps may remain. Returns what else the directory held after recovery, when that was
/// checked.
fn after_checks(
    outcome: &mut TrialOutcome,
    writes: Writes<'_>,
    path: &Path,
    s: &Scenario,
    at_s: f64,
) -> Option<Vec<String>> {
    let when = if outcome.writer_killed {
        "after the kill"
    } else {
        "after the trial"
    };
    if s.checks.contains(&Check::OldOrNew)
        && let Some((kind, detail)) = old_or_new(writes, path, s.document_bytes, when)
    {
        fail(outcome, kind, detail, at_s);
    }
    if s.checks.contains(&Check::StaleRegression)
        && !outcome.writer_killed
        && let [(writer, newest)] = outcome.final_generations.as_slice()
        && let Some(detail) = newest_kept(path, *writer, *newest, s.document_bytes)
    {
        fail(outcome, FailureKind::StaleRegression, detail, at_s);
    }
    if let Writes::Program(p) = writes
        && let Some(checker) = p.checker
        && let Some(detail) = checker_refused(p, checker, path, s.document_bytes, when)
    {
        fail(outcome, FailureKind::CheckerFailed, detail, at_s);
    }
    if !s.checks.contains(&Check::NoLeakedTemps) {
        return None;
    }
    let (problem, listed) = leftovers(writes, path, when);
    if let Some((kind, detail)) = problem {
        fail(outcome, kind, detail, at_s);
    }
    listed
}

/// Whether the file is one complete version.
fn old_or_new(writes: Writes<'_>, path: &Path, size: usize, when: &str) -> Option<(FailureKind, String)> {
    match faultline_core::fs::read_file(&RealFs::new(), path) {
        Err(e) if e.errno == Errno::NOENT => {
            Some((FailureKind::MissingFile, format!("the file is missing {when}")))
        }
        Err(e) => Some((
            FailureKind::UnexpectedError,
            format!("reading the file {when} failed: {e}: {}", e.errno),
        )),
        Ok(bytes) => match writes {
            // A program whose checker or reader speaks its own format is judged by them: the
            // checker after every trial (CheckerFailed), else the reader's exit code.
            Writes::Program(p) if p.checker.is_some() => None,
            Writes::Program(p) if let Some(reader) = p.reader => {
                checker_refused(p, reader, path, size, when).map(|d| (FailureKind::TornFile, d))
            }
            _ => match writes.classify(&bytes, size) {
                Read::Complete(_) => None,
                Read::Bad { detail, .. } => Some((FailureKind::TornFile, format!("{when}: {detail}"))),
            },
        },
    }
}

/// A store whose one writer finished must end holding its newest generation: what it holds
/// instead, if it does not.
fn newest_kept(path: &Path, writer: u32, newest: u64, size: usize) -> Option<String> {
    let expected = document(Version { writer, seq: newest }, size);
    let held = faultline_core::fs::read_file(&RealFs::new(), path).ok();
    if held.as_deref() == Some(expected.as_slice()) {
        return None;
    }
    let seen = match held.as_deref().map(|b| classify(b, size)) {
        Some(Read::Complete(v)) => format!("generation {}", v.seq),
        Some(Read::Bad { detail, .. }) => detail,
        None => "nothing readable".to_string(),
    };
    Some(format!(
        "after the last save the file holds {seen}, but the store reached generation {newest}"
    ))
}

/// Runs a document program's checker (or reader) on the file: why it refused, if it did.
fn checker_refused(
    p: DocumentProgram<'_>,
    checker: &[String],
    path: &Path,
    size: usize,
    when: &str,
) -> Option<String> {
    let vars = program::Vars::new(path, size);
    let words = p.roles.expand(checker, &vars);
    match program::run(&words, faultline_core::fs::parent_dir(path)) {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!("{when}: {}", program::failure_detail(&words, &out))),
        Err(e) => Some(format!("cannot run the checker `{}`: {e}", words[0])),
    }
}

/// Runs the variant's recovery and lists what the directory holds beside the file: a failed
/// recovery or a leaked temp, and the listing.
fn leftovers(
    writes: Writes<'_>,
    path: &Path,
    when: &str,
) -> (Option<(FailureKind, String)>, Option<Vec<String>>) {
    let fs = RealFs::new();
    let recovered = writes.recover(&fs, path);
    let dir = faultline_core::fs::parent_dir(path);
    let listed: Option<Vec<String>> = fs
        .read_dir(dir)
        .ok()
        .map(|names| names.into_iter().filter(|n| n != FILE_NAME).collect());
    let extra = listed.clone().unwrap_or_default();
    let problem = match recovered {
        Err(e) => Some((
            FailureKind::RecoveryFailed,
            format!("recovery {when} failed: {e}: {}", e.errno),
        )),
        Ok(()) if !extra.is_empty() => Some((
            FailureKind::LeakedTemp,
            format!("{when} and recovery, left: {}", extra.join(", ")),
        )),
        Ok(()) => None,
    };
    (problem, listed)
}
