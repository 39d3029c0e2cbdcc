//! Runs each extractor binary (target/release/ex-CRATE FILE) on every PDF in a corpus directory,
//! one child process per file with a timeout, and scores the text against `pdftotext` with the
//! word / bigram F1 of quality.rs (micro-averaged over files where pdftotext yields >= 1 word).
// The scorer docpipe's own measure uses (tests/src/quality.rs), so the numbers compare.
#[path = "../../../src/quality.rs"]
mod quality;

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut corpus: Vec<PathBuf> = Vec::new();
    let mut crates: Vec<String> = vec![];
    let mut timeout = 30u32;
    let mut bin_dir = PathBuf::from("target/release");
    let mut out_dir = PathBuf::from("results");
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--corpus" => { corpus.push(args[i + 1].clone().into()); i += 2; }
            "--crates" => { crates = args[i + 1].split(',').map(String::from).collect(); i += 2; }
            "--timeout" => { timeout = args[i + 1].parse().unwrap(); i += 2; }
            "--bin-dir" => { bin_dir = args[i + 1].clone().into(); i += 2; }
            "--out" => { out_dir = args[i + 1].clone().into(); i += 2; }
            a => panic!("unknown arg {a}"),
        }
    }
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in &corpus {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().map(|x| x.eq_ignore_ascii_case("pdf")).unwrap_or(false) {
                files.push(p);
            }
        }
    }
    files.sort();
    std::fs::create_dir_all(out_dir.join("ref")).unwrap();
    // Reference texts.
    let refs: Vec<String> = files.iter().map(|f| reference(f, &out_dir.join("ref"))).collect();
    let scored = refs.iter().filter(|r| !quality::words(r).is_empty()).count();
    println!("corpus: {} PDFs, {} with >=1 pdftotext word", files.len(), scored);
    println!("| crate | word F1 | bigram F1 | files<0.8 | errors (err/panic/timeout) | extract time s (sum in-process) | wall s |");
    println!("|---|---|---|---|---|---|---|");
    for c in &crates {
        let bin = bin_dir.join(format!("ex-{c}"));
        let dir = out_dir.join(c);
        std::fs::create_dir_all(&dir).unwrap();
        let mut words = quality::Overlap::default();
        let mut bigrams = quality::Overlap::default();
        let (mut low, mut errs, mut panics, mut timeouts) = (0, 0, 0, 0);
        let mut us_total: u128 = 0;
        let mut per_file = String::from("file\tstatus\tref_words\tcand_words\tword_f1\tbigram_f1\tms\n");
        let wall = std::time::Instant::now();
        for (f, r) in files.iter().zip(&refs) {
            let t = std::time::Instant::now();
            let out = Command::new("timeout")
                .args(["-k", "2", &timeout.to_string()])
                .arg(&bin)
                .arg(f)
                .output()
                .expect("spawn");
            let wall_us = t.elapsed().as_micros();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let us: u128 = stderr
                .lines()
                .find_map(|l| l.strip_prefix("ELAPSED_US ").and_then(|n| n.parse().ok()))
                .unwrap_or(wall_us);
            us_total += us;
            let code = out.status.code();
            let (status, text) = match code {
                Some(0) => ("ok", String::from_utf8_lossy(&out.stdout).into_owned()),
                Some(124) | Some(137) | None => { timeouts += 1; ("timeout", String::new()) }
                Some(2) => { errs += 1; ("error", String::new()) }
                Some(_) => { panics += 1; ("panic", String::new()) }
            };
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            std::fs::write(dir.join(format!("{name}.txt")), &text).unwrap();
            if status != "ok" {
                std::fs::write(dir.join(format!("{name}.stderr")), stderr.as_bytes()).unwrap();
            }
            let w = quality::word_overlap(&text, r);
            let b = quality::bigram_overlap(&text, r);
            if w.reference > 0 {
                words.add(w);
                bigrams.add(b);
                if w.f1() < 0.8 { low += 1; }
            }
            per_file.push_str(&format!(
                "{name}\t{status}\t{}\t{}\t{:.3}\t{:.3}\t{:.1}\n",
                w.reference, w.candidate, w.f1(), b.f1(), us as f64 / 1000.0
            ));
        }
        std::fs::write(out_dir.join(format!("{c}.tsv")), per_file).unwrap();
        println!(
            "| {c} | {:.3} | {:.3} | {low} | {} ({errs}/{panics}/{timeouts}) | {:.2} | {:.2} |",
            words.f1(), bigrams.f1(), errs + panics + timeouts,
            us_total as f64 / 1e6, wall.elapsed().as_secs_f64()
        );
    }
}

fn reference(pdf: &Path, dir: &Path) -> String {
    let cache = dir.join(format!("{}.txt", pdf.file_name().unwrap().to_string_lossy()));
    if let Ok(s) = std::fs::read_to_string(&cache) {
        return s;
    }
    let out = Command::new("pdftotext").args(["-q", "-enc", "UTF-8"]).arg(pdf).arg("-").output().expect("pdftotext");
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    std::fs::write(&cache, &s).unwrap();
    s
}
