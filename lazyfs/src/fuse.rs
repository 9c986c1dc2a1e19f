//! The FUSE side: each kernel request becomes one call on the shared [`Disk`].
//!
//! Attributes and entries are given a zero time to live, so the kernel asks again
//! after a fault changed them, and no open file keeps its page cache
//! (`FOPEN_KEEP_CACHE` is never set): a node restarted after a power loss reads what
//! survived, not what its previous life cached. Writes are not cached by the kernel
//! either (no writeback cache), so each `write(2)` reaches [`Disk::write`] before it
//! returns and each `fsync(2)`/`fdatasync(2)` reaches [`Disk::fsync`].

use std::ffi::OsStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    FileAttr, FileType, Filesystem, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
};

use crate::disk::{Attr, Disk, Kind, Result};

/// Attributes and names are never cached by the kernel.
const TTL: Duration = Duration::ZERO;

/// The filesystem served over FUSE.
pub struct LazyFs {
    /// The state, shared with the control socket.
    disk: Arc<Mutex<Disk>>,
    /// Backing directory, for `statfs`.
    backing: std::path::PathBuf,
}

impl LazyFs {
    /// Serves `disk`, whose backing directory is `backing`.
    pub fn new(disk: Arc<Mutex<Disk>>, backing: std::path::PathBuf) -> LazyFs {
        LazyFs { disk, backing }
    }

    fn disk(&self) -> MutexGuard<'_, Disk> {
        self.disk.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The kernel's view of an [`Attr`].
fn file_attr(a: &Attr) -> FileAttr {
    FileAttr {
        ino: a.ino,
        size: a.size,
        blocks: a.size.div_ceil(512),
        atime: a.mtime,
        mtime: a.mtime,
        ctime: a.mtime,
        crtime: SystemTime::UNIX_EPOCH,
        kind: file_type(a.kind),
        perm: a.mode as u16,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

/// Answers with an entry, or the error.
fn entry(reply: ReplyEntry, result: Result<Attr>) {
    match result {
        Ok(a) => reply.entry(&TTL, &file_attr(&a), 0),
        Err(e) => reply.error(e.0),
    }
}

/// Answers with attributes, or the error.
fn attr(reply: ReplyAttr, result: Result<Attr>) {
    match result {
        Ok(a) => reply.attr(&TTL, &file_attr(&a)),
        Err(e) => reply.error(e.0),
    }
}

/// Answers with success, or the error.
fn empty(reply: ReplyEmpty, result: Result<()>) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e.0),
    }
}

fn file_type(kind: Kind) -> FileType {
    match kind {
        Kind::File => FileType::RegularFile,
        Kind::Dir => FileType::Directory,
    }
}

impl Filesystem for LazyFs {
    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        entry(reply, self.disk().lookup(parent, name))
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        attr(reply, self.disk().attr(ino))
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let mut disk = self.disk();
        let done = mode
            .map_or(Ok(()), |m| disk.set_mode(ino, m))
            .and_then(|()| size.map_or(Ok(()), |s| disk.truncate(ino, s)))
            .and_then(|()| disk.attr(ino));
        attr(reply, done)
    }

    fn mkdir(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        entry(reply, self.disk().mkdir(parent, name, mode & !umask))
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        empty(reply, self.disk().unlink(parent, name))
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        empty(reply, self.disk().rmdir(parent, name))
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        if flags & !libc::RENAME_NOREPLACE != 0 {
            return reply.error(libc::EINVAL);
        }
        let no_replace = flags & libc::RENAME_NOREPLACE != 0;
        let done = self
            .disk()
            .rename(parent, name, newparent, newname, no_replace);
        empty(reply, done)
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        match self.disk().read(ino, offset.max(0) as u64, size) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e.0),
        }
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        match self.disk().write(ino, offset.max(0) as u64, data) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e.0),
        }
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _lock: u64, reply: ReplyEmpty) {
        reply.ok(); // close(2) makes nothing durable
    }

    fn fsync(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, _data: bool, reply: ReplyEmpty) {
        empty(reply, self.disk().fsync(ino))
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        let entries = match self.disk().read_dir(ino) {
            Ok(entries) => entries,
            Err(e) => return reply.error(e.0),
        };
        for (i, (child, kind, name)) in entries.iter().enumerate().skip(offset.max(0) as usize) {
            if reply.add(*child, i as i64 + 1, file_type(*kind), name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, _d: bool, reply: ReplyEmpty) {
        empty(reply, self.disk().fsync_dir(ino))
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        match nix_statvfs(&self.backing) {
            Ok(s) => reply.statfs(
                s.f_blocks,
                s.f_bfree,
                s.f_bavail,
                s.f_files,
                s.f_ffree,
                s.f_bsize as u32,
                255,
                s.f_frsize as u32,
            ),
            Err(e) => reply.error(e.raw_os_error().unwrap_or(libc::EIO)),
        }
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        match self.disk().create(parent, name, mode & !umask) {
            Ok(a) => reply.created(&TTL, &file_attr(&a), 0, 0, 0),
            Err(e) => reply.error(e.0),
        }
    }

    fn fallocate(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        length: i64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let done = self
            .disk()
            .allocate(ino, offset.max(0) as u64, length.max(0) as u64, mode);
        empty(reply, done)
    }
}

/// `statvfs(3)` of the backing directory.
fn nix_statvfs(path: &std::path::Path) -> std::io::Result<libc::statvfs> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut out = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated path and `out` is a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), out.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled `out`.
    Ok(unsafe { out.assume_init() })
}
