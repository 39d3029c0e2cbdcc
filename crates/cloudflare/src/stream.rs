//! Streaming a request body into R2 while computing its SHA-256, without buffering it.
//!
//! The body is read in steps of at least 256 KiB and each step is written both to a
//! `FixedLengthStream` whose readable side R2 is consuming, and to a `crypto.DigestStream`
//! (the runtime's native SHA-256). A step's writes finish before the step after next is read,
//! so memory stays at two steps whatever the body's size, and the bytes never enter
//! WebAssembly memory.

use docpipe_pipeline::ports::{SinkError, Stored};
use std::future::{Future, ready};
use std::pin::{Pin, pin};
use std::time::Duration;

use futures_util::future::{Either, select};
use js_sys::{ArrayBuffer, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    ReadableStream, ReadableStreamGetReaderOptions, ReadableStreamReaderMode,
    WritableStreamDefaultWriter,
};
use worker::worker_sys::FixedLengthStream;
use worker::{Bucket, Data, Delay, HttpMetadata, MultipartUpload, UploadedPart};

use crate::js::error_message;

#[wasm_bindgen]
extern "C" {
    /// `crypto.DigestStream`: a WritableStream that hashes what is written to it.
    #[wasm_bindgen(js_namespace = crypto, extends = web_sys::WritableStream)]
    #[derive(Debug, Clone)]
    type DigestStream;

    #[wasm_bindgen(constructor, catch, js_namespace = crypto)]
    fn new(algorithm: &str) -> Result<DigestStream, JsValue>;

    /// Resolves to the digest (an ArrayBuffer) once the stream is closed.
    #[wasm_bindgen(method, getter)]
    fn digest(this: &DigestStream) -> Promise;

    /// workerd's BYOB reader, which can wait for at least `min` bytes before resolving.
    #[wasm_bindgen(extends = web_sys::ReadableStreamByobReader)]
    #[derive(Debug, Clone)]
    type ByobReader;

    #[wasm_bindgen(method, js_name = readAtLeast)]
    fn read_at_least(this: &ByobReader, min: u32, view: &Uint8Array) -> Promise;
}

/// Bytes read per step. Large steps keep the per-chunk cost (a few promise round trips) small
/// next to the copying; a couple of steps in flight is all the memory a stream uses.
const STEP_BYTES: u32 = 256 * 1024;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Starts reading the next step: at least [`STEP_BYTES`], or all that remains, into `spare`
/// (a buffer whose chunk has been written everywhere) when it is large enough.
fn read_step(reader: &ByobReader, remaining: u64, spare: Option<ArrayBuffer>) -> JsFuture {
    let step = u64::from(STEP_BYTES);
    let at_least = u32::try_from(remaining.min(step)).unwrap_or(STEP_BYTES);
    let buffer = match spare {
        Some(spare) if spare.byte_length() >= at_least => {
            Uint8Array::new_with_byte_offset_and_length(&spare, 0, at_least)
        }
        _ => Uint8Array::new_with_length(at_least),
    };
    JsFuture::from(reader.read_at_least(at_least, &buffer))
}

/// Waits for a read started on `reader`: whether the stream is done and the chunk it gave. A
/// read that waits more than `stall_ms` cancels the stream and fails with
/// [`SinkError::Stalled`].
async fn within_stall(
    reader: &ByobReader,
    step: JsFuture,
    stall_ms: u64,
) -> Result<(bool, Option<Uint8Array>), SinkError> {
    let failed = |e: JsValue| SinkError::Body(error_message(&e));
    let timer = pin!(Delay::from(Duration::from_millis(stall_ms)));
    let step = match select(step, timer).await {
        Either::Left((step, _)) => step.map_err(failed)?,
        Either::Right(((), _)) => {
            let _ = JsFuture::from(reader.cancel()).await;
            return Err(SinkError::Stalled {
                seconds: stall_ms / 1_000,
            });
        }
    };
    let done = Reflect::get(&step, &"done".into())
        .map_err(failed)?
        .as_bool()
        .unwrap_or(true);
    let chunk = Reflect::get(&step, &"value".into())
        .map_err(failed)?
        .dyn_into()
        .ok();
    Ok((done, chunk))
}

/// Copies exactly `length` bytes of `body` into every writer, then closes them. The next read
/// is already under way while a chunk is being written. Every read must make progress, so a
/// misbehaving stream ends in an error, never in a busy loop, and a read that waits more than
/// `stall_ms` ends it too. The chunk that completes the body (or, for an empty body, the
/// close) waits for `commit`, so no writer has the whole body before it says yes; when it
/// says no, reading stops there and the pump fails with [`SinkError::Abandoned`].
async fn pump(
    body: &ReadableStream,
    length: u64,
    writers: &[WritableStreamDefaultWriter],
    stall_ms: u64,
    commit: impl Future<Output = bool>,
) -> Result<(), SinkError> {
    let mut commit = Commit::Pending(Box::pin(commit));
    let options = ReadableStreamGetReaderOptions::new();
    options.set_mode(ReadableStreamReaderMode::Byob);
    let reader: ByobReader = body.get_reader_with_options(&options).unchecked_into();
    let mut read = 0u64;
    let mut next = (length > 0).then(|| read_step(&reader, length, None));
    // The buffer of the chunk written last: the read after next reads into it again, so a
    // body of any size goes through the same two buffers.
    let mut spare: Option<ArrayBuffer> = None;
    let failed = |e: JsValue| SinkError::Body(error_message(&e));
    while let Some(step) = next.take() {
        let step = commit.watching(within_stall(&reader, step, stall_ms)).await;
        let (done, chunk) = match step {
            Ok(step) => step?,
            Err(abandoned) => {
                let _ = JsFuture::from(reader.cancel()).await;
                return Err(abandoned);
            }
        };
        let bytes = chunk.as_ref().map_or(0, |c| u64::from(c.byte_length()));
        read += bytes;
        if read > length {
            return Err(SinkError::Body(format!(
                "body is longer than its Content-Length of {length} bytes"
            )));
        }
        if read < length {
            if done || bytes == 0 {
                return Err(SinkError::Body(format!(
                    "body ended after {read} of {length} bytes"
                )));
            }
            next = Some(read_step(&reader, length - read, spare.take()));
        } else {
            commit.wait().await?;
        }
        let writes: Vec<JsFuture> = match &chunk {
            Some(chunk) if bytes > 0 => writers
                .iter()
                .map(|w| JsFuture::from(w.write_with_chunk(chunk)))
                .collect(),
            _ => Vec::new(),
        };
        for write in writes {
            write.await.map_err(failed)?;
        }
        spare = chunk.map(|chunk| chunk.buffer());
    }
    commit.wait().await?;
    for writer in writers {
        JsFuture::from(writer.close()).await.map_err(failed)?;
    }
    Ok(())
}

/// Whether a put may complete (see [`pump`]): watched while the body is read, so that a no
/// stops the stream at once, and waited for before the body's last bytes.
enum Commit<F> {
    Pending(Pin<Box<F>>),
    Yes,
    No,
}

impl<F: Future<Output = bool>> Commit<F> {
    /// What `step` gives, unless the commit says no first.
    async fn watching<T>(&mut self, step: impl Future<Output = T>) -> Result<T, SinkError> {
        let Commit::Pending(pending) = self else {
            self.wait().await?;
            return Ok(step.await);
        };
        let step = pin!(step);
        let (yes, step) = match select(step, pending.as_mut()).await {
            Either::Left((value, _)) => return Ok(value),
            Either::Right(decided) => decided,
        };
        *self = if yes { Commit::Yes } else { Commit::No };
        self.wait().await?;
        Ok(step.await)
    }

    /// Waits for the commit: fails when it says no.
    async fn wait(&mut self) -> Result<(), SinkError> {
        if let Commit::Pending(pending) = self {
            *self = if pending.as_mut().await {
                Commit::Yes
            } else {
                Commit::No
            };
        }
        match self {
            Commit::No => Err(SinkError::Abandoned),
            _ => Ok(()),
        }
    }
}

async fn abort(writers: &[WritableStreamDefaultWriter], reason: &str) {
    for writer in writers {
        let _ = JsFuture::from(writer.abort_with_reason(&JsValue::from_str(reason))).await;
    }
}

fn fixed_length(length: u64) -> Result<FixedLengthStream, JsValue> {
    match u32::try_from(length) {
        Ok(small) => FixedLengthStream::new(small),
        Err(_) => FixedLengthStream::new_big_int(js_sys::BigInt::from(length)),
    }
}

async fn finish_digest(digest: &DigestStream) -> Result<String, String> {
    let buffer = JsFuture::from(digest.digest())
        .await
        .map_err(|e| error_message(&e))?;
    Ok(hex(&Uint8Array::new(&buffer).to_vec()))
}

/// Streams `body` (exactly `length` bytes) into R2 under `key` and returns the stored object's
/// size and the body's SHA-256 as lowercase hex. Its last bytes wait for `commit` (see
/// [`pump`]), so the object cannot exist before `commit` says yes.
pub async fn put_hashed(
    bucket: &Bucket,
    key: &str,
    body: ReadableStream,
    length: u64,
    content_type: &str,
    stall_ms: u64,
    commit: impl Future<Output = bool>,
) -> Result<Stored, SinkError> {
    let metadata = HttpMetadata {
        content_type: Some(content_type.to_owned()),
        ..HttpMetadata::default()
    };
    let storage = |e: JsValue| SinkError::Storage(error_message(&e));
    let fixed = fixed_length(length).map_err(storage)?;
    let digest = DigestStream::new("SHA-256").map_err(storage)?;
    let writers = [
        fixed.writable().get_writer().map_err(storage)?,
        digest.get_writer().map_err(storage)?,
    ];
    crate::usage::r2_class_a(1);
    let put = bucket
        .put(key, Data::ReadableStream(fixed.readable()))
        .http_metadata(metadata)
        .execute();
    let stored = pump_while(&body, length, &writers, stall_ms, put, commit).await;
    match stored? {
        Some(object) => {
            let sha256 = finish_digest(&digest).await.map_err(SinkError::Storage)?;
            Ok(Stored {
                size: object.size(),
                sha256,
            })
        }
        None => Err(SinkError::Storage("no object returned".into())),
    }
}

/// Pumps `body` (exactly `length` bytes) into `writers` while `sink` consumes what the first
/// one feeds, and returns what `sink` made of it.
async fn pump_while<T>(
    body: &ReadableStream,
    length: u64,
    writers: &[WritableStreamDefaultWriter],
    stall_ms: u64,
    sink: impl Future<Output = worker::Result<T>>,
    commit: impl Future<Output = bool>,
) -> Result<T, SinkError> {
    let sink = pin!(sink);
    let pumped = pin!(pump(body, length, writers, stall_ms, commit));
    match select(sink, pumped).await {
        // The body failed: abort the streams and stop there. The sink fails with the aborted
        // stream; it is not waited for, since a write whose stream was aborted mid-way may
        // never settle, and the body is the cause anyway.
        Either::Right((Err(e), _sink)) => {
            abort(writers, &e.to_string()).await;
            Err(e)
        }
        Either::Right((Ok(()), sink)) => sink.await.map_err(|e| SinkError::Storage(e.to_string())),
        Either::Left((Err(e), _pumped)) => {
            abort(writers, &e.to_string()).await;
            Err(SinkError::Storage(e.to_string()))
        }
        Either::Left((Ok(stored), pumped)) => {
            pumped.await?;
            Ok(stored)
        }
    }
}

/// Where a part goes: the object, its multipart upload, the part's number.
#[derive(Debug, Clone, Copy)]
pub struct PartTarget<'a> {
    pub key: &'a str,
    pub upload_id: &'a str,
    pub number: u16,
}

/// Streams `body` (exactly `length` bytes) as a part of a multipart upload, and returns the
/// part's etag and, under `digest` (a Web Crypto name), the body's digest.
pub async fn put_part(
    bucket: &Bucket,
    part: &PartTarget<'_>,
    body: ReadableStream,
    length: u64,
    digest: Option<&'static str>,
    stall_ms: u64,
) -> Result<(String, Option<Vec<u8>>), SinkError> {
    let storage = |e: JsValue| SinkError::Storage(error_message(&e));
    let upload = bucket
        .resume_multipart_upload(part.key, part.upload_id)
        .map_err(|e| SinkError::Storage(e.to_string()))?;
    let fixed = fixed_length(length).map_err(storage)?;
    let hasher = digest
        .map(|name| DigestStream::new(name).map_err(storage))
        .transpose()?;
    let mut writers = vec![fixed.writable().get_writer().map_err(storage)?];
    if let Some(hasher) = &hasher {
        writers.push(hasher.get_writer().map_err(storage)?);
    }
    crate::usage::r2_class_a(1);
    let uploaded = upload.upload_part(part.number, Data::ReadableStream(fixed.readable()));
    let uploaded = pump_while(&body, length, &writers, stall_ms, uploaded, ready(true)).await?;
    let digest = match &hasher {
        Some(hasher) => {
            let buffer = JsFuture::from(hasher.digest()).await.map_err(storage)?;
            Some(Uint8Array::new(&buffer).to_vec())
        }
        None => None,
    };
    Ok((uploaded.etag(), digest))
}

/// The size and SHA-256 of `body` (`length` bytes), read and discarded.
pub async fn hash_only(
    body: ReadableStream,
    length: u64,
    stall_ms: u64,
) -> Result<Stored, SinkError> {
    let digest = DigestStream::new("SHA-256").map_err(|e| SinkError::Storage(error_message(&e)))?;
    let writer = digest
        .get_writer()
        .map_err(|e| SinkError::Storage(error_message(&e)))?;
    pump(
        &body,
        length,
        std::slice::from_ref(&writer),
        stall_ms,
        ready(true),
    )
    .await?;
    let sha256 = finish_digest(&digest).await.map_err(SinkError::Body)?;
    Ok(Stored {
        size: length,
        sha256,
    })
}

/// Parts of a body of unknown length: R2 wants at least 5 MiB per part but the last, and all
/// parts but the last the same size. One part is all a body of unknown length holds in memory.
const PART_BYTES: u64 = 8 * 1024 * 1024;

/// The next step of a body of unknown length: its chunk (`None` at the end), within the stall
/// bound.
async fn next_chunk(reader: &ByobReader, stall_ms: u64) -> Result<Option<Uint8Array>, SinkError> {
    let step = read_step(reader, u64::from(STEP_BYTES), None);
    let (done, chunk) = within_stall(reader, step, stall_ms).await?;
    match chunk {
        Some(chunk) if chunk.byte_length() > 0 => Ok(Some(chunk)),
        _ if done => Ok(None),
        _ => Err(SinkError::Body("the body stopped making progress".into())),
    }
}

/// Chunks held back for the next part, in JavaScript memory.
#[derive(Default)]
struct Held {
    chunks: Vec<Uint8Array>,
    bytes: u64,
}

impl Held {
    fn push(&mut self, chunk: Uint8Array) {
        self.bytes += u64::from(chunk.byte_length());
        self.chunks.push(chunk);
    }

    /// Takes the first `bytes` held (all of them at most), splitting a chunk if need be.
    fn take(&mut self, bytes: u64) -> Vec<Uint8Array> {
        let mut taken = Vec::new();
        let mut left = bytes.min(self.bytes);
        self.bytes -= left;
        let mut rest = std::mem::take(&mut self.chunks).into_iter();
        for chunk in rest.by_ref() {
            let length = u64::from(chunk.byte_length());
            if length <= left {
                left -= length;
                taken.push(chunk);
                if left == 0 {
                    break;
                }
            } else {
                let cut = u32::try_from(left).unwrap_or(u32::MAX);
                taken.push(chunk.subarray(0, cut));
                self.chunks.push(chunk.subarray(cut, chunk.byte_length()));
                break;
            }
        }
        self.chunks.extend(rest);
        taken
    }
}

/// Writes `chunks` (`length` bytes in all) through a `FixedLengthStream` whose readable side
/// `consume` is given, and waits for both.
async fn write_through<F, T>(
    chunks: &[Uint8Array],
    length: u64,
    consume: impl FnOnce(ReadableStream) -> F,
) -> Result<T, SinkError>
where
    F: std::future::Future<Output = worker::Result<T>>,
{
    let storage = |e: JsValue| SinkError::Storage(error_message(&e));
    let fixed = fixed_length(length).map_err(storage)?;
    let writer = fixed.writable().get_writer().map_err(storage)?;
    let consumer = pin!(consume(fixed.readable()));
    let writes = pin!(async {
        for chunk in chunks {
            JsFuture::from(writer.write_with_chunk(chunk))
                .await
                .map_err(storage)?;
        }
        JsFuture::from(writer.close()).await.map_err(storage)
    });
    let (consumed, written) = futures_util::future::join(consumer, writes).await;
    written?;
    consumed.map_err(|e| SinkError::Storage(e.to_string()))
}

/// Streams `body`, of unknown length (a chunked request), into R2 under `key`, hashing it, and
/// fails with [`SinkError::TooLarge`] past `max_bytes`. A body that fits one part is one put
/// once its size is known; a larger one is a multipart upload of [`PART_BYTES`] parts, aborted
/// if anything fails. Memory: one part.
pub async fn put_unsized(
    bucket: &Bucket,
    key: &str,
    body: ReadableStream,
    max_bytes: u64,
    content_type: &str,
    stall_ms: u64,
) -> Result<Stored, SinkError> {
    let storage = |e: JsValue| SinkError::Storage(error_message(&e));
    let metadata = HttpMetadata {
        content_type: Some(content_type.to_owned()),
        ..HttpMetadata::default()
    };
    let digest = DigestStream::new("SHA-256").map_err(storage)?;
    let hasher = digest.get_writer().map_err(storage)?;
    let options = ReadableStreamGetReaderOptions::new();
    options.set_mode(ReadableStreamReaderMode::Byob);
    let reader: ByobReader = body.get_reader_with_options(&options).unchecked_into();
    let mut multipart: Option<MultipartUpload> = None;
    let mut parts: Vec<UploadedPart> = Vec::new();
    let mut held = Held::default();
    let mut total = 0u64;
    let streamed: Result<(), SinkError> = async {
        while let Some(chunk) = next_chunk(&reader, stall_ms).await? {
            total += u64::from(chunk.byte_length());
            if total > max_bytes {
                let _ = JsFuture::from(reader.cancel()).await;
                return Err(SinkError::TooLarge { limit: max_bytes });
            }
            JsFuture::from(hasher.write_with_chunk(&chunk))
                .await
                .map_err(storage)?;
            held.push(chunk);
            while held.bytes > PART_BYTES {
                if multipart.is_none() {
                    crate::usage::r2_class_a(1);
                    let created = bucket
                        .create_multipart_upload(key)
                        .http_metadata(metadata.clone())
                        .execute()
                        .await
                        .map_err(|e| SinkError::Storage(e.to_string()))?;
                    multipart = Some(created);
                }
                let Some(upload) = multipart.as_ref() else {
                    break;
                };
                let number = u16::try_from(parts.len() + 1)
                    .map_err(|_| SinkError::TooLarge { limit: max_bytes })?;
                let chunks = held.take(PART_BYTES);
                let part = write_through(&chunks, PART_BYTES, |readable| {
                    crate::usage::r2_class_a(1);
                    upload.upload_part(number, Data::ReadableStream(readable))
                })
                .await?;
                parts.push(part);
            }
        }
        Ok(())
    }
    .await;
    let stored = match streamed {
        Err(e) => Err(e),
        Ok(()) => {
            let last = held.bytes;
            let chunks = held.take(last);
            match multipart.take() {
                None => write_through(&chunks, last, |readable| {
                    crate::usage::r2_class_a(1);
                    bucket
                        .put(key, Data::ReadableStream(readable))
                        .http_metadata(metadata.clone())
                        .execute()
                })
                .await
                .map(|_| ()),
                Some(upload) => {
                    let finished = async {
                        if last > 0 {
                            let number = u16::try_from(parts.len() + 1)
                                .map_err(|_| SinkError::TooLarge { limit: max_bytes })?;
                            let part = write_through(&chunks, last, |readable| {
                                crate::usage::r2_class_a(1);
                                upload.upload_part(number, Data::ReadableStream(readable))
                            })
                            .await?;
                            parts.push(part);
                        }
                        Ok::<_, SinkError>(())
                    }
                    .await;
                    match finished {
                        Ok(()) => {
                            crate::usage::r2_class_a(1);
                            upload
                                .complete(parts)
                                .await
                                .map(|_| ())
                                .map_err(|e| SinkError::Storage(e.to_string()))
                        }
                        Err(e) => {
                            multipart = Some(upload);
                            Err(e)
                        }
                    }
                }
            }
        }
    };
    if let Err(e) = stored {
        if let Some(upload) = multipart {
            let _ = upload.abort().await;
        }
        let _ = JsFuture::from(hasher.abort_with_reason(&JsValue::from_str(&e.to_string()))).await;
        return Err(e);
    }
    JsFuture::from(hasher.close()).await.map_err(storage)?;
    let sha256 = finish_digest(&digest).await.map_err(SinkError::Storage)?;
    Ok(Stored {
        size: total,
        sha256,
    })
}

/// The size and SHA-256 of `body`, of unknown length, read and discarded; past `max_bytes`
/// it fails with [`SinkError::TooLarge`].
pub async fn hash_unsized(
    body: ReadableStream,
    max_bytes: u64,
    stall_ms: u64,
) -> Result<Stored, SinkError> {
    let storage = |e: JsValue| SinkError::Storage(error_message(&e));
    let digest = DigestStream::new("SHA-256").map_err(storage)?;
    let hasher = digest.get_writer().map_err(storage)?;
    let options = ReadableStreamGetReaderOptions::new();
    options.set_mode(ReadableStreamReaderMode::Byob);
    let reader: ByobReader = body.get_reader_with_options(&options).unchecked_into();
    let mut total = 0u64;
    while let Some(chunk) = next_chunk(&reader, stall_ms).await? {
        total += u64::from(chunk.byte_length());
        if total > max_bytes {
            let _ = JsFuture::from(reader.cancel()).await;
            return Err(SinkError::TooLarge { limit: max_bytes });
        }
        JsFuture::from(hasher.write_with_chunk(&chunk))
            .await
            .map_err(storage)?;
    }
    JsFuture::from(hasher.close()).await.map_err(storage)?;
    let sha256 = finish_digest(&digest).await.map_err(SinkError::Body)?;
    Ok(Stored {
        size: total,
        sha256,
    })
}

/// Reads a body known to be small (at most `max` bytes) into memory.
pub async fn read_small(body: ReadableStream, max: u64) -> Result<Vec<u8>, String> {
    use futures_util::StreamExt;
    let mut chunks = wasm_streams::ReadableStream::from_raw(body).into_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| error_message(&e))?;
        let chunk: Uint8Array = chunk
            .dyn_into()
            .map_err(|_| "the body is not bytes".to_owned())?;
        if bytes.len() as u64 + u64::from(chunk.length()) > max {
            return Err(format!("the body is larger than {max} bytes"));
        }
        bytes.extend(chunk.to_vec());
    }
    Ok(bytes)
}

/// A body of bytes already in memory, as a byte stream (the runtime's own, so it can be read
/// as any request body is).
pub fn stream_of(mut bytes: Vec<u8>) -> Result<ReadableStream, String> {
    let response = web_sys::Response::new_with_opt_u8_array(Some(&mut bytes))
        .map_err(|e| error_message(&e))?;
    response
        .body()
        .ok_or_else(|| "a response of bytes has no body".to_owned())
}
