//! `strftime_now(fmt)` for chat templates (transformers exposes `datetime.now().strftime`).
//! Implemented on `std::time` to avoid a date crate; the time is UTC because the standard
//! library has no time-zone database.

use std::time::{SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DateTime {
    pub year: i64,
    pub month: u32, // 1..=12
    pub day: u32,   // 1..=31
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub weekday: u32, // 0 = Monday
    pub yday: u32,    // 1..=366
}

impl DateTime {
    pub fn now_utc() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Self::from_unix(secs)
    }

    /// Civil date from Unix seconds (Howard Hinnant's days-to-civil algorithm).
    pub fn from_unix(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        const CUM: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
        let yday = CUM[(month - 1) as usize] + day + u32::from(leap && month > 2);
        // 1970-01-01 was a Thursday (index 3 with Monday = 0).
        let weekday = (days + 3).rem_euclid(7) as u32;
        Self {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem / 60 % 60) as u32,
            second: (rem % 60) as u32,
            weekday,
            yday,
        }
    }

    /// Formats like C/Python `strftime` for the common directives (`%Y %y %m %d %e %H %I %M %S
    /// %p %b %B %h %a %A %j %w %u %F %T %D %R %c %x %X %Z %z %%`), with glibc's `%-d`
    /// (no padding) flag. Unknown directives are copied through, as glibc does.
    pub fn format(&self, fmt: &str) -> String {
        let mut out = String::new();
        let mut chars = fmt.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let no_pad = chars.peek() == Some(&'-');
            if no_pad {
                chars.next();
            }
            let Some(d) = chars.next() else {
                out.push('%');
                break;
            };
            let num = |v: i64, width: usize| {
                if no_pad {
                    v.to_string()
                } else {
                    format!("{v:0width$}")
                }
            };
            let hour12 = match self.hour % 12 {
                0 => 12,
                h => h,
            };
            let month_name = MONTHS[(self.month - 1) as usize];
            let day_name = DAYS[self.weekday as usize];
            match d {
                'Y' => out.push_str(&self.year.to_string()),
                'y' => out.push_str(&num(self.year.rem_euclid(100), 2)),
                'm' => out.push_str(&num(self.month.into(), 2)),
                'd' => out.push_str(&num(self.day.into(), 2)),
                'e' => out.push_str(&format!("{:>2}", self.day)),
                'H' => out.push_str(&num(self.hour.into(), 2)),
                'I' => out.push_str(&num(hour12.into(), 2)),
                'M' => out.push_str(&num(self.minute.into(), 2)),
                'S' => out.push_str(&num(self.second.into(), 2)),
                'p' => out.push_str(if self.hour < 12 { "AM" } else { "PM" }),
                'b' | 'h' => out.push_str(&month_name[..3]),
                'B' => out.push_str(month_name),
                'a' => out.push_str(&day_name[..3]),
                'A' => out.push_str(day_name),
                'j' => out.push_str(&num(self.yday.into(), 3)),
                'w' => out.push_str(&((self.weekday + 1) % 7).to_string()),
                'u' => out.push_str(&(self.weekday + 1).to_string()),
                'F' => out.push_str(&self.format("%Y-%m-%d")),
                'T' => out.push_str(&self.format("%H:%M:%S")),
                'D' | 'x' => out.push_str(&self.format("%m/%d/%y")),
                'R' => out.push_str(&self.format("%H:%M")),
                'X' => out.push_str(&self.format("%H:%M:%S")),
                'c' => out.push_str(&self.format("%a %b %e %H:%M:%S %Y")),
                'Z' => out.push_str("UTC"),
                'z' => out.push_str("+0000"),
                '%' => out.push('%'),
                other => {
                    out.push('%');
                    if no_pad {
                        out.push('-');
                    }
                    out.push(other);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        // 2024-02-29 13:05:09 UTC, a Thursday, day 60 of a leap year.
        let t = DateTime::from_unix(1_709_211_909);
        assert_eq!(t.format("%Y-%m-%d %H:%M:%S"), "2024-02-29 13:05:09");
        assert_eq!(t.format("%d %b %Y"), "29 Feb 2024");
        assert_eq!(
            t.format("%A %B %-d, %I %p, day %j, %%, %Q"),
            "Thursday February 29, 01 PM, day 060, %, %Q"
        );
        let epoch = DateTime::from_unix(0);
        assert_eq!(epoch.format("%F %T %a"), "1970-01-01 00:00:00 Thu");
        let before = DateTime::from_unix(-1);
        assert_eq!(before.format("%F %T"), "1969-12-31 23:59:59");
    }
}
