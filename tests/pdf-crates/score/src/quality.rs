//! How close one text is to a reference text, as `scripts/extract-quality` scores docpipe's PDF
//! text against `pdftotext`: word F1 (are the words right, with the right spaces?) and word
//! bigram F1 (are they in the right order?). Words are what whitespace separates, compared
//! exactly; counts are multisets, so a word repeated is matched as often as both texts have it.

use std::collections::HashMap;
use std::hash::Hash;

/// Matches of a text against a reference: how many units each has and how many they share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overlap {
    pub candidate: usize,
    pub reference: usize,
    pub shared: usize,
}

impl Overlap {
    pub fn precision(&self) -> f64 {
        ratio(self.shared, self.candidate)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.shared, self.reference)
    }

    /// The harmonic mean of precision and recall; 1 when both texts are empty.
    pub fn f1(&self) -> f64 {
        if self.candidate == 0 && self.reference == 0 {
            return 1.0;
        }
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    /// Sums of several texts' overlaps, for a micro-averaged F1 over a corpus.
    pub fn add(&mut self, other: Overlap) {
        self.candidate += other.candidate;
        self.reference += other.reference;
        self.shared += other.shared;
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn overlap<T: Hash + Eq>(candidate: Vec<T>, reference: Vec<T>) -> Overlap {
    let (candidate_len, reference_len) = (candidate.len(), reference.len());
    let mut counts: HashMap<T, usize> = HashMap::new();
    for unit in reference {
        *counts.entry(unit).or_default() += 1;
    }
    let mut shared = 0;
    for unit in candidate {
        if let Some(left) = counts.get_mut(&unit)
            && *left > 0
        {
            *left -= 1;
            shared += 1;
        }
    }
    Overlap {
        candidate: candidate_len,
        reference: reference_len,
        shared,
    }
}

/// The words of `text`: what whitespace separates.
pub fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

/// Word overlap of `candidate` with `reference`.
pub fn word_overlap(candidate: &str, reference: &str) -> Overlap {
    overlap(words(candidate), words(reference))
}

/// Overlap of consecutive word pairs: reading order.
pub fn bigram_overlap(candidate: &str, reference: &str) -> Overlap {
    let pairs = |text: &str| -> Vec<(String, String)> {
        words(text)
            .windows(2)
            .map(|w| (w[0].to_owned(), w[1].to_owned()))
            .collect()
    };
    overlap(pairs(candidate), pairs(reference))
}

#[allow(dead_code)]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_texts_score_one_whatever_their_spacing() {
        let a = "Two columns\nof text.\u{c}Page two.";
        let b = "Two  columns of\ttext. Page two.";
        assert_eq!(word_overlap(a, b).f1(), 1.0);
        assert_eq!(bigram_overlap(a, b).f1(), 1.0);
    }

    #[test]
    fn letter_spaced_and_run_together_words_are_wrong_words() {
        let reference = "Example document about compilers";
        assert_eq!(
            word_overlap("E x a m p l e document about compilers", reference).shared,
            3
        );
        let joined = word_overlap("Exampledocument aboutcompilers", reference);
        assert_eq!((joined.shared, joined.f1()), (0, 0.0));
    }

    #[test]
    fn the_same_words_in_another_order_keep_word_f1_and_lose_bigram_f1() {
        // Two columns read line by line across instead of column by column.
        let reference = "alpha beta gamma delta epsilon zeta";
        let interleaved = "alpha delta beta epsilon gamma zeta";
        assert_eq!(word_overlap(interleaved, reference).f1(), 1.0);
        let order = bigram_overlap(interleaved, reference);
        assert_eq!(order.shared, 0, "{order:?}");
    }

    #[test]
    fn repeated_words_match_only_as_often_as_both_have_them() {
        let o = word_overlap("the the the cat", "the cat");
        assert_eq!((o.candidate, o.reference, o.shared), (4, 2, 2));
        assert_eq!(o.precision(), 0.5);
        assert_eq!(o.recall(), 1.0);
    }

    #[test]
    fn micro_average_weights_texts_by_their_words() {
        let mut total = word_overlap("a b c d", "a b c d");
        total.add(word_overlap("", "x y"));
        assert_eq!((total.shared, total.reference, total.candidate), (4, 6, 4));
        assert!((total.f1() - 0.8).abs() < 1e-9);
        assert_eq!(word_overlap("", "").f1(), 1.0);
    }
}
