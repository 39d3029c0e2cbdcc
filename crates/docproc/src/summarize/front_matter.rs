//! Sentences that are a document's apparatus rather than its content: e-mail and address lines,
//! author lists and affiliations, titles and headings in title case, and entries of a reference
//! list. The extractive summarizer discounts them, so a paper's summary comes from its body.

/// Lowercase words a line of names, titles or affiliations may still contain.
const CONNECTIVES: [&str; 14] = [
    "a", "an", "and", "at", "de", "der", "di", "for", "in", "of", "on", "the", "to", "und",
];

/// Words that mark an affiliation.
const INSTITUTIONS: [&str; 12] = [
    "University",
    "Universität",
    "Université",
    "Universidad",
    "Institute",
    "Institut",
    "Department",
    "Laboratory",
    "Laboratories",
    "College",
    "School",
    "Faculty",
];

/// Markers of a bibliographic entry.
const CITATION_MARKERS: [&str; 9] = [
    "et al.",
    "pp.",
    "Proc.",
    "Proceedings",
    "Journal",
    "doi:",
    "arXiv:",
    "vol.",
    "In:",
];

/// Whether `sentence` is front or back matter rather than a statement of the document.
pub fn is_apparatus(sentence: &str) -> bool {
    has_email(sentence) || is_reference_entry(sentence) || is_name_line(sentence)
}

fn has_email(sentence: &str) -> bool {
    sentence.split_whitespace().any(|token| {
        let token = token.trim_matches(|c: char| !c.is_alphanumeric());
        match token.split_once('@') {
            Some((user, host)) => {
                !user.is_empty()
                    && host.contains('.')
                    && host
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
            }
            None => false,
        }
    })
}

/// `[12] A. Author, …` or `12. Author, A.: Title. Journal 3 (2019)`: a numbered entry that
/// cites.
fn is_reference_entry(sentence: &str) -> bool {
    let trimmed = sentence.trim_start();
    let bracketed = trimmed.starts_with('[')
        && trimmed[1..]
            .split_once(']')
            .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    let has_year = trimmed.as_bytes().windows(4).any(|w| {
        (w.starts_with(b"19") || w.starts_with(b"20")) && w.iter().all(u8::is_ascii_digit)
    });
    let numbered = trimmed.split_once(['.', ')']).is_some_and(|(n, _)| {
        !n.is_empty() && n.len() <= 3 && n.chars().all(|c| c.is_ascii_digit())
    });
    let cites = CITATION_MARKERS.iter().any(|m| trimmed.contains(m));
    (bracketed && (has_year || cites)) || (numbered && has_year && cites)
}

/// A line of capitalized words (names, a title, an affiliation) with no sentence in it: at
/// least three words, every one capitalized but connectives, and no more than one lowercase
/// word otherwise; or an affiliation with at most two.
fn is_name_line(sentence: &str) -> bool {
    let words: Vec<&str> = sentence
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .map(|w| w.trim_matches(|c: char| !c.is_alphabetic()))
        .filter(|w| !w.is_empty())
        .collect();
    if words.len() < 3 {
        return false;
    }
    let lowercase = words
        .iter()
        .filter(|w| w.chars().next().is_some_and(char::is_lowercase))
        .filter(|w| !CONNECTIVES.contains(w))
        .count();
    let caseless = words
        .iter()
        .filter(|w| {
            !w.chars()
                .next()
                .is_some_and(|c| c.is_uppercase() || c.is_lowercase())
        })
        .count();
    if caseless * 2 > words.len() {
        // Scripts without case (CJK, Arabic, Hebrew) say nothing here.
        return false;
    }
    let affiliation = INSTITUTIONS.iter().any(|i| sentence.contains(i));
    lowercase == 0 || (lowercase <= 1 && words.len() >= 6) || (affiliation && lowercase <= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_of_a_paper_is_apparatus() {
        for line in [
            "Alice Martin, Bob Chen and Wei Zhang",
            "Department of Computer Science, University of Somewhere, Springfield, USA",
            "{alice, bob}@cs.example.edu",
            "Contact: alice.martin@example.org for questions.",
            "Compiling Functional Languages To Efficient Native Code",
            "[12] J. Smith and K. Lee. Fast parsing of things. In Proc. of PLDI, 2019.",
            "3. Smith, J., Lee, K.: Fast parsing. Journal of Parsing 12, 1–20 (2018)",
            "Max Planck Institute for Informatics",
        ] {
            assert!(is_apparatus(line), "{line:?}");
        }
    }

    #[test]
    fn statements_are_not_apparatus() {
        for line in [
            "The city council approved a new budget for public libraries on Monday.",
            "We show that compilers need a runtime to collect garbage.",
            "Researchers at the University of Oslo found the glacier had shrunk by half.",
            "The results, reported in Nature in 2019, were confirmed by two other teams.",
            "NASA launched the probe in 2021.",
            "Paris and Berlin agreed.",
            "東京大学の研究者は新しい方法を発表した。",
            "Email is how most people reach the council.",
            "In 2019, et al. citations became common in the field, as the survey says.",
        ] {
            assert!(!is_apparatus(line), "{line:?}");
        }
    }
}
