//! The part of `brotli-decompressor`'s API lopdf uses, refusing every stream: a PDF stream
//! compressed with `/BrotliDecode` reads as unreadable (its page is skipped, as any broken
//! stream's is), and everything else in a PDF is read as before.

use std::io::{self, Read};
use std::marker::PhantomData;

/// A reader that fails on the first read.
#[derive(Debug)]
pub struct Decompressor<R> {
    _source: PhantomData<R>,
}

impl<R: Read> Decompressor<R> {
    pub fn new(_source: R, _buffer_size: usize) -> Self {
        Self {
            _source: PhantomData,
        }
    }
}

impl<R: Read> Read for Decompressor<R> {
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "Brotli-compressed PDF streams are not read",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_read_fails_readably() {
        let mut reader = Decompressor::new(&b"\x8b\x02\x80hello\x03"[..], 4096);
        let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    }
}
