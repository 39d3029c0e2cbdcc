//! The narrow waist between docpipe's SQL and whatever runs it: D1 inside the Workers, SQLite
//! in native tests. Every statement the pipeline runs is a [`Statement`] built in
//! [`crate::store`], so the SQL and the order of its parameters live in one place.

use std::future::Future;

use docpipe_jobs::{DocumentId, JobId, RequestId};
use serde::{Deserialize, Deserializer};
use tracing::warn;

use crate::ports::Clock;

/// A value bound to a `?` parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
}

impl From<f64> for SqlValue {
    fn from(v: f64) -> Self {
        SqlValue::Real(v)
    }
}

impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        SqlValue::Integer(v)
    }
}

impl From<u32> for SqlValue {
    fn from(v: u32) -> Self {
        SqlValue::Integer(i64::from(v))
    }
}

impl From<bool> for SqlValue {
    fn from(v: bool) -> Self {
        SqlValue::Integer(i64::from(v))
    }
}

impl From<u64> for SqlValue {
    /// Stored values (sizes, token counts) are far below `i64::MAX`; beyond it, it saturates.
    fn from(v: u64) -> Self {
        SqlValue::Integer(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<&JobId> for SqlValue {
    fn from(id: &JobId) -> Self {
        SqlValue::Text(id.to_string())
    }
}

impl From<&DocumentId> for SqlValue {
    fn from(id: &DocumentId) -> Self {
        SqlValue::Text(id.to_string())
    }
}

impl From<JobId> for SqlValue {
    fn from(id: JobId) -> Self {
        SqlValue::Text(id.to_string())
    }
}

impl From<DocumentId> for SqlValue {
    fn from(id: DocumentId) -> Self {
        SqlValue::Text(id.to_string())
    }
}

impl From<&RequestId> for SqlValue {
    fn from(id: &RequestId) -> Self {
        SqlValue::Text(id.as_str().to_owned())
    }
}

/// Reads SQLite's booleans (`0`/`1` integers) into `bool`: `#[serde(deserialize_with =
/// "sql_bool")]`.
pub fn sql_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Int(i64),
        Float(f64),
    }
    match Flag::deserialize(deserializer)? {
        Flag::Bool(b) => Ok(b),
        Flag::Int(i) => Ok(i != 0),
        Flag::Float(f) => Ok(f != 0.0),
    }
}

impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(v)
    }
}

impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(v.to_owned())
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(SqlValue::Null, Into::into)
    }
}

/// One SQL statement with its parameters, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: &'static str,
    pub params: Vec<SqlValue>,
}

impl Statement {
    pub fn new(sql: &'static str, params: Vec<SqlValue>) -> Self {
        Self { sql, params }
    }
}

/// A database error, with the database's own words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// A UNIQUE or PRIMARY KEY constraint refused the write.
    #[error("constraint violated: {0}")]
    Constraint(String),
    /// Anything else: unreachable database, timeouts, bad SQL. Worth retrying.
    #[error("database error: {0}")]
    Failed(String),
    /// A row did not have the shape the code expects.
    #[error("unexpected row shape: {0}")]
    Decode(String),
}

impl DbError {
    /// Sorts a driver's error message into [`DbError::Constraint`] or [`DbError::Failed`].
    pub fn from_message(message: String) -> Self {
        if message.contains("UNIQUE constraint failed")
            || message.contains("PRIMARY KEY constraint failed")
        {
            DbError::Constraint(message)
        } else {
            DbError::Failed(message)
        }
    }
}

/// Runs a database operation, trying it again after each pause in `pauses_ms` while it fails
/// with [`DbError::Failed`] (a locked or unreachable database). `operation` gets the number of
/// the try, from 0: a write whose earlier try may have landed can check before writing again.
pub async fn retry_failed<T, F, O, C>(
    clock: &C,
    pauses_ms: &[u64],
    mut operation: O,
) -> Result<T, DbError>
where
    C: Clock,
    O: FnMut(usize) -> F,
    F: Future<Output = Result<T, DbError>>,
{
    let mut result = operation(0).await;
    for (try_number, &pause_ms) in pauses_ms.iter().enumerate() {
        match &result {
            Err(DbError::Failed(e)) => {
                warn!(error = %e, pause_ms, "database operation failed; trying again");
                clock.sleep(pause_ms).await;
                result = operation(try_number + 1).await;
            }
            _ => break,
        }
    }
    result
}
