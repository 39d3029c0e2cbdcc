//! Markdown → text: the words a reader sees, one block per paragraph, no markup but a list
//! item's bullet (`•`) or number, as a text renderer shows them.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use super::text::normalize;

pub(crate) fn to_text(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let mut out = String::with_capacity(markdown.len());
    // The next number of each open list, `None` for bulleted lists.
    let mut lists: Vec<Option<u64>> = Vec::new();
    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Text(text) | Event::Code(text) => out.push_str(&text),
            Event::SoftBreak => out.push(' '),
            Event::HardBreak => out.push('\n'),
            // Block starts and ends become blank lines, so headings and list items never run
            // into the sentence next to them; a table is a line per row, cells apart by tabs.
            Event::Start(Tag::List(start)) => lists.push(start),
            Event::End(TagEnd::List(_)) => {
                lists.pop();
            }
            Event::Start(Tag::Item) => {
                end_block(&mut out);
                match lists.last_mut() {
                    Some(Some(n)) => {
                        out.push_str(&format!("{n}. "));
                        *n += 1;
                    }
                    _ => out.push_str("• "),
                }
            }
            Event::End(TagEnd::TableCell) => out.push('\t'),
            Event::End(TagEnd::TableRow | TagEnd::TableHead) => {
                let trimmed = out.trim_end_matches(['\t', ' ']).len();
                out.truncate(trimmed);
                out.push('\n');
            }
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::Item
                | TagEnd::CodeBlock
                | TagEnd::BlockQuote(_)
                | TagEnd::Table,
            ) => end_block(&mut out),
            // Raw HTML and the rest of the markup carry no prose.
            _ => {}
        }
    }
    normalize(out.trim())
}

fn end_block(out: &mut String) {
    let trimmed = out.trim_end_matches([' ', '\n']).len();
    out.truncate(trimmed);
    if !out.is_empty() {
        out.push_str("\n\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_words_and_drops_markup() {
        let md = "# Release notes\n\nThe **new** [parser](https://example.com) is `fast`.\n\n\
                  - first item\n- second item\n\n<div>raw html</div>\n";
        assert_eq!(
            to_text(md),
            "Release notes\n\nThe new parser is fast.\n\n• first item\n\n• second item"
        );
    }

    #[test]
    fn soft_wrapped_lines_join_into_one_paragraph() {
        assert_eq!(to_text("one line\nwrapped here."), "one line wrapped here.");
    }

    #[test]
    fn code_blocks_and_tables_keep_their_text_on_separate_blocks() {
        let md = "Intro.\n\n```\nlet x = 1;\n```\n\n| a | b |\n|---|---|\n| c | d |\n";
        assert_eq!(to_text(md), "Intro.\n\nlet x = 1;\n\na\tb\nc\td");
    }
}
