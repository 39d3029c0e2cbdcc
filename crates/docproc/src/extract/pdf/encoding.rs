//! Simple fonts: a one-byte code's character through the font's base encoding (WinAnsi,
//! MacRoman, Standard) with `/Differences` applied, and glyph names as characters.

use encoding_rs::{MACINTOSH, WINDOWS_1252};
use lopdf::{Dictionary, Document, Object};

use super::resolve;

/// The one-byte encoding of a simple font: its base encoding with `/Differences` applied.
pub(super) fn simple_encoding(document: &Document, font: &Dictionary) -> [char; 256] {
    let encoding = font
        .get(b"Encoding")
        .ok()
        .and_then(|e| resolve(document, e));
    let (base, differences) = match encoding {
        Some(Object::Name(name)) => (name.as_slice(), None),
        Some(Object::Dictionary(dictionary)) => (
            dictionary
                .get(b"BaseEncoding")
                .and_then(Object::as_name)
                .unwrap_or(b"StandardEncoding"),
            dictionary
                .get(b"Differences")
                .and_then(Object::as_array)
                .ok(),
        ),
        _ => (&b"StandardEncoding"[..], None),
    };
    let mut table = ['\0'; 256];
    let decoder = if base == b"MacRomanEncoding" {
        MACINTOSH
    } else {
        WINDOWS_1252
    };
    for (byte, slot) in table.iter_mut().enumerate() {
        let single = [u8::try_from(byte).unwrap_or(0)];
        let (text, _) = decoder.decode_without_bom_handling(&single);
        *slot = text
            .chars()
            .next()
            .filter(|c| !c.is_control())
            .unwrap_or('\0');
    }
    if base == b"StandardEncoding" {
        table[0x27] = '’';
        table[0x60] = '‘';
    }
    // A Type3 font's glyphs are drawings, often named freely (`/square`): a name that is
    // no known glyph's stands for its code's character, as other readers take it.
    let type3 = font.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Type3".as_slice());
    let mut code = 0usize;
    for item in differences.into_iter().flatten() {
        match item {
            Object::Integer(i) => code = usize::try_from(*i).unwrap_or(usize::MAX),
            Object::Name(name) => {
                if let Some(slot) = table.get_mut(code) {
                    let own = (type3 && name != b".notdef")
                        .then(|| char::from_u32(code as u32).filter(|c| !c.is_control()))
                        .flatten();
                    *slot = glyph_char(name).or(own).unwrap_or('\0');
                }
                code = code.saturating_add(1);
            }
            _ => {}
        }
    }
    table
}

/// The character a glyph name stands for: single letters, `uniXXXX`, `uXXXX`, the names of
/// Latin-1 and common punctuation glyphs, and letters followed by a decimal code.
fn glyph_char(name: &[u8]) -> Option<char> {
    let name = std::str::from_utf8(name).ok()?;
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next())
        && c.is_ascii_alphabetic()
    {
        return Some(c);
    }
    for prefix in ["uni", "u"] {
        if let Some(hex) = name.strip_prefix(prefix)
            && (4..=6).contains(&hex.len())
            && let Ok(code) = u32::from_str_radix(&hex[..4.max(hex.len().min(6))], 16)
        {
            return char::from_u32(code);
        }
    }
    GLYPH_NAMES
        .binary_search_by(|(glyph, _)| glyph.cmp(&name))
        .ok()
        .map(|i| GLYPH_NAMES[i].1)
        .or_else(|| numeric_name(name))
}

/// Names made of one or two letters and a decimal code (`a65`, `g97`, `cid32`-like names of
/// Type3 fonts from TeX and other generators) stand for that code's Latin-1 character, as
/// other readers take them.
fn numeric_name(name: &str) -> Option<char> {
    let digits = name.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let prefix = name.len() - digits.len();
    if !(1..=2).contains(&prefix) || !(2..=3).contains(&digits.len()) {
        return None;
    }
    let code: u32 = digits.parse().ok()?;
    (32..=255)
        .contains(&code)
        .then(|| char::from_u32(code))
        .flatten()
        .filter(|c| !c.is_control())
}

/// Glyph names of the Adobe Glyph List for Latin-1 and common punctuation, sorted by name.
const GLYPH_NAMES: &[(&str, char)] = &[
    ("AE", 'Æ'),
    ("Aacute", 'Á'),
    ("Acircumflex", 'Â'),
    ("Adieresis", 'Ä'),
    ("Agrave", 'À'),
    ("Aring", 'Å'),
    ("Atilde", 'Ã'),
    ("Ccedilla", 'Ç'),
    ("Eacute", 'É'),
    ("Ecircumflex", 'Ê'),
    ("Edieresis", 'Ë'),
    ("Egrave", 'È'),
    ("Eth", 'Ð'),
    ("Iacute", 'Í'),
    ("Icircumflex", 'Î'),
    ("Idieresis", 'Ï'),
    ("Igrave", 'Ì'),
    ("Ntilde", 'Ñ'),
    ("OE", 'Œ'),
    ("Oacute", 'Ó'),
    ("Ocircumflex", 'Ô'),
    ("Odieresis", 'Ö'),
    ("Ograve", 'Ò'),
    ("Oslash", 'Ø'),
    ("Otilde", 'Õ'),
    ("Scaron", 'Š'),
    ("Thorn", 'Þ'),
    ("Uacute", 'Ú'),
    ("Ucircumflex", 'Û'),
    ("Udieresis", 'Ü'),
    ("Ugrave", 'Ù'),
    ("Yacute", 'Ý'),
    ("Ydieresis", 'Ÿ'),
    ("Zcaron", 'Ž'),
    ("aacute", 'á'),
    ("acircumflex", 'â'),
    ("acute", '´'),
    ("adieresis", 'ä'),
    ("ae", 'æ'),
    ("agrave", 'à'),
    ("ampersand", '&'),
    ("aring", 'å'),
    ("asciicircum", '^'),
    ("asciitilde", '~'),
    ("asterisk", '*'),
    ("at", '@'),
    ("atilde", 'ã'),
    ("backslash", '\\'),
    ("bar", '|'),
    ("braceleft", '{'),
    ("braceright", '}'),
    ("bracketleft", '['),
    ("bracketright", ']'),
    ("brokenbar", '¦'),
    ("bullet", '•'),
    ("ccedilla", 'ç'),
    ("cedilla", '¸'),
    ("cent", '¢'),
    ("colon", ':'),
    ("comma", ','),
    ("copyright", '©'),
    ("currency", '¤'),
    ("dagger", '†'),
    ("daggerdbl", '‡'),
    ("degree", '°'),
    ("dieresis", '¨'),
    ("divide", '÷'),
    ("dollar", '$'),
    ("dotlessi", 'ı'),
    ("eacute", 'é'),
    ("ecircumflex", 'ê'),
    ("edieresis", 'ë'),
    ("egrave", 'è'),
    ("eight", '8'),
    ("ellipsis", '…'),
    ("emdash", '—'),
    ("endash", '–'),
    ("equal", '='),
    ("eth", 'ð'),
    ("exclam", '!'),
    ("exclamdown", '¡'),
    ("ff", 'ﬀ'),
    ("ffi", 'ﬃ'),
    ("ffl", 'ﬄ'),
    ("fi", 'ﬁ'),
    ("five", '5'),
    ("fl", 'ﬂ'),
    ("florin", 'ƒ'),
    ("four", '4'),
    ("fraction", '⁄'),
    ("germandbls", 'ß'),
    ("grave", '`'),
    ("greater", '>'),
    ("guillemotleft", '«'),
    ("guillemotright", '»'),
    ("guilsinglleft", '‹'),
    ("guilsinglright", '›'),
    ("hyphen", '-'),
    ("iacute", 'í'),
    ("icircumflex", 'î'),
    ("idieresis", 'ï'),
    ("igrave", 'ì'),
    ("less", '<'),
    ("logicalnot", '¬'),
    ("macron", '¯'),
    ("minus", '−'),
    ("mu", 'µ'),
    ("multiply", '×'),
    ("nbspace", ' '),
    ("nine", '9'),
    ("ntilde", 'ñ'),
    ("numbersign", '#'),
    ("oacute", 'ó'),
    ("ocircumflex", 'ô'),
    ("odieresis", 'ö'),
    ("oe", 'œ'),
    ("ograve", 'ò'),
    ("one", '1'),
    ("onehalf", '½'),
    ("onequarter", '¼'),
    ("onesuperior", '¹'),
    ("ordfeminine", 'ª'),
    ("ordmasculine", 'º'),
    ("oslash", 'ø'),
    ("otilde", 'õ'),
    ("paragraph", '¶'),
    ("parenleft", '('),
    ("parenright", ')'),
    ("percent", '%'),
    ("period", '.'),
    ("periodcentered", '·'),
    ("perthousand", '‰'),
    ("plus", '+'),
    ("plusminus", '±'),
    ("question", '?'),
    ("questiondown", '¿'),
    ("quotedbl", '"'),
    ("quotedblbase", '„'),
    ("quotedblleft", '“'),
    ("quotedblright", '”'),
    ("quoteleft", '‘'),
    ("quoteright", '’'),
    ("quotesinglbase", '‚'),
    ("quotesingle", '\''),
    ("registered", '®'),
    ("scaron", 'š'),
    ("section", '§'),
    ("semicolon", ';'),
    ("seven", '7'),
    ("six", '6'),
    ("slash", '/'),
    ("space", ' '),
    ("sterling", '£'),
    ("thorn", 'þ'),
    ("three", '3'),
    ("threequarters", '¾'),
    ("threesuperior", '³'),
    ("trademark", '™'),
    ("two", '2'),
    ("twosuperior", '²'),
    ("uacute", 'ú'),
    ("ucircumflex", 'û'),
    ("udieresis", 'ü'),
    ("ugrave", 'ù'),
    ("underscore", '_'),
    ("yacute", 'ý'),
    ("ydieresis", 'ÿ'),
    ("yen", '¥'),
    ("zcaron", 'ž'),
    ("zero", '0'),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyph_table_is_sorted_for_binary_search() {
        assert!(GLYPH_NAMES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(glyph_char(b"eacute"), Some('é'));
        assert_eq!(glyph_char(b"A"), Some('A'));
        assert_eq!(glyph_char(b"uni20AC"), Some('€'));
        assert_eq!(glyph_char(b"u1F600"), Some('😀'));
        // Letters and a decimal code: that code's character (Type3 fonts from TeX).
        assert_eq!(glyph_char(b"g123"), Some('{'));
        assert_eq!(glyph_char(b"a65"), Some('A'));
        assert_eq!(glyph_char(b"a7"), None, "one digit: not a code name");
        assert_eq!(glyph_char(b"a127"), None, "a control code");
        assert_eq!(glyph_char(b"square"), None);
    }

    #[test]
    fn a_type3_fonts_unknown_glyph_names_stand_for_their_codes() {
        use lopdf::dictionary;
        let document = Document::with_version("1.5");
        let font = |subtype: &str| {
            dictionary! {
                "Subtype" => subtype,
                "Encoding" => dictionary! {
                    "Differences" => vec![
                        97.into(),
                        Object::Name(b"square".to_vec()),
                        Object::Name(b"triangle".to_vec()),
                        Object::Name(b".notdef".to_vec()),
                        Object::Name(b"eacute".to_vec()),
                    ],
                },
            }
        };
        let table = simple_encoding(&document, &font("Type3"));
        assert_eq!(&table[97..101], &['a', 'b', '\0', 'é']);
        // Other fonts' glyphs are outlines with names readers know: unknown is unknown.
        let table = simple_encoding(&document, &font("Type1"));
        assert_eq!(&table[97..101], &['\0', '\0', '\0', 'é']);
    }
}
