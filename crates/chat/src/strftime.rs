//! `strftime_now(fmt)` for chat templates: transformers exposes `datetime.now().strftime(fmt)`,
//! the local wall-clock time, so templates that print today's date see the user's date.

use jiff::ZonedDateTime;
use minijinja::{Error, ErrorKind};

/// The current time in the local time zone (`TZ`, else the system's), formatted like C and
/// Python `strftime`.
pub(crate) fn strftime_now(format: &str) -> Result<String, Error> {
    format_time(format, &ZonedDateTime::now())
}

/// Formats `time`; an unknown or malformed directive is a template error naming it.
pub(crate) fn format_time(format: &str, time: &ZonedDateTime) -> Result<String, Error> {
    jiff::fmt::strtime::format(format, time).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("strftime_now({format:?}): {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use jiff::tz::{Offset, TimeZone};

    fn at(unix: i64, zone: TimeZone) -> ZonedDateTime {
        Timestamp::from_second(unix)
            .unwrap()
            .to_zoned_datetime(zone)
    }

    #[test]
    fn known_dates() {
        // 2024-02-29 13:05:09 UTC, a Thursday, day 60 of a leap year.
        let t = at(1_709_211_909, TimeZone::UTC);
        assert_eq!(
            format_time("%Y-%m-%d %H:%M:%S", &t).unwrap(),
            "2024-02-29 13:05:09"
        );
        assert_eq!(format_time("%d %b %Y", &t).unwrap(), "29 Feb 2024");
        assert_eq!(
            format_time("%A %B %-d, %I %p, day %j, %%", &t).unwrap(),
            "Thursday February 29, 01 PM, day 060, %"
        );
        let before = at(-1, TimeZone::UTC);
        assert_eq!(
            format_time("%F %T", &before).unwrap(),
            "1969-12-31 23:59:59"
        );
    }

    #[test]
    fn the_zone_moves_the_wall_clock() {
        // 23:30 UTC is already the next day two hours east.
        let east = at(1_709_249_400, TimeZone::fixed(Offset::constant(2)));
        assert_eq!(
            format_time("%F %H:%M %z", &east).unwrap(),
            "2024-03-01 01:30 +0200"
        );
        let local = ZonedDateTime::now();
        let expected = jiff::fmt::strtime::format("%z", &local).unwrap();
        assert_eq!(strftime_now("%z").unwrap(), expected);
    }

    #[test]
    fn a_bad_directive_is_an_error_naming_the_format() {
        let err = format_time("%Y %!", &ZonedDateTime::now())
            .unwrap_err()
            .to_string();
        assert!(err.contains("strftime_now(\"%Y %!\")"), "{err}");
    }
}
