//! `scenario_parse`, `report_parse` and `trace_parse`: arbitrary text as a scenario file, a
//! report or a trace must give a value or a clear error (naming a line and column where it
//! has one), never a panic; a trace that reads is written out without leaving its directory.

use std::path::Path;

use crate::gate::Baseline;
use crate::report::{ReadError, results_from_text};

/// Parses `data` as a scenario file.
pub fn scenario(data: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    match crate::scenario_file::parse(Path::new("fuzz.toml"), text) {
        Ok(_) => Ok(()),
        Err(e) if e.line == 0 || e.message.is_empty() => Err(format!("an error without a place: {e}")),
        Err(_) => Ok(()),
    }
}

/// Reads `data` as a run report and as a baseline, as the commands read their files.
pub fn report(data: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let path = Path::new("fuzz.json");
    for result in [
        results_from_text(path, text.to_string(), &["run", "model"]).map(|_| ()),
        Baseline::from_text(path, text).map(|_| ()),
    ] {
        match result {
            Ok(()) => {}
            Err(ReadError::Parse { line: 0, .. }) => return Err("a parse error at line 0".into()),
            Err(_) => {}
        }
    }
    Ok(())
}

/// The most bytes a trace may write, and its base image hold, for `trace` to write its states
/// out (bounded work per input; holes cost nothing).
const WRITE_OUT_LIMIT: u64 = 1 << 20;

/// Reads `data` as a trace file. One that reads has its first and last states written out,
/// each into a directory of its own in a fresh one: nothing may appear beside them.
pub fn trace(data: &[u8]) -> Result<(), String> {
    use crate::external::trace_file::TraceFile;
    use faultline_core::trace::{Effect, Mutation};
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let trace = match TraceFile::from_text(Path::new("fuzz.json"), text) {
        Ok(trace) => trace,
        Err(ReadError::Parse { line: 0, .. }) => return Err("a parse error at line 0".into()),
        Err(_) => return Ok(()),
    };
    // Lengths cost nothing (holes stay holes); the bytes written out are what is bounded.
    let written: u64 = trace
        .entries
        .iter()
        .flat_map(|e| &e.effects)
        .map(|effect| match effect {
            Effect::Mutation(Mutation::Write { data, .. }) => data.len() as u64,
            _ => 0,
        })
        .sum();
    let held: u64 = trace
        .base
        .walk()
        .iter()
        .map(|(_, node)| match node {
            faultline_core::Node::File { data, .. } => data.allocated(),
            faultline_core::Node::Dir { .. } => 0,
        })
        .sum();
    if written > WRITE_OUT_LIMIT || held > WRITE_OUT_LIMIT {
        return Ok(());
    }
    let sandbox = tempfile::tempdir().map_err(|e| format!("a temp directory: {e}"))?;
    for (name, image) in [("first", trace.base.clone()), ("last", trace.final_image())] {
        // A name the file system refuses is an error, not a bug; escaping is the bug.
        let _ = crate::crash::materialise(&image, &sandbox.path().join(name));
    }
    let mut beside: Vec<String> = std::fs::read_dir(sandbox.path())
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "first" && n != "last")
        .collect();
    beside.sort();
    if beside.is_empty() {
        Ok(())
    } else {
        Err(format!("writing the states out made {beside:?} beside them"))
    }
}
