//! What this isolate has spent on billed platform operations since it started: D1 queries and
//! the rows D1 reports read and written (each result's `meta`), R2 class A (writes) and class B
//! (reads) operations, and queue messages sent. The Workers log the totals (`request done`,
//! `batch done`), so an operator or `scripts/bench` can price a run from counted operations.

use std::cell::Cell;

use serde::Serialize;

/// Running totals of one isolate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub d1_queries: u64,
    pub d1_rows_read: u64,
    pub d1_rows_written: u64,
    pub r2_class_a: u64,
    pub r2_class_b: u64,
    pub queue_messages: u64,
}

thread_local! {
    static TOTALS: Cell<Usage> = Cell::new(Usage::default());
}

/// Logs an event at `level` (a `tracing` macro name) with the isolate's WebAssembly memory and
/// these totals, then the caller's own fields and message:
/// `log_usage!(info, messages = 3, "batch done")`.
#[macro_export]
macro_rules! log_usage {
    ($level:ident, $($rest:tt)*) => {{
        let totals = $crate::usage::totals();
        ::tracing::$level!(
            wasm_memory_bytes = $crate::wasm_memory_bytes(),
            d1_queries_total = totals.d1_queries,
            d1_rows_read_total = totals.d1_rows_read,
            d1_rows_written_total = totals.d1_rows_written,
            r2_class_a_total = totals.r2_class_a,
            r2_class_b_total = totals.r2_class_b,
            queue_messages_total = totals.queue_messages,
            $($rest)*
        )
    }};
}

/// The totals so far.
pub fn totals() -> Usage {
    TOTALS.with(Cell::get)
}

fn add(f: impl FnOnce(&mut Usage)) {
    TOTALS.with(|totals| {
        let mut usage = totals.get();
        f(&mut usage);
        totals.set(usage);
    });
}

/// One D1 statement's result.
pub(crate) fn d1(rows_read: Option<usize>, rows_written: Option<usize>) {
    add(|u| {
        u.d1_queries += 1;
        u.d1_rows_read += rows_read.unwrap_or(0) as u64;
        u.d1_rows_written += rows_written.unwrap_or(0) as u64;
    });
}

/// R2 writes (put, multipart create, part, complete): class A.
pub(crate) fn r2_class_a(operations: u64) {
    add(|u| u.r2_class_a += operations);
}

/// R2 reads (get, head): class B.
pub(crate) fn r2_class_b(operations: u64) {
    add(|u| u.r2_class_b += operations);
}

/// Messages sent to a queue.
pub(crate) fn queue_messages(messages: u64) {
    add(|u| u.queue_messages += messages);
}
