//! Test doubles for store clients. [`Silent`] is a peer that accepts every TCP
//! connection and never answers, so the only thing that ends an operation sent to it
//! is the client's own deadline: the case where a write may or may not have been
//! applied, which every client must report as unknown (`info`), never as failed.
//! It speaks no protocol at all, so the same peer serves this crate's client and
//! every store client of the controller (raftkv's and etcd's gRPC alike).

use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// A silent listener on 127.0.0.1; accepted connections stay open until it is dropped.
#[derive(Debug)]
pub struct Silent {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The accepted connections (kept so they are not closed).
    _held: Arc<Mutex<Vec<TcpStream>>>,
}

impl Silent {
    /// Starts listening on a free port; a thread accepts and holds every connection.
    /// Panics when no loopback port can be bound (a test cannot go on without one).
    pub fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address").to_string();
        let held = Arc::new(Mutex::new(Vec::new()));
        let keep = held.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                keep.lock().unwrap().push(stream);
            }
        });
        Silent { addr, _held: held }
    }
}
