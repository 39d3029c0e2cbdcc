//! D1 as a [`Database`].

use docpipe_pipeline::db::{DbError, SqlValue, Statement};
use docpipe_pipeline::ports::Database;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

#[derive(Debug)]
pub struct D1(pub D1Database);

fn js(value: &SqlValue) -> JsValue {
    match value {
        SqlValue::Null => JsValue::NULL,
        // D1 numbers are JavaScript numbers; every integer docpipe stores is far below 2^53.
        SqlValue::Integer(i) => JsValue::from_f64(*i as f64),
        SqlValue::Real(f) => JsValue::from_f64(*f),
        SqlValue::Text(s) => JsValue::from_str(s),
    }
}

/// D1's own words: the cause's message rather than workers-rs' multi-line debug form.
fn error(e: worker::Error) -> DbError {
    let message = match &e {
        worker::Error::D1(d1) => match d1.cause() {
            cause if cause != "unknown error" => format!("D1: {cause}"),
            _ => e.to_string(),
        },
        other => other.to_string(),
    };
    DbError::from_message(message)
}

impl D1 {
    fn prepare(&self, statement: &Statement) -> Result<D1PreparedStatement, DbError> {
        let params: Vec<JsValue> = statement.params.iter().map(js).collect();
        self.0.prepare(statement.sql).bind(&params).map_err(error)
    }

    /// Runs statements as one D1 batch (a transaction) and returns their results.
    async fn run_batch(&self, statements: &[Statement]) -> Result<Vec<worker::D1Result>, DbError> {
        let prepared = statements
            .iter()
            .map(|s| self.prepare(s))
            .collect::<Result<Vec<_>, _>>()?;
        self.0.batch(prepared).await.map_err(error)
    }
}

/// The rows the statement changed; counts what D1 reports it read and wrote.
fn changes(result: &worker::D1Result) -> Result<u64, DbError> {
    let meta = result.meta().map_err(error)?;
    crate::usage::d1(
        meta.as_ref().and_then(|m| m.rows_read),
        meta.as_ref().and_then(|m| m.rows_written),
    );
    Ok(meta.and_then(|m| m.changes).unwrap_or(0) as u64)
}

impl Database for D1 {
    async fn execute(&self, statement: Statement) -> Result<u64, DbError> {
        let result = self.prepare(&statement)?.run().await.map_err(error)?;
        changes(&result)
    }

    async fn query<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>, DbError> {
        let result = self.prepare(&statement)?.all().await.map_err(error)?;
        if let Some(message) = result.error() {
            return Err(DbError::from_message(message));
        }
        changes(&result)?;
        result
            .results::<T>()
            .map_err(|e| DbError::Decode(e.to_string()))
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<u64>, DbError> {
        let results = self.run_batch(&statements).await?;
        results.iter().map(changes).collect()
    }

    async fn batch_query<T: DeserializeOwned>(
        &self,
        statements: Vec<Statement>,
    ) -> Result<Vec<T>, DbError> {
        let results = self.run_batch(&statements).await?;
        for result in &results {
            changes(result)?;
        }
        match results.last() {
            Some(last) => last
                .results::<T>()
                .map_err(|e| DbError::Decode(e.to_string())),
            None => Ok(Vec::new()),
        }
    }
}
