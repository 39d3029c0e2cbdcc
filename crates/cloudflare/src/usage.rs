//! What the adapters count of billed platform operations (`docpipe_pipeline::usage`): D1
//! statements and the rows D1 reports read and written (each result's `meta`), R2 class A
//! (writes) and class B (reads) operations, and queue messages sent. The Workers log the
//! isolate's totals (`request done`, `batch done`) and record each job's own in D1.

use docpipe_pipeline::usage::{Usage, record};

pub use docpipe_pipeline::usage::totals;

/// Logs an event at `level` (a `tracing` macro name) with the isolate's WebAssembly memory, its
/// JavaScript heap where the runtime reports it, and its totals, then the caller's own fields and message:
/// `log_usage!(info, messages = 3, "batch done")`.
#[macro_export]
macro_rules! log_usage {
    ($level:ident, $($rest:tt)*) => {{
        let totals = $crate::usage::totals();
        ::tracing::$level!(
            wasm_memory_bytes = $crate::wasm_memory_bytes(),
            js_heap_bytes = $crate::runtime::js_heap_bytes(),
            d1_queries_total = totals.d1_queries,
            d1_rows_read_total = totals.d1_rows_read,
            d1_rows_written_total = totals.d1_rows_written,
            r2_class_a_total = totals.r2_class_a,
            r2_class_b_total = totals.r2_class_b,
            queue_messages_total = totals.queue_operations,
            $($rest)*
        )
    }};
}

/// One D1 statement's result.
pub(crate) fn d1(rows_read: Option<usize>, rows_written: Option<usize>) {
    record(Usage {
        d1_queries: 1,
        d1_rows_read: rows_read.unwrap_or(0) as u64,
        d1_rows_written: rows_written.unwrap_or(0) as u64,
        ..Usage::default()
    });
}

/// R2 writes (put, multipart create, part, complete): class A.
pub(crate) fn r2_class_a(operations: u64) {
    record(Usage {
        r2_class_a: operations,
        ..Usage::default()
    });
}

/// R2 reads (get, head): class B, and the bytes they brought.
pub(crate) fn r2_class_b(operations: u64, bytes: u64) {
    record(Usage {
        r2_class_b: operations,
        r2_bytes_read: bytes,
        ..Usage::default()
    });
}

/// Messages sent to a queue (one write operation each, up to 64 KB).
pub(crate) fn queue_messages(messages: u64) {
    record(Usage {
        queue_operations: messages,
        ..Usage::default()
    });
}
