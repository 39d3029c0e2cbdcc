//! Counting billed operations: the platform adapters call [`record`] as they make each one; the
//! counts go to the isolate's running totals and to the innermost [`metered`] future being
//! polled, so concurrent requests and jobs each get their own.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use docpipe_jobs::JobMessage;
pub use docpipe_jobs::Usage;

thread_local! {
    static TOTALS: Cell<Usage> = Cell::new(Usage::default());
    static SCOPE: Cell<Option<Usage>> = const { Cell::new(None) };
}

/// Counts operations: into the isolate's totals, and into the metered future being polled.
pub fn record(usage: Usage) {
    TOTALS.with(|totals| {
        let mut sum = totals.get();
        sum += usage;
        totals.set(sum);
    });
    SCOPE.with(|scope| {
        if let Some(mut sum) = scope.get() {
            sum += usage;
            scope.set(Some(sum));
        }
    });
}

/// What this isolate has counted since it started.
pub fn totals() -> Usage {
    TOTALS.with(Cell::get)
}

/// What the metered future being polled has counted so far; `None` outside one.
pub fn current() -> Option<Usage> {
    SCOPE.with(Cell::get)
}

/// The message a request sends for a job, carrying what the request spent so far: the request
/// itself and this message's send included, so the consumer can record the job's whole cost.
pub fn carried_by(mut message: JobMessage) -> JobMessage {
    message.usage = current().map(|mut usage| {
        usage += Usage {
            requests: 1,
            queue_operations: 1,
            ..Usage::default()
        };
        usage
    });
    message
}

/// Runs `future`, counting the operations made while it is polled; yields its output with them.
/// Made inside another metered future, it starts from that one's count so far (work handed to
/// another task keeps its request's count); what it counts then is its own.
pub fn metered<F: Future>(future: F) -> Metered<F> {
    Metered {
        future: Box::pin(future),
        usage: current().unwrap_or_default(),
    }
}

/// See [`metered`].
pub struct Metered<F> {
    future: Pin<Box<F>>,
    usage: Usage,
}

impl<F> std::fmt::Debug for Metered<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metered")
            .field("usage", &self.usage)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = (F::Output, Usage);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let outer = SCOPE.with(|scope| scope.replace(Some(this.usage)));
        let poll = this.future.as_mut().poll(cx);
        this.usage = SCOPE.with(|scope| scope.replace(outer)).unwrap_or_default();
        poll.map(|output| (output, this.usage))
    }
}

#[cfg(test)]
mod tests {
    use futures_util::future::join;
    use pollster::block_on;

    use super::*;

    /// Pending once, then ready: lets the other future of a join run in between.
    struct YieldOnce(bool);

    impl Future for YieldOnce {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                self.0 = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    fn rows_written(n: u64) -> Usage {
        Usage {
            d1_queries: 1,
            d1_rows_written: n,
            ..Usage::default()
        }
    }

    #[test]
    fn interleaved_futures_each_count_their_own_operations() {
        let before = totals();
        let a = metered(async {
            record(rows_written(1));
            YieldOnce(false).await;
            record(rows_written(10));
            "a"
        });
        let b = metered(async {
            YieldOnce(false).await;
            record(rows_written(100));
            YieldOnce(false).await;
            record(rows_written(1000));
            "b"
        });
        let ((a, usage_a), (b, usage_b)) = block_on(join(a, b));
        assert_eq!(
            (a, usage_a.d1_rows_written, usage_a.d1_queries),
            ("a", 11, 2)
        );
        assert_eq!(
            (b, usage_b.d1_rows_written, usage_b.d1_queries),
            ("b", 1100, 2)
        );
        assert_eq!(totals().d1_rows_written - before.d1_rows_written, 1111);
        assert_eq!(current(), None, "no scope is left behind");
    }

    #[test]
    fn an_inner_scope_starts_from_the_outer_count_and_then_counts_for_itself() {
        let (inner, outer) = block_on(metered(async {
            record(rows_written(1));
            let ((), inner) = metered(async {
                record(rows_written(2));
                assert_eq!(current().map(|u| u.d1_rows_written), Some(3));
            })
            .await;
            assert_eq!(current().map(|u| u.d1_rows_written), Some(1));
            inner
        }));
        assert_eq!(inner.d1_rows_written, 3);
        assert_eq!(outer.d1_rows_written, 1);
    }

    #[test]
    fn outside_a_scope_only_the_totals_count() {
        let before = totals();
        record(rows_written(5));
        assert_eq!(current(), None);
        assert_eq!(totals().d1_rows_written - before.d1_rows_written, 5);
    }
}
