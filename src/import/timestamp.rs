//! Timestamps of import files: ISO-8601 with a UTC offset, or local time in a given zone.

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, TimeZone as _, Utc};

use crate::domain::TimeZone;

/// A parsed timestamp: the instant, and the offset the file wrote (if it wrote one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Stamp {
    pub instant: DateTime<Utc>,
    pub offset: Option<FixedOffset>,
}

/// Parses `raw`. With an offset (`2026-07-28T14:00:00-05:00`, `...Z`, or a space for `T`) it is
/// exact; without one it is read as local time in `local` when given. `previous` is the last
/// instant read, to place the second of two rows that name the same fall-back hour.
pub(crate) fn parse(
    raw: &str,
    local: Option<TimeZone>,
    previous: Option<DateTime<Utc>>,
) -> Result<Stamp, String> {
    if raw.is_empty() {
        return Err("empty timestamp".to_owned());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Stamp {
            instant: t.with_timezone(&Utc),
            offset: Some(*t.offset()),
        });
    }
    // Other ISO-8601 shapes with an offset: a space for 'T', no seconds, `Z`, `-0500`.
    let zulu = raw.strip_suffix(['Z', 'z']).map(|r| format!("{r}+00:00"));
    let with_offset = zulu.as_deref().unwrap_or(raw);
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M%:z",
        "%Y-%m-%d %H:%M%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(with_offset, fmt) {
            return Ok(Stamp {
                instant: t.with_timezone(&Utc),
                offset: Some(*t.offset()),
            });
        }
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|fmt| NaiveDateTime::parse_from_str(raw, fmt).ok())
    .ok_or_else(|| {
        format!("timestamp {raw:?} is not ISO-8601 (expected e.g. 2026-07-28T14:00:00-05:00)")
    })?;
    let Some(zone) = local else {
        return Err(format!(
            "timestamp {raw:?} has no UTC offset; give --tz ZONE to read it as local time (e.g. --tz America/Lima)"
        ));
    };
    match zone.tz().from_local_datetime(&naive) {
        LocalResult::Single(t) => Ok(Stamp {
            instant: t.with_timezone(&Utc),
            offset: None,
        }),
        LocalResult::Ambiguous(early, late) => {
            // The fall-back hour happens twice: the first row that names it is the earlier one.
            let (early, late) = (early.with_timezone(&Utc), late.with_timezone(&Utc));
            let instant = if previous.is_some_and(|p| p >= early) {
                late
            } else {
                early
            };
            Ok(Stamp {
                instant,
                offset: None,
            })
        }
        LocalResult::None => Err(format!(
            "local time {raw:?} does not exist in {zone} (a daylight-saving gap)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn timestamps_with_offsets_are_exact_whatever_the_zone() {
        let s = parse("2014-11-02T01:00:00-05:00", None, None).unwrap();
        assert_eq!(s.instant, utc("2014-11-02T06:00:00Z"));
        assert_eq!(
            parse("2014-11-02 01:00:00-04:00", None, None)
                .unwrap()
                .instant,
            utc("2014-11-02T05:00:00Z")
        );
        assert_eq!(
            parse("2026-01-01T00:00Z", None, None).unwrap().instant,
            utc("2026-01-01T00:00:00Z")
        );
    }

    #[test]
    fn a_timestamp_without_offset_needs_a_zone() {
        let err = parse("2026-07-28T14:00:00", None, None).unwrap_err();
        assert!(err.contains("--tz"), "{err}");
        let lima = TimeZone::LIMA;
        assert_eq!(
            parse("2026-07-28T14:00:00", Some(lima), None)
                .unwrap()
                .instant,
            utc("2026-07-28T19:00:00Z")
        );
    }

    #[test]
    fn repeated_fall_back_hours_map_to_both_instants_and_gap_hours_are_rejected() {
        let ny = TimeZone::parse("America/New_York").unwrap();
        let first = parse(
            "2014-11-02 01:00:00",
            Some(ny),
            Some(utc("2014-11-02T04:00:00Z")),
        )
        .unwrap();
        assert_eq!(first.instant, utc("2014-11-02T05:00:00Z"));
        let second = parse("2014-11-02 01:00:00", Some(ny), Some(first.instant)).unwrap();
        assert_eq!(second.instant, utc("2014-11-02T06:00:00Z"));
        assert!(
            parse("2015-03-08 02:00:00", Some(ny), None)
                .unwrap_err()
                .contains("does not exist")
        );
    }

    #[test]
    fn garbage_is_named_in_the_error() {
        assert!(
            parse("yesterday", None, None)
                .unwrap_err()
                .contains("\"yesterday\"")
        );
        assert!(parse("2026-02-30T00:00:00Z", None, None).is_err());
    }
}
