//! E-mail messages (`.eml`) as Markdown: their headers and text parts.
//!
//! The message's subject is its heading (RFC 2047 encoded words decoded), followed by a
//! paragraph of its `From`, `To`, `Cc` and `Date` lines. Then its text, from its MIME structure:
//! `multipart/alternative` gives its `text/plain` part (the author's own text) and its HTML,
//! read by docpipe's HTML reader, only when there is no plain text; `multipart/related` gives
//! its first (root) part; other multiparts (`mixed`, `digest`, `signed`, …) give every part in
//! order. A forwarded message (`message/rfc822`) is read the same way and quoted. Bodies are
//! decoded from base64 or quoted-printable and from their `charset` (UTF-8 when no charset is
//! declared and the bytes are UTF-8, Windows-1252 otherwise).
//!
//! Attachments (a `Content-Disposition` of `attachment`, or any part that is not text) are not
//! read: the note names them. Signatures and the images of a `multipart/related` HTML body are
//! left out without mention. Parts nested more than [`MAX_DEPTH`] deep are not read either,
//! and the note says so.

use std::borrow::Cow;

use encoding_rs::Encoding;

use super::{ExtractError, ExtractLimits};
use crate::markdown::Writer;

/// Multiparts and forwarded messages nested deeper than this are not read. Mail clients nest
/// a few levels; each level re-reads its part, so the bound also bounds the work.
const MAX_DEPTH: usize = 16;

/// Attachments named in the note; more are counted.
const MAX_NAMED_ATTACHMENTS: usize = 20;

#[inline(never)]
pub(super) fn to_markdown(
    bytes: &[u8],
    limits: &ExtractLimits,
) -> Result<(String, Option<String>), ExtractError> {
    let mut reader = Reader {
        attachments: Vec::new(),
        notes: Vec::new(),
        too_deep: false,
        written: 0,
        // Markup and headers make the plain text shorter than the Markdown: past twice the
        // limit the text is sure to be cut (and marked so) by the caller.
        max_written: limits.max_text_bytes.saturating_mul(2),
    };
    let mut writer = Writer::new();
    reader.message(bytes, 0, &mut writer)?;
    let note = reader.note();
    Ok((writer.finish(), note))
}

#[derive(Debug)]
struct Reader {
    /// The names of the parts not read.
    attachments: Vec<String>,
    notes: Vec<String>,
    too_deep: bool,
    written: usize,
    max_written: usize,
}

impl Reader {
    /// A message: its heading, its header lines, its text.
    fn message(&mut self, bytes: &[u8], depth: usize, w: &mut Writer) -> Result<(), ExtractError> {
        let (headers, body) = split_entity(bytes);
        let subject = headers.get("subject").map(decode_words).unwrap_or_default();
        w.heading(if depth == 0 { 1 } else { 2 }, &subject);
        let mut lines = Vec::new();
        for (name, label) in [
            ("from", "From"),
            ("to", "To"),
            ("cc", "Cc"),
            ("date", "Date"),
        ] {
            let Some(value) = headers.get(name) else {
                continue;
            };
            let value = one_line(&decode_words(value));
            if !value.is_empty() {
                lines.push(format!("{label}: {value}"));
            }
        }
        w.paragraph(&lines.join("\n"));
        self.written += subject.len() + lines.iter().map(String::len).sum::<usize>();
        self.entity(&headers, body, depth, w)
    }

    /// A MIME entity (a message's body or one part of a multipart).
    fn entity(
        &mut self,
        headers: &Headers,
        body: &[u8],
        depth: usize,
        w: &mut Writer,
    ) -> Result<(), ExtractError> {
        if self.written > self.max_written {
            return Ok(());
        }
        let part = Part::new(headers);
        match (part.content_type.value.as_str(), part.attachment) {
            (multipart, _) if multipart.starts_with("multipart/") => {
                if depth >= MAX_DEPTH {
                    self.too_deep = true;
                    return Ok(());
                }
                let Some(boundary) = part.content_type.param("boundary") else {
                    return Ok(());
                };
                let parts: Vec<(Headers, &[u8])> = split_parts(body, &boundary)
                    .into_iter()
                    .map(split_entity)
                    .collect();
                match multipart {
                    "multipart/alternative" => self.alternative(&parts, depth + 1, w)?,
                    "multipart/related" => {
                        if let Some((headers, body)) = parts.first() {
                            self.entity(headers, body, depth + 1, w)?;
                        }
                    }
                    _ => {
                        for (headers, body) in &parts {
                            self.entity(headers, body, depth + 1, w)?;
                        }
                    }
                }
            }
            ("message/rfc822" | "message/global", _) => {
                if depth >= MAX_DEPTH {
                    self.too_deep = true;
                    return Ok(());
                }
                let inner = part.decode_transfer(body);
                let mut nested = Writer::new();
                self.message(&inner, depth + 1, &mut nested)?;
                w.markdown(&quoted(&nested.finish()));
            }
            ("text/plain", false) => self.plain(&part.text(body), w),
            ("text/html", false) => self.html(&part.text(body), w)?,
            (
                "application/pgp-signature"
                | "application/pkcs7-signature"
                | "application/x-pkcs7-signature",
                _,
            ) => {}
            (media_type, _) => self.attachments.push(
                part.filename
                    .unwrap_or_else(|| format!("an unnamed {media_type} part")),
            ),
        }
        Ok(())
    }

    /// The plain text of the alternatives when one has any, else the HTML, else the first
    /// multipart (an HTML body with its images, say).
    fn alternative(
        &mut self,
        parts: &[(Headers, &[u8])],
        depth: usize,
        w: &mut Writer,
    ) -> Result<(), ExtractError> {
        let of_type = |media_type: &'static str| {
            parts.iter().filter_map(move |(headers, body)| {
                let part = Part::new(headers);
                (part.content_type.value == media_type && !part.attachment).then_some((part, *body))
            })
        };
        if let Some(text) = of_type("text/plain")
            .map(|(part, body)| part.text(body))
            .find(|text| !text.trim().is_empty())
        {
            self.plain(&text, w);
            return Ok(());
        }
        if let Some((part, body)) = of_type("text/html").next() {
            return self.html(&part.text(body), w);
        }
        let nested = parts.iter().find(|(headers, _)| {
            Part::new(headers)
                .content_type
                .value
                .starts_with("multipart/")
        });
        if let Some((headers, body)) = nested {
            self.entity(headers, body, depth, w)?;
        }
        Ok(())
    }

    /// Plain text: a paragraph per block between blank lines, its lines kept. Quoted lines
    /// (`>`) stay text: the writer escapes them.
    fn plain(&mut self, text: &str, w: &mut Writer) {
        let mut block = String::new();
        for line in text.lines().chain([""]) {
            if line.trim().is_empty() {
                w.paragraph(&block);
                block.clear();
            } else {
                if !block.is_empty() {
                    block.push('\n');
                }
                block.push_str(line);
            }
        }
        self.written += text.len();
    }

    fn html(&mut self, html: &str, w: &mut Writer) -> Result<(), ExtractError> {
        let (markdown, note) = super::html::to_markdown(html)?;
        w.markdown(&markdown);
        self.written += markdown.len();
        self.notes.extend(note);
        Ok(())
    }

    fn note(self) -> Option<String> {
        let mut notes = Vec::new();
        let count = self.attachments.len();
        if count > 0 {
            let mut names = self.attachments[..count.min(MAX_NAMED_ATTACHMENTS)].join(", ");
            if count > MAX_NAMED_ATTACHMENTS {
                names.push_str(&format!(" and {} more", count - MAX_NAMED_ATTACHMENTS));
            }
            let noun = if count == 1 {
                "attachment"
            } else {
                "attachments"
            };
            notes.push(format!("{count} {noun} not read: {names}"));
        }
        if self.too_deep {
            notes.push(format!(
                "message parts nested more than {MAX_DEPTH} deep not read"
            ));
        }
        notes.extend(self.notes);
        (!notes.is_empty()).then(|| notes.join("; "))
    }
}

/// What a part's headers say about it.
#[derive(Debug)]
struct Part {
    /// `Content-Type`, `text/plain` when there is none.
    content_type: Field,
    transfer_encoding: String,
    attachment: bool,
    filename: Option<String>,
}

impl Part {
    fn new(headers: &Headers) -> Self {
        let content_type = headers
            .get("content-type")
            .map(Field::parse)
            .filter(|field| field.value.contains('/'))
            .unwrap_or_else(|| Field::parse("text/plain"));
        let disposition = headers.get("content-disposition").map(Field::parse);
        let filename = disposition
            .as_ref()
            .and_then(|d| d.param("filename"))
            .or_else(|| content_type.param("name"))
            .map(|name| one_line(&name))
            .filter(|name| !name.is_empty());
        Self {
            attachment: disposition.is_some_and(|d| d.value == "attachment"),
            transfer_encoding: headers
                .get("content-transfer-encoding")
                .map(|v| v.trim().to_ascii_lowercase())
                .unwrap_or_default(),
            content_type,
            filename,
        }
    }

    fn decode_transfer<'a>(&self, body: &'a [u8]) -> Cow<'a, [u8]> {
        match self.transfer_encoding.as_str() {
            "base64" => Cow::Owned(base64(body)),
            "quoted-printable" => Cow::Owned(quoted_printable(body)),
            // 7bit, 8bit, binary, and anything unknown: the bytes as they are.
            _ => Cow::Borrowed(body),
        }
    }

    /// The body's text, line breaks `\n`.
    fn text(&self, body: &[u8]) -> String {
        let bytes = self.decode_transfer(body);
        let text = decode_charset(&bytes, self.content_type.param("charset").as_deref());
        text.replace("\r\n", "\n").replace('\r', "\n")
    }
}

/// A message's or part's header fields, names in lower case, values unfolded.
#[derive(Debug, Default)]
struct Headers(Vec<(String, String)>);

impl Headers {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The headers and the body of a message or part: the headers end at the first empty line (or
/// the first line that is not a header field).
fn split_entity(bytes: &[u8]) -> (Headers, &[u8]) {
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let (line, next) = line_at(bytes, pos);
        if line.is_empty() {
            return (Headers(fields), &bytes[next..]);
        }
        let text = header_text(line);
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            // A folded line continues the field before it.
            if let Some((_, value)) = fields.last_mut() {
                value.push_str(&text);
            }
        } else if let Some((name, value)) = text
            .split_once(':')
            .map(|(name, value)| (name.trim_end(), value))
            .filter(|(name, _)| !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()))
        {
            fields.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        } else if !(pos == 0 && line.starts_with(b"From ")) {
            // Not a header (an mbox "From " line excepted): the body starts here.
            return (Headers(fields), &bytes[pos..]);
        }
        pos = next;
    }
    (Headers(fields), &[])
}

/// The line starting at `pos` without its line break, and where the next one starts.
fn line_at(bytes: &[u8], pos: usize) -> (&[u8], usize) {
    let rest = &bytes[pos..];
    let (line, next) = match rest.iter().position(|&b| b == b'\n') {
        Some(at) => (&rest[..at], pos + at + 1),
        None => (rest, bytes.len()),
    };
    (line.strip_suffix(b"\r").unwrap_or(line), next)
}

/// A header line's text: UTF-8 when it is (RFC 6532), else Windows-1252.
fn header_text(line: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(line) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => {
            encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(line)
                .0
        }
    }
}

/// The parts of a multipart body: what lies between its `--boundary` lines, up to the
/// `--boundary--` line (or the end, when a message is cut short).
fn split_parts<'a>(body: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    let mut pos = 0;
    while pos < body.len() {
        let (line, next) = line_at(body, pos);
        if let Some(rest) = line.strip_prefix(delimiter.as_bytes()) {
            let closing = rest.starts_with(b"--");
            let rest = rest.strip_prefix(b"--").unwrap_or(rest);
            if rest.iter().all(|b| matches!(b, b' ' | b'\t')) {
                if let Some(start) = start {
                    // The line break before the delimiter belongs to it.
                    let mut end = pos.max(start);
                    if end > start && body[end - 1] == b'\n' {
                        end -= 1;
                    }
                    if end > start && body[end - 1] == b'\r' {
                        end -= 1;
                    }
                    parts.push(&body[start..end]);
                }
                if closing {
                    return parts;
                }
                start = Some(next);
            }
        }
        pos = next;
    }
    if let Some(start) = start {
        parts.push(&body[start.min(body.len())..]);
    }
    parts
}

/// A structured header field: `value; name=param; name="quoted param"`.
#[derive(Debug)]
struct Field {
    /// The value before the parameters, lower case.
    value: String,
    /// Parameter names in lower case, values unquoted.
    params: Vec<(String, String)>,
}

impl Field {
    fn parse(text: &str) -> Self {
        let mut pieces = split_unquoted(text, ';').into_iter();
        let value = pieces
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let params = pieces
            .filter_map(|piece| {
                let (name, value) = piece.split_once('=')?;
                Some((name.trim().to_ascii_lowercase(), unquote(value.trim())))
            })
            .collect();
        Self { value, params }
    }

    fn raw(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(param, _)| param == name)
            .map(|(_, value)| value.as_str())
    }

    /// The parameter `name`, from its plain form (encoded words decoded, as some mailers write
    /// file names), its RFC 2231 extended form (`name*=utf-8''…`) or its continuations
    /// (`name*0*=…`, `name*1=…`).
    fn param(&self, name: &str) -> Option<String> {
        if let Some(extended) = self.raw(&format!("{name}*")) {
            return Some(extended_value(&[(extended, true)]));
        }
        let mut pieces = Vec::new();
        for n in 0..100 {
            if let Some(piece) = self.raw(&format!("{name}*{n}*")) {
                pieces.push((piece, true));
            } else if let Some(piece) = self.raw(&format!("{name}*{n}")) {
                pieces.push((piece, false));
            } else {
                break;
            }
        }
        if !pieces.is_empty() {
            return Some(extended_value(&pieces));
        }
        self.raw(name).map(decode_words)
    }
}

/// `text` split at `separator`s outside double quotes.
fn split_unquoted(text: &str, separator: char) -> Vec<&str> {
    let mut pieces = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                pieces.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(&text[start..]);
    pieces
}

fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"') else {
        return value.to_owned();
    };
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// An RFC 2231 parameter from its pieces (`true` for percent-encoded ones); the first names
/// the charset: `utf-8'en'caf%C3%A9`.
fn extended_value(pieces: &[(&str, bool)]) -> String {
    let mut charset = None;
    let mut bytes = Vec::new();
    for (n, &(piece, encoded)) in pieces.iter().enumerate() {
        let mut piece = piece;
        if n == 0 && encoded {
            let mut fields = piece.splitn(3, '\'');
            if let (Some(name), Some(_language), Some(rest)) =
                (fields.next(), fields.next(), fields.next())
            {
                charset = Some(name);
                piece = rest;
            }
        }
        if encoded {
            bytes.extend(percent_decoded(piece.as_bytes()));
        } else {
            bytes.extend_from_slice(piece.as_bytes());
        }
    }
    decode_charset(&bytes, charset)
}

fn percent_decoded(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], hex_byte(bytes, i + 1)) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// The byte written as two hex digits at `at`, if they are.
fn hex_byte(bytes: &[u8], at: usize) -> Option<u8> {
    let digit = |at: usize| bytes.get(at).and_then(|b| char::from(*b).to_digit(16));
    let value = digit(at)? * 16 + digit(at + 1)?;
    u8::try_from(value).ok()
}

/// A header value with its RFC 2047 encoded words (`=?charset?B?…?=`, `=?charset?Q?…?=`)
/// decoded. White space between two encoded words is not text; adjacent words in one charset
/// are decoded together, as mailers split a character between words.
fn decode_words(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    // The bytes of the encoded words just read, and their charset.
    let mut pending: Option<(&'static Encoding, Vec<u8>)> = None;
    let flush = |pending: &mut Option<(&'static Encoding, Vec<u8>)>, out: &mut String| {
        if let Some((encoding, bytes)) = pending.take() {
            out.push_str(&encoding.decode_without_bom_handling(&bytes).0);
        }
    };
    let mut rest = value;
    while let Some(at) = rest.find("=?") {
        let (before, word) = rest.split_at(at);
        match encoded_word(word) {
            Some((encoding, bytes, length)) => {
                match &mut pending {
                    Some((current, held)) if before.trim().is_empty() && *current == encoding => {
                        held.extend(bytes);
                    }
                    _ => {
                        let between_words = pending.is_some() && before.trim().is_empty();
                        flush(&mut pending, &mut out);
                        if !between_words {
                            out.push_str(before);
                        }
                        pending = Some((encoding, bytes));
                    }
                }
                rest = &word[length..];
            }
            None => {
                flush(&mut pending, &mut out);
                out.push_str(&rest[..at + 2]);
                rest = &rest[at + 2..];
            }
        }
    }
    flush(&mut pending, &mut out);
    out.push_str(rest);
    out
}

/// The encoded word `word` starts with: its charset, its bytes and its length.
fn encoded_word(word: &str) -> Option<(&'static Encoding, Vec<u8>, usize)> {
    let inner = word.strip_prefix("=?")?;
    let (charset, rest) = inner.split_once('?')?;
    let (kind, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let text = &rest[..end];
    if charset.contains(char::is_whitespace) || text.contains(char::is_whitespace) {
        return None;
    }
    // `charset*language` (RFC 2231): the language says nothing about the bytes.
    let label = charset.split('*').next().unwrap_or(charset);
    let encoding = Encoding::for_label(label.as_bytes())?;
    let bytes = match kind {
        "B" | "b" => base64(text.as_bytes()),
        "Q" | "q" => {
            let text = text.as_bytes();
            let mut out = Vec::with_capacity(text.len());
            let mut i = 0;
            while i < text.len() {
                match (text[i], hex_byte(text, i + 1)) {
                    (b'=', Some(byte)) => {
                        out.push(byte);
                        i += 3;
                    }
                    (b'_', _) => {
                        out.push(b' ');
                        i += 1;
                    }
                    (byte, _) => {
                        out.push(byte);
                        i += 1;
                    }
                }
            }
            out
        }
        _ => return None,
    };
    let length = 2 + charset.len() + 1 + kind.len() + 1 + end + 2;
    Some((encoding, bytes, length))
}

/// Base64, ignoring what is not of its alphabet (line breaks); bits left over at a `=` are
/// padding. Written here, not taken from a crate: it is this small, and the Worker's size
/// budget is tight.
fn base64(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let (mut accumulated, mut bits) = (0u32, 0u32);
    for &byte in input {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                (accumulated, bits) = (0, 0);
                continue;
            }
            _ => continue,
        };
        accumulated = (accumulated << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.extend(u8::try_from((accumulated >> bits) & 0xff));
            accumulated &= (1 << bits) - 1;
        }
    }
    out
}

/// Quoted-printable: `=XX` bytes, `=` ending a line a soft break (the line goes on), trailing
/// white space dropped (transports add it); line breaks become `\n`.
fn quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut pos = 0;
    while pos < input.len() {
        let (line, next) = line_at(input, pos);
        let broken = next <= input.len() && input.get(next - 1) == Some(&b'\n');
        let mut line = line;
        while let Some(rest) = line.strip_suffix(b" ").or_else(|| line.strip_suffix(b"\t")) {
            line = rest;
        }
        let (line, soft) = match line.strip_suffix(b"=") {
            Some(rest) => (rest, true),
            None => (line, false),
        };
        let mut i = 0;
        while i < line.len() {
            match (line[i], hex_byte(line, i + 1)) {
                (b'=', Some(byte)) => {
                    out.push(byte);
                    i += 3;
                }
                (byte, _) => {
                    out.push(byte);
                    i += 1;
                }
            }
        }
        if broken && !soft {
            out.push(b'\n');
        }
        pos = next;
    }
    out
}

/// Text in the declared charset; with none (or US-ASCII, or one unknown), UTF-8 when the bytes
/// are UTF-8 and Windows-1252 (a superset of ASCII and Latin-1) when they are not.
fn decode_charset(bytes: &[u8], charset: Option<&str>) -> String {
    let declared = charset
        .map(str::trim)
        .filter(|label| {
            !matches!(
                label.to_ascii_lowercase().as_str(),
                "us-ascii" | "ascii" | "ansi_x3.4-1968"
            )
        })
        .and_then(|label| Encoding::for_label(label.as_bytes()));
    let encoding = declared.unwrap_or_else(|| match std::str::from_utf8(bytes) {
        Ok(_) => encoding_rs::UTF_8,
        Err(_) => encoding_rs::WINDOWS_1252,
    });
    encoding.decode(bytes).0.into_owned()
}

/// `text` on one line, runs of white space as one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Markdown as a block quote.
fn quoted(markdown: &str) -> String {
    markdown
        .lines()
        .map(|line| {
            if line.is_empty() {
                ">".to_owned()
            } else {
                format!("> {line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(message: &str) -> (String, Option<String>) {
        to_markdown(message.as_bytes(), &ExtractLimits::default()).unwrap()
    }

    /// `message` with CRLF line breaks, as messages travel.
    fn crlf(message: &str) -> String {
        message.replace('\n', "\r\n")
    }

    const PLAIN: &str = "From: Ann Keeper <ann@light.example>
To: Bob <bob@light.example>,
 Carol <carol@light.example>
Cc: log@light.example
Date: Mon, 3 Jun 2024 09:00:00 +0000
Subject: Lamp
 report
Message-ID: <1@light.example>

The lamp was lit at dusk.
The wick was trimmed twice.

> Did the fog horn work?
Yes, all night.
";

    #[test]
    fn headers_make_a_heading_and_a_paragraph_and_the_body_keeps_its_lines() {
        let expected = "# Lamp report\n\n\
            From: Ann Keeper \\<ann@light.example\\>\n\
            To: Bob \\<bob@light.example\\>, Carol \\<carol@light.example\\>\n\
            Cc: log@light.example\n\
            Date: Mon, 3 Jun 2024 09:00:00 +0000\n\n\
            The lamp was lit at dusk.\nThe wick was trimmed twice.\n\n\
            \\> Did the fog horn work?\nYes, all night.";
        assert_eq!(read(PLAIN), (expected.to_owned(), None));
    }

    #[test]
    fn crlf_and_lf_line_breaks_read_the_same() {
        assert_eq!(read(&crlf(PLAIN)), read(PLAIN));
    }

    #[test]
    fn decodes_encoded_word_subjects_in_utf8_base64_and_latin1_quoted_printable() {
        let message = "From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.org>
Subject: =?UTF-8?B?Q2Fmw6kgYXQ=?= =?UTF-8?B?IHRoZSBsaWdodA==?= =?iso-8859-1?q?_=E0_l'aube?=

Body.
";
        let (markdown, _) = read(message);
        assert_eq!(
            markdown,
            "# Café at the light à l'aube\n\nFrom: André \\<andre@example.org\\>\n\nBody."
        );
    }

    #[test]
    fn a_character_split_between_two_encoded_words_is_whole() {
        // "é" is C3 A9, split across the words.
        assert_eq!(
            decode_words("=?utf-8?Q?Caf=C3?= =?utf-8?Q?=A9?= ok"),
            "Café ok"
        );
        assert_eq!(decode_words("not =?encoded"), "not =?encoded");
    }

    const ALTERNATIVE: &str = "From: ann@light.example
Subject: Shift
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary=\"b1\"

This is a MIME message.
--b1
Content-Type: text/plain; charset=utf-8

Plain shift notes.
--b1
Content-Type: text/html; charset=utf-8

<p>HTML <b>shift</b> notes.</p>
--b1--
";

    #[test]
    fn alternative_plain_text_is_chosen_over_html() {
        let (markdown, note) = read(ALTERNATIVE);
        assert_eq!(
            markdown,
            "# Shift\n\nFrom: ann@light.example\n\nPlain shift notes."
        );
        assert_eq!(note, None);
        assert_eq!(read(&crlf(ALTERNATIVE)).0, markdown);
    }

    #[test]
    fn html_is_read_when_there_is_no_plain_text() {
        let message = "From: ann@light.example
Subject: Shift
Content-Type: text/html; charset=\"iso-8859-1\"
Content-Transfer-Encoding: quoted-printable

<h2>Caf=E9 log</h2><ul><li>Fog</li><li>Rain</li></ul>
";
        assert_eq!(
            read(message).0,
            "# Shift\n\nFrom: ann@light.example\n\n## Café log\n\n- Fog\n- Rain"
        );
        let alternative = ALTERNATIVE.replace(
            "Content-Type: text/plain; charset=utf-8\n\nPlain shift notes.\n",
            "Content-Type: text/plain\n\n\n",
        );
        assert_eq!(
            read(&alternative).0,
            "# Shift\n\nFrom: ann@light.example\n\nHTML shift notes."
        );
    }

    #[test]
    fn quoted_printable_soft_breaks_join_lines() {
        let message = "Subject: QP
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

The keeper climbed the 120 steps of the tower before=20=
dawn, caf=C3=A9 in hand.  =
And again at noon.=3D
";
        assert_eq!(
            read(&crlf(message)).0,
            "# QP\n\nThe keeper climbed the 120 steps of the tower before dawn, café in hand.  And again at noon.="
        );
    }

    #[test]
    fn base64_utf8_part_is_decoded() {
        // "Übung: Nebelhorn prüfen.\n" in UTF-8.
        let message = "Subject: B64
Content-Type: multipart/mixed; boundary=xyz

--xyz
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: base64

w5xidW5nOiBOZWJl
bGhvcm4gcHLDvGZlbi4K
--xyz--
";
        assert_eq!(read(message).0, "# B64\n\nÜbung: Nebelhorn prüfen.");
    }

    #[test]
    fn attachments_are_listed_in_the_note_and_not_read() {
        let message = "Subject: Logs
Content-Type: multipart/mixed; boundary=\"--=_outer\"

----=_outer
Content-Type: text/plain

See the attached log.
----=_outer
Content-Type: application/pdf; name=\"log.pdf\"
Content-Disposition: attachment; filename=\"log.pdf\"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
----=_outer
Content-Type: text/plain
Content-Disposition: attachment; filename*=utf-8''caf%C3%A9.txt

Not read.
----=_outer
Content-Type: image/png

iVBORw0KGgo=
----=_outer
Content-Type: text/plain

Second inline part.
----=_outer--
";
        let (markdown, note) = read(message);
        assert_eq!(
            markdown,
            "# Logs\n\nSee the attached log.\n\nSecond inline part."
        );
        assert_eq!(
            note.as_deref(),
            Some("3 attachments not read: log.pdf, café.txt, an unnamed image/png part")
        );
    }

    fn nested(depth: usize) -> String {
        let mut message = String::from("Subject: Deep\n");
        for n in 0..depth {
            message.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"b{n}\"\n\n--b{n}\n"
            ));
        }
        message.push_str("Content-Type: text/plain\n\nThe innermost text.\n");
        for n in (0..depth).rev() {
            message.push_str(&format!("--b{n}--\n"));
        }
        message
    }

    #[test]
    fn nested_multiparts_are_read_to_the_depth_bound_and_no_deeper() {
        assert_eq!(read(&nested(MAX_DEPTH)).0, "# Deep\n\nThe innermost text.");
        let (markdown, note) = read(&nested(1_000));
        assert_eq!(markdown, "# Deep");
        assert_eq!(
            note.as_deref(),
            Some("message parts nested more than 16 deep not read")
        );
    }

    #[test]
    fn a_forwarded_message_is_quoted() {
        let message = "Subject: Fwd: Storm
Content-Type: multipart/mixed; boundary=m

--m
Content-Type: text/plain

Forwarding this.
--m
Content-Type: message/rfc822

From: coastguard@example.org
Subject: Storm

Gale warning for tonight.
--m--
";
        assert_eq!(
            read(message).0,
            "# Fwd: Storm\n\nForwarding this.\n\n> ## Storm\n>\n> From: coastguard@example.org\n>\n> Gale warning for tonight."
        );
    }

    #[test]
    fn a_message_without_text_is_empty() {
        let message = "Content-Type: image/png; name=a.png\n\niVBORw0KGgo=\n";
        assert_eq!(
            read(message),
            (String::new(), Some("1 attachment not read: a.png".into()))
        );
    }

    #[test]
    fn base64_ignores_line_breaks_and_padding() {
        assert_eq!(base64(b"aGVs\r\nbG8=\n"), b"hello");
        assert_eq!(base64(b"YQ==Yg=="), b"ab");
    }

    #[test]
    fn the_lighthouses_fixture() {
        let eml = include_bytes!("../../tests/fixtures/email-lighthouses.eml");
        let (markdown, note) = to_markdown(eml, &ExtractLimits::default()).unwrap();
        let expected = "# Lighthouse keepers — the log\n\n\
            From: Ann Küster \\<ann@harbour.example\\>\n\
            To: Archive \\<archive@harbour.example\\>, Bob Lamp \\<bob@harbour.example\\>\n\
            Cc: log@harbour.example\n\
            Date: Mon, 3 Jun 2024 09:15:00 +0100\n\n\
            Dear archive team,\n\n\
            Before automation, every light on the coast had a keeper. The keeper's day\n\
            began at dusk, when the lamp was lit, and ended at dawn, when the lens was\n\
            covered against the sun.\n\n\
            The café on the quay still opens at five, for the keepers' sake.\n\n\
            \\> Do you have the Bell Rock log?\nYes: the scan is attached.\n\n\
            Ann";
        assert_eq!(markdown, expected);
        assert_eq!(
            note.as_deref(),
            Some("1 attachment not read: bell-rock-log.pdf")
        );
    }
}
