//! `multipart/form-data` request bodies, parsed as they stream in (`multer`), with each file
//! part handed on as a readable byte stream of unknown length: nothing is buffered.

use futures_util::{StreamExt, TryStreamExt};
use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use web_sys::ReadableStream;
use worker::send::SendWrapper;

use crate::js::error_message;

/// The parts of a form, one after the other.
pub struct FormParts {
    multipart: multer::Multipart<'static>,
}

/// A file part: its name, its declared type, and its bytes as they arrive.
#[derive(Debug)]
pub struct FilePart {
    pub filename: String,
    pub content_type: Option<String>,
    /// A byte stream (BYOB readers work) over the part's body; read it to its end (or cancel
    /// it) before asking for the next part.
    pub body: ReadableStream,
}

/// Bytes a part's stream hands out per read when the reader does not say.
const PART_READ_BYTES: usize = 256 * 1024;

impl FormParts {
    /// The parts of `body`, a form whose `Content-Type` (with its boundary) is `content_type`.
    pub fn new(body: ReadableStream, content_type: &str) -> Result<Self, String> {
        let boundary = multer::parse_boundary(content_type).map_err(|e| e.to_string())?;
        // A Worker has one thread: the stream never leaves it, which is all `Send` asks here.
        let mut chunks =
            SendWrapper::new(wasm_streams::ReadableStream::from_raw(body).into_stream());
        let bytes =
            futures_util::stream::poll_fn(move |cx| chunks.poll_next_unpin(cx)).map(|chunk| {
                match chunk {
                    Ok(chunk) => match chunk.dyn_into::<Uint8Array>() {
                        Ok(array) => Ok(bytes::Bytes::from(array.to_vec())),
                        Err(_) => Err("the body gave a chunk that is not bytes".to_owned()),
                    },
                    Err(e) => Err(error_message(&e)),
                }
            });
        Ok(Self {
            multipart: multer::Multipart::new(bytes, boundary),
        })
    }

    /// The next file part (a part with a file name); other fields are skipped.
    pub async fn next_file(&mut self) -> Result<Option<FilePart>, String> {
        loop {
            let Some(field) = self
                .multipart
                .next_field()
                .await
                .map_err(|e| e.to_string())?
            else {
                return Ok(None);
            };
            let Some(filename) = field.file_name().map(str::to_owned) else {
                continue;
            };
            let content_type = field.content_type().map(ToString::to_string);
            let reader = field
                .map_err(|e| std::io::Error::other(e.to_string()))
                .into_async_read();
            let body =
                wasm_streams::ReadableStream::from_async_read(reader, PART_READ_BYTES).into_raw();
            return Ok(Some(FilePart {
                filename,
                content_type,
                body,
            }));
        }
    }
}

impl std::fmt::Debug for FormParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FormParts")
    }
}
