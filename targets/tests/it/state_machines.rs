//! State-machine property tests of the store and lock references against models, beside the
//! queue's (queue.rs): random operation sequences, checked after every step.

use std::path::Path;
use std::time::Duration;

use faultline_core::{Fs, SimFs, SimOptions};
use faultline_targets::lock::{self, Guard, LockError, Mode};
use faultline_targets::store;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum StoreOp {
    /// Make a new generation.
    Mutate,
    /// Save a snapshot.
    Save,
    /// Power loss (pending changes kept by these bits), then recovery and a new process.
    PowerLoss(u64),
}

fn store_op() -> impl Strategy<Value = StoreOp> {
    prop_oneof![
        4 => Just(StoreOp::Mutate),
        3 => Just(StoreOp::Save),
        1 => any::<u64>().prop_map(StoreOp::PowerLoss),
    ]
}

fn render(g: u64) -> Vec<u8> {
    format!(
        "{{\"generation\": {g}, \"pad\": \"{}\"}}",
        "x".repeat((g as usize * 37) % 5000)
    )
    .into_bytes()
}

/// The generation a file names, if it is one whole rendering.
fn generation_in(bytes: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let g: u64 = text
        .strip_prefix("{\"generation\": ")?
        .split(',')
        .next()?
        .parse()
        .ok()?;
    (render(g) == bytes).then_some(g)
}

fn power_loss(fs: &SimFs, seed: u64, pid: u32) -> SimFs {
    let durability = fs.durability().expect("recording");
    let mut bits = seed;
    let masks: Vec<u64> = durability
        .units()
        .iter()
        .map(|u| {
            let mask = if *u >= 64 { bits } else { bits & ((1u64 << u) - 1) };
            bits = bits.rotate_left(7) ^ 0x9e37_79b9_7f4a_7c15;
            mask
        })
        .collect();
    SimFs::from_image(
        durability.materialize(&masks),
        SimOptions {
            pid,
            ..SimOptions::default()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The reference store: a save writes the newest generation; the file is always one whole
    /// rendering, never older than the last save that returned, and (the store being a new
    /// process after a power loss) recovery leaves no temp behind.
    #[test]
    fn the_store_saves_the_newest_generation_and_keeps_it_across_power_loss(
        ops in prop::collection::vec(store_op(), 1..40)
    ) {
        let path = Path::new("/state.json");
        let variant = store::Variant::Generational;
        let mut fs = SimFs::new(SimOptions::default());
        let mut pid = 1000;
        let mut s = variant.store();
        // The model: generations made in this process (on top of what was on disk when it
        // started), and the last generation a save acknowledged.
        let mut on_disk_at_start: Option<u64> = None;
        let mut acknowledged: Option<u64> = None;
        for op in ops {
            match op {
                StoreOp::Mutate => {
                    let before = s.generation();
                    prop_assert_eq!(s.mutate(), before + 1);
                }
                StoreOp::Save => {
                    s.save(&fs, path, &render).expect("a save with nothing injected");
                    let g = s.generation();
                    let on_disk = faultline_core::fs::read_file(&fs, path).ok().and_then(|b| generation_in(&b));
                    if g > 0 {
                        prop_assert_eq!(on_disk, Some(g), "a returned save holds the newest generation");
                        acknowledged = Some(g);
                    }
                }
                StoreOp::PowerLoss(seed) => {
                    pid += 1;
                    fs = power_loss(&fs, seed, pid);
                    variant.recover(&fs, path).expect("recovery");
                    let bytes = faultline_core::fs::read_file(&fs, path).ok();
                    let on_disk = bytes.as_deref().map(generation_in);
                    match (acknowledged.or(on_disk_at_start), on_disk) {
                        (None, None) => {}
                        (Some(want), Some(Some(got))) => prop_assert_eq!(got, want, "a power loss lost or rewound a saved generation"),
                        (want, got) => prop_assert!(false, "after a power loss the file holds {:?}, the last save {:?}", got, want),
                    }
                    let names = fs.read_dir(Path::new("/")).expect("ls");
                    prop_assert!(names.iter().all(|n| n == "state.json"), "left behind: {:?}", names);
                    // A new process: generations count on from what is on disk.
                    on_disk_at_start = on_disk.flatten();
                    acknowledged = None;
                    s = variant.store();
                    for _ in 0..on_disk_at_start.unwrap_or(0) {
                        s.mutate();
                    }
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
enum LockOp {
    /// Handle `h` tries to take the lock in this mode, without waiting.
    Try(usize, Mode),
    /// Handle `h` releases what it holds.
    Release(usize),
}

fn lock_op() -> impl Strategy<Value = LockOp> {
    prop_oneof![
        3 => (0..3usize, prop_oneof![Just(Mode::Shared), Just(Mode::Exclusive)]).prop_map(|(h, m)| LockOp::Try(h, m)),
        2 => (0..3usize).prop_map(LockOp::Release),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// The reader/writer references (flock, OFD fcntl), three handles on one file (three open
    /// file descriptions, as three processes have): a try succeeds exactly when the model
    /// says the modes are compatible (any number of shared holders, or one exclusive), and
    /// fails with a timeout otherwise.
    #[test]
    fn the_lock_grants_exactly_the_compatible_requests(
        ops in prop::collection::vec(lock_op(), 1..40),
        ofd in any::<bool>(),
    ) {
        let variant = if ofd { lock::Variant::Ofd } else { lock::Variant::Flock };
        let dir = tempfile::tempdir().expect("temp");
        let path = dir.path().join("state.lock");
        let handles: Vec<lock::LockFile> = (0..3)
            .map(|_| variant.open(&path).expect("open"))
            .collect();
        let mut held: Vec<Option<Guard<'_>>> = (0..3).map(|_| None).collect();
        for op in ops {
            match op {
                LockOp::Try(h, mode) => {
                    if held[h].is_some() {
                        continue;
                    }
                    let others: Vec<Mode> = held
                        .iter()
                        .enumerate()
                        .filter(|(i, g)| *i != h && g.is_some())
                        .map(|(_, g)| g.as_ref().expect("held").mode())
                        .collect();
                    let compatible = match mode {
                        Mode::Shared => others.iter().all(|m| *m == Mode::Shared),
                        Mode::Exclusive => others.is_empty(),
                    };
                    match handles[h].lock(mode, Some(Duration::ZERO)) {
                        Ok(guard) => {
                            prop_assert!(compatible, "handle {} got {:?} beside {:?}", h, mode, others);
                            prop_assert_eq!(guard.mode(), mode);
                            held[h] = Some(guard);
                        }
                        Err(LockError::Timeout { .. }) => {
                            prop_assert!(!compatible, "handle {} refused {:?} beside {:?}", h, mode, others);
                        }
                        Err(e) => prop_assert!(false, "unexpected error: {}", e),
                    }
                }
                LockOp::Release(h) => {
                    held[h] = None;
                }
            }
        }
    }
}
