//! The reference queue: order, at-least-once delivery, torn tails cut and never swallowing
//! the next record, corruption reported, segments rotated and deleted; and a state-machine
//! property test against a model, with power-loss crashes on SimFs.

use std::path::Path;

use faultline_core::{Errno, Fs, RealFs, SimFs, SimOptions};
use faultline_targets::queue::{Options, QueueError, SegmentedQueue, segment_name};
use proptest::prelude::*;

fn drain<F: Fs + ?Sized>(q: &mut SegmentedQueue<'_, F>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(d) = q.dequeue().expect("dequeue") {
        q.ack(d.id).expect("ack");
        out.push(d.payload);
    }
    out
}

#[test]
fn records_come_out_in_order_with_rising_ids() {
    let dir = tempfile::tempdir().expect("temp");
    let fs = RealFs::new();
    let mut q = SegmentedQueue::open(&fs, &dir.path().join("q"), Options::default()).expect("open");
    let ids: Vec<u64> = (0..5)
        .map(|i| q.enqueue(format!("item {i}").as_bytes()).expect("enqueue"))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let peeked = q.peek().expect("peek").expect("an item");
    assert_eq!(peeked.payload, b"item 0");
    let got = drain(&mut q);
    assert_eq!(
        got,
        (0..5)
            .map(|i| format!("item {i}").into_bytes())
            .collect::<Vec<_>>()
    );
    assert!(q.dequeue().expect("dequeue").is_none());
}

#[test]
fn a_delivery_not_acknowledged_is_delivered_again_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("q");
    let fs = RealFs::new();
    {
        let mut q = SegmentedQueue::open(&fs, &path, Options::default()).expect("open");
        q.enqueue(b"a").expect("enqueue");
        q.enqueue(b"b").expect("enqueue");
        let d = q.dequeue().expect("dequeue").expect("a");
        assert_eq!(d.payload, b"a");
        assert!(matches!(q.dequeue(), Err(QueueError::Pending(_))));
        // Dropped without ack: the consumer "died".
    }
    let mut q = SegmentedQueue::open(&fs, &path, Options::default()).expect("reopen");
    assert_eq!(drain(&mut q), vec![b"a".to_vec(), b"b".to_vec()]);
}

#[test]
fn a_torn_tail_is_cut_and_the_next_record_is_not_swallowed() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("q");
    let fs = RealFs::new();
    {
        let mut q = SegmentedQueue::open(&fs, &path, Options::default()).expect("open");
        q.enqueue(b"first").expect("enqueue");
    }
    // Half of a second record: a header claiming 100 bytes, and 10 of them.
    let segment = path.join(segment_name(0));
    let mut bytes = std::fs::read(&segment).expect("read");
    let good = bytes.len();
    bytes.extend_from_slice(&100u32.to_le_bytes());
    bytes.extend_from_slice(&[0xab; 4 + 8 + 10]);
    std::fs::write(&segment, &bytes).expect("tear");
    let mut q = SegmentedQueue::open(&fs, &path, Options::default()).expect("reopen repairs");
    assert_eq!(
        std::fs::metadata(&segment).expect("stat").len() as usize,
        good,
        "the torn tail is cut"
    );
    q.enqueue(b"third").expect("append after the repair");
    assert_eq!(drain(&mut q), vec![b"first".to_vec(), b"third".to_vec()]);
}

#[test]
fn corruption_in_the_middle_is_an_error_naming_segment_and_offset() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("q");
    let fs = RealFs::new();
    {
        let mut q = SegmentedQueue::open(&fs, &path, Options::default()).expect("open");
        for p in [b"one", b"two", b"six"] {
            q.enqueue(p).expect("enqueue");
        }
    }
    let segment = path.join(segment_name(0));
    let mut bytes = std::fs::read(&segment).expect("read");
    bytes[16] ^= 0xff; // the first payload byte of the first record
    std::fs::write(&segment, &bytes).expect("damage");
    let e = SegmentedQueue::open(&fs, &path, Options::default())
        .err()
        .expect("damage followed by valid records is not a torn tail");
    let text = e.to_string();
    assert!(
        text.contains(&segment_name(0)) && text.contains("offset 0"),
        "{text}"
    );
    assert_eq!(std::fs::read(&segment).expect("read"), bytes, "nothing was cut");
}

#[test]
fn segments_rotate_and_consumed_ones_are_deleted() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("q");
    let fs = RealFs::new();
    let options = Options {
        segment_bytes: 64,
        ..Options::default()
    };
    let mut q = SegmentedQueue::open(&fs, &path, options).expect("open");
    for i in 0..10u8 {
        q.enqueue(&[i; 20]).expect("enqueue");
    }
    let segments = || {
        std::fs::read_dir(&path)
            .expect("list")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("seg-"))
            .count()
    };
    assert!(segments() >= 5, "{} segments", segments());
    let got = drain(&mut q);
    assert_eq!(got.len(), 10);
    assert!(got.iter().enumerate().all(|(i, p)| p == &vec![i as u8; 20]));
    assert_eq!(segments(), 1, "only the segment being appended to remains");
}

/// One step of the state machine.
#[derive(Clone, Debug)]
enum Op {
    Enqueue(u8),
    Dequeue,
    Ack,
    /// Power loss: every pending change survives or not by this seed's bits; then reopen.
    PowerLoss(u64),
    /// The enqueue dies at this call: an unacknowledged, maybe-torn record; then power loss.
    TornEnqueue(u8, usize, u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u8>().prop_map(Op::Enqueue),
        3 => Just(Op::Dequeue),
        3 => Just(Op::Ack),
        1 => any::<u64>().prop_map(Op::PowerLoss),
        1 => (any::<u8>(), 0usize..12, any::<u64>()).prop_map(|(p, n, s)| Op::TornEnqueue(p, n, s)),
    ]
}

/// A crash state of `fs` chosen by `seed`'s bits.
fn crash(fs: &SimFs, seed: u64) -> SimFs {
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
    SimFs::from_image(durability.materialize(&masks), SimOptions::default())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
    #[test]
    fn the_queue_matches_its_model_across_power_loss(ops in prop::collection::vec(op(), 1..40)) {
        let dir = Path::new("/q");
        let options = Options { segment_bytes: 96, ..Options::default() };
        // Each crash boots a new file system; the old ones are leaked, as a test may.
        let mut fs: &'static SimFs = Box::leak(Box::new(SimFs::new(SimOptions::default())));
        // The model: records acknowledged and not yet consumed, each certain, or maybe there
        // (an enqueue that died), in queue order; and the delivery awaiting its ack.
        let mut model: Vec<(Vec<u8>, bool)> = Vec::new();
        let mut pending: Option<(u64, Vec<u8>)> = None;
        let mut q = Some(SegmentedQueue::open(fs, dir, options).expect("open"));
        // Every payload is distinct, so a delivery names the enqueue it came from.
        let mut seq = 0u32;
        let mut payload = |p: u8| {
            seq += 1;
            let mut bytes = vec![p; 5];
            bytes.extend_from_slice(&seq.to_le_bytes());
            bytes
        };
        for op in ops {
            match op {
                Op::Enqueue(p) => {
                    let bytes = payload(p);
                    q.as_mut().expect("open").enqueue(&bytes).expect("enqueue");
                    model.push((bytes, true));
                }
                Op::Dequeue => {
                    if pending.is_some() { continue; }
                    let got = q.as_mut().expect("open").dequeue().expect("dequeue");
                    // Maybe-records the queue does not hold are skipped over.
                    while let Some((_, false)) = model.first() {
                        if got.as_ref().is_some_and(|d| d.payload == model[0].0) { break; }
                        model.remove(0);
                    }
                    match (&got, model.first()) {
                        (None, None) => {}
                        (Some(d), Some((want, _))) => prop_assert_eq!(&d.payload, want),
                        (got, want) => prop_assert!(false, "delivered {:?}, model expects {:?}", got, want),
                    }
                    pending = got.map(|d| (d.id, d.payload));
                }
                Op::Ack => {
                    if let Some((id, _)) = pending.take() {
                        q.as_mut().expect("open").ack(id).expect("ack");
                        model.remove(0);
                    }
                }
                Op::PowerLoss(seed) | Op::TornEnqueue(_, _, seed) => {
                    if let Op::TornEnqueue(p, at, _) = op {
                        fs.fail_call(fs.calls() + at, Errno::IO);
                        let bytes = payload(p);
                        let result = q.as_mut().expect("open").enqueue(&bytes);
                        let made_it = result.is_ok();
                        model.push((bytes, made_it));
                        if !made_it {
                            // The record may or may not be there after the crash.
                            let last = model.len() - 1;
                            model[last].1 = false;
                        }
                    }
                    drop(q.take());
                    fs = Box::leak(Box::new(crash(fs, seed)));
                    pending = None;
                    q = Some(SegmentedQueue::open(fs, dir, options).expect("reopen after a crash"));
                }
            }
        }
        // Everything certain comes out, in order; maybe-records at most once, in place.
        let mut q = q.expect("open");
        if let Some((id, _)) = pending.take() {
            q.ack(id).expect("ack");
            model.remove(0);
        }
        let mut rest = Vec::new();
        while let Some(d) = q.dequeue().expect("dequeue") {
            q.ack(d.id).expect("ack");
            rest.push(d.payload);
        }
        let mut it = rest.iter().peekable();
        for (want, certain) in &model {
            if it.peek().is_some_and(|got| *got == want) {
                it.next();
            } else {
                prop_assert!(!certain, "lost {:?}; delivered {:?}", want, rest);
            }
        }
        prop_assert!(it.next().is_none(), "delivered more than was enqueued: {:?}", rest);
    }
}

#[test]
fn every_variant_is_a_working_queue_when_nothing_fails() {
    use faultline_targets::queue::Variant;
    for variant in Variant::ALL {
        let fs = SimFs::new(SimOptions::default());
        let dir = Path::new("/q");
        let options = Options {
            segment_bytes: 300,
            ..Options::default()
        };
        let mut q = variant.open(&fs, dir, options).expect("open");
        let items: Vec<Vec<u8>> = (0..7)
            .map(|i| format!("item {i} {}", "x".repeat(i * 20)).into_bytes())
            .collect();
        for item in &items[..4] {
            q.enqueue(item).expect("enqueue");
        }
        let mut got = Vec::new();
        for _ in 0..2 {
            let d = q.dequeue().expect("dequeue").expect("an item");
            q.ack(d.id).expect("ack");
            got.push(d.payload);
        }
        drop(q);
        let mut q = variant.open(&fs, dir, options).expect("reopen");
        for item in &items[4..] {
            q.enqueue(item).expect("enqueue");
        }
        while let Some(d) = q.dequeue().expect("dequeue") {
            q.ack(d.id).expect("ack");
            got.push(d.payload);
        }
        assert_eq!(got, items, "{variant:?} is not a FIFO queue");
    }
}

/// A torn last record, then an append, then a reader: the reference cuts the torn record
/// before appending; Q4 appends after it, and its reader's cut takes the new record too.
#[test]
fn after_a_torn_tail_the_reference_keeps_the_next_record_and_q4_swallows_it() {
    use faultline_targets::queue::Variant;
    let outcome = |variant: Variant| {
        let dir = tempfile::tempdir().expect("temp");
        let path = dir.path().join("q");
        let fs = RealFs::new();
        let mut q = variant.open(&fs, &path, Options::default()).expect("open");
        q.enqueue(b"kept").expect("enqueue");
        q.enqueue(b"torn by the crash").expect("enqueue");
        drop(q);
        let segment = path.join(segment_name(0));
        let len = std::fs::metadata(&segment).expect("stat").len();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&segment)
            .expect("open");
        file.set_len(len - 5).expect("tear");
        let mut q = variant.open(&fs, &path, Options::default()).expect("restart");
        q.enqueue(b"acknowledged after the restart").expect("enqueue");
        drop(q);
        let mut q = variant.open(&fs, &path, Options::default()).expect("reader");
        let mut got = Vec::new();
        while let Some(d) = q.dequeue().expect("dequeue") {
            q.ack(d.id).expect("ack");
            got.push(String::from_utf8(d.payload).expect("utf-8"));
        }
        got
    };
    assert_eq!(
        outcome(Variant::Segmented),
        vec!["kept", "acknowledged after the restart"]
    );
    assert_eq!(outcome(Variant::TornTailSwallow), vec!["kept"]);
}
