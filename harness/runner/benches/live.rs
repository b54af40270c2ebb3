//! Live mode's cost: the same workloads on the backing file system directly, through a
//! faultline mount, and, when `FAULTLINE_LAZYFS` names a built LazyFS binary, through LazyFS
//! (its page cache, 1 GiB, no faults armed), in one run, so the ratios compare like with like
//! on a noisy machine. At the end it prints each mount's throughput as a fraction of the bare
//! file system's.
//!
//! - `buffered-writes`: 8 MiB in 4 KiB `write` calls to one file, then close (no fsync).
//! - `fsync`: 32 times, a 4 KiB write and an fsync.
//! - `metadata`: 32 times, create a file, write 100 bytes, close, rename it over another.
//! - `sqlite3-inserts`: one sqlite3 process inserting 32 rows, a transaction each
//!   (`synchronous=FULL`, rollback journal); skipped without sqlite3.
//!
//! Needs FUSE (/dev/fuse, fusermount3): without it the benchmark says so and measures nothing.
//! Run: `cargo bench -p faultline-runner --bench live`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use faultline_core::persistence::BlockSize;
use faultline_runner::live::{Keep, MountOptions, Mounted};

const BLOCK: usize = 4096;
const SEQUENTIAL: usize = 8 << 20;
const ROUNDS: usize = 32;

fn buffered_writes(dir: &Path) {
    let mut f = std::fs::File::create(dir.join("seq")).expect("create");
    let block = vec![0x5a; BLOCK];
    for _ in 0..SEQUENTIAL / BLOCK {
        f.write_all(&block).expect("write");
    }
}

fn fsyncs(dir: &Path) {
    let mut f = std::fs::File::create(dir.join("log")).expect("create");
    let block = vec![0x5a; BLOCK];
    for _ in 0..ROUNDS {
        f.write_all(&block).expect("write");
        f.sync_all().expect("fsync");
    }
}

fn metadata(dir: &Path) {
    for i in 0..ROUNDS {
        let tmp = dir.join(format!("m{i}.tmp"));
        std::fs::write(&tmp, [b'x'; 100]).expect("write");
        std::fs::rename(&tmp, dir.join("m")).expect("rename");
    }
}

fn sqlite_inserts(dir: &Path) {
    let mut script = String::from("PRAGMA synchronous=FULL; CREATE TABLE IF NOT EXISTS t(x);\n");
    for i in 0..ROUNDS {
        script.push_str(&format!("INSERT INTO t VALUES({i});\n"));
    }
    let mut child = Command::new("sqlite3")
        .arg(dir.join("db.sqlite"))
        .stdin(Stdio::piped())
        .spawn()
        .expect("sqlite3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("script");
    assert!(child.wait().expect("waits").success());
}

/// A LazyFS mount of `root` on `mnt`, stopped on drop.
struct LazyFs {
    child: Child,
    mnt: PathBuf,
}

impl LazyFs {
    fn mount(binary: &Path, work: &Path) -> Option<(LazyFs, PathBuf)> {
        let (root, mnt, config) = (
            work.join("lazy-root"),
            work.join("lazy-mnt"),
            work.join("lazyfs.toml"),
        );
        std::fs::create_dir_all(&root).ok()?;
        std::fs::create_dir_all(&mnt).ok()?;
        std::fs::write(
            &config,
            format!(
                "[faults]\nfifo_path=\"{}\"\n[cache]\napply_eviction=false\n[cache.simple]\ncustom_size=\"1gb\"\nblocks_per_page=1\n[filesystem]\nlog_all_operations=false\nlogfile=\"\"\n",
                work.join("faults.fifo").display()
            ),
        )
        .ok()?;
        let child = Command::new(binary)
            .arg(&mnt)
            .arg("--config-path")
            .arg(&config)
            .args(["-o", "modules=subdir", "-o"])
            .arg(format!("subdir={}", root.display()))
            .arg("-f")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let lazy = LazyFs {
            child,
            mnt: mnt.clone(),
        };
        let until = Instant::now() + Duration::from_secs(20);
        while !mounted(&mnt) {
            if Instant::now() > until {
                eprintln!("LazyFS did not mount; leaving it out");
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some((lazy, mnt))
    }
}

impl Drop for LazyFs {
    fn drop(&mut self) {
        let _ = Command::new("fusermount3").arg("-u").arg(&self.mnt).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mounted(point: &Path) -> bool {
    let point = std::fs::canonicalize(point).unwrap_or_else(|_| point.to_path_buf());
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|p| Path::new(p) == point))
}

fn main() {
    let work = tempfile::tempdir().expect("temp");
    let bare = work.path().join("bare");
    let (backing, mnt) = (work.path().join("backing"), work.path().join("mnt"));
    for d in [&bare, &backing, &mnt] {
        std::fs::create_dir(d).expect("mkdir");
    }
    let mounted = match Mounted::mount(&MountOptions {
        backing: backing.clone(),
        mountpoint: mnt.clone(),
        triggers: Vec::new(),
        cut_after_changes: None,
        keep: Keep::Nothing,
        seed: 0,
        block_size: BlockSize::DEFAULT,
        control: Some(work.path().join("control.sock")),
        write_back: true,
    }) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("no FUSE here ({e}); nothing measured");
            return;
        }
    };
    let lazy = std::env::var_os("FAULTLINE_LAZYFS").and_then(|b| LazyFs::mount(Path::new(&b), work.path()));
    let mut targets: Vec<(&str, PathBuf)> = vec![
        ("bare", bare.clone()),
        ("faultline", mounted.mountpoint().to_path_buf()),
    ];
    if let Some((_, dir)) = &lazy {
        targets.push(("lazyfs", dir.clone()));
    }
    let sqlite = Command::new("sqlite3").arg("--version").output().is_ok();
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    type Workload = fn(&Path);
    let workloads: Vec<(&str, Workload, Option<u64>)> = vec![
        ("buffered-writes", buffered_writes, Some(SEQUENTIAL as u64)),
        ("fsync", fsyncs, None),
        ("metadata", metadata, None),
        ("sqlite3-inserts", sqlite_inserts, None),
    ];
    for (name, workload, bytes) in &workloads {
        if *name == "sqlite3-inserts" && !sqlite {
            eprintln!("no sqlite3; {name} left out");
            continue;
        }
        let mut group = c.benchmark_group(format!("live/{name}"));
        if let Some(b) = bytes {
            group.throughput(Throughput::Bytes(*b));
        }
        for (target, dir) in &targets {
            group.bench_function(*target, |b| b.iter(|| workload(dir)));
        }
        group.finish();
    }
    c.final_summary();
    drop(lazy);
    drop(mounted);
    // The ratios, from the estimates criterion just wrote.
    let root = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("criterion");
    for (name, _, _) in &workloads {
        let mean = |target: &str| -> Option<f64> {
            let text = std::fs::read_to_string(root.join(format!("live_{name}/{target}/new/estimates.json")))
                .ok()?;
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            // The slope is what criterion prints as the time; the mean where it has none.
            v["slope"]["point_estimate"]
                .as_f64()
                .or_else(|| v["mean"]["point_estimate"].as_f64())
        };
        let Some(bare) = mean("bare") else { continue };
        for target in ["faultline", "lazyfs"] {
            if let Some(t) = mean(target) {
                println!(
                    "live/{name}: {target} runs at {:.2} of the bare file system's throughput ({:.0} µs vs {:.0} µs an iteration)",
                    bare / t,
                    t / 1e3,
                    bare / 1e3
                );
            }
        }
    }
}
