//! Family `document` in the process detector: a file replaced with whole documents by an
//! atomic-write variant, a store variant (threads that mutate and save one store), or a
//! document program, while readers read it. Writers replace until the readers are done; the
//! readers judge every read, and after the trial the file must be one complete version and the
//! variant's recovery must leave no temp behind.

pub mod worker;

use std::path::Path;

use faultline_core::{Errno, Failure, FailureKind, Fs, RealFs};
use faultline_targets::{atomic_write, store};

use self::worker::{ReaderPlan, WriterPlan};
use crate::document::{Read, Version, classify, document};
use crate::process::fork::{Group, SpawnError};
use crate::process::outcome::{TrialError, TrialOutcome};
use crate::process::roles::{Ended, Role, Roles, Start, Started, Stop, Trial};
use crate::process::trial::FILE_NAME;
use crate::process::worker::{FirstFailure, Pipes};
use crate::program::{self, CommandRoles, Programs};
use crate::scenario::{Check, Scenario};

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
        match &roles.programs {
            Programs::Document {
                writer,
                reader,
                checker,
            } => Some(DocumentProgram {
                roles,
                writer,
                reader: reader.as_deref(),
                checker: checker.as_deref(),
            }),
            _ => None,
        }
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
    /// The variant's own recovery after a crash. Programs recover the next time they run;
    /// the checker judges after.
    fn recover(self, fs: &dyn Fs, path: &Path) -> faultline_core::FsResult<()> {
        use atomic_write::AtomicWrite;
        match self {
            Writes::AtomicWrite(v) => v.recover(fs, path),
            Writes::Store(v) => v.recover(fs, path),
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
}

impl<'s> DocumentRoles<'s> {
    /// The roles of `writes` in trials of `scenario`.
    pub fn new(scenario: &'s Scenario, writes: Writes<'s>) -> Self {
        DocumentRoles { scenario, writes }
    }
}

impl Roles for DocumentRoles<'_> {
    fn setup(&mut self, trial: &Trial<'_>) -> Result<(), TrialError> {
        let initial = document(Version { writer: 0, seq: 0 }, self.scenario.document_bytes);
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
                    max_writes: s.writes_per_writer,
                    pause_us: s.write_pause_us,
                    crash: worker.crash.clone(),
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
                    pause_us: s.read_pause_us,
                    check_regression: s.writers == 1 && s.checks.contains(&Check::StaleRegression),
                    program: match self.writes {
                        Writes::Program(p) => Some(p),
                        _ => None,
                    },
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

    fn stop(&self) -> Stop {
        Stop::WritersAfterReaders
    }

    fn runs_programs(&self) -> bool {
        matches!(self.writes, Writes::Program(_))
    }

    fn judge(
        &mut self,
        outcome: &mut TrialOutcome,
        trial: &Trial<'_>,
        ended: &Ended,
    ) -> Result<Option<Vec<String>>, TrialError> {
        Ok(after_checks(
            outcome,
            self.writes,
            trial.file,
            self.scenario,
            ended.at_s,
        ))
    }
}

/// After the workers are gone: the file must be a complete version, and after the variant's
/// recovery no temps may remain.
/// Returns what else the directory held after recovery, when that was checked.
fn after_checks(
    outcome: &mut TrialOutcome,
    writes: Writes<'_>,
    path: &Path,
    s: &Scenario,
    at_s: f64,
) -> Option<Vec<String>> {
    let fs = RealFs::new();
    let when = if outcome.writer_killed {
        "after the kill"
    } else {
        "after the trial"
    };
    if s.checks.contains(&Check::OldOrNew) {
        let problem = match faultline_core::fs::read_file(&fs, path) {
            Err(e) if e.errno == Errno::NOENT => {
                Some((FailureKind::MissingFile, format!("the file is missing {when}")))
            }
            Err(e) => Some((
                FailureKind::UnexpectedError,
                format!("reading the file {when} failed: {e}: {}", e.errno),
            )),
            Ok(bytes) => match writes.classify(&bytes, s.document_bytes) {
                Read::Complete(_) => None,
                Read::Bad { detail, .. } => Some((FailureKind::TornFile, format!("{when}: {detail}"))),
            },
        };
        if let Some((kind, detail)) = problem {
            outcome.trial_failures.push(Failure {
                kind,
                detail: detail.clone(),
            });
            outcome.note(FirstFailure { kind, detail, at_s });
        }
    }
    // A store whose writer finished must end holding its newest generation.
    if s.checks.contains(&Check::StaleRegression)
        && !outcome.writer_killed
        && let [(writer, newest)] = outcome.final_generations.as_slice()
    {
        let expected = document(
            Version {
                writer: *writer,
                seq: *newest,
            },
            s.document_bytes,
        );
        let held = faultline_core::fs::read_file(&fs, path).ok();
        if held.as_deref() != Some(expected.as_slice()) {
            let seen = match held.as_deref().map(|b| classify(b, s.document_bytes)) {
                Some(Read::Complete(v)) => format!("generation {}", v.seq),
                Some(Read::Bad { detail, .. }) => detail,
                None => "nothing readable".to_string(),
            };
            let detail = format!(
                "after the last save the file holds {seen}, but the store reached generation {newest}"
            );
            outcome.trial_failures.push(Failure {
                kind: FailureKind::StaleRegression,
                detail: detail.clone(),
            });
            outcome.note(FirstFailure {
                kind: FailureKind::StaleRegression,
                detail,
                at_s,
            });
        }
    }
    if let Writes::Program(p) = writes
        && let Some(checker) = p.checker
    {
        let vars = program::Vars::new(path, s.document_bytes);
        let words = p.roles.expand(checker, &vars);
        let problem = match program::run(&words, faultline_core::fs::parent_dir(path)) {
            Ok(out) if out.status.success() => None,
            Ok(out) => Some(format!("{when}: {}", program::failure_detail(&words, &out))),
            Err(e) => Some(format!("cannot run the checker `{}`: {e}", words[0])),
        };
        if let Some(detail) = problem {
            let kind = FailureKind::CheckerFailed;
            outcome.trial_failures.push(Failure {
                kind,
                detail: detail.clone(),
            });
            outcome.note(FirstFailure { kind, detail, at_s });
        }
    }
    if !s.checks.contains(&Check::NoLeakedTemps) {
        return None;
    }
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
    if let Some((kind, detail)) = problem {
        outcome.trial_failures.push(Failure {
            kind,
            detail: detail.clone(),
        });
        outcome.note(FirstFailure { kind, detail, at_s });
    }
    listed
}
