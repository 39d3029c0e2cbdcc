//! Adobe's CJK character collections (Adobe-Japan1, -GB1, -CNS1, -Korea1): the character of
//! each CID, for composite fonts that name a collection (`Identity-H` over its CIDs) and carry
//! no `ToUnicode` map.
//!
//! The tables (`data/cid/*.bin`, made by `data/cid/generate.py` from Adobe's `cid2code.txt`)
//! give a CID's code in the collection's national character set where it has one, decoded
//! here by `encoding_rs`, else its Unicode value. A table is decoded on first use, once.

use std::sync::OnceLock;

use encoding_rs::Encoding;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Collection {
    Japan1,
    Gb1,
    Cns1,
    Korea1,
}

impl Collection {
    /// The collection a `CIDSystemInfo`'s `Ordering` names.
    pub(super) fn from_ordering(ordering: &[u8]) -> Option<Self> {
        match ordering {
            b"Japan1" => Some(Self::Japan1),
            b"GB1" => Some(Self::Gb1),
            b"CNS1" => Some(Self::Cns1),
            b"Korea1" => Some(Self::Korea1),
            _ => None,
        }
    }

    /// The character of `cid`, if it has one.
    pub(super) fn char_of(self, cid: u32) -> Option<char> {
        let table = self.table();
        let c = *table.get(usize::try_from(cid).ok()?)?;
        (c != '\0').then_some(c)
    }

    fn table(self) -> &'static [char] {
        static TABLES: [OnceLock<Box<[char]>>; 4] = [const { OnceLock::new() }; 4];
        let (index, data, charset): (usize, &[u8], &'static Encoding) = match self {
            Self::Japan1 => (
                0,
                include_bytes!("../../../data/cid/Japan1.bin"),
                encoding_rs::EUC_JP,
            ),
            Self::Gb1 => (
                1,
                include_bytes!("../../../data/cid/GB1.bin"),
                encoding_rs::GBK,
            ),
            Self::Cns1 => (
                2,
                include_bytes!("../../../data/cid/CNS1.bin"),
                encoding_rs::BIG5,
            ),
            Self::Korea1 => (
                3,
                include_bytes!("../../../data/cid/Korea1.bin"),
                encoding_rs::EUC_KR,
            ),
        };
        TABLES[index].get_or_init(|| decode(data, charset).unwrap_or_default().into_boxed_slice())
    }
}

/// A table's characters by CID (`'\0'` for none); `None` if the data is malformed.
fn decode(data: &[u8], charset: &'static Encoding) -> Option<Vec<char>> {
    let mut reader = Varints { data, at: 0 };
    let runs = reader.next()?;
    let mut kinds = Vec::new();
    for _ in 0..runs {
        let (kind, length) = (reader.next()?, reader.next()?);
        kinds.push((kind, usize::try_from(length).ok()?));
    }
    let mut table = Vec::new();
    let mut previous = [0i64; 2];
    for (kind, length) in kinds {
        for _ in 0..length {
            let c = match kind {
                0 | 1 => {
                    let slot = usize::from(kind == 1);
                    let zigzag = reader.next()?;
                    let delta = (zigzag >> 1) as i64 ^ -((zigzag & 1) as i64);
                    let value = previous[slot] + delta + 1;
                    previous[slot] = value;
                    let value = u32::try_from(value).ok()?;
                    if kind == 0 {
                        in_charset(value, charset)
                    } else {
                        char::from_u32(value)
                    }
                }
                _ => None,
            };
            table.push(c.unwrap_or('\0'));
        }
    }
    Some(table)
}

/// The character of a code in `charset` (one to three bytes, big-endian).
fn in_charset(code: u32, charset: &'static Encoding) -> Option<char> {
    let bytes = code.to_be_bytes();
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(3);
    let (text, errors) = charset.decode_without_bom_handling(&bytes[start..]);
    let mut chars = text.chars();
    match (errors, chars.next(), chars.next()) {
        (false, Some(c), None) => Some(c),
        _ => None,
    }
}

/// LEB128 numbers, one after another.
struct Varints<'a> {
    data: &'a [u8],
    at: usize,
}

impl Varints<'_> {
    fn next(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.data.get(self.at)?;
            self.at += 1;
            value |= u64::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CIDs and the characters Adobe's `cid2code.txt` gives them (its Unicode column), through
    /// both paths: a national character set's code and a Unicode value.
    #[test]
    fn cids_read_as_adobes_tables_give_them() {
        for (collection, cid, expected) in [
            (Collection::Japan1, 1, ' '),
            (Collection::Japan1, 34, 'A'),
            (Collection::Japan1, 61, '¥'),
            (Collection::Japan1, 843, 'あ'),
            (Collection::Japan1, 1125, '亜'),
            (Collection::Japan1, 1533, '漢'),
            (Collection::Japan1, 7474, '堯'),
            (Collection::Gb1, 34, 'A'),
            (Collection::Gb1, 940, '啊'),
            (Collection::Gb1, 4559, '中'),
            (Collection::Cns1, 34, 'A'),
            (Collection::Cns1, 661, '中'),
            (Collection::Cns1, 5401, '臏'),
            (Collection::Korea1, 34, 'A'),
            (Collection::Korea1, 1086, '가'),
        ] {
            assert_eq!(
                collection.char_of(cid),
                Some(expected),
                "{collection:?} CID {cid}"
            );
        }
        assert_eq!(Collection::Japan1.char_of(0), None);
        assert_eq!(Collection::Japan1.char_of(1_000_000), None);
    }

    #[test]
    fn every_collection_decodes_whole() {
        for (collection, cids) in [
            (Collection::Japan1, 23_060),
            (Collection::Gb1, 30_572),
            (Collection::Cns1, 19_179),
            (Collection::Korea1, 18_352),
        ] {
            let table = collection.table();
            assert_eq!(table.len(), cids, "{collection:?}");
            let mapped = table.iter().filter(|&&c| c != '\0').count();
            assert!(mapped * 10 > cids * 6, "{collection:?}: {mapped} of {cids}");
        }
    }

    #[test]
    fn malformed_data_decodes_to_nothing() {
        assert_eq!(decode(&[0x80], encoding_rs::EUC_JP), None);
        assert_eq!(decode(&[1, 0, 5, 0], encoding_rs::EUC_JP), None);
    }
}
