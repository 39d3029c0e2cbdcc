//! Billed platform operations, counted as they are made. An upload's count travels in its job's
//! message (so the consumer can record the whole job's cost in one row), which makes this type
//! part of the queue contract.

use std::ops::AddAssign;

use serde::{Deserialize, Serialize};

/// Counted operations. Every field is optional on the wire (zero when absent), so producers and
/// consumers of different versions read each other's messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    /// Worker invocations (an upload request, a consumer's share of its batch is not counted
    /// here).
    pub requests: u64,
    /// D1 statements run.
    pub d1_queries: u64,
    /// Rows D1 reported read.
    pub d1_rows_read: u64,
    /// Rows D1 reported written (index entries and FTS5 shadow rows included, as billed).
    pub d1_rows_written: u64,
    /// R2 class A operations (puts, multipart create, parts, complete).
    pub r2_class_a: u64,
    /// R2 class B operations (gets, heads).
    pub r2_class_b: u64,
    /// Bytes read back from R2 (the document, for extraction).
    pub r2_bytes_read: u64,
    /// Queue operations: messages written, read and deleted (each up to 64 KB).
    pub queue_operations: u64,
}

impl Usage {
    /// Share `index` of `parts` equal shares of these counts, the remainders going to the
    /// first shares: the shares add up to the whole.
    pub fn share(&self, index: usize, parts: usize) -> Usage {
        let parts = parts.max(1) as u64;
        let index = index as u64;
        let part = |total: u64| total / parts + u64::from(index < total % parts);
        Usage {
            requests: part(self.requests),
            d1_queries: part(self.d1_queries),
            d1_rows_read: part(self.d1_rows_read),
            d1_rows_written: part(self.d1_rows_written),
            r2_class_a: part(self.r2_class_a),
            r2_class_b: part(self.r2_class_b),
            r2_bytes_read: part(self.r2_bytes_read),
            queue_operations: part(self.queue_operations),
        }
    }
}

impl AddAssign for Usage {
    fn add_assign(&mut self, other: Self) {
        self.requests += other.requests;
        self.d1_queries += other.d1_queries;
        self.d1_rows_read += other.d1_rows_read;
        self.d1_rows_written += other.d1_rows_written;
        self.r2_class_a += other.r2_class_a;
        self.r2_class_b += other.r2_class_b;
        self.r2_bytes_read += other.r2_bytes_read;
        self.queue_operations += other.queue_operations;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_whole() {
        let whole = Usage {
            d1_queries: 1,
            d1_rows_read: 10,
            d1_rows_written: 7,
            ..Usage::default()
        };
        let shares: Vec<Usage> = (0..3).map(|i| whole.share(i, 3)).collect();
        assert_eq!(
            shares.iter().map(|s| s.d1_rows_written).collect::<Vec<_>>(),
            [3, 2, 2]
        );
        assert_eq!(
            shares.iter().map(|s| s.d1_queries).collect::<Vec<_>>(),
            [1, 0, 0]
        );
        let mut sum = Usage::default();
        for share in shares {
            sum += share;
        }
        assert_eq!(sum, whole);
        assert_eq!(whole.share(0, 0), whole, "one share of none is the whole");
    }

    #[test]
    fn adds_field_by_field() {
        let mut total = Usage {
            d1_rows_written: 3,
            queue_operations: 1,
            ..Usage::default()
        };
        total += Usage {
            requests: 1,
            d1_queries: 2,
            d1_rows_read: 4,
            d1_rows_written: 5,
            r2_class_a: 6,
            r2_class_b: 7,
            r2_bytes_read: 8,
            queue_operations: 9,
        };
        assert_eq!(
            total,
            Usage {
                requests: 1,
                d1_queries: 2,
                d1_rows_read: 4,
                d1_rows_written: 8,
                r2_class_a: 6,
                r2_class_b: 7,
                r2_bytes_read: 8,
                queue_operations: 10,
            }
        );
    }

    #[test]
    fn missing_fields_read_as_zero() {
        let usage: Usage = serde_json::from_str(r#"{"d1_rows_written":7}"#).unwrap();
        assert_eq!(usage.d1_rows_written, 7);
        assert_eq!(usage.requests, 0);
    }
}
