//! Fuzzes the extractor entry point (and the summarizer on whatever it extracts): any bytes,
//! declared as any media type, whole or cut, must give text or an error, never a panic, a hang
//! or unbounded memory.
#![no_main]

use docpipe_docproc::{ExtractLimits, ExtractiveSummarizer, Input, SummaryOptions, extract_text};
use docpipe_jobs::{ContentType, MediaType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let media_type = MediaType::ALL[usize::from(selector & 0x0F) % MediaType::ALL.len()];
    let mut content_type = ContentType::new(media_type);
    if selector & 0x40 != 0 {
        content_type.charset = Some("utf-8".into());
    }
    let input = Input {
        bytes,
        content_type: &content_type,
        complete: selector & 0x80 == 0,
    };
    let limits = ExtractLimits {
        max_text_bytes: 1 << 20,
        max_decompressed_bytes: 1 << 22,
        max_pages: 64,
    };
    if let Ok(extracted) = extract_text(&input, &limits) {
        assert!(extracted.text.len() <= limits.max_text_bytes);
        let _ = ExtractiveSummarizer.summarize_text(&extracted.text, &SummaryOptions::default());
    }
});
