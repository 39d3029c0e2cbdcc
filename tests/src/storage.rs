//! The local D1 and R2 as miniflare keeps them under `--persist-to`: SQL through `wrangler d1
//! execute` (as a user runs it), and read-only looks straight at the SQLite files for polling.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde::de::DeserializeOwned;
use serde_json::Value;

use docpipe_pipeline::auth::{key_from_bytes, key_hash};

use crate::runtime::wrangler_command;

/// A key as made: its id and the secret itself.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub id: String,
    pub key: String,
}

/// A pipeline's local state directory.
#[derive(Debug, Clone)]
pub struct LocalState {
    pub dir: PathBuf,
}

impl LocalState {
    /// Runs SQL against the local D1 and returns the rows.
    pub fn sql(&self, query: &str) -> Result<Vec<Value>> {
        d1_query(&self.dir, query)
    }

    /// Makes an API key for `tenant` (creating the tenant) with `scopes` (`read`, `write` or
    /// `read write`), written straight into the local D1 file, as `scripts/keys` would through
    /// wrangler.
    pub fn create_key(&self, tenant: &str, name: &str, scopes: &str) -> Result<NewKey> {
        let mut random = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut random)?;
        let key = key_from_bytes(&random);
        let id = format!("key-{}", &key_hash(&key)[..16]);
        let db = rusqlite::Connection::open(self.d1_file()?)?;
        db.busy_timeout(Duration::from_secs(10))?;
        db.execute(
            "INSERT INTO tenants (id, name, created_at) VALUES (?1, ?1, '2026-01-01T00:00:00.000Z') \
             ON CONFLICT DO NOTHING",
            [tenant],
        )?;
        db.execute(
            "INSERT INTO api_keys (id, tenant_id, name, key_hash, scopes, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, '2026-01-01T00:00:00.000Z')",
            [&id, tenant, name, &key_hash(&key), scopes],
        )?;
        Ok(NewKey { id, key })
    }

    /// Revokes a key.
    pub fn revoke_key(&self, id: &str) -> Result<()> {
        let db = rusqlite::Connection::open(self.d1_file()?)?;
        db.busy_timeout(Duration::from_secs(10))?;
        db.execute(
            "UPDATE api_keys SET revoked_at = '2026-01-01T00:00:00.000Z' WHERE id = ?1",
            [id],
        )?;
        Ok(())
    }

    /// Runs SQL against the local D1 and decodes its rows.
    pub fn rows<T: DeserializeOwned>(&self, query: &str) -> Result<Vec<T>> {
        self.sql(query)?
            .into_iter()
            .map(|row| serde_json::from_value(row).with_context(|| format!("a row of {query}")))
            .collect()
    }

    /// The first column of every row, as text.
    pub fn column(&self, query: &str) -> Result<Vec<String>> {
        Ok(self
            .sql(query)?
            .iter()
            .filter_map(|row| {
                row.as_object()?
                    .values()
                    .next()?
                    .as_str()
                    .map(str::to_owned)
            })
            .collect())
    }

    /// Adds a `queued` job for `document` (in its tenant) that only D1 knows about (no message
    /// was sent), due at `due` (RFC 3339): as if its message had been lost.
    pub fn insert_queued_job(&self, job: &str, document: &str, due: &str) -> Result<()> {
        let rows = self.sql(&format!(
            "INSERT INTO jobs (id, document_id, tenant_id, status, available_at, request_id, \
             created_at, updated_at) SELECT '{job}', id, tenant_id, 'queued', '{due}', \
             'inserted-by-test', '{due}', '{due}' FROM documents WHERE id = '{document}' \
             RETURNING id"
        ))?;
        ensure!(rows.len() == 1, "no document {document}");
        Ok(())
    }

    /// The first column of the first row, as an integer.
    pub fn sql_count(&self, query: &str) -> Result<i64> {
        let rows = self.sql(query)?;
        rows.first()
            .and_then(|row| row.as_object()?.values().next()?.as_i64())
            .with_context(|| format!("{query} returned no integer: {rows:?}"))
    }

    /// The first column of the first row of `query`, read straight from the D1 file through
    /// a read-only connection: for polling while the pipeline runs. A `wrangler d1 execute`
    /// is a whole Node process per query, which would compete for the CPU being measured and
    /// briefly lock the database when it closes.
    pub fn peek_count(&self, query: &str) -> Result<i64> {
        let db = rusqlite::Connection::open_with_flags(
            self.d1_file()?,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        db.busy_timeout(Duration::from_secs(5))?;
        Ok(db.query_row(query, [], |row| row.get(0))?)
    }

    /// The SQLite files of a miniflare storage kind (`d1/miniflare-D1DatabaseObject`, …), one
    /// per database or bucket, without the index file.
    fn storage_files(&self, kind: &str) -> Result<Vec<PathBuf>> {
        let dir = self.dir.join("v3").join(kind);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut files = Vec::new();
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "sqlite")
                && path.file_name().is_some_and(|n| n != "metadata.sqlite")
            {
                files.push(path);
            }
        }
        Ok(files)
    }

    /// The SQLite file behind the local D1 database.
    pub fn d1_file(&self) -> Result<PathBuf> {
        self.storage_files("d1/miniflare-D1DatabaseObject")?
            .into_iter()
            .next()
            .context("no local D1 database yet")
    }

    /// The keys of every object in the local R2 bucket.
    pub fn r2_keys(&self) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        for path in self.storage_files("r2/miniflare-R2BucketObject")? {
            let db = rusqlite::Connection::open_with_flags(
                &path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )?;
            let mut statement = db.prepare("SELECT key FROM _mf_objects ORDER BY key")?;
            let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
            for key in rows {
                keys.push(key?);
            }
        }
        Ok(keys)
    }

    /// The keys of the documents' original bytes in the local R2 bucket (not their extracted
    /// text and Markdown, kept under `<key>.txt` and `<key>.md`).
    pub fn document_keys(&self) -> Result<Vec<String>> {
        Ok(self
            .r2_keys()?
            .into_iter()
            .filter(|key| !key.ends_with(".txt") && !key.ends_with(".md"))
            .collect())
    }
}

/// Runs SQL against the local D1 kept in `persist`. The running pipeline shares the SQLite
/// file, so a busy database is waited out.
pub fn d1_query(persist: &Path, query: &str) -> Result<Vec<Value>> {
    let mut attempt = 0;
    let output = loop {
        let output = wrangler_command()
            .args(["d1", "execute", "DB", "--local", "--json", "--persist-to"])
            .arg(persist)
            .args(["-c", "wrangler/summarizer.toml", "--command", query])
            .output()
            .context("running wrangler d1 execute")?;
        // The busy error surfaces on stdout (as an internal error) and on stderr.
        let busy = [&output.stdout, &output.stderr]
            .iter()
            .any(|out| String::from_utf8_lossy(out).contains("SQLITE_BUSY"));
        attempt += 1;
        if output.status.success() || !busy || attempt == 20 {
            break output;
        }
        std::thread::sleep(Duration::from_millis(100 * attempt));
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "wrangler d1 execute failed for {query}:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let start = stdout.find('[').context("no JSON in wrangler output")?;
    let results: Value = serde_json::from_str(&stdout[start..])?;
    let rows = results
        .as_array()
        .and_then(|statements| statements.last())
        .and_then(|last| last["results"].as_array())
        .cloned()
        .unwrap_or_default();
    Ok(rows)
}
