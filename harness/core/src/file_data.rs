//! A file's bytes as a length and the extents written within it; everything else is a hole
//! and reads as zeros.
//!
//! Memory follows what was written, not the file's length: `ftruncate` to 4 GiB costs nothing,
//! and a crash state of a sparse file is written back with its holes as holes. A file written
//! from its start, as nearly every file is, is one extent, so reading it whole borrows.

use std::borrow::Cow;

use xxhash_rust::xxh3::Xxh3;

/// The largest length a simulated file may have: 1 TiB. Lengths are only numbers until bytes
/// are written, so this bounds what a checker may be asked to read, not memory.
pub const MAX_FILE_LEN: u64 = 1 << 40;

/// The unit [`FileData::hash_into`] hashes by.
pub const HASH_PAGE: usize = 4096;

/// A file's contents: a length and the extents written, sorted, apart from one another (two
/// extents never touch) and within the length.
#[derive(Clone, Debug, Default)]
pub struct FileData {
    len: u64,
    extents: Vec<(u64, Vec<u8>)>,
}

/// A stretch of a file, in order from its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Written bytes.
    Bytes(&'a [u8]),
    /// A hole of this many zero bytes.
    Hole(u64),
}

impl FileData {
    /// An empty file.
    pub fn new() -> Self {
        FileData::default()
    }

    /// The file's length in bytes, holes included.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes held in memory: the written extents.
    pub fn allocated(&self) -> u64 {
        self.extents.iter().map(|(_, b)| b.len() as u64).sum()
    }

    /// Whether the file has holes: some range never written.
    pub fn is_sparse(&self) -> bool {
        match self.extents.as_slice() {
            [] => self.len > 0,
            [(0, bytes)] => bytes.len() as u64 != self.len,
            _ => true,
        }
    }

    /// The written extents as (offset, bytes), in order.
    pub fn extents(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.extents.iter().map(|(at, b)| (*at, b.as_slice()))
    }

    /// The file from its start as written bytes and holes, in order.
    pub fn pieces(&self) -> impl Iterator<Item = Piece<'_>> {
        let mut at = 0;
        let mut out = Vec::with_capacity(self.extents.len() * 2 + 1);
        for (start, bytes) in &self.extents {
            if *start > at {
                out.push(Piece::Hole(start - at));
            }
            out.push(Piece::Bytes(bytes.as_slice()));
            at = start + bytes.len() as u64;
        }
        if self.len > at {
            out.push(Piece::Hole(self.len - at));
        }
        out.into_iter()
    }

    /// The whole file, borrowed when it is one extent from its start. Allocates the file's
    /// length otherwise: for files a caller means to read whole.
    pub fn bytes(&self) -> Cow<'_, [u8]> {
        match self.extents.as_slice() {
            [] if self.len == 0 => Cow::Borrowed(&[]),
            [(0, bytes)] if bytes.len() as u64 == self.len => Cow::Borrowed(bytes),
            _ => {
                let mut out = vec![0; usize::try_from(self.len).expect("a file read whole fits in memory")];
                for (at, bytes) in &self.extents {
                    let at = *at as usize;
                    out[at..at + bytes.len()].copy_from_slice(bytes);
                }
                Cow::Owned(out)
            }
        }
    }

    /// The whole file as a vector, holes as zeros.
    pub fn to_vec(&self) -> Vec<u8> {
        self.bytes().into_owned()
    }

    /// Copies the bytes at `offset` into `buf`, holes as zeros; returns how many there were
    /// (fewer than `buf.len()` at the end of the file).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        if offset >= self.len {
            return 0;
        }
        let n = (self.len - offset).min(buf.len() as u64) as usize;
        let end = offset + n as u64;
        buf[..n].fill(0);
        for (at, bytes) in &self.extents {
            let ext_end = at + bytes.len() as u64;
            if ext_end <= offset {
                continue;
            }
            if *at >= end {
                break;
            }
            let from = offset.max(*at);
            let to = end.min(ext_end);
            buf[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&bytes[(from - at) as usize..(to - at) as usize]);
        }
        n
    }

    /// Writes `bytes` at `offset`, growing the file if they end past it; a gap before them
    /// becomes a hole. The caller keeps `offset + bytes.len()` within [`MAX_FILE_LEN`].
    pub fn write_at(&mut self, offset: u64, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let end = offset + bytes.len() as u64;
        self.len = self.len.max(end);
        // The extents the write overlaps or touches: [first, last).
        let first = self
            .extents
            .partition_point(|(at, b)| at + (b.len() as u64) < offset);
        let last = self.extents.partition_point(|(at, _)| *at <= end);
        if first == last {
            self.extents.insert(first, (offset, bytes.to_vec()));
            return;
        }
        // Appending to, or overwriting inside, one extent: in place, the common case.
        if last - first == 1 && self.extents[first].0 <= offset {
            let (at, ext) = &mut self.extents[first];
            let from = (offset - *at) as usize;
            if ext.len() < from + bytes.len() {
                ext.resize(from + bytes.len(), 0);
            }
            ext[from..from + bytes.len()].copy_from_slice(bytes);
            return;
        }
        let start = offset.min(self.extents[first].0);
        let (last_at, last_bytes) = &self.extents[last - 1];
        let stop = end.max(last_at + last_bytes.len() as u64);
        let mut merged = vec![0; (stop - start) as usize];
        for (at, b) in self.extents.drain(first..last) {
            let from = (at - start) as usize;
            merged[from..from + b.len()].copy_from_slice(&b);
        }
        let from = (offset - start) as usize;
        merged[from..from + bytes.len()].copy_from_slice(bytes);
        self.extents.insert(first, (start, merged));
    }

    /// Sets the length: cuts what lies beyond a shorter length, leaves a hole up to a longer
    /// one.
    pub fn set_len(&mut self, len: u64) {
        if len < self.len {
            let keep = self.extents.partition_point(|(at, _)| *at < len);
            self.extents.truncate(keep);
            if let Some((at, bytes)) = self.extents.last_mut() {
                let room = (len - *at) as usize;
                bytes.truncate(room);
            }
        }
        self.len = len;
    }

    /// Feeds the file's length and contents to `hasher`: the length, then every page of
    /// [`HASH_PAGE`] bytes that holds a byte other than zero, with its number. Files that read
    /// the same hash the same however they were written (a hole and written zeros alike), and a
    /// hole costs nothing.
    pub fn hash_into(&self, hasher: &mut Xxh3) {
        const PAGE: u64 = HASH_PAGE as u64;
        // A page is hashed up to its last byte other than zero, so a short file hashes only
        // its bytes.
        fn flush(hasher: &mut Xxh3, page: u64, bytes: &[u8]) {
            if let Some(last) = bytes.iter().rposition(|&b| b != 0) {
                hasher.update(&page.to_le_bytes());
                hasher.update(&(last as u64 + 1).to_le_bytes());
                hasher.update(&bytes[..=last]);
            }
        }
        hasher.update(&self.len.to_le_bytes());
        let mut buf = [0u8; HASH_PAGE];
        // The page in `buf`, and how far into it bytes were put (zeros beyond).
        let mut current: Option<(u64, usize)> = None;
        for (at, bytes) in &self.extents {
            let end = at + bytes.len() as u64;
            let mut pos = *at;
            while pos < end {
                let page = pos / PAGE;
                let page_end = ((page + 1) * PAGE).min(end);
                let slice = &bytes[(pos - at) as usize..(page_end - at) as usize];
                let from = (pos % PAGE) as usize;
                match current {
                    Some((p, ref mut used)) if p == page => {
                        buf[from..from + slice.len()].copy_from_slice(slice);
                        *used = from + slice.len();
                    }
                    _ => {
                        if let Some((p, used)) = current.take() {
                            flush(hasher, p, &buf[..used]);
                            buf[..used].fill(0);
                        }
                        if from == 0 {
                            // A page that starts inside an extent is hashed where it lies; a
                            // later extent may still reach into it only when it is partial.
                            if slice.len() == HASH_PAGE || page_end == end && !self.shares_page(page_end) {
                                flush(hasher, page, slice);
                                pos = page_end;
                                continue;
                            }
                        }
                        buf[from..from + slice.len()].copy_from_slice(slice);
                        current = Some((page, from + slice.len()));
                    }
                }
                pos = page_end;
            }
        }
        if let Some((p, used)) = current {
            flush(hasher, p, &buf[..used]);
        }
    }

    /// Whether an extent starts after `end` in the same page: for hashing.
    fn shares_page(&self, end: u64) -> bool {
        let page = end / HASH_PAGE as u64;
        let next = self.extents.partition_point(|(at, _)| *at < end);
        self.extents
            .get(next)
            .is_some_and(|(at, _)| at / HASH_PAGE as u64 == page)
    }
}

impl From<Vec<u8>> for FileData {
    fn from(bytes: Vec<u8>) -> Self {
        let len = bytes.len() as u64;
        let extents = if bytes.is_empty() {
            Vec::new()
        } else {
            vec![(0, bytes)]
        };
        FileData { len, extents }
    }
}

impl From<&[u8]> for FileData {
    fn from(bytes: &[u8]) -> Self {
        FileData::from(bytes.to_vec())
    }
}

/// Files are equal when they read the same, holes or not.
impl PartialEq for FileData {
    fn eq(&self, other: &Self) -> bool {
        if self.len != other.len {
            return false;
        }
        if self.extents == other.extents {
            return true;
        }
        let mut a = Cursor::new(self);
        let mut b = Cursor::new(other);
        loop {
            match (a.peek(), b.peek()) {
                (None, None) => return true,
                (Some(x), Some(y)) => {
                    let n = x.len().min(y.len());
                    if !x.prefix_equals(&y, n) {
                        return false;
                    }
                    a.advance(n);
                    b.advance(n);
                }
                _ => return false,
            }
        }
    }
}

impl Eq for FileData {}

impl PartialEq<[u8]> for FileData {
    fn eq(&self, other: &[u8]) -> bool {
        self.len == other.len() as u64 && *self.bytes() == *other
    }
}

/// Walks a file piece by piece, for comparing two files without reading holes.
struct Cursor<'a> {
    pieces: Vec<Piece<'a>>,
    next: usize,
    used: u64,
}

impl<'a> Cursor<'a> {
    fn new(file: &'a FileData) -> Self {
        Cursor {
            pieces: file.pieces().collect(),
            next: 0,
            used: 0,
        }
    }

    fn peek(&self) -> Option<Piece<'a>> {
        match *self.pieces.get(self.next)? {
            Piece::Bytes(b) => Some(Piece::Bytes(&b[self.used as usize..])),
            Piece::Hole(n) => Some(Piece::Hole(n - self.used)),
        }
    }

    fn advance(&mut self, n: u64) {
        self.used += n;
        let whole = match self.pieces[self.next] {
            Piece::Bytes(b) => b.len() as u64,
            Piece::Hole(h) => h,
        };
        if self.used == whole {
            self.next += 1;
            self.used = 0;
        }
    }
}

impl Piece<'_> {
    fn len(&self) -> u64 {
        match self {
            Piece::Bytes(b) => b.len() as u64,
            Piece::Hole(n) => *n,
        }
    }

    fn prefix_equals(&self, other: &Piece<'_>, n: u64) -> bool {
        let n_usize = n as usize;
        match (self, other) {
            (Piece::Hole(_), Piece::Hole(_)) => true,
            (Piece::Bytes(a), Piece::Bytes(b)) => a[..n_usize] == b[..n_usize],
            (Piece::Bytes(a), Piece::Hole(_)) | (Piece::Hole(_), Piece::Bytes(a)) => {
                a[..n_usize].iter().all(|&x| x == 0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_long_truncate_allocates_nothing_and_reads_as_zeros() {
        let mut f = FileData::from(b"abc".to_vec());
        f.set_len(4 << 30);
        assert_eq!(f.len(), 4 << 30);
        assert_eq!(f.allocated(), 3);
        let mut buf = [9u8; 5];
        assert_eq!(f.read_at(1, &mut buf), 5);
        assert_eq!(&buf, b"bc\0\0\0");
        f.write_at(3 << 30, b"xy");
        assert_eq!(f.allocated(), 5);
        assert_eq!(f.read_at((3 << 30) - 1, &mut buf), 5);
        assert_eq!(&buf, b"\0xy\0\0");
        assert!(f.is_sparse());
    }

    #[test]
    fn a_hole_equals_written_zeros() {
        let mut holes = FileData::new();
        holes.set_len(8);
        holes.write_at(2, b"a");
        assert_eq!(holes, FileData::from(b"\0\0a\0\0\0\0\0".to_vec()));
        assert_ne!(holes, FileData::from(b"\0\0b\0\0\0\0\0".to_vec()));
        assert!(holes == *b"\0\0a\0\0\0\0\0".as_slice());
    }

    fn digest(file: &FileData) -> u128 {
        let mut h = Xxh3::new();
        file.hash_into(&mut h);
        h.digest128()
    }

    #[test]
    fn files_that_read_the_same_hash_the_same() {
        let mut a = FileData::new();
        a.set_len(20_000);
        a.write_at(5000, b"x");
        a.write_at(9000, &[0; 3000]);
        let mut dense = vec![0u8; 20_000];
        dense[5000] = b'x';
        assert_eq!(digest(&a), digest(&FileData::from(dense.clone())));
        dense[12_000] = 1;
        assert_ne!(digest(&a), digest(&FileData::from(dense)));
        let mut shorter = a.clone();
        shorter.set_len(19_999);
        assert_ne!(digest(&a), digest(&shorter));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Write(u16, Vec<u8>),
        SetLen(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u16..600, proptest::collection::vec(any::<u8>(), 0..80)).prop_map(|(o, b)| Op::Write(o, b)),
            // Across pages, and runs of zeros written over bytes.
            (0u16..12_000, proptest::collection::vec(any::<u8>(), 0..5000))
                .prop_map(|(o, b)| Op::Write(o, b)),
            (0u16..12_000, 1usize..5000).prop_map(|(o, n)| Op::Write(o, vec![0; n])),
            (0u16..14_000).prop_map(Op::SetLen),
        ]
    }

    proptest! {
        /// Any sequence of writes and truncates reads exactly as a plain vector treated the
        /// same way, and the extents stay sorted, apart and within the length.
        #[test]
        fn extents_read_as_a_dense_vector(ops in proptest::collection::vec(op(), 0..40)) {
            let mut sparse = FileData::new();
            let mut dense: Vec<u8> = Vec::new();
            for op in ops {
                match op {
                    Op::Write(at, bytes) => {
                        let at = usize::from(at);
                        sparse.write_at(at as u64, &bytes);
                        if !bytes.is_empty() {
                            if dense.len() < at + bytes.len() {
                                dense.resize(at + bytes.len(), 0);
                            }
                            dense[at..at + bytes.len()].copy_from_slice(&bytes);
                        }
                    }
                    Op::SetLen(len) => {
                        sparse.set_len(u64::from(len));
                        dense.resize(usize::from(len), 0);
                    }
                }
                prop_assert_eq!(sparse.len(), dense.len() as u64);
                prop_assert_eq!(&*sparse.bytes(), dense.as_slice());
                let mut end = 0;
                for (at, bytes) in sparse.extents() {
                    prop_assert!(at > end || (at == 0 && end == 0), "extents touch or overlap");
                    prop_assert!(!bytes.is_empty());
                    end = at + bytes.len() as u64;
                }
                prop_assert!(end <= sparse.len());
                prop_assert_eq!(&sparse, &FileData::from(dense.clone()));
                prop_assert_eq!(digest(&sparse), digest(&FileData::from(dense.clone())));
                let mut buf = vec![0u8; 50];
                let n = sparse.read_at(100, &mut buf);
                let want = dense.get(100..).map_or(&[][..], |d| &d[..d.len().min(50)]);
                prop_assert_eq!(&buf[..n], want);
            }
        }
    }
}
