//! Excel dates and times: a cell holds a serial number (days since the workbook's epoch, the
//! time of day as the fraction), and only its number format (`xl/styles.xml`) says it is a
//! date. Cells with a date or time format are shown in ISO 8601 (`2024-03-01`,
//! `2024-03-01 14:30:00`, `14:30:00`), whatever the format's own layout, so every reader gets
//! the same unambiguous text.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::archive::attr;

/// What a number format shows of a serial number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DateKind {
    Date,
    DateTime,
    /// A time of day or a duration (`[h]:mm`): hours past 24 are kept.
    Time,
}

/// The date kind of each cell style (`cellXfs`, by index), from `xl/styles.xml`.
#[derive(Debug, Default)]
pub(super) struct CellStyles(Vec<Option<DateKind>>);

impl CellStyles {
    pub(super) fn parse(xml: &str) -> Result<Self, quick_xml::Error> {
        let mut custom: Vec<(u32, Option<DateKind>)> = Vec::new();
        let mut styles = Vec::new();
        let mut in_cell_xfs = false;
        let mut reader = Reader::from_str(xml);
        loop {
            match reader.read_event()? {
                Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                    "numFmt" => {
                        let id = attr(&e, "numFmtId").and_then(|id| id.parse().ok());
                        let code = attr(&e, "formatCode").unwrap_or_default();
                        custom.extend(id.map(|id| (id, format_kind(&code))));
                    }
                    "cellXfs" => in_cell_xfs = true,
                    "xf" if in_cell_xfs => {
                        let id: Option<u32> = attr(&e, "numFmtId").and_then(|id| id.parse().ok());
                        styles.push(id.and_then(|id| {
                            match custom.iter().find(|(custom, _)| *custom == id) {
                                Some(&(_, kind)) => kind,
                                None => built_in_kind(id),
                            }
                        }));
                    }
                    _ => {}
                },
                Event::End(e) if e.local_name().as_ref() == "cellXfs" => in_cell_xfs = false,
                Event::Eof => break,
                _ => {}
            }
        }
        Ok(Self(styles))
    }

    /// The date kind of cell style `index` (a cell's `s`), if it shows a date or time.
    pub(super) fn kind(&self, index: usize) -> Option<DateKind> {
        self.0.get(index).copied().flatten()
    }
}

/// Excel's built-in number formats that show dates and times (ECMA-376 part 1, 18.8.30, and
/// the East Asian ones Excel adds).
fn built_in_kind(id: u32) -> Option<DateKind> {
    match id {
        14..=17 | 27..=31 | 34..=36 | 50..=58 => Some(DateKind::Date),
        18..=21 | 32 | 33 | 45..=47 => Some(DateKind::Time),
        22 => Some(DateKind::DateTime),
        _ => None,
    }
}

/// What a format code shows: a date when it has a year or day, a time when it has hours or
/// seconds, both when both. Quoted text, escaped characters and bracketed colours or
/// conditions are not codes; only the first section (positive numbers) counts.
fn format_kind(code: &str) -> Option<DateKind> {
    if code.trim().eq_ignore_ascii_case("General") {
        return None;
    }
    let (mut date, mut time) = (false, false);
    let mut chars = code.chars();
    while let Some(c) = chars.next() {
        match c {
            ';' => break,
            '"' => {
                for c in chars.by_ref() {
                    if c == '"' {
                        break;
                    }
                }
            }
            '\\' | '_' | '*' => {
                chars.next();
            }
            '[' => {
                // `[h]`, `[mm]`, `[ss]` are elapsed time; `[Red]`, `[>100]`, `[$-409]` are not.
                let inside: String = chars.by_ref().take_while(|&c| c != ']').collect();
                if inside
                    .chars()
                    .all(|c| matches!(c, 'h' | 'H' | 'm' | 'M' | 's' | 'S'))
                    && !inside.is_empty()
                {
                    time = true;
                }
            }
            'y' | 'Y' | 'd' | 'D' => date = true,
            'h' | 'H' | 's' | 'S' => time = true,
            _ => {}
        }
    }
    match (date, time) {
        (true, true) => Some(DateKind::DateTime),
        (true, false) => Some(DateKind::Date),
        (false, true) => Some(DateKind::Time),
        (false, false) => None,
    }
}

/// Whether a workbook's `workbookPr` element counts days from 1904 (`date1904="1"`).
pub(super) fn is_1904(workbook_pr: &BytesStart) -> bool {
    attr(workbook_pr, "date1904").is_some_and(|v| v == "1" || v == "true")
}

/// The serial number `value` shown as `kind`; `None` when it is not a number or is outside
/// the years 1900 to 9999.
pub(super) fn format_serial(value: &str, kind: DateKind, date1904: bool) -> Option<String> {
    let serial: f64 = value.trim().parse().ok()?;
    if !(0.0..2_958_466.0).contains(&serial) {
        return None;
    }
    let mut days = serial.floor() as i64;
    let mut seconds = ((serial - serial.floor()) * 86_400.0).round() as i64;
    if seconds == 86_400 {
        days += 1;
        seconds = 0;
    }
    let clock = |hours: i64| format!("{hours:02}:{:02}:{:02}", seconds / 60 % 60, seconds % 60);
    if kind == DateKind::Time {
        return Some(clock(days * 24 + seconds / 3_600));
    }
    // Day 0 of the 1900 system is 1899-12-31, and Excel counts a 29 February 1900 that never
    // was (day 60, shown here as the 28th), so from day 61 on the epoch is 1899-12-30.
    let since_1970 = if date1904 {
        days - 24_107
    } else if days < 61 {
        days - 25_568 - i64::from(days == 60)
    } else {
        days - 25_569
    };
    let (year, month, day) = civil_from_days(since_1970);
    let date = format!("{year:04}-{month:02}-{day:02}");
    Some(match kind {
        DateKind::Date => date,
        _ => format!("{date} {}", clock(seconds / 3_600)),
    })
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_numbers_are_iso_dates_and_times() {
        let date = |v: &str| format_serial(v, DateKind::Date, false);
        assert_eq!(date("1").as_deref(), Some("1900-01-01"));
        assert_eq!(date("59").as_deref(), Some("1900-02-28"));
        assert_eq!(date("61").as_deref(), Some("1900-03-01"));
        assert_eq!(date("45352").as_deref(), Some("2024-03-01"));
        assert_eq!(date("2958465").as_deref(), Some("9999-12-31"));
        assert_eq!(date("2958466"), None);
        assert_eq!(date("-1"), None);
        assert_eq!(date("Total"), None);
        assert_eq!(
            format_serial("45352.604166666664", DateKind::DateTime, false).as_deref(),
            Some("2024-03-01 14:30:00")
        );
        assert_eq!(
            format_serial("0.9999999", DateKind::DateTime, false).as_deref(),
            Some("1900-01-01 00:00:00")
        );
        assert_eq!(
            format_serial("0.75", DateKind::Time, false).as_deref(),
            Some("18:00:00")
        );
        assert_eq!(
            format_serial("1.5", DateKind::Time, false).as_deref(),
            Some("36:00:00"),
            "a duration keeps its hours"
        );
        assert_eq!(
            format_serial("0", DateKind::Date, true).as_deref(),
            Some("1904-01-01")
        );
        assert_eq!(
            format_serial("43890", DateKind::Date, true).as_deref(),
            Some("2024-03-01")
        );
    }

    #[test]
    fn format_codes_are_told_apart() {
        for (code, kind) in [
            ("yyyy-mm-dd", Some(DateKind::Date)),
            ("d/m/yy", Some(DateKind::Date)),
            ("[$-409]mmmm d, yyyy;@", Some(DateKind::Date)),
            ("m/d/yy h:mm", Some(DateKind::DateTime)),
            ("h:mm AM/PM", Some(DateKind::Time)),
            ("[h]:mm:ss", Some(DateKind::Time)),
            ("mm:ss.0", Some(DateKind::Time)),
            ("0.00", None),
            ("#,##0 \"days\"", None),
            ("[Red]#,##0;[Blue]-#,##0", None),
            ("0\\d", None),
            ("General", None),
            ("@", None),
        ] {
            assert_eq!(format_kind(code), kind, "{code}");
        }
    }

    #[test]
    fn cell_styles_map_to_built_in_and_custom_formats() {
        let styles = CellStyles::parse(
            r#"<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<numFmts count="2"><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/><numFmt numFmtId="165" formatCode="0.0%"/></numFmts>
<cellStyleXfs count="1"><xf numFmtId="14"/></cellStyleXfs>
<cellXfs count="5"><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="164"/><xf numFmtId="165"/><xf numFmtId="22"/></cellXfs>
</styleSheet>"#,
        )
        .unwrap();
        let kinds: Vec<_> = (0..6).map(|i| styles.kind(i)).collect();
        assert_eq!(
            kinds,
            [
                None,
                Some(DateKind::Date),
                Some(DateKind::Date),
                None,
                Some(DateKind::DateTime),
                None
            ]
        );
    }
}
