//! `faultline adapter NAME PATH DOCUMENT`: peer crates' atomic replace, and the bundled
//! reference, as programs, so `command` scenarios judge them with the same detectors as any
//! program (readers, kills, power loss of a recorded run). Scenarios run it as
//! `["{faultline}", "adapter", NAME, "{path}", "{document}"]`.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use faultline_core::RealFs;
use faultline_targets::atomic_write::{AtomicWrite, Variant};

use crate::args::{AdapterArgs, AdapterName};

/// Writes the document with the named implementation; exit 0 once it returned Ok.
pub fn run(args: &AdapterArgs) -> anyhow::Result<u8> {
    let path = Path::new(&args.path);
    let data = args.document.as_bytes();
    match args.name {
        AdapterName::FaultlineDurable => Variant::Durable
            .replace(&RealFs::new(), path, data)
            .map_err(|e| anyhow::anyhow!("{e}: {}", e.errno))?,
        AdapterName::TempfilePersist => {
            let dir = faultline_core::fs::parent_dir(path);
            let mut file = tempfile::NamedTempFile::new_in(dir).context("NamedTempFile::new_in")?;
            file.write_all(data).context("write_all")?;
            file.persist(path).context("NamedTempFile::persist")?;
        }
        AdapterName::AtomicWriteFile => {
            let mut file = atomic_write_file::AtomicWriteFile::open(path).context("AtomicWriteFile::open")?;
            file.write_all(data).context("write_all")?;
            file.commit().context("AtomicWriteFile::commit")?;
        }
    }
    Ok(0)
}
