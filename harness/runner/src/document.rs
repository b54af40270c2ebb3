//! The documents writers write in process runs, and how a read is classified.
//!
//! Writer `w`'s `n`-th document is `{"writer":w,"seq":n,"pad":"..."}` plus a newline, padded
//! to exactly the scenario's size, so any reader can rebuild the complete version from its
//! header and tell a complete read from a torn one without talking to the writer.

use faultline_core::FailureKind;

/// Which version a complete document is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// The writer that wrote it (0 is the initial version's).
    pub writer: u32,
    /// Its sequence number within that writer (0 for the initial version).
    pub seq: u64,
}

/// The complete document of `version`, exactly `size` bytes (at least 64).
pub fn document(version: Version, size: usize) -> Vec<u8> {
    let mut doc = format!(
        "{{\"writer\":{},\"seq\":{},\"pad\":\"",
        version.writer, version.seq
    )
    .into_bytes();
    let tail = b"\"}\n";
    // Vary the padding with the version so two versions differ everywhere, not only in the
    // header: a reader that sees one version's header over another's body is caught.
    let fill = b'a' + ((version.writer as u64 * 7 + version.seq) % 26) as u8;
    doc.reserve_exact(size.saturating_sub(doc.len()));
    doc.resize(doc.len().max(size.saturating_sub(tail.len())), fill);
    doc.extend_from_slice(tail);
    doc
}

/// What a read of the file showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    /// A complete version.
    Complete(Version),
    /// Not a complete version.
    Bad {
        /// `TornRead` or `ParseError`.
        kind: FailureKind,
        /// What was seen.
        detail: String,
    },
}

/// Classifies `bytes` read from a file whose versions are `size` bytes.
pub fn classify(bytes: &[u8], size: usize) -> Read {
    if bytes.is_empty() {
        return Read::Bad {
            kind: FailureKind::TornRead,
            detail: "read an empty file".into(),
        };
    }
    let Some(version) = header(bytes) else {
        // Shorter than a header: cut off inside it.
        if bytes.len() < 40 && b"{\"writer\":".starts_with(&bytes[..bytes.len().min(10)]) {
            return Read::Bad {
                kind: FailureKind::TornRead,
                detail: format!("read {} bytes, cut inside the header", bytes.len()),
            };
        }
        return Read::Bad {
            kind: FailureKind::ParseError,
            detail: format!(
                "read {} bytes that do not parse: {:?}",
                bytes.len(),
                String::from_utf8_lossy(&bytes[..bytes.len().min(24)])
            ),
        };
    };
    let expected = document(version, size);
    if bytes == expected {
        return Read::Complete(version);
    }
    let detail = if expected.starts_with(bytes) {
        format!(
            "read {} of {} bytes of writer {} seq {}",
            bytes.len(),
            expected.len(),
            version.writer,
            version.seq
        )
    } else {
        let at = bytes
            .iter()
            .zip(&expected)
            .position(|(a, b)| a != b)
            .unwrap_or(bytes.len().min(expected.len()));
        format!(
            "read {} bytes: writer {} seq {}'s header over other bytes from offset {at}; {}",
            bytes.len(),
            version.writer,
            version.seq,
            byte_diff(bytes, &expected, at)
        )
    };
    Read::Bad {
        kind: FailureKind::TornRead,
        detail,
    }
}

/// The range where `read` differs from `expected` (from `at`, the first difference, to the
/// last difference they share), with the first 12 bytes of it on each side in hex and ASCII.
pub fn byte_diff(read: &[u8], expected: &[u8], at: usize) -> String {
    let common = read.len().min(expected.len());
    let last = (at..common)
        .rev()
        .find(|&i| read[i] != expected[i])
        .map_or(at, |i| i + 1);
    let show = |b: &[u8]| {
        let b = &b[at.min(b.len())..b.len().min(at + 12)];
        let hex: Vec<String> = b.iter().map(|c| format!("{c:02x}")).collect();
        let ascii: String = b
            .iter()
            .map(|&c| {
                if c.is_ascii_graphic() || c == b' ' {
                    c as char
                } else {
                    '.'
                }
            })
            .collect();
        format!("{} |{ascii}|", hex.join(" "))
    };
    format!(
        "bytes {at}..{last} differ from that version (read {}, which is {} bytes long); at {at} read {} where it has {}",
        read.len(),
        expected.len(),
        show(read),
        show(expected)
    )
}

fn header(bytes: &[u8]) -> Option<Version> {
    let text = std::str::from_utf8(&bytes[..bytes.len().min(64)])
        .ok()
        .or_else(|| {
            // A torn read can end inside a multi-byte character; the header is ASCII anyway.
            std::str::from_utf8(
                &bytes[..bytes
                    .iter()
                    .position(|b| !b.is_ascii())
                    .unwrap_or(bytes.len())
                    .min(64)],
            )
            .ok()
        })?;
    let rest = text.strip_prefix("{\"writer\":")?;
    let (writer, rest) = rest.split_once(",\"seq\":")?;
    let (seq, _) = rest.split_once(',')?;
    Some(Version {
        writer: writer.parse().ok()?,
        seq: seq.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_torn_and_garbage_reads_are_told_apart() {
        let v = Version { writer: 1, seq: 7 };
        let doc = document(v, 300);
        assert_eq!(doc.len(), 300);
        assert_eq!(classify(&doc, 300), Read::Complete(v));
        assert!(matches!(
            classify(&doc[..150], 300),
            Read::Bad {
                kind: FailureKind::TornRead,
                ..
            }
        ));
        assert!(matches!(
            classify(b"", 300),
            Read::Bad {
                kind: FailureKind::TornRead,
                ..
            }
        ));
        assert!(matches!(
            classify(&doc[..5], 300),
            Read::Bad {
                kind: FailureKind::TornRead,
                ..
            }
        ));
        let mut mixed = document(Version { writer: 1, seq: 8 }, 300);
        mixed[..100].copy_from_slice(&doc[..100]);
        assert!(matches!(
            classify(&mixed, 300),
            Read::Bad {
                kind: FailureKind::TornRead,
                ..
            }
        ));
        assert!(matches!(
            classify(b"not json at all, clearly not a document", 300),
            Read::Bad {
                kind: FailureKind::ParseError,
                ..
            }
        ));
    }
}
