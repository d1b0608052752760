/*!
When each source runs next: pure arithmetic on slots aligned to the local clock.

A source with `interval = 1h` and `offset = 2m` has slots at 00:02, 01:02, … local time; with
`interval = 1d` at 00:02 every day. Deadlines are kept on the monotonic clock: when a run ends, the
wall-clock time to the next slot is converted into a monotonic deadline, so a wall clock that jumps
(NTP after a boot without RTC, a manual change) never causes a burst of runs, and never skips a day:
at worst one slot runs early or late by the size of the jump, once. After downtime, a missed slot
runs once at start, not once per missed slot.
*/

use std::time::Duration;

use chrono::{DateTime, Offset, TimeZone, Utc};

/// Seconds since the epoch as the local clock reads them (so days start at local midnight).
fn local_seconds(wall: DateTime<Utc>, tz: chrono_tz::Tz) -> i64 {
    let off = tz
        .offset_from_utc_datetime(&wall.naive_utc())
        .fix()
        .local_minus_utc() as i64;
    wall.timestamp() + off
}

/// The start of the slot `wall` falls in.
pub fn slot_start(
    wall: DateTime<Utc>,
    tz: chrono_tz::Tz,
    interval: Duration,
    offset: Duration,
) -> DateTime<Utc> {
    let i = interval.as_secs().max(1) as i64;
    let o = (offset.as_secs() as i64).rem_euclid(i);
    let local = local_seconds(wall, tz);
    let start_local = (local - o).div_euclid(i) * i + o;
    wall - chrono::Duration::seconds(local - start_local)
}

/// The next slot strictly after `wall`.
pub fn next_slot(
    wall: DateTime<Utc>,
    tz: chrono_tz::Tz,
    interval: Duration,
    offset: Duration,
) -> DateTime<Utc> {
    slot_start(wall, tz, interval, offset)
        + chrono::Duration::seconds(interval.as_secs().max(1) as i64)
}

/// How long from `wall` until the next slot, at least `min_gap` (no two runs of one source
/// closer than that, whatever the wall clock does).
pub fn delay_to_next(
    wall: DateTime<Utc>,
    tz: chrono_tz::Tz,
    interval: Duration,
    offset: Duration,
    min_gap: Duration,
) -> Duration {
    let next = next_slot(wall, tz, interval, offset);
    let secs = (next - wall).num_milliseconds().max(0) as u64;
    Duration::from_millis(secs).max(min_gap)
}

/// The smallest gap between two scheduled runs of a source: a quarter of its interval, at most
/// ten minutes.
pub fn min_gap(interval: Duration) -> Duration {
    (interval / 4).min(Duration::from_secs(600))
}

/// Whether a source whose last run started at `last` (wall clock, if any) missed its slot while
/// the agent was down: true when there was no run, when the last run is before the current slot,
/// or when it lies in the future (the clock was wrong then or is wrong now — run rather than skip).
pub fn missed_at_start(
    last: Option<DateTime<Utc>>,
    wall: DateTime<Utc>,
    tz: chrono_tz::Tz,
    interval: Duration,
    offset: Duration,
) -> bool {
    match last {
        None => true,
        Some(t) if t > wall + chrono::Duration::minutes(5) => true,
        Some(t) => t < slot_start(wall, tz, interval, offset),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wib(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Jakarta
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid")
            .with_timezone(&Utc)
    }
    const H: Duration = Duration::from_secs(3600);
    const D: Duration = Duration::from_secs(86_400);
    const TWO_MIN: Duration = Duration::from_secs(120);

    #[test]
    fn hourly_slots_align_to_the_local_hour_plus_offset() {
        let tz = chrono_tz::Asia::Jakarta;
        assert_eq!(
            slot_start(wib(2026, 11, 26, 10, 30), tz, H, TWO_MIN),
            wib(2026, 11, 26, 10, 2)
        );
        assert_eq!(
            next_slot(wib(2026, 11, 26, 10, 30), tz, H, TWO_MIN),
            wib(2026, 11, 26, 11, 2)
        );
        assert_eq!(
            slot_start(wib(2026, 11, 26, 10, 1), tz, H, TWO_MIN),
            wib(2026, 11, 26, 9, 2)
        );
    }

    #[test]
    fn daily_slots_start_at_local_midnight_not_utc() {
        let tz = chrono_tz::Asia::Jakarta;
        assert_eq!(
            next_slot(wib(2026, 11, 26, 23, 30), tz, D, Duration::ZERO),
            wib(2026, 11, 27, 0, 0)
        );
        assert_eq!(
            next_slot(
                wib(2026, 11, 26, 6, 30),
                tz,
                D,
                Duration::from_secs(2 * 3600)
            ),
            wib(2026, 11, 27, 2, 0)
        );
    }

    #[test]
    fn missed_runs() {
        let tz = chrono_tz::Asia::Jakarta;
        let now = wib(2026, 11, 26, 10, 30);
        assert!(missed_at_start(None, now, tz, H, TWO_MIN));
        assert!(!missed_at_start(
            Some(wib(2026, 11, 26, 10, 2)),
            now,
            tz,
            H,
            TWO_MIN
        ));
        assert!(missed_at_start(
            Some(wib(2026, 11, 26, 9, 2)),
            now,
            tz,
            H,
            TWO_MIN
        ));
        // A power cut of three days: still one run, decided once.
        assert!(missed_at_start(
            Some(wib(2026, 11, 23, 9, 2)),
            now,
            tz,
            H,
            TWO_MIN
        ));
        // The last run is "in the future": the clock is wrong; run rather than skip.
        assert!(missed_at_start(
            Some(wib(2027, 1, 1, 0, 0)),
            now,
            tz,
            H,
            TWO_MIN
        ));
    }

    #[test]
    fn never_closer_than_the_minimum_gap() {
        let tz = chrono_tz::Asia::Jakarta;
        let d = delay_to_next(wib(2026, 11, 26, 11, 1), tz, H, TWO_MIN, min_gap(H));
        assert_eq!(d, Duration::from_secs(600));
        let d = delay_to_next(wib(2026, 11, 26, 10, 2), tz, H, TWO_MIN, min_gap(H));
        assert_eq!(d, H);
    }
}
