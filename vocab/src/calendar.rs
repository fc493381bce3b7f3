//! Calendars: weekly sessions in a time zone, minus holidays (`calendar xnys =
//! sessions("America/New_York", mon..fri 09:30-16:00, holidays "nyse.txt")`). Routes use them
//! in `during`: a route's notifications wait while its calendar is closed.

use std::collections::BTreeSet;

/// One weekly session: on the days of `days` (bit 0 Monday .. bit 6 Sunday), from `open` to
/// `close`, minutes after local midnight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Bit 0 is Monday.
    pub days: u8,
    /// Minutes after midnight, local time.
    pub open: u16,
    /// Minutes after midnight (at most 24:00), local time.
    pub close: u16,
}

/// A calendar: sessions in a time zone, closed on holidays.
#[derive(Debug, Clone)]
pub struct Calendar {
    /// The IANA time zone's name.
    pub tz_name: String,
    tz: jiff::tz::TimeZone,
    /// The sessions of a week.
    pub sessions: Vec<Session>,
    /// Closed days (local dates).
    pub holidays: BTreeSet<jiff::civil::Date>,
}

impl Calendar {
    /// A calendar in time zone `tz` (an IANA name, or `UTC`).
    pub fn new(
        tz: &str,
        sessions: Vec<Session>,
        holidays: BTreeSet<jiff::civil::Date>,
    ) -> Result<Calendar, String> {
        let zone = jiff::tz::TimeZone::get(tz).map_err(|e| format!("time zone `{tz}`: {e}"))?;
        Ok(Calendar {
            tz_name: tz.to_string(),
            tz: zone,
            sessions,
            holidays,
        })
    }

    /// Whether a session is open at `ms` (epoch milliseconds).
    pub fn is_open(&self, ms: i64) -> bool {
        let Ok(ts) = jiff::Timestamp::from_millisecond(ms) else {
            return false;
        };
        let z = ts.to_zoned(self.tz.clone());
        if self.holidays.contains(&z.date()) {
            return false;
        }
        let day = z.weekday().to_monday_zero_offset();
        let minute = z.hour() as u16 * 60 + z.minute() as u16;
        self.sessions
            .iter()
            .any(|s| s.days & (1 << day) != 0 && s.open <= minute && minute < s.close)
    }
}

impl Calendar {
    /// The session open at `ms`: its start (epoch ms) and its index among the calendar's
    /// sessions; `None` while the calendar is closed.
    pub fn session_at(&self, ms: i64) -> Option<(i64, usize)> {
        let z = jiff::Timestamp::from_millisecond(ms)
            .ok()?
            .to_zoned(self.tz.clone());
        let date = z.date();
        if self.holidays.contains(&date) {
            return None;
        }
        let day = z.weekday().to_monday_zero_offset();
        let minute = z.hour() as u16 * 60 + z.minute() as u16;
        let i = self
            .sessions
            .iter()
            .position(|s| s.days & (1 << day) != 0 && s.open <= minute && minute < s.close)?;
        Some((self.start_on(date, i)?, i))
    }

    /// Where session `i` starts on `date`, epoch ms (`None` when a time-zone gap swallows it).
    fn start_on(&self, date: jiff::civil::Date, i: usize) -> Option<i64> {
        let open = self.sessions[i].open;
        let dt = date.at((open / 60) as i8, (open % 60) as i8, 0, 0);
        Some(
            dt.to_zoned(self.tz.clone())
                .ok()?
                .timestamp()
                .as_millisecond(),
        )
    }

    /// The starts of session `i` on the open days before the day of `ms`, newest first, back
    /// to `ms - back` (holidays and days the session does not run skipped): the like-for-like
    /// baseline of a seasonal score.
    pub fn earlier_starts(&self, ms: i64, back: i64, i: usize) -> Vec<i64> {
        let mut out = Vec::new();
        let Some(s) = self.sessions.get(i) else {
            return out;
        };
        let Ok(ts) = jiff::Timestamp::from_millisecond(ms) else {
            return out;
        };
        let mut date = ts.to_zoned(self.tz.clone()).date();
        // A day more than the window, for zones whose days are not 24 hours.
        for _ in 0..=(back / 86_400_000 + 1) {
            let Ok(prev) = date.yesterday() else {
                break;
            };
            date = prev;
            let day = date.weekday().to_monday_zero_offset();
            if s.days & (1 << day) == 0 || self.holidays.contains(&date) {
                continue;
            }
            match self.start_on(date, i) {
                Some(start) if start >= ms - back => out.push(start),
                Some(_) => break,
                None => {}
            }
        }
        out
    }
}

/// `mon`..`sun` as 0..6.
pub fn weekday(word: &str) -> Option<u8> {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .position(|d| *d == word)
        .map(|i| i as u8)
}

/// `09:30` as minutes after midnight (`24:00` is the end of the day).
pub fn clock(word: &str) -> Option<u16> {
    let (h, m) = word.split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 || h == 24 && m == 0).then_some(h * 60 + m)
}

/// A holidays file: one `YYYY-MM-DD` per line, `#` comments and blank lines ignored. The
/// first bad line is named.
pub fn holidays(text: &str) -> Result<BTreeSet<jiff::civil::Date>, String> {
    let mut out = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.split('#').next().unwrap_or("").trim();
        if l.is_empty() {
            continue;
        }
        let word = l.split_whitespace().next().unwrap_or(l);
        let d: jiff::civil::Date = word
            .parse()
            .map_err(|_| format!("line {}: `{word}` is not a date like 2026-12-25", i + 1))?;
        out.insert(d);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn nyse_hours_in_new_york_time() {
        let cal = Calendar::new(
            "America/New_York",
            vec![Session {
                days: 0b001_1111,
                open: clock("09:30").unwrap(),
                close: clock("16:00").unwrap(),
            }],
            holidays("# NYSE\n2026-12-25 Christmas\n").unwrap(),
        )
        .unwrap();
        // Tuesday 1 December 2026, 10:00 in New York is 15:00 UTC (EST).
        assert!(cal.is_open(ms("2026-12-01T15:00:00Z")));
        assert!(!cal.is_open(ms("2026-12-01T14:29:00Z")), "before the open");
        assert!(!cal.is_open(ms("2026-12-01T21:00:00Z")), "16:00 closes");
        assert!(!cal.is_open(ms("2026-12-05T15:00:00Z")), "Saturday");
        assert!(!cal.is_open(ms("2026-12-25T15:00:00Z")), "a holiday");
        // Summer time: 10:00 EDT is 14:00 UTC.
        assert!(cal.is_open(ms("2026-07-01T14:00:00Z")));
        assert!(holidays("2026-13-01\n").unwrap_err().contains("line 1"));
        // Thursday 3 December 2026, 11:00 New York: the session opened at 09:30 (14:30 UTC).
        let (start, i) = cal.session_at(ms("2026-12-03T16:00:00Z")).unwrap();
        assert_eq!((start, i), (ms("2026-12-03T14:30:00Z"), 0));
        // Earlier openings within a week: Wed, Tue, Mon, then Fri (the weekend skipped).
        let starts = cal.earlier_starts(ms("2026-12-03T16:00:00Z"), 7 * 86_400_000, 0);
        assert_eq!(
            starts,
            [
                ms("2026-12-02T14:30:00Z"),
                ms("2026-12-01T14:30:00Z"),
                ms("2026-11-30T14:30:00Z"),
                ms("2026-11-27T14:30:00Z"),
            ]
        );
        assert_eq!(cal.session_at(ms("2026-12-05T16:00:00Z")), None, "Saturday");
        assert_eq!(clock("24:00"), Some(1440));
        assert_eq!(clock("24:30"), None);
    }
}
