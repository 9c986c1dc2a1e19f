//! A small length-prefixed binary encoding shared by the write-ahead log, the
//! snapshot files and the state machine commands.
//!
//! Integers are little-endian fixed width; byte strings carry a `u32` length
//! prefix. Decoding never panics: a short or malformed buffer is a [`DecodeError`].

use thiserror::Error;

/// A buffer did not hold what the decoder expected.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("malformed encoding: {0}")]
pub struct DecodeError(pub String);

/// Appends a `u8`.
pub fn put_u8(buf: &mut Vec<u8>, value: u8) {
    buf.push(value);
}

/// Appends a little-endian `u32`.
pub fn put_u32(buf: &mut Vec<u8>, value: u32) {
    buf.extend_from_slice(&value.to_le_bytes());
}

/// Appends a little-endian `u64`.
pub fn put_u64(buf: &mut Vec<u8>, value: u64) {
    buf.extend_from_slice(&value.to_le_bytes());
}

/// Appends a byte string with a `u32` length prefix.
pub fn put_bytes(buf: &mut Vec<u8>, value: &[u8]) {
    let len = u32::try_from(value.len())
        .expect("byte strings are limited to 4 GiB by the request size limits");
    put_u32(buf, len);
    buf.extend_from_slice(value);
}

/// Reads values back in the order they were written.
pub struct Reader<'a> {
    /// The remaining input.
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError(format!(
                "{what}: need {n} bytes, {} left",
                self.buf.len()
            )));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Reads a `u8`.
    pub fn u8(&mut self, what: &str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    /// Reads a little-endian `u32`.
    pub fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        let bytes = self.take(4, what)?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("took 4 bytes")))
    }

    /// Reads a little-endian `u64`.
    pub fn u64(&mut self, what: &str) -> Result<u64, DecodeError> {
        let bytes = self.take(8, what)?;
        Ok(u64::from_le_bytes(bytes.try_into().expect("took 8 bytes")))
    }

    /// Reads a length-prefixed byte string.
    pub fn bytes(&mut self, what: &str) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(what)? as usize;
        self.take(len, what)
    }

    /// Fails unless the whole input was consumed.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError(format!("{} trailing bytes", self.buf.len())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_short_input() {
        let mut buf = Vec::new();
        put_u8(&mut buf, 7);
        put_u64(&mut buf, u64::MAX - 1);
        put_bytes(&mut buf, b"hello");
        let mut r = Reader::new(&buf);
        assert_eq!(r.u8("a").unwrap(), 7);
        assert_eq!(r.u64("b").unwrap(), u64::MAX - 1);
        assert_eq!(r.bytes("c").unwrap(), b"hello");
        r.finish().unwrap();

        let mut short = Reader::new(&buf[..buf.len() - 1]);
        short.u8("a").unwrap();
        short.u64("b").unwrap();
        assert!(short.bytes("c").is_err());
    }
}
