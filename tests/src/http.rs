//! HTTP to the pipeline: requests through ureq (status codes are answers, not errors), raw
//! requests over a socket for what a client library would refuse to send (lying or missing
//! lengths, chunked bodies, cut-off uploads), and responses decoded into the typed bodies of
//! [`crate::api`].

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::LazyLock;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::{Accepted, ApiError, Job, Summary};

/// An HTTP response, whole.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn json(&self) -> Result<Value> {
        self.decode()
    }

    /// The body as `T`, or an error that shows the status and the body.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "status {} body is not the expected JSON: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The `202` of an accepted upload.
    pub fn accepted(&self) -> Result<Accepted> {
        ensure!(
            self.status == 202,
            "upload answered {}: {}",
            self.status,
            self.text()
        );
        self.decode()
    }

    pub fn job(&self) -> Result<Job> {
        ensure!(self.status == 200, "job: {} {}", self.status, self.text());
        self.decode()
    }

    pub fn summary(&self) -> Result<Summary> {
        ensure!(
            self.status == 200,
            "summary: {} {}",
            self.status,
            self.text()
        );
        self.decode()
    }

    /// The error body of a refused request.
    pub fn api_error(&self) -> Result<ApiError> {
        ensure!(
            self.status >= 400,
            "expected an error, got {}: {}",
            self.status,
            self.text()
        );
        self.decode()
    }

    /// The error body of a request refused with `status` and `code`, checked for the shape
    /// every error has.
    pub fn expect_error(&self, status: u16, code: &str) -> Result<ApiError> {
        ensure!(
            self.status == status,
            "expected {status} {code}, got {}: {}",
            self.status,
            self.text()
        );
        let body = self.api_error()?;
        ensure!(body.error.code == code, "expected {code}: {body:?}");
        ensure!(!body.error.message.is_empty(), "{body:?}");
        ensure!(!body.request_id.is_empty(), "{body:?}");
        ensure!(
            self.header("Content-Type") == Some("application/json"),
            "{:?}",
            self.headers
        );
        Ok(body)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

static AGENT: LazyLock<ureq::Agent> = LazyLock::new(|| {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into()
});

/// A request to the pipeline on `port`; `Content-Length` comes from `body`.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<HttpResponse> {
    let mut builder = ureq::http::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{path}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let response = match body {
        Some(body) => AGENT.run(builder.body(body.to_vec())?)?,
        // No body, and no `Content-Length: 0` either.
        None => AGENT.run(builder.body(())?)?,
    };
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response
        .into_body()
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()?;
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// Sends raw bytes as a request and reads the response, for requests a client library would
/// refuse to make (lying or missing lengths, chunked bodies).
pub fn raw_request(port: u16, raw: &[u8]) -> Result<HttpResponse> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    // The server may answer (say, 413) before it has read the whole body and then close the
    // connection: a failed write is not an error as long as a response arrives.
    let _ = stream.write_all(raw);
    read_response(&mut stream)
}

/// Reads one response: the head, then a body delimited by `Content-Length`, by chunked
/// encoding, or by the end of the connection.
pub fn read_response(stream: &mut TcpStream) -> Result<HttpResponse> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut chunk)?;
        ensure!(n > 0, "connection closed before the response head");
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut response = HttpResponse {
        status,
        headers,
        body: buffer[head_end + 4..].to_vec(),
    };
    let length = response
        .header("Content-Length")
        .and_then(|v| v.parse::<usize>().ok());
    let chunked = response
        .header("Transfer-Encoding")
        .is_some_and(|v| v.contains("chunked"));
    loop {
        let complete = match (length, chunked) {
            (Some(length), _) => response.body.len() >= length,
            (None, true) => response.body.ends_with(b"0\r\n\r\n"),
            (None, false) => false,
        };
        if complete {
            break;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        response.body.extend_from_slice(&chunk[..n]);
    }
    if chunked {
        response.body = dechunk(&response.body)?;
    }
    Ok(response)
}

fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("bad chunk")?;
        let size_text = String::from_utf8_lossy(&raw[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        ensure!(raw.len() >= size + 2, "truncated chunk");
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}
