//! `faultline adapter NAME PATH ARGS...`: peer crates, and the bundled references, as
//! programs, so `command` scenarios judge them with the same detectors as any program:
//! - atomic replace (`PATH DOCUMENT`): readers, kills, power loss of a recorded run;
//! - queues (`PATH ITEM` to enqueue, `PATH COUNT` to consume): power loss of a recorded
//!   workload, recovered and drained, judged by the exactly-once accounting;
//! - locks (`LOCK COMMAND...`): holders in a critical section, judged for overlaps.
//!
//! Scenarios run it as `["{faultline}", "adapter", NAME, "{path}", ...]`.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use faultline_core::RealFs;
use faultline_runner::program::{ACKED, DELIVERED, EXIT_CORRUPT};
use faultline_targets::atomic_write::{AtomicWrite, Variant};
use faultline_targets::queue::{self, QueueError};

use crate::args::{AdapterArgs, AdapterName, CriticalSectionArgs};

/// Segments of the reference queue under `faultline adapter`: small, so a short workload
/// creates, fills and deletes several.
const REFERENCE_SEGMENT_BYTES: u64 = 4096;

/// Runs the named implementation; exit 0 once its call returned Ok.
pub fn run(args: &AdapterArgs) -> anyhow::Result<u8> {
    let path = Path::new(&args.path);
    let one = || -> anyhow::Result<&str> {
        match args.args.as_slice() {
            [one] => Ok(one),
            _ => bail!(
                "{} takes one argument after the path, got {}",
                name_of(args.name),
                args.args.len()
            ),
        }
    };
    let count = || -> anyhow::Result<u64> {
        one()?
            .parse()
            .with_context(|| format!("{}: the count must be a whole number", name_of(args.name)))
    };
    match args.name {
        AdapterName::FaultlineDurable => Variant::Durable
            .replace(&RealFs::new(), path, one()?.as_bytes())
            .map_err(|e| anyhow::anyhow!("{e}: {}", e.errno))?,
        AdapterName::TempfilePersist => {
            let dir = faultline_core::fs::parent_dir(path);
            let mut file = tempfile::NamedTempFile::new_in(dir).context("NamedTempFile::new_in")?;
            file.write_all(one()?.as_bytes()).context("write_all")?;
            file.persist(path).context("NamedTempFile::persist")?;
        }
        AdapterName::AtomicWriteFile => {
            let mut file = atomic_write_file::AtomicWriteFile::open(path).context("AtomicWriteFile::open")?;
            file.write_all(one()?.as_bytes()).context("write_all")?;
            file.commit().context("AtomicWriteFile::commit")?;
        }
        AdapterName::FaultlineQueueProduce => {
            return reference_queue(path, |q| q.enqueue(one_bytes(&args.args)).map(drop));
        }
        AdapterName::FaultlineQueueConsume => {
            let n = count()?;
            return reference_queue(path, |q| {
                for _ in 0..n {
                    let Some(d) = q.dequeue()? else { break };
                    print_line(DELIVERED, &d.payload);
                    q.ack(d.id)?;
                    print_line(ACKED, b"");
                }
                Ok(())
            });
        }
        AdapterName::QueueFileProduce => {
            return queue_file(path, |q| q.add(one_bytes(&args.args)));
        }
        AdapterName::QueueFileConsume => {
            let n = count()?;
            return queue_file(path, |q| {
                for _ in 0..n {
                    let Some(item) = q.peek()? else { break };
                    print_line(DELIVERED, &item);
                    q.remove()?;
                    print_line(ACKED, b"");
                }
                Ok(())
            });
        }
        AdapterName::FaultlineFlock => {
            let lock = faultline_targets::lock::Variant::Flock
                .open(path)
                .map_err(|e| anyhow::anyhow!("opening the lock: {e}"))?;
            let guard = lock
                .lock(faultline_targets::lock::Mode::Exclusive, None)
                .map_err(|e| anyhow::anyhow!("taking the lock: {e}"))?;
            let code = run_under_lock(&args.args)?;
            drop(guard);
            return Ok(code);
        }
        AdapterName::StdFileLock => {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?;
            file.lock().context("File::lock")?;
            let code = run_under_lock(&args.args)?;
            file.unlock().context("File::unlock")?;
            return Ok(code);
        }
    }
    Ok(faultline_runner::exit::OK)
}

fn name_of(name: AdapterName) -> String {
    clap::ValueEnum::to_possible_value(&name).map_or_else(String::new, |v| v.get_name().to_string())
}

fn one_bytes(args: &[String]) -> &[u8] {
    args.first().map_or(&[], |a| a.as_bytes())
}

/// One line on standard output, written at once: consumers' lines are read from a recorded
/// trace, so each must be out before the next call.
fn print_line(prefix: &str, payload: &[u8]) {
    let mut line = Vec::with_capacity(prefix.len() + payload.len() + 1);
    line.extend_from_slice(prefix.as_bytes());
    line.extend_from_slice(payload);
    line.push(b'\n');
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&line);
    let _ = out.flush();
}

/// Opens the reference queue in the directory `dir` and runs `f`; corruption exits 3.
fn reference_queue(
    dir: &Path,
    f: impl FnOnce(&mut dyn queue::Queue) -> Result<(), QueueError>,
) -> anyhow::Result<u8> {
    let fs = RealFs::new();
    let options = queue::Options {
        segment_bytes: REFERENCE_SEGMENT_BYTES,
        ..queue::Options::default()
    };
    let result = queue::Variant::Segmented
        .open(&fs, dir, options)
        .and_then(|mut q| f(&mut *q));
    match result {
        Ok(()) => Ok(faultline_runner::exit::OK),
        Err(e @ QueueError::Corrupt { .. }) => {
            eprintln!("error: {e}");
            Ok(EXIT_CORRUPT as u8)
        }
        Err(e) => bail!("{e}"),
    }
}

/// Opens the queue-file queue at `path` and runs `f`; corruption exits 3.
fn queue_file(
    path: &Path,
    f: impl FnOnce(&mut queue_file::QueueFile) -> Result<(), queue_file::Error>,
) -> anyhow::Result<u8> {
    let result = queue_file::QueueFile::open(path).and_then(|mut q| f(&mut q));
    match result {
        Ok(()) => Ok(faultline_runner::exit::OK),
        Err(e @ (queue_file::Error::CorruptedFile { .. } | queue_file::Error::UnsupportedVersion { .. })) => {
            eprintln!("error: {e}");
            Ok(EXIT_CORRUPT as u8)
        }
        Err(e) => bail!("{e}"),
    }
}

/// Runs `command` and waits; its exit code (1 if a signal ended it).
fn run_under_lock(command: &[String]) -> anyhow::Result<u8> {
    let Some((program, rest)) = command.split_first() else {
        bail!("give the command to run while holding the lock");
    };
    let status = std::process::Command::new(program)
        .args(rest)
        .status()
        .with_context(|| format!("running `{program}`"))?;
    Ok(status.code().map_or(1, |c| u8::try_from(c).unwrap_or(1)))
}

/// `faultline critical-section LOG HOLDER SECTION HOLD_US`.
pub fn critical_section(args: &CriticalSectionArgs) -> anyhow::Result<u8> {
    faultline_runner::family::lock::holder::critical_section(
        &args.log,
        args.holder,
        args.section,
        Duration::from_micros(args.hold_us),
    )
    .context("critical section")?;
    Ok(faultline_runner::exit::OK)
}
