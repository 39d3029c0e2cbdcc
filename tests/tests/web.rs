//! The web page in a real browser: headless Chromium (Debian's `chromium`, installed by
//! `scripts/setup`) driven by `tests/web/page.mjs` (playwright-core) against the real pipeline.
//! It signs in, pages through the list, uploads a PDF, a Word file and Markdown and sees their
//! summaries, drops a file, sees a broken one fail with its error, watches a large file's bar
//! move through a cut-off part, searches, opens a hit and reprocesses it, deletes a document,
//! and uploads XSS payloads as names and contents. Screenshots of
//! each step go to `target/e2e-web/`.

use std::path::Path;

use anyhow::{Context, Result, ensure};
use docpipe_e2e::{Options, Pipeline, root};

fn fixtures(dir: &Path) -> Result<()> {
    let docproc = root().join("crates/docproc/tests/fixtures");
    for name in ["lighthouses.pdf", "lighthouses.docx"] {
        std::fs::copy(docproc.join(name), dir.join(name))?;
    }
    std::fs::write(
        dir.join("harbour.md"),
        "# The harbour\n\nThe harbour reopened in spring. Boats returned the same week.\n\n\
         - The ferry ran again.\n- The market moved back to the quay.\n",
    )?;
    // 24 MB of text: three resumable parts.
    let line = "The keeper climbed the tower at dusk and lit the great lamp for the ships. ";
    std::fs::write(dir.join("large.txt"), line.repeat(24_000_000 / line.len()))?;
    std::fs::write(dir.join("broken.pdf"), b"%PDF-1.4\nthis is not a PDF")?;
    std::fs::write(
        dir.join("xss-name.txt"),
        "A payload in the name. The body is plain and harmless.",
    )?;
    std::fs::write(
        dir.join("xss.md"),
        "# <img src=x onerror=\"window.__pwned=1\">\n\nA payload <script>window.__pwned=2</script> \
         in **markdown** with [a link](javascript:window.__pwned=3) and \
         <iframe src=\"javascript:alert(4)\"></iframe>.\n",
    )?;
    std::fs::write(
        dir.join("xss.html"),
        "<html><body><p>A payload page &lt;img src=x onerror=alert(5)&gt; stays text.</p>\
         <script>window.__pwned=6</script><p>&lt;script&gt;alert(7)&lt;/script&gt;</p></body></html>",
    )?;
    Ok(())
}

#[test]
fn the_page_uploads_watches_searches_and_deletes_in_a_real_browser() -> Result<()> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    ensure!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: run scripts/setup"
    );
    // The large file is there for its upload; its first 4 MiB are enough to summarize.
    let pipeline = Pipeline::start_with(Options::with_vars([
        "MAX_DOCUMENT_BYTES:4194304",
        "REPROCESS_MIN_INTERVAL_SECONDS:0",
    ]))?;
    // Older documents, for paging: 22 with a page of 20.
    for n in 0..22 {
        pipeline.accept(
            format!("Earlier note {n}. The tide came in twice.").as_bytes(),
            "text/plain",
            &format!("?filename=earlier-{n:02}.txt"),
        )?;
    }
    let dir = tempfile::tempdir()?;
    fixtures(dir.path())?;
    let shots = root().join("target/e2e-web");
    let output = std::process::Command::new("node")
        .current_dir(root())
        .arg("tests/web/page.mjs")
        .arg(format!("http://127.0.0.1:{}", pipeline.port))
        .arg(dir.path())
        .arg(&shots)
        .env("DOCPIPE_KEY", &pipeline.key)
        .env("CHROMIUM", &chromium)
        .output()?;
    ensure!(
        output.status.success(),
        "the page test failed: {}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .with_context(|| String::from_utf8_lossy(&output.stdout).into_owned())?;
    println!("page: {report}; screenshots in {}", shots.display());

    // What the page did, as D1 holds it.
    for name in ["lighthouses.pdf", "lighthouses.docx", "large.txt"] {
        let summaries = pipeline.sql_count(&format!(
            "SELECT COUNT(*) FROM summaries s JOIN documents d ON d.id = s.document_id \
             WHERE d.filename = '{name}'"
        ))?;
        ensure!(summaries >= 1, "{name}: no summary");
    }
    let reprocessed = report["reprocessed"]
        .as_str()
        .context("no reprocessed id")?;
    let jobs = pipeline.sql_count(&format!(
        "SELECT COUNT(*) FROM jobs WHERE document_id = '{reprocessed}'"
    ))?;
    ensure!(jobs == 2, "the reprocessed document has {jobs} jobs");
    ensure!(
        report["broken_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{report}"
    );
    let deleted = report["deleted"].as_str().context("no deleted id")?;
    let left = pipeline.sql_count(&format!(
        "SELECT COUNT(*) FROM documents WHERE id = '{deleted}' OR filename = 'harbour.md'"
    ))?;
    ensure!(left == 0, "the deleted document is still in D1");
    let hostile = pipeline
        .sql_count("SELECT COUNT(*) FROM documents WHERE filename LIKE '<img src=x onerror=%'")?;
    ensure!(hostile == 1, "the hostile name was not stored as sent");
    for step in [
        "02-three-summaries",
        "03-large-upload-progress",
        "07-xss-as-text",
    ] {
        ensure!(
            shots.join(format!("{step}.png")).exists(),
            "no screenshot {step}"
        );
    }
    Ok(())
}
