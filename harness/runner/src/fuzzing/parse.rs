//! `scenario_parse` and `report_parse`: arbitrary text as a scenario file or a report must
//! give a value or a clear error (naming a line and column where it has one), never a panic.

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
