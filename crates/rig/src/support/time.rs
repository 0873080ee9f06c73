//! RFC 3339 timestamps in UTC with microseconds, as RIG writes them: one
//! formatter for event `time` fields and API definition timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

/// How the UTC offset is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Utc {
    /// `+00:00` (RIG's CloudEvents `time`).
    Offset,
    /// `Z` (RIG's API definition `timestamp`).
    Z,
}

/// `2019-03-27T11:53:18.435690+00:00` or `2018-12-17T10:38:06.334013Z`.
pub fn rfc3339_micros(t: SystemTime, utc: Utc) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (y, m, day) = civil_from_days(days);
    let zone = match utc {
        Utc::Offset => "+00:00",
        Utc::Z => "Z",
    };
    format!("{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:06}{zone}", rem / 3600, rem % 3600 / 60, rem % 60, d.subsec_micros())
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_time_like_rig() {
        let t = UNIX_EPOCH + Duration::from_micros(1_553_687_598_435_690);
        assert_eq!(rfc3339_micros(t, Utc::Offset), "2019-03-27T11:53:18.435690+00:00");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339_micros(UNIX_EPOCH, Utc::Z), "1970-01-01T00:00:00.000000Z");
        let t = UNIX_EPOCH + Duration::from_micros(1_545_043_086_334_013);
        assert_eq!(rfc3339_micros(t, Utc::Z), "2018-12-17T10:38:06.334013Z");
        assert_eq!(rfc3339_micros(UNIX_EPOCH + Duration::from_secs(951_782_400), Utc::Z), "2000-02-29T00:00:00.000000Z");
    }
}
