//! Peak memory of extraction and summarization, counted by the allocator: a Worker has 128 MB,
//! so what one document may take has to stay a small multiple of its size, whatever its shape.

// A counting global allocator needs `unsafe`; it only forwards to the system allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};

use docpipe_docproc::{ExtractLimits, ExtractiveSummarizer, Input, SummaryOptions, extract_text};
use docpipe_jobs::{ContentType, MediaType};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// One test at a time, from its first allocation: the counters are the process's.
static ALONE: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

fn grew(by: usize) {
    let now = CURRENT.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only sizes are counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size);
        CURRENT.fetch_sub(layout.size(), Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes allocated at the peak of `work`, above what was allocated before it.
fn peak_of<T>(work: impl FnOnce() -> T) -> (T, usize) {
    let before = CURRENT.load(Relaxed);
    PEAK.store(before, Relaxed);
    let started = std::time::Instant::now();
    let out = work();
    let peak = PEAK.load(Relaxed) - before;
    // Shown with `--nocapture`, for BENCHMARKS.md section 7.
    eprintln!(
        "peak {:.1} MB in {:.0} ms",
        peak as f64 / MB as f64,
        started.elapsed().as_secs_f64() * 1_000.0
    );
    (out, peak)
}

const MB: usize = 1 << 20;

/// One long paragraph of distinct sentences: no blank line splits it.
fn prose(bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 100);
    let mut n = 0;
    while text.len() < bytes {
        text.push_str(&format!(
            "Sentence {n} says something about harbour cranes. "
        ));
        n += 1;
    }
    text
}

#[test]
fn summarizing_ten_megabytes_of_one_paragraph_peaks_under_four_times_its_size() {
    let _alone = alone();
    let text = prose(10 * MB);
    let (summary, peak) =
        peak_of(|| ExtractiveSummarizer.summarize_text(&text, &SummaryOptions::default()));
    assert!(!summary.unwrap().is_empty());
    assert!(peak < 4 * text.len(), "peak {} MB", peak / MB);
}

#[test]
fn extracting_plain_text_peaks_under_three_times_its_size() {
    let _alone = alone();
    let text = prose(10 * MB);
    let content_type = ContentType::new(MediaType::PlainText);
    let (extracted, peak) = peak_of(|| {
        extract_text(
            &Input::whole(text.as_bytes(), &content_type),
            &ExtractLimits::default(),
        )
    });
    assert!(extracted.unwrap().text.len() > 9 * MB);
    assert!(peak < 3 * text.len(), "peak {} MB", peak / MB);
}

#[test]
fn a_million_nested_elements_take_bounded_memory() {
    let _alone = alone();
    let depth = 1_000_000;
    let html = format!(
        "<html><body>{}Deep text sentence.{}</body></html>",
        "<div>".repeat(depth),
        "</div>".repeat(depth)
    );
    let content_type = ContentType::new(MediaType::Html);
    let (extracted, peak) = peak_of(|| {
        extract_text(
            &Input::whole(html.as_bytes(), &content_type),
            &ExtractLimits::default(),
        )
    });
    let extracted = extracted.unwrap();
    assert_eq!(extracted.text, "Deep text sentence.");
    assert!(peak < 2 * html.len() + 24 * MB, "peak {} MB", peak / MB);
}

/// A workbook of one sheet of `rows` × 8 cells, each its own shared string.
fn workbook(rows: usize) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    use std::io::Write;
    let mut strings = String::from("<sst>");
    let mut sheet = String::from("<worksheet><sheetData>");
    for r in 0..rows {
        sheet.push_str(&format!("<row r=\"{}\">", r + 1));
        for c in 0..8 {
            let n = r * 8 + c;
            strings.push_str(&format!("<si><t>cell {n} of the harbour log</t></si>"));
            sheet.push_str(&format!("<c t=\"s\"><v>{n}</v></c>"));
        }
        sheet.push_str("</row>");
    }
    strings.push_str("</sst>");
    sheet.push_str("</sheetData></worksheet>");
    let parts = [
        (
            "xl/workbook.xml",
            "<workbook><sheets><sheet name=\"Log\" r:id=\"rId1\"/></sheets></workbook>".to_owned(),
        ),
        ("xl/sharedStrings.xml", strings),
        ("xl/worksheets/sheet1.xml", sheet),
    ];
    let mut buffer = std::io::Cursor::new(Vec::new());
    let mut writer = zip::ZipWriter::new(&mut buffer);
    for (name, xml) in parts {
        writer.start_file(name, zip::write::SimpleFileOptions::default())?;
        writer.write_all(xml.as_bytes())?;
    }
    writer.finish()?;
    Ok(buffer.into_inner())
}

#[test]
fn a_workbook_of_a_third_of_a_million_cells_peaks_under_half_a_workers_memory() {
    let _alone = alone();
    // 320,000 cells: 24 MB of XML, under the 32 MB decompression bound.
    let bytes = workbook(40_000).unwrap();
    let content_type = ContentType::new(MediaType::Xlsx);
    let (extracted, peak) = peak_of(|| {
        extract_text(
            &Input::whole(&bytes, &content_type),
            &ExtractLimits::default(),
        )
    });
    let extracted = extracted.unwrap();
    assert!(
        extracted.text.len() > 6 * MB,
        "{} bytes",
        extracted.text.len()
    );
    // Its 24 MB of XML are read a part at a time; the cells are held until their sheet is
    // written, and the Markdown is turned into text a chunk at a time.
    assert!(
        peak < 64 * MB,
        "peak {} MB for {} MB of text",
        peak / MB,
        extracted.text.len() / MB
    );
}
