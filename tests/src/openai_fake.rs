//! A local OpenAI-compatible chat-completions server for tests: it speaks the real protocol
//! (`POST /v1/chat/completions`, `{"choices":[{"message":{...}}]}`, and OpenAI's error bodies
//! with `429`/`503`), summarizes by returning the first sentence of the user's text, and fails a
//! chosen share of calls the way an overloaded provider does.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use anyhow::Result;
use serde_json::{Value, json};

#[derive(Debug, Default)]
pub struct Counters {
    pub calls: AtomicU64,
    pub failures: AtomicU64,
}

/// A running fake. Stops when dropped.
#[derive(Debug)]
pub struct FakeOpenAi {
    pub port: u16,
    pub counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeOpenAi {
    /// Starts a server that fails `failure_percent` of calls (spread evenly, deterministic).
    pub fn start(failure_percent: u64) -> Result<FakeOpenAi> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (counters, stop) = (counters.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let counters = counters.clone();
                            std::thread::spawn(move || {
                                let _ = serve(stream, &counters, failure_percent);
                            });
                        }
                        Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                    }
                }
            })
        };
        Ok(FakeOpenAi {
            port,
            counters,
            stop,
            thread: Some(thread),
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    pub fn calls(&self) -> u64 {
        self.counters.calls.load(Ordering::Relaxed)
    }

    pub fn failures(&self) -> u64 {
        self.counters.failures.load(Ordering::Relaxed)
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, counters: &Counters, failure_percent: u64) -> Result<()> {
    stream.set_nonblocking(false)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;

    let (status, response) = if !request_line.starts_with("POST /v1/chat/completions ") {
        (
            404,
            error(
                "Unknown request URL",
                "invalid_request_error",
                "unknown_url",
            ),
        )
    } else {
        let call = counters.calls.fetch_add(1, Ordering::Relaxed);
        // Deterministic and evenly spread: calls 0..99 fail exactly `failure_percent` times.
        if (call * 37) % 100 < failure_percent {
            counters.failures.fetch_add(1, Ordering::Relaxed);
            if call.is_multiple_of(2) {
                (
                    429,
                    error(
                        "Rate limit reached for requests",
                        "requests",
                        "rate_limit_exceeded",
                    ),
                )
            } else {
                (
                    503,
                    error("The server is overloaded", "server_error", "overloaded"),
                )
            }
        } else {
            match serde_json::from_slice::<Value>(&body) {
                Ok(request) => (200, completion(&request)),
                Err(e) => (
                    400,
                    error(
                        &format!("invalid JSON: {e}"),
                        "invalid_request_error",
                        "invalid_json",
                    ),
                ),
            }
        }
    };
    let text = response.to_string();
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    stream.flush()?;
    Ok(())
}

fn error(message: &str, kind: &str, code: &str) -> Value {
    json!({ "error": { "message": message, "type": kind, "param": null, "code": code } })
}

fn completion(request: &Value) -> Value {
    let user = request["messages"]
        .as_array()
        .and_then(|messages| messages.iter().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default();
    let first = match user.find(". ") {
        Some(end) => &user[..=end],
        None => user,
    };
    json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": request["model"],
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": first },
            "finish_reason": "stop"
        }],
        "usage": { "prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2 }
    })
}
