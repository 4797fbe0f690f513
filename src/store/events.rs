//! The `events` and `event_series` tables: special events and the series they move.

use std::collections::BTreeMap;

use chrono::Utc;
use serde::Serialize;
use sqlx::Row;

use super::series::epoch;
use super::{Store, StoreError};
use crate::domain::{EventId, SeriesId, SpecialEvent};

/// The condition on an event row `e` that it moves the series `$1`.
const SERIES_EVENTS: &str = "e.id IN (SELECT event FROM event_series WHERE series = $1)";

impl Store {
    /// Inserts or replaces events (with their series lists) in one transaction.
    ///
    /// # Errors
    /// On database failure; nothing is written then.
    pub async fn put_events(&self, events: &[SpecialEvent]) -> Result<(), StoreError> {
        let now = Utc::now().timestamp();
        let mut tx = self.pool.begin().await?;
        for e in events {
            sqlx::query(
                "INSERT INTO events (id, name, venue, latitude, longitude, starts_at, ends_at, expected_attendance, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
                 venue = excluded.venue, latitude = excluded.latitude, longitude = excluded.longitude, \
                 starts_at = excluded.starts_at, ends_at = excluded.ends_at, \
                 expected_attendance = excluded.expected_attendance, updated_at = excluded.updated_at",
            )
            .bind(e.id.as_str())
            .bind(e.name.as_str())
            .bind(e.venue.as_str())
            .bind(e.latitude)
            .bind(e.longitude)
            .bind(e.starts_at.timestamp())
            .bind(e.ends_at.timestamp())
            .bind(i64::from(e.expected_attendance))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM event_series WHERE event = $1")
                .bind(e.id.as_str())
                .execute(&mut *tx)
                .await?;
            for s in &e.series {
                sqlx::query("INSERT INTO event_series (event, series) VALUES ($1, $2)")
                    .bind(e.id.as_str())
                    .bind(s.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        Ok(tx.commit().await?)
    }

    /// Events that move `series` (all events when `None`), by start time.
    ///
    /// # Errors
    /// On database failure or a stored value that no longer parses.
    pub async fn events(&self, series: Option<&SeriesId>) -> Result<Vec<SpecialEvent>, StoreError> {
        match series {
            Some(s) => {
                self.events_where(Some((SERIES_EVENTS, s.as_str())), None)
                    .await
            }
            None => self.events_where(None, None).await,
        }
        .map(|rows| rows.into_iter().map(|(e, _)| e).collect())
    }

    /// The events whose row `e` meets `filter`'s condition (SQL with one text parameter, `$1`,
    /// bound to its value; every event without one), by start time, with their series and the
    /// value of the SQL condition `flag` on each (false without one; it may read `$1` too): two
    /// queries whatever their number.
    async fn events_where(
        &self,
        filter: Option<(&str, &str)>,
        flag: Option<&str>,
    ) -> Result<Vec<(SpecialEvent, bool)>, StoreError> {
        let condition = filter.map_or("TRUE", |(condition, _)| condition);
        let fetch = |sql: String| {
            let q = sqlx::query(sqlx::AssertSqlSafe(sql));
            match filter {
                Some((_, value)) => q.bind(value),
                None => q,
            }
            .fetch_all(&self.pool)
        };
        let cols = "e.id, e.name, e.venue, e.latitude, e.longitude, e.starts_at, e.ends_at, e.expected_attendance";
        let flag = flag.unwrap_or("FALSE");
        let rows = fetch(format!(
            "SELECT {cols}, CASE WHEN {flag} THEN 1 ELSE 0 END AS flag \
             FROM events e WHERE {condition} ORDER BY e.starts_at, e.id"
        ))
        .await?;
        let links = fetch(format!(
            "SELECT event, series FROM event_series \
             WHERE event IN (SELECT e.id FROM events e WHERE {condition}) ORDER BY event, series"
        ))
        .await?;
        let mut by_event: BTreeMap<String, Vec<SeriesId>> = BTreeMap::new();
        for l in &links {
            by_event
                .entry(l.try_get("event")?)
                .or_default()
                .push(SeriesId::parse(l.try_get("series")?)?);
        }
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                let attendance: i64 = r.try_get("expected_attendance")?;
                let flag: i32 = r.try_get("flag")?;
                let event = SpecialEvent {
                    id: EventId::parse(&id)?,
                    name: r.try_get("name")?,
                    venue: r.try_get("venue")?,
                    latitude: r.try_get("latitude")?,
                    longitude: r.try_get("longitude")?,
                    starts_at: epoch(r.try_get("starts_at")?)?,
                    ends_at: epoch(r.try_get("ends_at")?)?,
                    expected_attendance: u32::try_from(attendance).map_err(|_| {
                        StoreError::CorruptText(format!("attendance {attendance} of event {id}"))
                    })?,
                    series: by_event.remove(&id).unwrap_or_default(),
                };
                Ok((event, flag != 0))
            })
            .collect()
    }
}

/// An event as listed for one series: with whether it will be unlike the series' history when
/// it starts, so that its forecasts will be trusted less and its recommendations held (the
/// forecast names it `unseen_event`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventAgainstHistory {
    #[serde(flatten)]
    pub event: SpecialEvent,
    pub unlike_history: bool,
}

impl Store {
    /// The events of series `id`, in order of start, each with whether it will be unlike the
    /// series' history when it starts (see
    /// [`new_to_history`](crate::forecast::confidence::new_to_history)): the history holds the
    /// events during which a whole hour of its demand is stored.
    ///
    /// # Errors
    /// As [`Store::events`].
    pub async fn events_against_history(
        &self,
        id: &SeriesId,
    ) -> Result<Vec<EventAgainstHistory>, StoreError> {
        // Whether each event's hours (see `SpecialEvent::hours`: from the hour it starts in to
        // the hour of its last second) hold a complete observation, asked in the same statement
        // as the events, so that both answers are of one state of the store: hours are whole
        // multiples of 3600 seconds, so an event's are its start and its last second floored to
        // one (`%` keeps the dividend's sign in both SQLite and PostgreSQL).
        let floor = |t: &str| format!("({t} - ((({t} % 3600) + 3600) % 3600))");
        let (start, last) = (floor("e.starts_at"), floor("(e.ends_at - 1)"));
        let held = format!(
            "EXISTS (SELECT 1 FROM observations o WHERE o.series = $1 \
             AND o.partial = 0 AND o.hour >= {start} \
             AND o.hour <= CASE WHEN {last} > {start} THEN {last} ELSE {start} END)"
        );
        let rows = self
            .events_where(Some((SERIES_EVENTS, id.as_str())), Some(&held))
            .await?;
        let held: Vec<_> = rows
            .iter()
            .map(|(e, h)| (e.expected_attendance, e.starts_at, *h))
            .collect();
        let new = crate::forecast::confidence::new_to_history(&held);
        Ok(rows
            .into_iter()
            .zip(new)
            .map(|((event, _), unlike_history)| EventAgainstHistory {
                event,
                unlike_history,
            })
            .collect())
    }
}

impl Store {
    /// One event, if it exists.impl Store {
    /// One event, if it exists.
    ///
    /// # Errors
    /// As [`Store::events`].
    pub async fn event(&self, id: &EventId) -> Result<Option<SpecialEvent>, StoreError> {
        Ok(self
            .events_where(Some(("e.id = $1", id.as_str())), None)
            .await?
            .pop()
            .map(|(e, _)| e))
    }

    /// Deletes an event (and its series links); true if it existed.
    ///
    /// # Errors
    /// On database failure.
    pub async fn delete_event(&self, id: &EventId) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM event_series WHERE event = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM events WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}
