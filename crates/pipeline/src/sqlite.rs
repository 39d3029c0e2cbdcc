//! [`Database`] over an in-memory SQLite with docpipe's migrations applied: the native stand-in
//! for D1 in unit tests, running the very same SQL.

use std::cell::{Cell, RefCell};
use std::path::Path;

use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, params_from_iter};
use serde::de::DeserializeOwned;

use crate::db::{DbError, SqlValue, Statement};
use crate::ports::{Clock, Database};
use crate::time::Millis;

#[derive(Debug)]
pub struct Sqlite {
    connection: Connection,
}

impl Sqlite {
    /// A fresh database with every migration in `migrations/` applied in order.
    pub fn migrated() -> Self {
        let connection = Connection::open_in_memory().expect("open in-memory SQLite");
        connection
            .execute_batch("PRAGMA foreign_keys = ON;")
            .expect("enable foreign keys");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("read migrations")
            .map(|entry| entry.expect("migration entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no migrations in {}", dir.display());
        for file in files {
            let sql = std::fs::read_to_string(&file).expect("read migration");
            connection
                .execute_batch(&sql)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
        Self { connection }
    }

    /// Runs ad-hoc SQL statements, for setting up a test.
    pub fn run_sql(&self, sql: &str) {
        self.connection
            .execute_batch(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Runs ad-hoc SQL, for assertions.
    pub fn scalar_i64(&self, sql: &str) -> i64 {
        self.connection
            .query_row(sql, [], |row| row.get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// How SQLite would run `statement`: the details of `EXPLAIN QUERY PLAN`, for assertions.
    pub fn query_plan(&self, statement: &Statement) -> Vec<String> {
        let sql = format!("EXPLAIN QUERY PLAN {}", statement.sql);
        let mut query = self
            .connection
            .prepare(&sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        query
            .query_map(params_from_iter(values(statement)), |row| row.get(3))
            .and_then(|rows| rows.collect())
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs ad-hoc SQL returning text, for assertions.
    pub fn scalar_text(&self, sql: &str) -> String {
        self.connection
            .query_row(sql, [], |row| row.get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    fn run(&self, statement: &Statement) -> Result<u64, DbError> {
        let changes = self
            .connection
            .execute(statement.sql, params_from_iter(values(statement)))
            .map_err(error)?;
        Ok(changes as u64)
    }
}

fn values(statement: &Statement) -> Vec<Value> {
    statement
        .params
        .iter()
        .map(|p| match p {
            SqlValue::Null => Value::Null,
            SqlValue::Integer(i) => Value::Integer(*i),
            SqlValue::Real(f) => Value::Real(*f),
            SqlValue::Text(s) => Value::Text(s.clone()),
        })
        .collect()
}

fn error(e: rusqlite::Error) -> DbError {
    DbError::from_message(e.to_string())
}

impl Database for Sqlite {
    async fn execute(&self, statement: Statement) -> Result<u64, DbError> {
        self.run(&statement)
    }

    async fn query<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>, DbError> {
        let mut prepared = self.connection.prepare(statement.sql).map_err(error)?;
        let names: Vec<String> = prepared.column_names().map(str::to_owned).collect();
        let mut rows = prepared
            .query(params_from_iter(values(&statement)))
            .map_err(error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(error)? {
            let mut object = serde_json::Map::new();
            for (i, name) in names.iter().enumerate() {
                let value = match row.get_ref(i).map_err(error)? {
                    ValueRef::Null => serde_json::Value::Null,
                    ValueRef::Integer(n) => n.into(),
                    ValueRef::Real(f) => f.into(),
                    ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
                    ValueRef::Blob(_) => serde_json::Value::Null,
                };
                object.insert(name.clone(), value);
            }
            let row = serde_json::from_value(object.into())
                .map_err(|e| DbError::Decode(e.to_string()))?;
            out.push(row);
        }
        Ok(out)
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<u64>, DbError> {
        let transaction = self.connection.unchecked_transaction().map_err(error)?;
        let mut changes = Vec::with_capacity(statements.len());
        for statement in &statements {
            changes.push(self.run(statement)?);
        }
        transaction.commit().map_err(error)?;
        Ok(changes)
    }

    async fn batch_query<T: DeserializeOwned>(
        &self,
        mut statements: Vec<Statement>,
    ) -> Result<Vec<T>, DbError> {
        let Some(last) = statements.pop() else {
            return Ok(Vec::new());
        };
        let transaction = self.connection.unchecked_transaction().map_err(error)?;
        for statement in &statements {
            self.run(statement)?;
        }
        let rows = self.query(last).await?;
        transaction.commit().map_err(error)?;
        Ok(rows)
    }
}

/// SQLite whose next `failures` transactions fail, as a briefly unavailable D1 would. With
/// `landing`, a failing transaction commits first and only its answer is lost, as when the
/// connection drops after D1 has written.
pub struct ShakyWrites {
    pub inner: Sqlite,
    pub failures: Cell<u32>,
    pub landing: bool,
    /// Single statements fail too, for good.
    pub statements_fail: bool,
}

impl ShakyWrites {
    pub fn new(inner: Sqlite, failures: u32) -> Self {
        Self {
            inner,
            failures: Cell::new(failures),
            landing: false,
            statements_fail: false,
        }
    }

    /// A database no write reaches.
    pub fn failing_everything(inner: Sqlite) -> Self {
        Self {
            statements_fail: true,
            ..Self::new(inner, u32::MAX)
        }
    }
}

impl Database for ShakyWrites {
    async fn execute(&self, statement: Statement) -> Result<u64, DbError> {
        if self.statements_fail {
            return Err(DbError::Failed("database is unreachable".into()));
        }
        self.inner.execute(statement).await
    }

    async fn query<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>, DbError> {
        self.inner.query(statement).await
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<u64>, DbError> {
        if self.failures.get() == 0 {
            return self.inner.batch(statements).await;
        }
        self.failures.set(self.failures.get() - 1);
        if self.landing {
            self.inner.batch(statements).await?;
        }
        Err(DbError::Failed("database is locked".into()))
    }

    async fn batch_query<T: DeserializeOwned>(
        &self,
        statements: Vec<Statement>,
    ) -> Result<Vec<T>, DbError> {
        if self.statements_fail {
            return Err(DbError::Failed("database is unreachable".into()));
        }
        self.inner.batch_query(statements).await
    }
}

/// A clock that only moves when slept on.
pub struct ManualClock(pub Cell<Millis>);

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.0.get()
    }
    fn random_unit(&self) -> f64 {
        0.5
    }
    async fn sleep(&self, ms: u64) {
        self.0.set(self.0.get() + ms as Millis);
    }
}

/// Something done to the database from outside, once.
type Interjection = Box<dyn FnOnce(&Sqlite)>;

/// SQLite that runs `before` once, just before its transaction number `at` (from 0): for what
/// another request or the sweep does at the worst moment.
pub struct Interleaved {
    pub inner: Sqlite,
    pub at: Cell<u32>,
    pub before: RefCell<Option<Interjection>>,
}

impl Interleaved {
    pub fn new(inner: Sqlite, at: u32, before: impl FnOnce(&Sqlite) + 'static) -> Self {
        Self {
            inner,
            at: Cell::new(at),
            before: RefCell::new(Some(Box::new(before))),
        }
    }
}

impl Database for Interleaved {
    async fn execute(&self, statement: Statement) -> Result<u64, DbError> {
        self.inner.execute(statement).await
    }

    async fn query<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>, DbError> {
        self.inner.query(statement).await
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<u64>, DbError> {
        if self.at.get() == 0 {
            let before = self.before.borrow_mut().take();
            if let Some(before) = before {
                before(&self.inner);
            }
        }
        self.at.set(self.at.get().saturating_sub(1));
        self.inner.batch(statements).await
    }
    async fn batch_query<T: DeserializeOwned>(
        &self,
        statements: Vec<Statement>,
    ) -> Result<Vec<T>, DbError> {
        self.inner.batch_query(statements).await
    }
}
