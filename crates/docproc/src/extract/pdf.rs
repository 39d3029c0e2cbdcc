//! PDF: the text layer, page by page in order, with `lopdf`. Decompression is bounded, an
//! encrypted file is refused unless it opens with the empty password (as most readers do), and
//! a PDF whose pages have no text layer (a scan) says so.

use lopdf::{Document, LoadOptions};

use super::{ExtractError, ExtractLimits};

pub(super) fn to_text(bytes: &[u8], limits: &ExtractLimits) -> Result<String, ExtractError> {
    let bound = usize::try_from(limits.max_decompressed_bytes).unwrap_or(usize::MAX);
    let options = LoadOptions {
        max_decompressed_size: Some(bound),
        ..LoadOptions::default()
    };
    let document = Document::load_mem_with_options(bytes, options)
        .map_err(|e| load_error(e, limits.max_decompressed_bytes))?;
    if document.is_encrypted() {
        return Err(ExtractError::Encrypted);
    }
    let pages: Vec<u32> = document.get_pages().into_keys().collect();
    if pages.is_empty() {
        return Err(ExtractError::Corrupt {
            format: "PDF",
            reason: "it has no pages".into(),
        });
    }
    let mut out = String::new();
    let mut failed_pages = 0;
    for page in pages.iter().take(limits.max_pages) {
        match document.extract_text_with_limit(&[*page], bound) {
            Ok(text) => {
                out.push_str(text.trim_end());
                out.push_str("\n\n");
            }
            Err(lopdf::Error::Decompress(_)) => {
                return Err(ExtractError::TooLarge {
                    what: "a decompressed page",
                    limit: limits.max_decompressed_bytes,
                });
            }
            // One unreadable page does not lose the rest of the document.
            Err(_) => failed_pages += 1,
        }
        if out.len() > limits.max_text_bytes {
            break;
        }
    }
    if failed_pages == pages.len().min(limits.max_pages) {
        return Err(ExtractError::Corrupt {
            format: "PDF",
            reason: "no page could be read".into(),
        });
    }
    // A file whose cross-reference data had to be rebuilt and that yields no text is more
    // likely cut short or damaged than a scan.
    if out.trim().is_empty() && document.xref_recovery.is_some() {
        return Err(ExtractError::Corrupt {
            format: "PDF",
            reason: "it is truncated or damaged (no readable text)".into(),
        });
    }
    Ok(out)
}

fn load_error(e: lopdf::Error, limit: u64) -> ExtractError {
    match e {
        lopdf::Error::InvalidPassword
        | lopdf::Error::Decryption(_)
        | lopdf::Error::UnsupportedSecurityHandler(_) => ExtractError::Encrypted,
        lopdf::Error::Decompress(_) => ExtractError::TooLarge {
            what: "a decompressed stream",
            limit,
        },
        other => ExtractError::Corrupt {
            format: "PDF",
            reason: other.to_string(),
        },
    }
}
