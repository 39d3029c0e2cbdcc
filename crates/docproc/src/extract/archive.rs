//! Zip containers (Word, Excel, PowerPoint, OpenDocument, EPUB): their parts, read through one
//! bound on decompressed bytes for all of them, so a zip bomb fails instead of exhausting
//! memory.

use std::borrow::Cow;
use std::io::{Cursor, Read};

use quick_xml::XmlVersion;
use quick_xml::events::BytesStart;

use super::ExtractError;

fn corrupt(format: &'static str, reason: impl ToString) -> ExtractError {
    ExtractError::Corrupt {
        format,
        reason: reason.to_string(),
    }
}

/// The archive's parts, read through one budget of decompressed bytes for all of them.
pub(super) struct Parts<'a> {
    archive: zip::ZipArchive<Cursor<&'a [u8]>>,
    limit: u64,
    left: u64,
    /// What the archive is, for errors: "Word document", "spreadsheet", ….
    format: &'static str,
}

impl<'a> Parts<'a> {
    pub(super) fn open(
        bytes: &'a [u8],
        limit: u64,
        format: &'static str,
    ) -> Result<Self, ExtractError> {
        let archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| corrupt(format, e))?;
        Ok(Self {
            archive,
            limit,
            left: limit,
            format,
        })
    }

    /// The parts named `{prefix}….xml` (in the folder of `prefix`), in name order.
    pub(super) fn names(&self, prefix: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .archive
            .file_names()
            .filter_map(Result::ok)
            .filter(|name| {
                name.strip_prefix(prefix)
                    .is_some_and(|rest| rest.ends_with(".xml") && !rest.contains('/'))
            })
            .map(Cow::into_owned)
            .collect();
        names.sort();
        names
    }

    /// The text of part `name`; `None` when the archive has no such part.
    pub(super) fn read(&mut self, name: &str) -> Result<Option<String>, ExtractError> {
        let entry = match self.archive.by_name(name) {
            Ok(entry) => entry,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(zip::result::ZipError::InvalidPassword) => return Err(ExtractError::Encrypted),
            Err(zip::result::ZipError::UnsupportedArchive(what)) if what.contains("assword") => {
                return Err(ExtractError::Encrypted);
            }
            Err(e) => return Err(corrupt(self.format, e)),
        };
        let too_large = || ExtractError::TooLarge {
            what: "the decompressed document",
            limit: self.limit,
        };
        // The declared size can lie; the bounded read cannot.
        if entry.size() > self.left {
            return Err(too_large());
        }
        // Sized as declared (within the budget), so reading does not double the buffer.
        let mut xml = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        entry
            .take(self.left.saturating_add(1))
            .read_to_end(&mut xml)
            .map_err(|e| corrupt(self.format, e))?;
        let read = xml.len() as u64;
        if read > self.left {
            return Err(too_large());
        }
        self.left -= read;
        String::from_utf8(xml)
            .map(Some)
            .map_err(|e| corrupt(self.format, format!("{name} is not UTF-8: {e}")))
    }
}

/// The value of attribute `name` of an element of a part, entities resolved.
pub(super) fn attr(e: &BytesStart, name: &str) -> Option<String> {
    let attribute = e.try_get_attribute(name).ok()??;
    attribute
        .normalized_value(XmlVersion::Implicit1_0)
        .ok()
        .map(Cow::into_owned)
}

/// Appends `text` to `out`, a space apart: a cell's or a shape's paragraphs on one line.
pub(super) fn join(out: &mut String, text: &str) {
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(text);
}

/// A zip archive of `parts` (name, content), deflated; a `mimetype` part goes first, stored,
/// as OpenDocument and EPUB require.
#[cfg(test)]
pub(super) fn zipped<C: AsRef<[u8]>>(parts: &[(&str, C)]) -> Vec<u8> {
    use std::io::Write;
    let mut buffer = Cursor::new(Vec::new());
    let mut writer = zip::ZipWriter::new(&mut buffer);
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, content) in parts {
        let options = if *name == "mimetype" {
            stored
        } else {
            deflated
        };
        writer.start_file(*name, options).unwrap();
        writer.write_all(content.as_ref()).unwrap();
    }
    writer.finish().unwrap();
    buffer.into_inner()
}
