//! Glyph widths, so text can be placed: a simple font's `/Widths` (from `/FirstChar`), a
//! composite font's `/W` and `/DW`, and for the standard fonts that carry no widths, their
//! published metrics for printable ASCII.

use std::collections::BTreeMap;

use lopdf::{Dictionary, Document, Object};

use super::resolve;

/// Widths in thousandths of the font size.
#[derive(Debug, Clone)]
pub(super) enum Widths {
    Simple {
        first: u32,
        widths: Vec<f64>,
        missing: f64,
    },
    Composite {
        default: f64,
        widths: BTreeMap<u32, f64>,
    },
}

impl Widths {
    /// The width of a code the font lists no width for.
    pub(super) fn default(&self) -> f64 {
        match self {
            Widths::Simple { missing, .. } => *missing,
            Widths::Composite { default, .. } => *default,
        }
    }

    pub(super) fn of(&self, code: u32) -> f64 {
        match self {
            Widths::Simple {
                first,
                widths,
                missing,
            } => code
                .checked_sub(*first)
                .and_then(|i| widths.get(i as usize))
                .copied()
                .filter(|w| *w > 0.0)
                .unwrap_or(*missing),
            Widths::Composite { default, widths } => widths.get(&code).copied().unwrap_or(*default),
        }
    }
}

fn number(object: &Object) -> Option<f64> {
    match object {
        Object::Integer(i) => Some(*i as f64),
        Object::Real(r) => Some(f64::from(*r)),
        _ => None,
    }
}

fn array<'a>(document: &'a Document, object: Option<&'a Object>) -> &'a [Object] {
    match object.and_then(|o| resolve(document, o)) {
        Some(Object::Array(items)) => items,
        _ => &[],
    }
}

/// A simple font's widths: its own, or a standard font's metrics.
pub(super) fn simple(document: &Document, font: &Dictionary) -> Widths {
    let first = font
        .get(b"FirstChar")
        .ok()
        .and_then(|o| resolve(document, o))
        .and_then(number)
        .map_or(0, |n| n.max(0.0) as u32);
    let widths: Vec<f64> = array(document, font.get(b"Widths").ok())
        .iter()
        .map(|w| resolve(document, w).and_then(number).unwrap_or(0.0))
        .collect();
    let missing = font
        .get(b"FontDescriptor")
        .ok()
        .and_then(|o| resolve(document, o))
        .and_then(|o| o.as_dict().ok())
        .and_then(|d| d.get(b"MissingWidth").ok())
        .and_then(number);
    if !widths.is_empty() {
        // A Type3 font's widths are in its glyph space, which its `/FontMatrix` maps to text
        // space; other fonts' are in thousandths already.
        let scale = array(document, font.get(b"FontMatrix").ok())
            .first()
            .and_then(number)
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(1.0, |s| s * 1000.0);
        return Widths::Simple {
            first,
            widths: widths.into_iter().map(|w| w * scale).collect(),
            missing: missing.unwrap_or(500.0),
        };
    }
    let base = font
        .get(b"BaseFont")
        .and_then(Object::as_name)
        .unwrap_or_default();
    let (table, other): (&[u16; 95], f64) = if base.starts_with(b"Times") {
        (&TIMES, 500.0)
    } else if base.starts_with(b"Courier") {
        (&[600; 95], 600.0)
    } else {
        (&HELVETICA, 556.0)
    };
    Widths::Simple {
        first: 32,
        widths: table.iter().map(|&w| f64::from(w)).collect(),
        missing: missing.unwrap_or(other),
    }
}

/// A composite (Type0) font's descendant font, which holds its metrics.
pub(super) fn descendant<'a>(
    document: &'a Document,
    font: &'a Dictionary,
) -> Option<&'a Dictionary> {
    array(document, font.get(b"DescendantFonts").ok())
        .first()
        .and_then(|d| resolve(document, d))
        .and_then(|d| d.as_dict().ok())
}

/// A composite (Type0) font's widths, from its descendant font, keyed by code (CID under
/// `Identity-H`, the usual encoding of embedded fonts).
pub(super) fn composite(document: &Document, font: &Dictionary) -> Widths {
    let Some(descendant) = descendant(document, font) else {
        return Widths::Composite {
            default: 1000.0,
            widths: BTreeMap::new(),
        };
    };
    let default = descendant
        .get(b"DW")
        .ok()
        .and_then(|o| resolve(document, o))
        .and_then(number)
        .unwrap_or(1000.0);
    let w = array(document, descendant.get(b"W").ok());
    Widths::Composite {
        default,
        widths: per_cid(document, w, 1),
    }
}

/// How far a vertical composite font moves the pen down per glyph, in thousandths of the font
/// size: its descendant's `/W2` and `/DW2` (whose vertical displacements are negative, down,
/// or zero), a full em where they say nothing. Keyed by CID, as `/W` is: the code under
/// `Identity-V`.
pub(super) fn vertical(document: &Document, font: &Dictionary) -> Widths {
    let descendant = descendant(document, font);
    let default = descendant
        .and_then(|d| d.get(b"DW2").ok())
        .map(|o| array(document, Some(o)))
        .and_then(|dw2| dw2.get(1))
        .and_then(|o| resolve(document, o))
        .and_then(number)
        .filter(|w| *w <= 0.0)
        .map_or(1000.0, |w| -w);
    let w2 = array(document, descendant.and_then(|d| d.get(b"W2").ok()));
    let mut widths = per_cid(document, w2, 3);
    widths.retain(|_, w| *w <= 0.0);
    widths.values_mut().for_each(|w| *w = -*w);
    Widths::Composite { default, widths }
}

/// A `/W`-style table of a descendant font: `c [m1 m2 …]` or `c_first c_last m`, each metric
/// `stride` numbers of which the first is kept (`/W` has one, `/W2` three: the vertical
/// displacement and the position vector). Bounded so a hostile range cannot blow up.
fn per_cid(document: &Document, w: &[Object], stride: usize) -> BTreeMap<u32, f64> {
    let mut widths = BTreeMap::new();
    let mut i = 0;
    while i < w.len() && widths.len() < 65_536 {
        let Some(start) = number(&w[i]) else { break };
        let start = start.max(0.0) as u32;
        match w.get(i + 1).and_then(|o| resolve(document, o)) {
            Some(Object::Array(list)) => {
                for (k, metric) in list.chunks(stride).enumerate() {
                    if let Some(width) = metric
                        .first()
                        .and_then(|o| resolve(document, o))
                        .and_then(number)
                    {
                        widths.insert(start.saturating_add(k as u32), width);
                    }
                }
                i += 2;
            }
            Some(last) => {
                let (Some(last), Some(width)) = (number(last), w.get(i + 2).and_then(number))
                else {
                    break;
                };
                let last = (last.max(0.0) as u32).min(start.saturating_add(65_535));
                for cid in start..=last {
                    widths.insert(cid, width);
                }
                i += 2 + stride;
            }
            None => break,
        }
    }
    widths
}

/// Helvetica's widths for codes 32 to 126.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

/// Times-Roman's widths for codes 32 to 126.
const TIMES: [u16; 95] = [
    250, 333, 408, 500, 500, 833, 778, 180, 333, 333, 500, 564, 250, 333, 250, 278, 500, 500, 500,
    500, 500, 500, 500, 500, 500, 500, 278, 278, 564, 564, 564, 444, 921, 722, 667, 667, 722, 611,
    556, 722, 722, 333, 389, 722, 611, 889, 722, 722, 556, 722, 667, 556, 611, 722, 722, 944, 722,
    722, 611, 333, 278, 333, 469, 500, 333, 444, 500, 444, 500, 444, 333, 500, 500, 278, 278, 500,
    278, 778, 500, 500, 500, 500, 333, 389, 278, 500, 500, 722, 500, 500, 444, 480, 200, 480, 541,
];
