//! A page's content stream read into operations: lopdf's content grammar, written as one
//! byte-by-byte reader instead of parser combinators, which spent more time trying
//! alternatives than reading (a third of a text-heavy PDF's extraction time).
//!
//! It reads what text pages are made of: numbers, names, strings, arrays, dictionaries
//! (marked content), `true`/`false`/`null` and operators, with comments between. Anything
//! else (inline images, references, malformed tokens) makes it give up, and the stream is
//! read by lopdf's own parser instead, so the operations are lopdf's either way (tested on
//! the corpus). One difference, where lopdf would stop reading a page: an operator inside an
//! array is left out of the array, as poppler leaves it.

use std::borrow::Cow;

use lopdf::content::Content;
use lopdf::{Dictionary, Object, StringFormat};

/// How deeply arrays, dictionaries and parentheses may nest (lopdf's limits).
const MAX_NESTING: usize = 100;
const MAX_PARENTHESES: usize = 100;

/// What of an operation to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Nothing: the operation is left out.
    Nothing,
    /// The operator, without its operands.
    Operator,
    /// The operator and its operands.
    Operands,
}

/// An operation as the interpreter reads it: its operator (borrowed from the stream, so that
/// a page's thousands of operations allocate no names) and the operands kept of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation<'a> {
    pub operator: Cow<'a, str>,
    pub operands: Vec<Object>,
}

/// The operations of `bytes`, as much of each as `keep` says. The numbers of an operation
/// whose operands are not kept are skipped without being parsed (a figure's paths are most of
/// its content, and their numbers most of the reading); its other operands are still read.
pub fn decode(bytes: &[u8], keep: impl Fn(&str) -> Keep) -> lopdf::Result<Vec<Operation<'_>>> {
    if let Some(operations) = (Reader { bytes, at: 0 }).operations_keeping(&keep) {
        return Ok(operations);
    }
    let content = Content::decode(bytes)?;
    Ok(content
        .operations
        .into_iter()
        .filter_map(|operation| {
            let operands = match keep(&operation.operator) {
                Keep::Nothing => return None,
                Keep::Operator => Vec::new(),
                Keep::Operands => operation.operands,
            };
            Some(Operation {
                operator: Cow::Owned(operation.operator),
                operands,
            })
        })
        .collect())
}

/// An operand read so far: a number only found, read once its operator wants it, or an
/// object already read (kept apart, in order, so that a figure's many numbers stay small).
#[derive(Clone, Copy)]
enum Pending {
    Number { at: usize },
    Object,
}

#[inline(always)]
fn is_whitespace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\0' | 0x0C)
}

#[inline(always)]
fn is_delimiter(c: u8) -> bool {
    matches!(
        c,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

#[inline(always)]
fn is_regular(c: u8) -> bool {
    !is_whitespace(c) && !is_delimiter(c)
}

fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|value| value as u8)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    #[inline(always)]
    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.at..).unwrap_or_default()
    }

    #[inline(always)]
    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(is_whitespace) {
            self.at += 1;
        }
    }

    /// A comment and its end of line; `None` (nothing consumed) for a comment that ends the
    /// stream without one, which lopdf does not read as a comment.
    fn comment(&mut self) -> Option<()> {
        let rest = self.rest();
        let end = rest.iter().position(|&c| c == b'\r' || c == b'\n')?;
        let eol = if rest[end..].starts_with(b"\r\n") {
            2
        } else {
            1
        };
        self.at += end + eol;
        Some(())
    }

    /// White space and comments, as lopdf skips them between an array's or a dictionary's
    /// items.
    fn skip_space(&mut self) -> Option<()> {
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'%') {
                return Some(());
            }
            self.comment()?;
        }
    }

    #[cfg(test)]
    fn operations(&mut self) -> Option<Vec<Operation<'a>>> {
        self.operations_keeping(&|_| Keep::Operands)
    }

    fn operations_keeping(&mut self, keep: &dyn Fn(&str) -> Keep) -> Option<Vec<Operation<'a>>> {
        let mut operations = Vec::new();
        let mut pending = Vec::new();
        let mut objects = Vec::new();
        self.skip_whitespace();
        loop {
            while self.peek() == Some(b'%') {
                self.comment()?;
                self.skip_whitespace();
            }
            if self.at >= self.bytes.len() {
                return Some(operations);
            }
            pending.clear();
            objects.clear();
            let operator = loop {
                if let Some(b'0'..=b'9' | b'+' | b'-' | b'.') = self.peek() {
                    // A number, found now and read once its operator wants it.
                    let at = self.at;
                    self.at += self.number_length()?;
                    pending.push(Pending::Number { at });
                } else if let Some(operator) = self.operator()? {
                    break operator;
                } else {
                    objects.push(self.object(0)?);
                    pending.push(Pending::Object);
                }
                self.skip_whitespace();
            };
            let kept = keep(operator);
            let operands = match kept {
                Keep::Nothing | Keep::Operator => Vec::new(),
                Keep::Operands => {
                    let mut objects = objects.drain(..);
                    pending
                        .iter()
                        .map(|&operand| match operand {
                            Pending::Number { at } => Reader { at, ..*self }.number(),
                            Pending::Object => objects.next(),
                        })
                        .collect::<Option<Vec<Object>>>()?
                }
            };
            self.skip_whitespace();
            if kept != Keep::Nothing {
                operations.push(Operation {
                    operator: Cow::Borrowed(operator),
                    operands,
                });
            }
        }
    }

    /// The operator here, if one starts here; `None` for input this reader leaves to lopdf.
    fn operator(&mut self) -> Option<Option<&'a str>> {
        let first = self.peek()?;
        let rest = self.rest();
        if matches!(first, b't' | b'f' | b'n')
            && [&b"true"[..], b"false", b"null"]
                .iter()
                .any(|k| rest.starts_with(k))
        {
            // An operand when whole; lopdf reads `nullx` as `null` and an operator `x`.
            return self.keyword().map(|_| None);
        }
        let is_operator = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'*' | b'\'' | b'"');
        if !is_operator(first) || first.is_ascii_digit() {
            return Some(None);
        }
        let length = rest.iter().take_while(|&&c| is_operator(c)).count();
        let operator = &rest[..length];
        if operator.starts_with(b"BI") {
            return None;
        }
        let operator = std::str::from_utf8(operator).ok()?;
        self.at += length;
        Some(Some(operator))
    }

    /// `true`, `false` or `null` here, whole (followed by a delimiter, white space or the
    /// end), and its length; `None` otherwise.
    fn keyword(&self) -> Option<(Object, usize)> {
        let rest = self.rest();
        let (object, length) = if rest.starts_with(b"true") {
            (Object::Boolean(true), 4)
        } else if rest.starts_with(b"false") {
            (Object::Boolean(false), 5)
        } else if rest.starts_with(b"null") {
            (Object::Null, 4)
        } else {
            return None;
        };
        rest.get(length)
            .is_none_or(|&c| !is_regular(c))
            .then_some((object, length))
    }

    /// An array's or a dictionary's item.
    fn item(&mut self, depth: usize) -> Option<Object> {
        let object = match self.peek()? {
            b'0'..=b'9' => {
                if self.is_reference() {
                    return None;
                }
                self.number()?
            }
            b'+' | b'-' | b'.' => self.number()?,
            _ => self.object(depth)?,
        };
        self.skip_space()?;
        Some(object)
    }

    /// Whether `n g R` starts here (a reference, which content streams do not use).
    fn is_reference(&self) -> bool {
        let rest = self.rest();
        let digits = |from: usize| {
            rest[from.min(rest.len())..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count()
        };
        let spaces = |from: usize| {
            let mut reader = Reader {
                bytes: rest,
                at: from,
            };
            reader.skip_space().map(|()| reader.at - from)
        };
        let first = digits(0);
        let Some(gap) = spaces(first) else {
            return true;
        };
        let second = digits(first + gap);
        if gap == 0 || second == 0 {
            return false;
        }
        let Some(gap2) = spaces(first + gap + second) else {
            return true;
        };
        rest.get(first + gap + second + gap2) == Some(&b'R')
    }

    fn object(&mut self, depth: usize) -> Option<Object> {
        match self.peek()? {
            b'/' => self.name().map(Object::Name),
            b'(' => self.literal_string().map(Object::string_literal),
            b'<' if self.rest().starts_with(b"<<") => {
                self.dictionary(depth).map(Object::Dictionary)
            }
            b'<' => self.hex_string(),
            b'[' => self.array(depth),
            b't' | b'f' | b'n' => {
                let (keyword, length) = self.keyword()?;
                self.at += length;
                Some(keyword)
            }
            _ => None,
        }
    }

    /// A real (`[sign] digits . [digits]` or `[sign] . digits`, with any `-` in the fraction
    /// ignored, as pdf.js and poppler do) or an integer.
    fn number(&mut self) -> Option<Object> {
        let rest = self.rest();
        let length = self.number_length()?;
        let text = &rest[..length];
        let sign = usize::from(matches!(rest.first(), Some(b'+' | b'-')));
        if text.contains(&b'.') {
            let value = if text[sign..].contains(&b'-') {
                let cleaned: Vec<u8> = text[..1]
                    .iter()
                    .chain(text[1..].iter().filter(|&&c| c != b'-'))
                    .copied()
                    .collect();
                parse_f32(&cleaned)?
            } else {
                parse_f32(text)?
            };
            self.at += length;
            return Some(Object::Real(value));
        }
        let magnitude = text[sign..].iter().try_fold(0u64, |value, &digit| {
            value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
        })?;
        let value = if rest[0] == b'-' {
            0i64.checked_sub_unsigned(magnitude)?
        } else {
            i64::try_from(magnitude).ok()?
        };
        self.at += length;
        Some(Object::Integer(value))
    }

    /// How long the number here is (see [`Reader::number`]); `None` where none starts.
    fn number_length(&self) -> Option<usize> {
        let rest = self.rest();
        let digit = |at: usize| rest.get(at).is_some_and(u8::is_ascii_digit);
        let sign = usize::from(matches!(rest.first(), Some(b'+' | b'-')));
        let mut end = sign;
        while digit(end) {
            end += 1;
        }
        let digits = end - sign;
        if rest.get(end) == Some(&b'.') && (digits > 0 || digit(end + 1)) {
            end += 1;
            while rest
                .get(end)
                .is_some_and(|&c| c == b'-' || c.is_ascii_digit())
            {
                end += 1;
            }
            return Some(end);
        }
        (digits > 0).then_some(end)
    }

    fn name(&mut self) -> Option<Vec<u8>> {
        self.at += 1;
        let mut name = Vec::new();
        loop {
            let rest = self.rest();
            let run = rest
                .iter()
                .position(|&c| c == b'#' || !is_regular(c))
                .unwrap_or(rest.len());
            name.extend_from_slice(&rest[..run]);
            self.at += run;
            if self.peek() != Some(b'#') {
                return Some(name);
            }
            let rest = self.rest();
            let high = hex_value(*rest.get(1)?)?;
            let low = hex_value(*rest.get(2)?)?;
            name.push((high << 4) | low);
            self.at += 3;
        }
    }

    fn literal_string(&mut self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        self.at += 1;
        self.string_body(&mut out, MAX_PARENTHESES)?;
        Some(out)
    }

    /// A literal string's bytes up to and past its closing parenthesis.
    fn string_body(&mut self, out: &mut Vec<u8>, depth: usize) -> Option<()> {
        loop {
            let rest = self.rest();
            let run = rest
                .iter()
                .position(|&c| matches!(c, b'(' | b')' | b'\\' | b'\r' | b'\n'))?;
            out.extend_from_slice(&rest[..run]);
            self.at += run;
            match self.peek()? {
                b')' => {
                    self.at += 1;
                    return Some(());
                }
                b'(' => {
                    if depth == 0 {
                        return None;
                    }
                    self.at += 1;
                    out.push(b'(');
                    self.string_body(out, depth - 1)?;
                    out.push(b')');
                }
                b'\\' => {
                    self.at += 1;
                    self.escape(out)?;
                }
                _ => {
                    self.end_of_line();
                    out.push(b'\n');
                }
            }
        }
    }

    fn end_of_line(&mut self) {
        self.at += if self.rest().starts_with(b"\r\n") {
            2
        } else {
            1
        };
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let c = self.peek()?;
        match c {
            b'0'..=b'7' => {
                let digits = self
                    .rest()
                    .iter()
                    .take(3)
                    .take_while(|c| (b'0'..=b'7').contains(c))
                    .count();
                let value = self.rest()[..digits]
                    .iter()
                    .fold(0u16, |value, &d| value * 8 + u16::from(d - b'0'));
                out.push(value as u8);
                self.at += digits;
            }
            b'\r' | b'\n' => self.end_of_line(),
            _ => {
                out.push(match c {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 0x08,
                    b'f' => 0x0C,
                    other => other,
                });
                self.at += 1;
            }
        }
        Some(())
    }

    fn hex_string(&mut self) -> Option<Object> {
        self.at += 1;
        let mut bytes: Vec<u8> = Vec::new();
        let mut high = true;
        loop {
            self.skip_whitespace();
            let c = self.peek()?;
            if c == b'>' {
                self.at += 1;
                return Some(Object::String(bytes, StringFormat::Hexadecimal));
            }
            let value = hex_value(c)?;
            if high {
                bytes.push(value << 4);
            } else if let Some(last) = bytes.last_mut() {
                *last |= value;
            }
            high = !high;
            self.at += 1;
        }
    }

    fn array(&mut self, depth: usize) -> Option<Object> {
        if depth >= MAX_NESTING {
            return None;
        }
        self.at += 1;
        self.skip_space()?;
        let mut items = Vec::new();
        while self.peek()? != b']' {
            // An operator inside an array (`[(a) 0 Tc -250 (b)] TJ`, as some producers
            // write) is left out of it, as poppler does; lopdf would stop reading the page.
            if self.peek().is_some_and(|c| c.is_ascii_alphabetic()) && self.keyword().is_none() {
                let length = self.rest().iter().take_while(|&&c| is_regular(c)).count();
                self.at += length;
                self.skip_space()?;
                continue;
            }
            items.push(self.item(depth + 1)?);
        }
        self.at += 1;
        Some(Object::Array(items))
    }

    fn dictionary(&mut self, depth: usize) -> Option<Dictionary> {
        if depth >= MAX_NESTING {
            return None;
        }
        self.at += 2;
        self.skip_space()?;
        let mut dictionary = Dictionary::new();
        while !self.rest().starts_with(b">>") {
            if self.peek()? != b'/' {
                return None;
            }
            let key = self.name()?;
            self.skip_space()?;
            let value = self.item(depth + 1)?;
            dictionary.set(key, value);
        }
        self.at += 2;
        Some(dictionary)
    }
}

fn parse_f32(text: &[u8]) -> Option<f32> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our operations, checked against lopdf's: the same where lopdf reads the whole stream,
    /// and lopdf's first where it stops early.
    fn same_as_lopdf(bytes: &[u8]) -> Option<Vec<Operation<'_>>> {
        let ours = Reader { bytes, at: 0 }.operations()?;
        let whole = Content::decode_strict(bytes).is_ok();
        let theirs = Content::decode(bytes)
            .map(|c| c.operations)
            .unwrap_or_default();
        assert!(
            ours.len() == theirs.len() || !whole && ours.len() > theirs.len(),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(
                (a.operator.as_ref(), &a.operands),
                (b.operator.as_str(), &b.operands),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        Some(ours)
    }

    /// Keeps the operands of text operators (as the interpreter does).
    fn text_operator(operator: &str) -> bool {
        operator.starts_with('T') || matches!(operator, "'" | "\"" | "cm" | "Do")
    }

    fn keeping_text_operands(bytes: &[u8]) -> Option<Vec<Operation<'_>>> {
        Reader { bytes, at: 0 }.operations_keeping(&|operator| {
            if text_operator(operator) {
                Keep::Operands
            } else {
                Keep::Operator
            }
        })
    }

    fn pairs<'a>(operations: &'a [Operation<'_>]) -> Vec<(&'a str, &'a [Object])> {
        operations
            .iter()
            .map(|o| (o.operator.as_ref(), o.operands.as_slice()))
            .collect()
    }

    /// `operations` with the operands of all but text operators left out.
    fn without_others(mut operations: Vec<Operation<'_>>) -> Vec<Operation<'_>> {
        for operation in &mut operations {
            if !text_operator(&operation.operator) {
                operation.operands.clear();
            }
        }
        operations
    }

    #[test]
    fn operands_of_operators_not_kept_are_skipped_unread() {
        let stream = b"1 0 0 1 5 5 cm 0.5 0 0 rg 10 10 m 20.5 -.5 l 1 2 3 4 re f BT /F1 9 Tf \
                       [(a) -120 (b)] TJ ET 99999999999999999999 w";
        let kept = keeping_text_operands(stream).unwrap();
        let operands: Vec<(&str, usize)> = kept
            .iter()
            .map(|o| (o.operator.as_ref(), o.operands.len()))
            .collect();
        assert_eq!(
            operands,
            [
                ("cm", 6),
                ("rg", 0),
                ("m", 0),
                ("l", 0),
                ("re", 0),
                ("f", 0),
                ("BT", 0),
                ("Tf", 2),
                ("TJ", 1),
                ("ET", 0),
                ("w", 0),
            ]
        );
        // Operations kept not at all are left out.
        let text_only = Reader {
            bytes: stream,
            at: 0,
        }
        .operations_keeping(&|operator| {
            if text_operator(operator) {
                Keep::Operands
            } else {
                Keep::Nothing
            }
        })
        .unwrap();
        let operators: Vec<&str> = text_only.iter().map(|o| o.operator.as_ref()).collect();
        assert_eq!(operators, ["cm", "Tf", "TJ"]);
        // Read in full, the stream's last number is too large: it is lopdf's to read.
        assert!(
            Reader {
                bytes: stream,
                at: 0
            }
            .operations()
            .is_none()
        );
        let all = same_as_lopdf(&stream[..stream.len() - 23]).unwrap();
        assert_eq!(
            pairs(&keeping_text_operands(&stream[..stream.len() - 23]).unwrap()),
            pairs(&without_others(all))
        );
    }

    #[test]
    fn reads_text_operations_as_lopdf_does() {
        for stream in [
            &b"BT /F1 12 Tf 72 712 Td (Hello, world) Tj ET"[..],
            b"  q 1 0 0 1 -3.5 +.25 cm\r\n[(A) -120 (W\\)a\\(y) 5.] TJ Q",
            b"BT\n/F2 9.96 Tf\n0 -1.2 TD\n<48 65 6c6C6f 7> Tj\n(line\\\none\\101\\7\\12x) ' ET",
            b"% a comment\n/Span <</ActualText (fi) /MCID 3 /Nested <</K [1 2.5 /N]>> >> BDC EMC",
            b"0.00-4142502 Tw 1 2 3 4 re f* true false null d0 1.5 2 \"",
            b"(nested (parens (deep)) here) Tj (cr\rlf\r\nend) Tj",
            b"/Name#20With#2Fescapes Do [ 1 % inside\n 2 ] TJ",
            b"",
            b"   % only a comment\n",
        ] {
            assert!(
                same_as_lopdf(stream).is_some(),
                "{:?}",
                String::from_utf8_lossy(stream)
            );
        }
    }

    #[test]
    fn an_operator_inside_an_array_is_left_out_of_it() {
        let stream = b"BT 1 0 0 1 22 732 Tm [(Grandes) 0.0 Tc\n-250.0 (Client) 0.0 Tc] TJ ET";
        let operations = same_as_lopdf(stream).unwrap();
        let operators: Vec<&str> = operations.iter().map(|o| o.operator.as_ref()).collect();
        assert_eq!(operators, ["BT", "Tm", "TJ", "ET"]);
        assert_eq!(
            operations[2].operands,
            [Object::Array(vec![
                Object::string_literal("Grandes"),
                Object::Real(0.0),
                Object::Real(-250.0),
                Object::string_literal("Client"),
                Object::Real(0.0),
            ])]
        );
    }

    #[test]
    fn leaves_what_it_does_not_read_to_lopdf() {
        for stream in [
            &b"BI /W 1 /H 1 /CS /G /BPC 8 ID \x80 EI Q"[..],
            b"<</A 1 0 R>> BDC",
            b"(unterminated Tj",
            b"/Bad#zz Tf",
            b"% comment without an end",
            b"99999999999999999999 Tw",
        ] {
            assert!(
                Reader {
                    bytes: stream,
                    at: 0
                }
                .operations()
                .is_none(),
                "{:?}",
                String::from_utf8_lossy(stream)
            );
            assert!(decode(stream, |_| Keep::Operands).is_ok() || Content::decode(stream).is_err());
        }
    }

    /// Every page and form of every PDF in the corpus: the same operations as lopdf's parser,
    /// and nearly all read without it.
    #[test]
    fn reads_the_corpus_as_lopdf_does() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/pdf");
        let (mut read, mut left) = (0, 0);
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "pdf") {
                continue;
            }
            let Ok(document) = lopdf::Document::load(&path) else {
                continue;
            };
            let pages = document
                .get_pages()
                .into_values()
                .map(|page| document.get_page_content(page));
            let forms = document.objects.values().filter_map(|object| {
                let stream = object.as_stream().ok()?;
                let subtype = stream.dict.get(b"Subtype").and_then(Object::as_name).ok()?;
                (subtype == b"Form").then(|| stream.decompressed_content().ok())?
            });
            for bytes in pages.chain(forms) {
                match same_as_lopdf(&bytes) {
                    Some(all) => {
                        read += 1;
                        let kept = keeping_text_operands(&bytes).unwrap_or_default();
                        assert_eq!(pairs(&kept), pairs(&without_others(all)));
                    }
                    None => left += 1,
                }
            }
        }
        assert!(read > 100, "read {read}, left {left}");
        assert!(left * 20 < read, "read {read}, left {left} to lopdf");
    }
}
