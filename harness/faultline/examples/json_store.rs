//! A small JSON-lines store checked against crashes: `cargo run -p faultline --example
//! json_store`. Its append is durable (fsync of the file, and of the directory when the
//! file is new); its compaction rewrites through a temp file and a rename. The check
//! enumerates every crash state of two appends and a compaction, runs the store's recovery
//! (drop a torn last line, remove a leftover temp) and asks: is every acknowledged record
//! there, and nothing else but whole records?

use std::io::Write;

use faultline::{Check, Model, fs, oracle};

const LOG: &str = "store.jsonl";

fn append(record: &str) -> std::io::Result<()> {
    let new = !fs::exists(LOG);
    let mut file = fs::OpenOptions::new().append(true).create(true).open(LOG)?;
    file.write_all(format!("{record}\n").as_bytes())?;
    file.sync_all()?;
    if new {
        fs::sync_dir(".")?;
    }
    Ok(())
}

fn compact() -> std::io::Result<()> {
    let records = fs::read_to_string(LOG)?;
    let mut tmp = fs::File::create("store.jsonl.tmp")?;
    tmp.write_all(records.as_bytes())?;
    tmp.sync_all()?;
    faultline::crash_point!("compact.before_rename");
    fs::rename("store.jsonl.tmp", LOG)?;
    fs::sync_dir(".")
}

/// What the store does when it opens after a crash.
fn recover() -> std::io::Result<()> {
    if fs::exists("store.jsonl.tmp") {
        fs::remove_file("store.jsonl.tmp")?;
    }
    if let Ok(text) = fs::read_to_string(LOG)
        && !text.is_empty()
        && !text.ends_with('\n')
    {
        let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        let mut file = fs::File::create("store.jsonl.tmp")?;
        file.write_all(whole.as_bytes())?;
        file.sync_all()?;
        fs::rename("store.jsonl.tmp", LOG)?;
        fs::sync_dir(".")?;
    }
    Ok(())
}

fn main() {
    let summary = Check::new()
        .models(&[Model::ProcessCrash, Model::PowerLoss])
        .block_size(512)
        .recover(recover)
        .check(
            || {
                append(r#"{"id":1}"#)?;
                faultline::ack("1");
                append(r#"{"id":2}"#)?;
                faultline::ack("2");
                compact()
            },
            |state| {
                oracle::no_leaked_temps(state, "/", &[LOG])?;
                let text =
                    String::from_utf8(state.read(LOG).unwrap_or_default()).map_err(|e| e.to_string())?;
                for line in text.lines() {
                    if !line.starts_with("{\"id\":") || !line.ends_with('}') {
                        return Err(format!("a line that is not a whole record: {line:?}"));
                    }
                }
                for acked in state.acknowledged() {
                    if !text.contains(&format!("{{\"id\":{acked}}}")) {
                        return Err(format!("record {acked} was acknowledged but is gone: {text:?}"));
                    }
                }
                Ok(())
            },
        );
    println!(
        "every one of {} crash states of {} calls passes ({})",
        summary.states,
        summary.calls,
        if summary.exhaustive {
            "all the models allow"
        } else {
            "within the budget"
        }
    );
}
