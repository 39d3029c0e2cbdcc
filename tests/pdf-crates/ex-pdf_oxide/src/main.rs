use std::io::Write;
fn extract(data: Vec<u8>) -> Result<String, String> {
    let doc = pdf_oxide::PdfDocument::from_bytes(data).map_err(|e| e.to_string())?;
    doc.extract_all_text().map_err(|e| e.to_string())
}
fn main() {
    let path = std::env::args().nth(1).expect("usage: FILE");
    let data = std::fs::read(&path).expect("read");
    let t = std::time::Instant::now();
    let r = extract(data);
    let us = t.elapsed().as_micros();
    eprintln!("ELAPSED_US {us}");
    match r {
        Ok(s) => { std::io::stdout().write_all(s.as_bytes()).unwrap(); }
        Err(e) => { eprintln!("ERROR {e}"); std::process::exit(2); }
    }
}
