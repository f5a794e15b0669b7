//! A CronJob's `schedule` in its `timeZone`: standard 5-field cron syntax and
//! the `@hourly`-style shorthands, evaluated by `croner` on jiff's zoned time
//! (so daylight-saving changes follow the zone's rules).

use croner::parser::{CronParser, Seconds};
use croner::Cron;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// Upstream stops counting missed start times here and warns instead.
pub const MAX_MISSED: usize = 100;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScheduleError {
    #[error("unparseable schedule {schedule:?}: {reason}")]
    Unparseable { schedule: String, reason: String },
    #[error("unknown time zone {0:?}")]
    UnknownTimeZone(String),
}

impl ScheduleError {
    /// The Event reason upstream records for it.
    pub fn reason(&self) -> &'static str {
        match self {
            ScheduleError::Unparseable { .. } => "UnparseableSchedule",
            ScheduleError::UnknownTimeZone(_) => "UnknownTimeZone",
        }
    }
}

/// The schedule times that passed in a window, newest last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Missed {
    /// The most recent one.
    pub latest: Timestamp,
    /// More than [`MAX_MISSED`] of them passed.
    pub too_many: bool,
}

pub struct Schedule {
    cron: Cron,
    zone: TimeZone,
}

impl Schedule {
    /// Parses `schedule`, in `time_zone` (an IANA name) or the system's zone.
    pub fn parse(schedule: &str, time_zone: Option<&str>) -> Result<Schedule, ScheduleError> {
        let zone = match time_zone {
            Some(name) => TimeZone::get(name).map_err(|_| ScheduleError::UnknownTimeZone(name.to_string()))?,
            None => TimeZone::system(),
        };
        let unparseable = |reason: String| ScheduleError::Unparseable { schedule: schedule.to_string(), reason };
        // Upstream rejects a zone inside the schedule: it belongs in spec.timeZone.
        if schedule.contains("TZ") {
            return Err(unparseable("a time zone belongs in spec.timeZone, not in the schedule".into()));
        }
        let parser = CronParser::builder().seconds(Seconds::Disallowed).build();
        let cron = parser.parse(schedule.trim()).map_err(|e| unparseable(e.to_string()))?;
        Ok(Schedule { cron, zone })
    }

    /// The zone the schedule is read in.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// The first schedule time strictly after `after`.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let start = after.to_zoned(self.zone.clone());
        self.cron.find_next_occurrence(&start, false).ok().map(|z: Zoned| z.timestamp())
    }

    /// The schedule times in `(earliest, now]`, if any passed.
    pub fn missed(&self, earliest: Timestamp, now: Timestamp) -> Option<Missed> {
        let mut count = 0;
        let mut latest = None;
        let mut cursor = earliest;
        while let Some(next) = self.next_after(cursor).filter(|t| *t <= now) {
            count += 1;
            latest = Some(next);
            if count > MAX_MISSED {
                // Too many to walk: jump straight to the most recent one.
                let recent = self.cron.find_previous_occurrence(&now.to_zoned(self.zone.clone()), true).ok().map(|z: Zoned| z.timestamp());
                return Some(Missed { latest: recent.unwrap_or(next), too_many: true });
            }
            cursor = next;
        }
        latest.map(|latest| Missed { latest, too_many: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    #[test]
    fn every_minute_and_shorthands() {
        let every = Schedule::parse("*/1 * * * *", Some("UTC")).expect("parse");
        assert_eq!(every.next_after(at("2024-01-01T10:00:30Z")), Some(at("2024-01-01T10:01:00Z")));
        assert_eq!(every.next_after(at("2024-01-01T10:01:00Z")), Some(at("2024-01-01T10:02:00Z")));
        let hourly = Schedule::parse("@hourly", Some("UTC")).expect("parse");
        assert_eq!(hourly.next_after(at("2024-01-01T10:00:30Z")), Some(at("2024-01-01T11:00:00Z")));
        let weekly = Schedule::parse("30 6 * * 1", Some("UTC")).expect("parse");
        // 2024-01-01 is a Monday.
        assert_eq!(weekly.next_after(at("2024-01-01T07:00:00Z")), Some(at("2024-01-08T06:30:00Z")));
    }

    #[test]
    fn a_time_zone_shifts_the_schedule() {
        let tokyo = Schedule::parse("0 9 * * *", Some("Asia/Tokyo")).expect("parse");
        assert_eq!(tokyo.next_after(at("2024-01-01T00:30:00Z")), Some(at("2024-01-02T00:00:00Z")));
    }

    #[test]
    fn bad_schedules_and_zones_are_errors() {
        assert!(matches!(Schedule::parse("* * *", None), Err(ScheduleError::Unparseable { .. })));
        assert!(matches!(Schedule::parse("0 * * * * *", None), Err(ScheduleError::Unparseable { .. })), "seconds are not standard");
        assert!(matches!(Schedule::parse("CRON_TZ=UTC * * * * *", None), Err(ScheduleError::Unparseable { .. })));
        assert_eq!(Schedule::parse("* * * * *", Some("Mars/Olympus")).err(), Some(ScheduleError::UnknownTimeZone("Mars/Olympus".into())));
    }

    #[test]
    fn missed_times_count_up_to_the_limit() {
        let every = Schedule::parse("* * * * *", Some("UTC")).expect("parse");
        let start = at("2024-01-01T10:00:00Z");
        assert_eq!(every.missed(start, at("2024-01-01T10:00:59Z")), None);
        let three = every.missed(start, at("2024-01-01T10:03:10Z")).expect("missed");
        assert_eq!(three, Missed { latest: at("2024-01-01T10:03:00Z"), too_many: false });
        let many = every.missed(start, at("2024-01-02T10:00:30Z")).expect("missed");
        assert_eq!(many, Missed { latest: at("2024-01-02T10:00:00Z"), too_many: true });
    }
}
