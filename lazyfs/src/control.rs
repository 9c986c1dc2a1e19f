//! The control socket: how the controller asks a mounted lazy filesystem for a fault.
//!
//! A Unix stream socket; each connection carries one request line and gets one JSON
//! line back, `{"ok": VALUE}` or `{"error": "why"}`. Requests ([`Command`]):
//!
//! | line | does | answers |
//! |---|---|---|
//! | `lose-unsynced` | [`Disk::lose_unsynced`] | the [`crate::Report`] of what was dropped |
//! | `torn KEEP` | [`Disk::tear`] | the report, with the write cut and where |
//! | `fsync-eio` | [`Disk::arm_fsync_eio`] | `{"armed": true}` |
//! | `disarm` | [`Disk::disarm_fsync_eio`] | `{"was_armed": bool}` (false: the EIO was delivered) |
//! | `status` | [`Disk::status`] | the report of what is unsynced now |
//!
//! The filesystem is locked for the length of a request, so a fault lands between two
//! filesystem requests, never inside one.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::disk::Disk;

/// How long a client waits for an answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// One request of the control socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Drop every unsynced change (a power loss).
    LoseUnsynced,
    /// A power loss in the middle of the last unsynced write, keeping this many of
    /// its bytes (modulo its length).
    Torn(u64),
    /// Make the next fsync fail with EIO.
    FsyncEio,
    /// Disarm an EIO not yet delivered.
    Disarm,
    /// What is unsynced now.
    Status,
}

impl Command {
    /// The request line (without the newline).
    pub fn line(&self) -> String {
        match self {
            Command::LoseUnsynced => "lose-unsynced".into(),
            Command::Torn(keep) => format!("torn {keep}"),
            Command::FsyncEio => "fsync-eio".into(),
            Command::Disarm => "disarm".into(),
            Command::Status => "status".into(),
        }
    }

    /// Parses a request line.
    pub fn parse(line: &str) -> Result<Command, String> {
        let mut words = line.split_whitespace();
        let command = match (words.next(), words.next()) {
            (Some("lose-unsynced"), None) => Command::LoseUnsynced,
            (Some("torn"), Some(keep)) => Command::Torn(
                keep.parse()
                    .map_err(|e| format!("torn: bad byte count {keep:?}: {e}"))?,
            ),
            (Some("fsync-eio"), None) => Command::FsyncEio,
            (Some("disarm"), None) => Command::Disarm,
            (Some("status"), None) => Command::Status,
            _ => {
                return Err(format!(
                    "unknown request {line:?}: expected lose-unsynced, torn BYTES, \
                     fsync-eio, disarm or status"
                ))
            }
        };
        match words.next() {
            Some(extra) => Err(format!("unexpected {extra:?} after {:?}", command.line())),
            None => Ok(command),
        }
    }

    /// Carries the request out on `disk`.
    pub fn apply(&self, disk: &mut Disk) -> Result<Value, String> {
        let report = match self {
            Command::LoseUnsynced => disk.lose_unsynced(),
            Command::Torn(keep) => disk.tear(*keep),
            Command::FsyncEio => {
                disk.arm_fsync_eio();
                return Ok(json!({ "armed": true }));
            }
            Command::Disarm => return Ok(json!({ "was_armed": disk.disarm_fsync_eio() })),
            Command::Status => Ok(disk.status()),
        };
        report
            .map(|r| serde_json::to_value(r).expect("reports serialize"))
            .map_err(|e| format!("the backing directory failed: errno {}", e.0))
    }
}

/// Answers requests on `listener` until the process ends (run it in a thread).
pub fn serve(listener: UnixListener, disk: Arc<Mutex<Disk>>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let _ = stream.set_read_timeout(Some(TIMEOUT));
        let mut reader = BufReader::new(&stream);
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            continue;
        }
        let answer = Command::parse(line.trim()).and_then(|c| {
            let mut disk = disk.lock().unwrap_or_else(|p| p.into_inner());
            c.apply(&mut disk)
        });
        let reply = match answer {
            Ok(value) => json!({ "ok": value }),
            Err(why) => json!({ "error": why }),
        };
        let _ = (&stream).write_all(format!("{reply}\n").as_bytes());
    }
}

/// Sends `command` to the lazy filesystem listening on `socket` and returns its
/// answer.
pub fn request(socket: &Path, command: Command) -> Result<Value, String> {
    let failed = |e: std::io::Error| format!("lazyfs control socket {}: {e}", socket.display());
    let mut stream = UnixStream::connect(socket).map_err(failed)?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(failed)?;
    stream
        .write_all(format!("{}\n", command.line()).as_bytes())
        .map_err(failed)?;
    let mut line = String::new();
    BufReader::new(&stream)
        .read_line(&mut line)
        .map_err(failed)?;
    let reply: Value = serde_json::from_str(&line).map_err(|e| {
        format!(
            "lazyfs control socket {}: bad answer {line:?}: {e}",
            socket.display()
        )
    })?;
    match (reply.get("ok"), reply.get("error")) {
        (Some(value), _) => Ok(value.clone()),
        (None, Some(why)) => Err(why.as_str().unwrap_or_default().to_string()),
        (None, None) => Err(format!(
            "lazyfs control socket {}: bad answer {line:?}",
            socket.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_round_trip_and_bad_ones_say_why() {
        for c in [
            Command::LoseUnsynced,
            Command::Torn(17),
            Command::FsyncEio,
            Command::Disarm,
            Command::Status,
        ] {
            assert_eq!(Command::parse(&c.line()), Ok(c));
        }
        assert!(Command::parse("torn x").unwrap_err().contains("\"x\""));
        assert!(Command::parse("status now").unwrap_err().contains("now"));
        assert!(Command::parse("reboot").unwrap_err().contains("reboot"));
    }

    #[test]
    fn the_socket_answers_requests_on_a_disk() {
        let dir = tempfile::tempdir().unwrap();
        let disk = Disk::open(&dir.path().join("backing")).unwrap();
        let disk = Arc::new(Mutex::new(disk));
        let socket = dir.path().join("control.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let served = Arc::clone(&disk);
        std::thread::spawn(move || serve(listener, served));
        {
            let mut d = disk.lock().unwrap();
            let f = d
                .create(crate::disk::ROOT, std::ffi::OsStr::new("f"), 0o644)
                .unwrap()
                .ino;
            d.write(f, 0, b"12345").unwrap();
        }
        let status = request(&socket, Command::Status).unwrap();
        assert_eq!(status["bytes"], 5);
        assert_eq!(status["names"], json!(["f"]));
        let lost = request(&socket, Command::LoseUnsynced).unwrap();
        assert_eq!(
            (lost["bytes"].clone(), lost["files"].clone()),
            (json!(5), json!(["f"]))
        );
        assert_eq!(request(&socket, Command::Status).unwrap()["bytes"], 0);
        assert_eq!(request(&socket, Command::FsyncEio).unwrap()["armed"], true);
        assert_eq!(
            request(&socket, Command::Disarm).unwrap()["was_armed"],
            true
        );
    }
}
