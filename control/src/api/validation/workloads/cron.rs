//! CronJob schedules: the standard five cron fields (`*/5 * * * 1-5`), month
//! and weekday names, and the `@hourly`-style descriptors, parsed into sets of
//! allowed values a CronJob controller can test times against.

use std::time::Duration;

/// Why a schedule does not parse; the text follows the cron library
/// Kubernetes uses, so messages read the same.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error("expected exactly 5 fields, found {0}: {1}")]
    FieldCount(usize, String),
    #[error("unrecognized descriptor: {0}")]
    Descriptor(String),
    #[error("failed to parse int from {0}")]
    NotANumber(String),
    #[error("beginning of range ({0}) below minimum ({1}): {2}")]
    BelowMinimum(u32, u32, String),
    #[error("end of range ({0}) above maximum ({1}): {2}")]
    AboveMaximum(u32, u32, String),
    #[error("beginning of range ({0}) beyond end of range ({1}): {2}")]
    Inverted(u32, u32, String),
    #[error("step of range should be a positive number: {0}")]
    Step(String),
    #[error("too many slashes: {0}")]
    Slashes(String),
    #[error("failed to parse duration {0}")]
    Duration(String),
    #[error("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")]
    TimeZone,
}

/// A parsed schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Runs at every minute whose fields are all allowed.
    Fields(CronFields),
    /// `@every 1h30m`: runs at a fixed interval.
    Every(Duration),
}

/// One bit per allowed value of each field (bit `n` set: value `n` allowed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CronFields {
    pub minutes: u64,
    pub hours: u64,
    pub days_of_month: u64,
    pub months: u64,
    pub days_of_week: u64,
    /// Whether day-of-month or day-of-week was `*`: cron then requires only
    /// the other one to match, instead of either.
    pub any_day_of_month: bool,
    pub any_day_of_week: bool,
}

impl CronFields {
    /// Whether the minute given by these calendar values (month 1–12,
    /// weekday 0 = Sunday) is scheduled.
    pub fn matches(&self, minute: u32, hour: u32, day_of_month: u32, month: u32, day_of_week: u32) -> bool {
        let has = |set: u64, v: u32| v < 64 && set & (1 << v) != 0;
        let dom = has(self.days_of_month, day_of_month);
        let dow = has(self.days_of_week, day_of_week);
        let day = if self.any_day_of_month || self.any_day_of_week { dom && dow } else { dom || dow };
        has(self.minutes, minute) && has(self.hours, hour) && has(self.months, month) && day
    }
}

const MONTHS: &[&str] = &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

struct Bounds {
    min: u32,
    max: u32,
    /// Names for values starting at `min`.
    names: &'static [&'static str],
}

const MINUTE: Bounds = Bounds { min: 0, max: 59, names: &[] };
const HOUR: Bounds = Bounds { min: 0, max: 23, names: &[] };
const DAY_OF_MONTH: Bounds = Bounds { min: 1, max: 31, names: &[] };
const MONTH: Bounds = Bounds { min: 1, max: 12, names: MONTHS };
const DAY_OF_WEEK: Bounds = Bounds { min: 0, max: 6, names: WEEKDAYS };

/// Parse a CronJob's `spec.schedule`.
pub fn parse_schedule(spec: &str) -> Result<Schedule, CronError> {
    let spec = spec.trim();
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        return Err(CronError::TimeZone);
    }
    if let Some(descriptor) = spec.strip_prefix('@') {
        return parse_descriptor(descriptor);
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    let [minute, hour, dom, month, dow] = fields[..] else {
        return Err(CronError::FieldCount(fields.len(), format!("{fields:?}")));
    };
    Ok(Schedule::Fields(CronFields {
        minutes: parse_field(minute, &MINUTE)?,
        hours: parse_field(hour, &HOUR)?,
        days_of_month: parse_field(dom, &DAY_OF_MONTH)?,
        months: parse_field(month, &MONTH)?,
        days_of_week: parse_field(dow, &DAY_OF_WEEK)?,
        any_day_of_month: is_star(dom),
        any_day_of_week: is_star(dow),
    }))
}

fn is_star(field: &str) -> bool {
    field.starts_with('*') || field.starts_with('?')
}

fn parse_descriptor(descriptor: &str) -> Result<Schedule, CronError> {
    let fields = |spec: &str| parse_schedule(spec);
    match descriptor {
        "yearly" | "annually" => fields("0 0 1 1 *"),
        "monthly" => fields("0 0 1 * *"),
        "weekly" => fields("0 0 * * 0"),
        "daily" | "midnight" => fields("0 0 * * *"),
        "hourly" => fields("0 * * * *"),
        other => match other.strip_prefix("every ") {
            Some(duration) => parse_duration(duration.trim()).map(Schedule::Every),
            None => Err(CronError::Descriptor(format!("@{other}"))),
        },
    }
}

/// Go-style durations as `@every` takes them: `90s`, `1h30m`, `500ms`.
fn parse_duration(s: &str) -> Result<Duration, CronError> {
    let bad = || CronError::Duration(s.to_string());
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "s" => Duration::from_secs(n),
            "ms" => Duration::from_millis(n),
            _ => return Err(bad()),
        };
        total = total.saturating_add(part);
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// A comma-separated list of ranges, as a bit set.
fn parse_field(field: &str, bounds: &Bounds) -> Result<u64, CronError> {
    field.split(',').try_fold(0u64, |bits, range| Ok(bits | parse_range(range, bounds)?))
}

/// `*`, `?`, `n`, `a-b`, each optionally with `/step`.
fn parse_range(expr: &str, bounds: &Bounds) -> Result<u64, CronError> {
    let parts: Vec<&str> = expr.split('/').collect();
    let (range, step) = match parts[..] {
        [range] => (range, None),
        [range, step] => (range, Some(step)),
        _ => return Err(CronError::Slashes(expr.to_string())),
    };
    let (start, end) = if range == "*" || range == "?" {
        (bounds.min, bounds.max)
    } else {
        match range.split_once('-') {
            Some((a, b)) => (parse_value(a, bounds)?, parse_value(b, bounds)?),
            // `5/15` runs from 5 to the maximum.
            None if step.is_some() => (parse_value(range, bounds)?, bounds.max),
            None => {
                let v = parse_value(range, bounds)?;
                (v, v)
            }
        }
    };
    let step = match step {
        None => 1,
        Some(s) => match s.parse::<u32>() {
            Ok(n) if n > 0 => n,
            _ => return Err(CronError::Step(expr.to_string())),
        },
    };
    if start < bounds.min {
        return Err(CronError::BelowMinimum(start, bounds.min, expr.to_string()));
    }
    if end > bounds.max {
        return Err(CronError::AboveMaximum(end, bounds.max, expr.to_string()));
    }
    if start > end {
        return Err(CronError::Inverted(start, end, expr.to_string()));
    }
    Ok((start..=end).step_by(step as usize).fold(0u64, |bits, v| bits | (1 << v)))
}

fn parse_value(s: &str, bounds: &Bounds) -> Result<u32, CronError> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = bounds.names.iter().position(|n| *n == lower) {
        return Ok(bounds.min + i as u32);
    }
    s.parse().map_err(|_| CronError::NotANumber(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(spec: &str) -> CronFields {
        match parse_schedule(spec) {
            Ok(Schedule::Fields(f)) => f,
            other => panic!("{spec}: {other:?}"),
        }
    }

    #[test]
    fn standard_fields() {
        let every_5 = fields("*/5 * * * *");
        assert!(every_5.matches(0, 3, 1, 1, 0));
        assert!(every_5.matches(55, 3, 1, 1, 0));
        assert!(!every_5.matches(7, 3, 1, 1, 0));
        let weekdays = fields("30 9 * JAN-mar mon-fri");
        assert!(weekdays.matches(30, 9, 10, 2, 1));
        assert!(!weekdays.matches(30, 9, 10, 2, 0), "Sunday is not a weekday");
        assert!(!weekdays.matches(30, 9, 10, 4, 1), "April is outside jan-mar");
        let list = fields("0,15,45 1-3 1,15 * ?");
        assert_eq!(list.minutes, 1 | (1 << 15) | (1 << 45));
        assert_eq!(list.hours, 0b1110);
        assert_eq!(fields("10/20 * * * *").minutes, (1 << 10) | (1 << 30) | (1 << 50));
    }

    #[test]
    fn day_of_month_or_day_of_week() {
        let both = fields("0 0 1 * 1");
        assert!(both.matches(0, 0, 1, 5, 3), "the 1st matches even on a Wednesday");
        assert!(both.matches(0, 0, 9, 5, 1), "a Monday matches even on the 9th");
        assert!(!both.matches(0, 0, 9, 5, 3));
    }

    #[test]
    fn descriptors() {
        assert_eq!(fields("@hourly"), fields("0 * * * *"));
        assert_eq!(fields("@daily"), fields("0 0 * * *"));
        assert_eq!(fields("@annually"), fields("@yearly"));
        assert_eq!(parse_schedule("@every 1h30m"), Ok(Schedule::Every(Duration::from_secs(5400))));
        assert_eq!(parse_schedule("@often"), Err(CronError::Descriptor("@often".into())));
        assert_eq!(parse_schedule("@every soon"), Err(CronError::Duration("soon".into())));
    }

    #[test]
    fn errors() {
        assert_eq!(parse_schedule("* * * *"), Err(CronError::FieldCount(4, "[\"*\", \"*\", \"*\", \"*\"]".into())));
        assert_eq!(parse_schedule("61 * * * *"), Err(CronError::AboveMaximum(61, 59, "61".into())));
        assert_eq!(parse_schedule("* * 0 * *"), Err(CronError::BelowMinimum(0, 1, "0".into())));
        assert_eq!(parse_schedule("5-1 * * * *"), Err(CronError::Inverted(5, 1, "5-1".into())));
        assert_eq!(parse_schedule("*/0 * * * *"), Err(CronError::Step("*/0".into())));
        assert_eq!(parse_schedule("x * * * *"), Err(CronError::NotANumber("x".into())));
        assert_eq!(parse_schedule("TZ=UTC * * * * *"), Err(CronError::TimeZone));
        assert_eq!(
            parse_schedule("* * * * * *").unwrap_err().to_string(),
            "expected exactly 5 fields, found 6: [\"*\", \"*\", \"*\", \"*\", \"*\", \"*\"]"
        );
    }
}
