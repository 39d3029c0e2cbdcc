//! Scores docpipe's PDF text against `pdftotext` (poppler) on the corpus in
//! `tests/corpus/pdf` (`scripts/extract-quality`): word F1 and word-bigram F1 per file and over
//! the corpus, and extraction time per MB. Writes a Markdown section for BENCHMARKS.md.
//!
//! `extract_quality CORPUS_DIR MARKDOWN_OUT`; with `EXTRACT_DUMP=part`, the texts of files
//! whose names contain `part` are printed too (their Markdown with `EXTRACT_MARKDOWN=1`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use docpipe_docproc::{ExtractLimits, Input, extract_text};
use docpipe_e2e::quality::{Overlap, bigram_overlap, word_overlap};
use docpipe_jobs::{ContentType, MediaType};

/// Targets from the issue that asked for this measure.
const WORD_F1_TARGET: f64 = 0.97;
const BIGRAM_F1_TARGET: f64 = 0.93;
const FILE_FLOOR: f64 = 0.8;

/// Files whose pdftotext reading is not the file's text, with what the content shows (read
/// off its content stream and fonts); their notes say so.
const REFERENCE_ERRORS: &[(&str, &str)] = &[
    (
        "arabic-habibi.pdf",
        "reference off: made by WeasyPrint from `حَبيبي habibi`, whose bug (Kozea/WeasyPrint#1686) \
         maps the first glyph of `habibi` to `حَبيبي h`, one Arabic glyph to `حَبيبي ` and the \
         others to nothing, so the file's text has the Arabic word twice, once inside a Latin \
         glyph; pdftotext spells both copies backwards (`يبيبَح`) and glues one to `habibi`; \
         docpipe reads the Arabic glyph's copy in order",
    ),
    (
        "type3-word-spacing.pdf",
        "reference off: the content stream shows the string ` ab ba abba` six times, at word \
         spacings 50 to 0, and docpipe reads it so; pdftotext's words include `baba`, `abab` \
         and `abbaabba`, which the file does not have",
    ),
];

struct Scored {
    name: String,
    category: String,
    bytes: usize,
    reference_words: usize,
    docpipe_words: usize,
    words: Overlap,
    bigrams: Overlap,
    docpipe_ms: f64,
    reference_ms: f64,
    /// pdftotext's text is not the file's (one of [`REFERENCE_ERRORS`]).
    reference_off: bool,
    note: String,
}

/// poppler's text, in reading order (no `-layout`), UTF-8; empty when it reads none.
fn pdftotext(path: &Path) -> Result<(String, f64, Option<String>)> {
    let started = Instant::now();
    let out = Command::new("timeout")
        .args(["60", "pdftotext", "-q", "-enc", "UTF-8"])
        .arg(path)
        .arg("-")
        .output()
        .context("running pdftotext (poppler-utils)")?;
    let ms = started.elapsed().as_secs_f64() * 1_000.0;
    let failed = (!out.status.success()).then(|| format!("pdftotext failed ({})", out.status));
    Ok((
        String::from_utf8_lossy(&out.stdout).into_owned(),
        ms,
        failed,
    ))
}

/// docpipe's text as the summarizer reads it, and the median time of three extractions.
fn docpipe(bytes: &[u8]) -> (Result<String, String>, f64) {
    let content_type = ContentType::new(MediaType::Pdf);
    let input = Input {
        bytes,
        content_type: &content_type,
        complete: true,
    };
    let limits = ExtractLimits::default();
    let mut times = Vec::new();
    let mut result = Err(String::new());
    for _ in 0..3 {
        let started = Instant::now();
        let markdown = std::env::var_os("EXTRACT_MARKDOWN").is_some();
        result = extract_text(&input, &limits)
            .map(|e| match e.markdown {
                Some(text) if markdown => text,
                _ => e.text,
            })
            .map_err(|e| e.to_string());
        times.push(started.elapsed().as_secs_f64() * 1_000.0);
    }
    times.sort_by(f64::total_cmp);
    (result, times[1])
}

fn score(path: &Path) -> Result<Scored> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    let category = name.split('-').next().unwrap_or_default().to_owned();
    let bytes = std::fs::read(path)?;
    let (reference, reference_ms, reference_failed) = pdftotext(path)?;
    let (ours, docpipe_ms) = docpipe(&bytes);
    let mut note = Vec::new();
    if let Some(failed) = reference_failed {
        note.push(failed);
    }
    let off: Vec<String> = REFERENCE_ERRORS
        .iter()
        .filter(|(file, _)| name.ends_with(file))
        .map(|(_, why)| (*why).to_owned())
        .collect();
    let reference_off = !off.is_empty();
    note.extend(off);
    let text = match ours {
        Ok(text) if std::env::var("EXTRACT_DUMP").is_ok_and(|dump| name.contains(&dump)) => {
            println!("--- docpipe: {name}\n{text}\n--- pdftotext\n{reference}\n---");
            text
        }
        Ok(text) => text,
        Err(e) => {
            note.push(format!("docpipe: {e}"));
            String::new()
        }
    };
    let words = word_overlap(&text, &reference);
    Ok(Scored {
        name,
        category,
        bytes: bytes.len(),
        reference_words: words.reference,
        docpipe_words: words.candidate,
        words,
        bigrams: bigram_overlap(&text, &reference),
        docpipe_ms,
        reference_ms,
        reference_off,
        note: note.join("; ").replace('|', "/"),
    })
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(out)) = (args.next(), args.next()) else {
        bail!("usage: extract_quality CORPUS_DIR MARKDOWN_OUT");
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {dir}"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pdf"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no PDFs in {dir}");
    }
    let mut rows = Vec::new();
    for file in &files {
        let scored = score(file)?;
        println!(
            "{:<48} words F1 {:.3}  bigrams F1 {:.3}  {}",
            scored.name,
            scored.words.f1(),
            scored.bigrams.f1(),
            scored.note
        );
        rows.push(scored);
    }

    // Over the files pdftotext reads text from: micro-averaged (by words) and per file.
    let read: Vec<&Scored> = rows.iter().filter(|r| r.reference_words > 0).collect();
    let (mut words, mut bigrams) = (Overlap::default(), Overlap::default());
    for row in &read {
        words.add(row.words);
        bigrams.add(row.bigrams);
    }
    let mean =
        |f: fn(&Scored) -> f64| read.iter().map(|r| f(r)).sum::<f64>() / read.len().max(1) as f64;
    let below: Vec<&Scored> = read
        .iter()
        .copied()
        .filter(|r| r.words.f1() < FILE_FLOOR)
        .collect();
    let below_off = below.iter().filter(|r| r.reference_off).count();
    let megabytes = rows.iter().map(|r| r.bytes).sum::<usize>() as f64 / 1e6;
    let docpipe_ms: f64 = rows.iter().map(|r| r.docpipe_ms).sum();
    let reference_ms: f64 = rows.iter().map(|r| r.reference_ms).sum();

    let mut md = String::new();
    md.push_str(&format!(
        "{} PDFs ({:.1} MB; sources and licences in `tests/corpus/pdf/SOURCES.md`), {} of them \
         with text `pdftotext` reads. Words are what whitespace separates, compared exactly; F1 \
         is over multisets of words (are the words right, with the right spaces?) and of \
         consecutive word pairs (is the reading order right?). Corpus figures are \
         micro-averaged over the files pdftotext reads (a file docpipe cannot read counts its \
         reference words as missed); the mean of per-file F1 is beside it. Time: docpipe's \
         extraction in this process (median of 3, release build) and pdftotext's whole run as \
         a process.\n\n",
        rows.len(),
        megabytes,
        read.len()
    ));
    md.push_str("| measure | docpipe | target |\n| --- | ---: | ---: |\n");
    md.push_str(&format!(
        "| word F1, corpus (per-file mean) | {:.3} ({:.3}) | ≥ {WORD_F1_TARGET} |\n",
        words.f1(),
        mean(|r| r.words.f1())
    ));
    md.push_str(&format!(
        "| bigram F1, corpus (per-file mean) | {:.3} ({:.3}) | ≥ {BIGRAM_F1_TARGET} |\n",
        bigrams.f1(),
        mean(|r| r.bigrams.f1())
    ));
    md.push_str(&format!(
        "| files pdftotext reads with word F1 < {FILE_FLOOR} | {} of {} ({below_off} of them where \
         pdftotext's text is not the file's: see their notes) | 0 |\n",
        below.len(),
        read.len()
    ));
    md.push_str(&format!(
        "| extraction ms per MB of PDF (pdftotext, a process per file) | {:.1} ({:.1}) | no worse than before |\n\n",
        docpipe_ms / megabytes,
        reference_ms / megabytes
    ));
    md.push_str("| file | category | KB | pdftotext words | docpipe words | word F1 | bigram F1 | docpipe ms | note |\n");
    md.push_str("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
    for r in &rows {
        // F1 means nothing where the reference has no text (scans, broken files).
        let f1 = |o: Overlap| {
            if r.reference_words == 0 {
                "–".to_owned()
            } else {
                format!("{:.3}", o.f1())
            }
        };
        md.push_str(&format!(
            "| {} | {} | {:.0} | {} | {} | {} | {} | {:.1} | {} |\n",
            r.name,
            r.category,
            r.bytes as f64 / 1e3,
            r.reference_words,
            r.docpipe_words,
            f1(r.words),
            f1(r.bigrams),
            r.docpipe_ms,
            r.note
        ));
    }
    std::fs::write(&out, md)?;
    println!(
        "corpus: word F1 {:.3}, bigram F1 {:.3}, {} of {} below {FILE_FLOOR}",
        words.f1(),
        bigrams.f1(),
        below.len(),
        read.len()
    );
    Ok(())
}
