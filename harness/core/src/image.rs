//! An in-memory file-system image: inodes, file bytes, directory entries and modes.
//!
//! Both the live state of [`crate::SimFs`] and every crash state are images. File bytes and
//! directory tables sit behind `Arc`, so cloning an image to build a crash state copies only
//! what that state changes. An image has no handles, locks or processes: those die in a crash.

use std::collections::BTreeMap;
use std::path::{Component, Path};
use std::sync::Arc;

use xxhash_rust::xxh3::Xxh3;

use crate::file_data::FileData;
use crate::fs::{Errno, FileKind};

/// An inode number in an image. The root directory is [`ROOT_INO`].
pub type Ino = u64;

/// The root directory's inode number.
pub const ROOT_INO: Ino = 1;

/// A file or a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A regular file.
    File {
        /// The file's bytes, holes as holes.
        data: Arc<FileData>,
        /// Permission bits.
        mode: u32,
    },
    /// A directory.
    Dir {
        /// Name to inode, sorted by name.
        entries: Arc<BTreeMap<Arc<str>, Ino>>,
        /// Permission bits.
        mode: u32,
    },
}

impl Node {
    /// An empty file.
    pub fn empty_file(mode: u32) -> Self {
        Node::File {
            data: Arc::new(FileData::new()),
            mode,
        }
    }

    /// An empty directory.
    pub fn empty_dir(mode: u32) -> Self {
        Node::Dir {
            entries: Arc::new(BTreeMap::new()),
            mode,
        }
    }

    /// File or directory.
    pub fn kind(&self) -> FileKind {
        match self {
            Node::File { .. } => FileKind::File,
            Node::Dir { .. } => FileKind::Dir,
        }
    }

    /// Permission bits.
    pub fn mode(&self) -> u32 {
        match self {
            Node::File { mode, .. } | Node::Dir { mode, .. } => *mode,
        }
    }
}

/// A whole file system: inodes by number. Unreachable inodes (unlinked files, files whose
/// creating entry was lost in a crash) stay in the table but are invisible through paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsImage {
    nodes: Vec<Option<Node>>,
}

impl Default for FsImage {
    fn default() -> Self {
        FsImage::new()
    }
}

impl FsImage {
    /// An image holding only the root directory (mode 0755).
    pub fn new() -> Self {
        FsImage {
            nodes: vec![None, Some(Node::empty_dir(0o755))],
        }
    }

    /// The inode with this number.
    pub fn node(&self, ino: Ino) -> Option<&Node> {
        self.nodes
            .get(usize::try_from(ino).ok()?)
            .and_then(Option::as_ref)
    }

    /// The inode with this number, to change it.
    pub fn node_mut(&mut self, ino: Ino) -> Option<&mut Node> {
        self.nodes
            .get_mut(usize::try_from(ino).ok()?)
            .and_then(Option::as_mut)
    }

    /// Stores `node` as inode `ino`, growing the table as needed.
    pub fn insert(&mut self, ino: Ino, node: Node) {
        let index = usize::try_from(ino).expect("inode numbers are allocated densely from 1");
        if self.nodes.len() <= index {
            self.nodes.resize(index + 1, None);
        }
        self.nodes[index] = Some(node);
    }

    /// One past the largest inode number in use: the next free number.
    pub fn next_ino(&self) -> Ino {
        self.nodes.len() as Ino
    }

    /// The inode a directory entry names.
    pub fn entry(&self, dir: Ino, name: &str) -> Option<Ino> {
        match self.node(dir)? {
            Node::Dir { entries, .. } => entries.get(name).copied(),
            Node::File { .. } => None,
        }
    }

    /// The entries of a directory, sorted by name.
    pub fn entries(&self, dir: Ino) -> Option<&BTreeMap<Arc<str>, Ino>> {
        match self.node(dir)? {
            Node::Dir { entries, .. } => Some(entries),
            Node::File { .. } => None,
        }
    }

    /// Names `ino` as `name` in `dir`, replacing what the name held. Does nothing if `dir` is
    /// not a directory.
    pub fn set_entry(&mut self, dir: Ino, name: &Arc<str>, ino: Ino) {
        if let Some(Node::Dir { entries, .. }) = self.node_mut(dir) {
            Arc::make_mut(entries).insert(Arc::clone(name), ino);
        }
    }

    /// Removes `name` from `dir` if it still names `ino`. A crash state may apply an old unlink
    /// after a newer entry took the name; the check keeps it from removing the newer file.
    pub fn remove_entry(&mut self, dir: Ino, name: &str, ino: Ino) {
        if let Some(Node::Dir { entries, .. }) = self.node_mut(dir)
            && entries.get(name) == Some(&ino)
        {
            Arc::make_mut(entries).remove(name);
        }
    }

    /// Follows `path` from the root. Relative paths start at the root too.
    pub fn lookup(&self, path: &Path) -> Result<Ino, Errno> {
        let mut stack = vec![ROOT_INO];
        for component in path.components() {
            match component {
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
                Component::ParentDir => {
                    if stack.len() > 1 {
                        stack.pop();
                    }
                }
                Component::Normal(name) => {
                    let here = *stack.last().expect("the stack always holds the root");
                    let name = name.to_str().ok_or(Errno::INVAL)?;
                    match self.node(here) {
                        Some(Node::Dir { entries, .. }) => {
                            stack.push(*entries.get(name).ok_or(Errno::NOENT)?)
                        }
                        _ => return Err(Errno::NOTDIR),
                    }
                }
            }
        }
        Ok(*stack.last().expect("the stack always holds the root"))
    }

    /// Splits `path` into its parent directory's inode and its last name.
    pub fn lookup_parent<'p>(&self, path: &'p Path) -> Result<(Ino, &'p str), Errno> {
        let name = path.file_name().and_then(|n| n.to_str()).ok_or(Errno::INVAL)?;
        let parent = self.lookup(crate::fs::parent_dir(path))?;
        match self.node(parent) {
            Some(Node::Dir { .. }) => Ok((parent, name)),
            Some(Node::File { .. }) => Err(Errno::NOTDIR),
            None => Err(Errno::NOENT),
        }
    }

    /// The contents of the file at `path`.
    pub fn read(&self, path: &Path) -> Result<&Arc<FileData>, Errno> {
        match self.node(self.lookup(path)?) {
            Some(Node::File { data, .. }) => Ok(data),
            Some(Node::Dir { .. }) => Err(Errno::ISDIR),
            None => Err(Errno::NOENT),
        }
    }

    /// A 128-bit digest of everything reachable from the root: names, kinds, modes and contents
    /// (a hole hashes as the zeros it reads as).
    /// Inode numbers are left out, so two states that look the same through paths hash the
    /// same. Hard links to one inode hash like two equal files; no target relies on the
    /// difference.
    pub fn digest(&self) -> u128 {
        let mut hasher = Xxh3::new();
        self.digest_node(ROOT_INO, &mut hasher, 0);
        hasher.digest128()
    }

    fn digest_node(&self, ino: Ino, hasher: &mut Xxh3, depth: usize) {
        match self.node(ino) {
            None => hasher.update(&[0]),
            Some(Node::File { data, mode }) => {
                hasher.update(&[1]);
                hasher.update(&mode.to_le_bytes());
                data.hash_into(hasher);
            }
            Some(Node::Dir { entries, mode }) => {
                hasher.update(&[2]);
                hasher.update(&mode.to_le_bytes());
                hasher.update(&(entries.len() as u64).to_le_bytes());
                // A directory cycle cannot arise from the calls SimFs supports; the depth cap
                // keeps a corrupted image from recursing forever.
                if depth > 64 {
                    return;
                }
                for (name, child) in entries.iter() {
                    hasher.update(&(name.len() as u64).to_le_bytes());
                    hasher.update(name.as_bytes());
                    self.digest_node(*child, hasher, depth + 1);
                }
            }
        }
    }

    /// A path naming `ino` (the first in name order), or `None` when nothing names it.
    pub fn path_of(&self, ino: Ino) -> Option<String> {
        if ino == ROOT_INO {
            return Some("/".into());
        }
        let mut stack = vec![(ROOT_INO, String::new(), 0usize)];
        while let Some((dir, prefix, depth)) = stack.pop() {
            let Some(Node::Dir { entries, .. }) = self.node(dir) else {
                continue;
            };
            for (name, child) in entries.iter() {
                let path = format!("{prefix}/{name}");
                if *child == ino {
                    return Some(path);
                }
                if depth < 64 {
                    stack.push((*child, path, depth + 1));
                }
            }
        }
        None
    }

    /// Every reachable path with its node, depth first in name order; for listings.
    pub fn walk(&self) -> Vec<(String, &Node)> {
        let mut out = Vec::new();
        self.walk_into(ROOT_INO, String::new(), &mut out, 0);
        out
    }

    fn walk_into<'a>(&'a self, ino: Ino, prefix: String, out: &mut Vec<(String, &'a Node)>, depth: usize) {
        let Some(Node::Dir { entries, .. }) = self.node(ino) else {
            return;
        };
        if depth > 64 {
            return;
        }
        for (name, child) in entries.iter() {
            let path = format!("{prefix}/{name}");
            if let Some(node) = self.node(*child) {
                out.push((path.clone(), node));
                self.walk_into(*child, path, out, depth + 1);
            }
        }
    }
}
