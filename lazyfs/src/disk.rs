//! The durability model: what the lazy filesystem shows and what would survive a power
//! loss, as plain Rust over a real backing directory, with no FUSE in sight (the FUSE
//! adapter in `crate::fuse` only translates requests into calls on [`Disk`]).
//!
//! Every file has a *store* file, `<backing>/.lazyfs-store/<ino>`, that holds exactly
//! its durable content. Writes and truncations are kept in memory as an ordered list
//! of pending operations; a read replays them over the store content, so the writer
//! sees its data at once. [`Disk::fsync`] (fsync and fdatasync alike) applies the
//! pending operations to the store file and fdatasyncs it: only then is the data
//! durable.
//!
//! Names follow POSIX: a file created, renamed or unlinked changes only the visible
//! directory until that directory is synced ([`Disk::fsync_dir`]). The durable names
//! are hard links to the store files in the backing directory's own tree, so after a
//! clean unmount the backing directory holds the durable state under its names. One
//! simplification: directories themselves are created, removed and renamed durably at
//! once (the stores faultline runs create their folders once, at start-up); only file
//! names are lazy.
//!
//! Faults, asked for by the controller while the node is down (a power loss of its
//! machine):
//! - [`Disk::lose_unsynced`]: every pending write and truncation is dropped and every
//!   directory goes back to its last synced names;
//! - [`Disk::tear`]: the disk wrote the unsynced writes in order and lost power in
//!   the middle of the last one: earlier unsynced writes are persisted, the last one
//!   up to the byte asked for, unsynced names are lost;
//! - [`Disk::arm_fsync_eio`]: the next fsync (of a file or a directory) fails with
//!   EIO and persists nothing; the data stays unsynced, so a later successful fsync
//!   persists it and a power loss before that loses it.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

/// Inode number of the root directory (FUSE's).
pub const ROOT: u64 = 1;
/// Folder of the store files inside the backing directory (hidden from the mount).
pub const STORE_DIR: &str = ".lazyfs-store";
/// Name of the scratch link used while a durable name is replaced.
const LINK_TMP: &str = "link.tmp";

/// An errno to answer a request with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl From<std::io::Error> for Errno {
    fn from(e: std::io::Error) -> Errno {
        Errno(e.raw_os_error().unwrap_or(libc::EIO))
    }
}

/// Result of a filesystem operation.
pub type Result<T> = std::result::Result<T, Errno>;

/// File or directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

/// What `stat` shows of an inode.
#[derive(Debug, Clone, Copy)]
pub struct Attr {
    /// Inode number.
    pub ino: u64,
    /// File or directory.
    pub kind: Kind,
    /// Visible size in bytes.
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Number of visible names (directories: 2 plus subdirectories).
    pub nlink: u32,
    /// Last change of content or names.
    pub mtime: SystemTime,
    /// Owner (the backing directory's).
    pub uid: u32,
    /// Group (the backing directory's).
    pub gid: u32,
}

/// A change of a file's content not yet durable.
#[derive(Debug)]
enum Op {
    /// `data` written at `offset`.
    Write {
        /// Byte offset.
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Size set to this.
    Truncate(u64),
}

/// A file's state.
#[derive(Debug)]
struct FileNode {
    /// The store file: the durable content.
    store: File,
    /// Visible size.
    size: u64,
    /// Unsynced operations with their global sequence numbers, oldest first.
    pending: Vec<(u64, Op)>,
    /// Visible names.
    links: u32,
    /// Permission bits.
    mode: u32,
    /// Last change.
    mtime: SystemTime,
}

/// A directory's state.
#[derive(Debug)]
struct DirNode {
    /// Parent directory (the root is its own parent).
    parent: u64,
    /// Its name in the parent.
    name: OsString,
    /// Visible entries.
    entries: BTreeMap<OsString, u64>,
    /// Entries as of the last sync of this directory.
    durable: BTreeMap<OsString, u64>,
    /// Permission bits.
    mode: u32,
    /// Last change.
    mtime: SystemTime,
}

/// An inode.
#[derive(Debug)]
enum Node {
    /// A file.
    File(FileNode),
    /// A directory.
    Dir(DirNode),
}

/// What a fault (or a status request) found: what was dropped, or what is at risk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Bytes of unsynced writes dropped (or, for a status, pending).
    pub bytes: u64,
    /// Files whose unsynced writes or truncations were dropped (or are pending).
    pub files: Vec<String>,
    /// Names whose creation, rename or removal was undone (or is pending).
    pub names: Vec<String>,
    /// For a torn write: which write was cut and where.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub torn: Option<Torn>,
}

/// The write a [`Disk::tear`] cut.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Torn {
    /// The file written.
    pub file: String,
    /// Offset of the write in the file.
    pub offset: u64,
    /// Its length.
    pub length: u64,
    /// How many of its bytes were kept.
    pub kept: u64,
}

/// The lazy filesystem's state over one backing directory.
pub struct Disk {
    /// The backing directory.
    backing: PathBuf,
    /// Inodes by number.
    nodes: HashMap<u64, Node>,
    /// Next inode number.
    next_ino: u64,
    /// Next sequence number of a pending operation.
    next_seq: u64,
    /// Whether the next fsync fails with EIO.
    eio_armed: bool,
    /// Owner shown for every inode.
    uid: u32,
    /// Group shown for every inode.
    gid: u32,
}

impl Disk {
    /// Opens the lazy view of `backing` (created if missing): everything in it is
    /// durable. A store folder left by an earlier mount is discarded first.
    pub fn open(backing: &Path) -> std::io::Result<Disk> {
        fs::create_dir_all(backing)?;
        let store = backing.join(STORE_DIR);
        if store.exists() {
            fs::remove_dir_all(&store)?;
        }
        fs::create_dir(&store)?;
        let meta = fs::metadata(backing)?;
        let mut disk = Disk {
            backing: backing.to_path_buf(),
            nodes: HashMap::new(),
            next_ino: ROOT + 1,
            next_seq: 0,
            eio_armed: false,
            uid: meta.uid(),
            gid: meta.gid(),
        };
        disk.nodes.insert(
            ROOT,
            Node::Dir(DirNode {
                parent: ROOT,
                name: OsString::new(),
                entries: BTreeMap::new(),
                durable: BTreeMap::new(),
                mode: meta.mode() & 0o7777,
                mtime: SystemTime::now(),
            }),
        );
        disk.load(ROOT, backing)?;
        Ok(disk)
    }

    /// Adopts the files and folders under `path` as children of `dir`.
    fn load(&mut self, dir: u64, path: &Path) -> std::io::Result<()> {
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            let name = entry.file_name();
            if dir == ROOT && name == STORE_DIR {
                continue;
            }
            let meta = entry.metadata()?;
            let ino = self.next_ino;
            if meta.is_dir() {
                self.next_ino += 1;
                self.nodes.insert(ino, new_dir(dir, &name, meta.mode()));
                self.load(ino, &entry.path())?;
            } else if meta.is_file() {
                self.next_ino += 1;
                fs::hard_link(entry.path(), self.store_path(ino))?;
                let store = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(self.store_path(ino))?;
                self.nodes.insert(
                    ino,
                    Node::File(FileNode {
                        store,
                        size: meta.len(),
                        pending: Vec::new(),
                        links: 1,
                        mode: meta.mode() & 0o7777,
                        mtime: SystemTime::now(),
                    }),
                );
            } else {
                continue; // symlinks and devices are not served
            }
            let d = self.dir_mut(dir).expect("loading into a directory");
            d.entries.insert(name.clone(), ino);
            d.durable.insert(name, ino);
        }
        Ok(())
    }

    /// The store file of inode `ino`.
    fn store_path(&self, ino: u64) -> PathBuf {
        self.backing.join(STORE_DIR).join(ino.to_string())
    }

    /// The backing path of directory `ino` (directories are always durable where
    /// they are visible).
    fn dir_path(&self, mut ino: u64) -> PathBuf {
        let mut names = Vec::new();
        while ino != ROOT {
            let Some(Node::Dir(d)) = self.nodes.get(&ino) else {
                unreachable!("a directory's parent chain holds only directories")
            };
            names.push(d.name.clone());
            ino = d.parent;
        }
        let mut path = self.backing.clone();
        path.extend(names.iter().rev());
        path
    }

    /// Mount-relative path of directory `ino`'s entry `name`, for reports.
    fn shown(&self, dir: u64, name: &OsStr) -> String {
        let full = self.dir_path(dir).join(name);
        let rel = full.strip_prefix(&self.backing).unwrap_or(&full);
        rel.to_string_lossy().into_owned()
    }

    fn dir(&self, ino: u64) -> Result<&DirNode> {
        match self.nodes.get(&ino) {
            Some(Node::Dir(d)) => Ok(d),
            Some(Node::File(_)) => Err(Errno(libc::ENOTDIR)),
            None => Err(Errno(libc::ENOENT)),
        }
    }

    fn dir_mut(&mut self, ino: u64) -> Result<&mut DirNode> {
        match self.nodes.get_mut(&ino) {
            Some(Node::Dir(d)) => Ok(d),
            Some(Node::File(_)) => Err(Errno(libc::ENOTDIR)),
            None => Err(Errno(libc::ENOENT)),
        }
    }

    fn file_mut(&mut self, ino: u64) -> Result<&mut FileNode> {
        match self.nodes.get_mut(&ino) {
            Some(Node::File(f)) => Ok(f),
            Some(Node::Dir(_)) => Err(Errno(libc::EISDIR)),
            None => Err(Errno(libc::ENOENT)),
        }
    }

    /// The attributes of inode `ino`.
    pub fn attr(&self, ino: u64) -> Result<Attr> {
        let node = self.nodes.get(&ino).ok_or(Errno(libc::ENOENT))?;
        let (kind, size, mode, nlink, mtime) = match node {
            Node::File(f) => (Kind::File, f.size, f.mode, f.links, f.mtime),
            Node::Dir(d) => {
                let subdirs = d
                    .entries
                    .values()
                    .filter(|c| matches!(self.nodes.get(c), Some(Node::Dir(_))))
                    .count();
                (Kind::Dir, 4096, d.mode, 2 + subdirs as u32, d.mtime)
            }
        };
        Ok(Attr {
            ino,
            kind,
            size,
            mode,
            nlink,
            mtime,
            uid: self.uid,
            gid: self.gid,
        })
    }

    /// The entry `name` of directory `parent`.
    pub fn lookup(&self, parent: u64, name: &OsStr) -> Result<Attr> {
        let ino = *self
            .dir(parent)?
            .entries
            .get(name)
            .ok_or(Errno(libc::ENOENT))?;
        self.attr(ino)
    }

    /// The visible entries of directory `ino`.
    pub fn read_dir(&self, ino: u64) -> Result<Vec<(u64, Kind, OsString)>> {
        let d = self.dir(ino)?;
        let mut out = vec![
            (ino, Kind::Dir, ".".into()),
            (d.parent, Kind::Dir, "..".into()),
        ];
        for (name, child) in &d.entries {
            let kind = match self.nodes.get(child) {
                Some(Node::Dir(_)) => Kind::Dir,
                _ => Kind::File,
            };
            out.push((*child, kind, name.clone()));
        }
        Ok(out)
    }

    /// Creates an empty file `name` in `parent`; the name is durable once `parent`
    /// is synced.
    pub fn create(&mut self, parent: u64, name: &OsStr, mode: u32) -> Result<Attr> {
        if self.dir(parent)?.entries.contains_key(name) {
            return Err(Errno(libc::EEXIST));
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        let store = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(self.store_path(ino))?;
        self.nodes.insert(
            ino,
            Node::File(FileNode {
                store,
                size: 0,
                pending: Vec::new(),
                links: 1,
                mode: mode & 0o7777,
                mtime: SystemTime::now(),
            }),
        );
        let d = self.dir_mut(parent)?;
        d.entries.insert(name.to_os_string(), ino);
        d.mtime = SystemTime::now();
        self.attr(ino)
    }

    /// Creates directory `name` in `parent`, durably at once.
    pub fn mkdir(&mut self, parent: u64, name: &OsStr, mode: u32) -> Result<Attr> {
        if self.dir(parent)?.entries.contains_key(name) {
            return Err(Errno(libc::EEXIST));
        }
        let parent_path = self.dir_path(parent);
        let path = parent_path.join(name);
        if self.dir(parent)?.durable.contains_key(name) {
            // A file unlinked but not yet synced away: its durable name goes now.
            fs::remove_file(&path)?;
            self.dir_mut(parent)?.durable.remove(name);
        }
        fs::create_dir(&path)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o7777))?;
        sync_path(&parent_path)?;
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes.insert(ino, new_dir(parent, name, mode));
        let d = self.dir_mut(parent)?;
        d.entries.insert(name.to_os_string(), ino);
        d.durable.insert(name.to_os_string(), ino);
        d.mtime = SystemTime::now();
        self.attr(ino)
    }

    /// Removes file `name` from `parent`'s visible entries.
    pub fn unlink(&mut self, parent: u64, name: &OsStr) -> Result<()> {
        let ino = *self
            .dir(parent)?
            .entries
            .get(name)
            .ok_or(Errno(libc::ENOENT))?;
        self.file_mut(ino)?.links -= 1;
        let d = self.dir_mut(parent)?;
        d.entries.remove(name);
        d.mtime = SystemTime::now();
        Ok(())
    }

    /// Removes the empty directory `name` from `parent`, durably at once.
    pub fn rmdir(&mut self, parent: u64, name: &OsStr) -> Result<()> {
        let ino = *self
            .dir(parent)?
            .entries
            .get(name)
            .ok_or(Errno(libc::ENOENT))?;
        if !self.dir(ino)?.entries.is_empty() {
            return Err(Errno(libc::ENOTEMPTY));
        }
        let parent_path = self.dir_path(parent);
        // Durable names of files unlinked but not yet synced go with it.
        fs::remove_dir_all(self.dir_path(ino))?;
        sync_path(&parent_path)?;
        self.nodes.remove(&ino);
        let d = self.dir_mut(parent)?;
        d.entries.remove(name);
        d.durable.remove(name);
        d.mtime = SystemTime::now();
        Ok(())
    }

    /// Renames `parent/name` to `new_parent/new_name`, replacing a file there (or an
    /// empty directory with a directory). A file's rename is durable once both
    /// directories are synced; a directory's at once. `no_replace` is
    /// `RENAME_NOREPLACE`.
    pub fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        no_replace: bool,
    ) -> Result<()> {
        let ino = *self
            .dir(parent)?
            .entries
            .get(name)
            .ok_or(Errno(libc::ENOENT))?;
        let target = self.dir(new_parent)?.entries.get(new_name).copied();
        if target == Some(ino) {
            return Ok(());
        }
        if target.is_some() && no_replace {
            return Err(Errno(libc::EEXIST));
        }
        let is_dir = matches!(self.nodes.get(&ino), Some(Node::Dir(_)));
        match (is_dir, target.map(|t| self.attr(t)).transpose()?) {
            (false, Some(t)) if t.kind == Kind::Dir => return Err(Errno(libc::EISDIR)),
            (true, Some(t)) if t.kind == Kind::File => return Err(Errno(libc::ENOTDIR)),
            (true, Some(t)) if !self.dir(t.ino)?.entries.is_empty() => {
                return Err(Errno(libc::ENOTEMPTY))
            }
            _ => {}
        }
        let now = SystemTime::now();
        if !is_dir {
            if let Some(t) = target {
                self.file_mut(t)?.links -= 1;
            }
            self.dir_mut(parent)?.entries.remove(name);
            let d = self.dir_mut(new_parent)?;
            d.entries.insert(new_name.to_os_string(), ino);
            d.mtime = now;
            self.dir_mut(parent)?.mtime = now;
            return Ok(());
        }
        // A directory may not move under itself.
        let mut up = new_parent;
        loop {
            if up == ino {
                return Err(Errno(libc::EINVAL));
            }
            if up == ROOT {
                break;
            }
            up = self.dir(up)?.parent;
        }
        let from = self.dir_path(parent).join(name);
        let to_parent = self.dir_path(new_parent);
        let to = to_parent.join(new_name);
        if let Some(t) = target {
            fs::remove_dir_all(&to)?;
            self.nodes.remove(&t);
        }
        fs::rename(&from, &to)?;
        sync_path(&to_parent)?;
        sync_path(&self.dir_path(parent))?;
        let d = self.dir_mut(parent)?;
        d.entries.remove(name);
        d.durable.remove(name);
        d.mtime = now;
        let d = self.dir_mut(new_parent)?;
        d.entries.insert(new_name.to_os_string(), ino);
        d.durable.insert(new_name.to_os_string(), ino);
        d.mtime = now;
        let moved = self.dir_mut(ino)?;
        moved.parent = new_parent;
        moved.name = new_name.to_os_string();
        Ok(())
    }

    /// Sets the permission bits of `ino`.
    pub fn set_mode(&mut self, ino: u64, mode: u32) -> Result<()> {
        match self.nodes.get_mut(&ino) {
            Some(Node::File(f)) => f.mode = mode & 0o7777,
            Some(Node::Dir(d)) => d.mode = mode & 0o7777,
            None => return Err(Errno(libc::ENOENT)),
        }
        Ok(())
    }

    /// Reads up to `size` bytes at `offset`: the durable content with the unsynced
    /// changes replayed over it.
    pub fn read(&mut self, ino: u64, offset: u64, size: u32) -> Result<Vec<u8>> {
        let f = self.file_mut(ino)?;
        if offset >= f.size {
            return Ok(Vec::new());
        }
        let len = (f.size - offset).min(u64::from(size)) as usize;
        let mut buf = vec![0u8; len];
        let mut done = 0;
        while done < len {
            match f.store.read_at(&mut buf[done..], offset + done as u64)? {
                0 => break, // past the durable end: zeros unless a pending write says more
                n => done += n,
            }
        }
        for (_, op) in &f.pending {
            replay(op, &mut buf, offset);
        }
        Ok(buf)
    }

    /// Writes `data` at `offset` (visible at once, durable at the next fsync).
    pub fn write(&mut self, ino: u64, offset: u64, data: &[u8]) -> Result<u32> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let f = self.file_mut(ino)?;
        f.pending.push((
            seq,
            Op::Write {
                offset,
                data: data.to_vec(),
            },
        ));
        f.size = f.size.max(offset + data.len() as u64);
        f.mtime = SystemTime::now();
        Ok(data.len() as u32)
    }

    /// Sets the size of `ino` (visible at once, durable at the next fsync).
    pub fn truncate(&mut self, ino: u64, size: u64) -> Result<()> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let f = self.file_mut(ino)?;
        f.pending.push((seq, Op::Truncate(size)));
        f.size = size;
        f.mtime = SystemTime::now();
        Ok(())
    }

    /// `fallocate(2)` mode 0: extends the file to `offset + len` if shorter.
    pub fn allocate(&mut self, ino: u64, offset: u64, len: u64, mode: i32) -> Result<()> {
        if mode != 0 {
            return Err(Errno(libc::EOPNOTSUPP));
        }
        let end = offset + len;
        if end > self.file_mut(ino)?.size {
            self.truncate(ino, end)?;
        }
        Ok(())
    }

    /// Takes the armed EIO, if any.
    fn take_eio(&mut self) -> Result<()> {
        if std::mem::take(&mut self.eio_armed) {
            return Err(Errno(libc::EIO));
        }
        Ok(())
    }

    /// fsync/fdatasync of a file: its pending changes reach the store, fdatasynced.
    pub fn fsync(&mut self, ino: u64) -> Result<()> {
        self.take_eio()?;
        let f = self.file_mut(ino)?;
        for (_, op) in f.pending.drain(..) {
            persist(&f.store, &op, None)?;
        }
        f.store.sync_data()?;
        Ok(())
    }

    /// fsync of a directory: its visible file names become its durable names.
    pub fn fsync_dir(&mut self, ino: u64) -> Result<()> {
        self.take_eio()?;
        let path = self.dir_path(ino);
        let d = self.dir(ino)?;
        let mut changed = false;
        for (name, old) in &d.durable {
            if !d.entries.contains_key(name) && matches!(self.nodes.get(old), Some(Node::File(_))) {
                fs::remove_file(path.join(name))?;
                changed = true;
            }
        }
        let tmp = self.backing.join(STORE_DIR).join(LINK_TMP);
        for (name, new) in &d.entries {
            if d.durable.get(name) == Some(new) {
                continue;
            }
            let _ = fs::remove_file(&tmp);
            fs::hard_link(self.store_path(*new), &tmp)?;
            fs::rename(&tmp, path.join(name))?;
            changed = true;
        }
        if changed {
            sync_path(&path)?;
        }
        let d = self.dir_mut(ino)?;
        d.durable = d.entries.clone();
        Ok(())
    }

    /// Makes the next fsync (of a file or a directory) fail with EIO.
    pub fn arm_fsync_eio(&mut self) {
        self.eio_armed = true;
    }

    /// Disarms an EIO armed and not yet taken; returns whether one was.
    pub fn disarm_fsync_eio(&mut self) -> bool {
        std::mem::take(&mut self.eio_armed)
    }

    /// What a power loss would drop now (nothing is changed).
    pub fn status(&self) -> Report {
        let mut report = Report::default();
        let paths = self.file_paths();
        for (ino, node) in &self.nodes {
            if let Node::File(f) = node {
                if !f.pending.is_empty() {
                    report.bytes += pending_bytes(&f.pending);
                    report.files.push(shown_file(&paths, *ino));
                }
            }
        }
        report.names = self.unsynced_names();
        report.files.sort();
        report
    }

    /// A power loss: every unsynced change is dropped.
    pub fn lose_unsynced(&mut self) -> Result<Report> {
        let mut report = self.status();
        report.names = self.revert_names();
        for node in self.nodes.values_mut() {
            if let Node::File(f) = node {
                if !f.pending.is_empty() {
                    f.pending.clear();
                    f.size = f.store.metadata()?.len();
                    f.mtime = SystemTime::now();
                }
            }
        }
        Ok(report)
    }

    /// A power loss in the middle of the last unsynced write: earlier unsynced writes
    /// persisted, the last one up to byte `keep` (taken modulo its length, so any
    /// number picks a cut), names as last synced. Without any unsynced write it is
    /// [`Disk::lose_unsynced`].
    pub fn tear(&mut self, keep: u64) -> Result<Report> {
        let paths = self.file_paths();
        let last = self
            .nodes
            .iter()
            .filter_map(|(ino, node)| match node {
                Node::File(f) => f.pending.iter().rev().find_map(|(seq, op)| match op {
                    Op::Write { .. } => Some((*seq, *ino)),
                    Op::Truncate(_) => None,
                }),
                Node::Dir(_) => None,
            })
            .max();
        let Some((last_seq, _)) = last else {
            return self.lose_unsynced();
        };
        let mut torn = None;
        for (ino, node) in &mut self.nodes {
            let Node::File(f) = node else { continue };
            let mut touched = false;
            for (seq, op) in &f.pending {
                if *seq > last_seq {
                    continue; // only truncations can follow the last write
                }
                touched = true;
                if *seq < last_seq {
                    persist(&f.store, op, None)?;
                    continue;
                }
                let Op::Write { offset, data } = op else {
                    unreachable!("the last sequence number is a write")
                };
                let length = data.len() as u64;
                let kept = if length == 0 { 0 } else { keep % length };
                persist(&f.store, op, Some(kept as usize))?;
                torn = Some(Torn {
                    file: shown_file(&paths, *ino),
                    offset: *offset,
                    length,
                    kept,
                });
            }
            if touched {
                f.store.sync_data()?;
            }
        }
        let mut report = self.lose_unsynced()?;
        let torn = torn.expect("the last write belongs to a file");
        report.bytes = torn.length - torn.kept;
        report.files = vec![torn.file.clone()];
        report.torn = Some(torn);
        Ok(report)
    }

    /// Some visible path of every linked file, by inode.
    fn file_paths(&self) -> HashMap<u64, String> {
        let mut paths = HashMap::new();
        for (dir, node) in &self.nodes {
            if let Node::Dir(d) = node {
                for (name, child) in &d.entries {
                    paths
                        .entry(*child)
                        .or_insert_with(|| self.shown(*dir, name));
                }
            }
        }
        paths
    }

    /// Names whose visible and durable entries differ.
    fn unsynced_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for (dir, node) in &self.nodes {
            if let Node::Dir(d) = node {
                let all: std::collections::BTreeSet<&OsString> =
                    d.entries.keys().chain(d.durable.keys()).collect();
                for name in all {
                    if d.entries.get(name) != d.durable.get(name) {
                        names.push(self.shown(*dir, name));
                    }
                }
            }
        }
        names.sort();
        names
    }

    /// Sets every directory back to its durable entries; returns the names changed.
    fn revert_names(&mut self) -> Vec<String> {
        let names = self.unsynced_names();
        for node in self.nodes.values_mut() {
            if let Node::Dir(d) = node {
                d.entries = d.durable.clone();
            }
        }
        let mut links: HashMap<u64, u32> = HashMap::new();
        for node in self.nodes.values() {
            if let Node::Dir(d) = node {
                for child in d.entries.values() {
                    *links.entry(*child).or_default() += 1;
                }
            }
        }
        for (ino, node) in &mut self.nodes {
            if let Node::File(f) = node {
                f.links = links.get(ino).copied().unwrap_or(0);
            }
        }
        names
    }
}

/// A fresh directory node.
fn new_dir(parent: u64, name: &OsStr, mode: u32) -> Node {
    Node::Dir(DirNode {
        parent,
        name: name.to_os_string(),
        entries: BTreeMap::new(),
        durable: BTreeMap::new(),
        mode: mode & 0o7777,
        mtime: SystemTime::now(),
    })
}

/// The path shown for a file, or its inode when no visible name is left.
fn shown_file(paths: &HashMap<u64, String>, ino: u64) -> String {
    paths
        .get(&ino)
        .cloned()
        .unwrap_or_else(|| format!("(unlinked inode {ino})"))
}

/// Bytes written by pending operations.
fn pending_bytes(pending: &[(u64, Op)]) -> u64 {
    pending
        .iter()
        .map(|(_, op)| match op {
            Op::Write { data, .. } => data.len() as u64,
            Op::Truncate(_) => 0,
        })
        .sum()
}

/// Applies `op` to the window of a file starting at byte `start` held in `buf`.
fn replay(op: &Op, buf: &mut [u8], start: u64) {
    let end = start + buf.len() as u64;
    match op {
        Op::Write { offset, data } => {
            let from = (*offset).max(start);
            let to = (offset + data.len() as u64).min(end);
            if from < to {
                buf[(from - start) as usize..(to - start) as usize]
                    .copy_from_slice(&data[(from - offset) as usize..(to - offset) as usize]);
            }
        }
        Op::Truncate(size) => {
            if *size < end {
                buf[((*size).max(start) - start) as usize..].fill(0);
            }
        }
    }
}

/// Applies `op` to a store file; a write only up to `limit` bytes when given.
fn persist(store: &File, op: &Op, limit: Option<usize>) -> std::io::Result<()> {
    match op {
        Op::Write { offset, data } => {
            let n = limit.unwrap_or(data.len()).min(data.len());
            store.write_all_at(&data[..n], *offset)
        }
        Op::Truncate(size) => store.set_len(*size),
    }
}

/// fsyncs a directory of the backing tree.
fn sync_path(path: &Path) -> std::io::Result<()> {
    File::open(path)?.sync_all()
}

#[cfg(test)]
mod tests;
