//! Special events from CSV: stored whole, or (on a bad row) not at all.

use prescale::domain::SeriesId;
use prescale::import::import_events;

use crate::helpers::on_each_backend;

const GOOD: &str = "event_id,name,venue,city,starts_at,ends_at,expected_attendance,latitude,longitude\n\
    concierto-1,Concierto,Estadio Nacional,Lima,2026-03-14T20:00:00-05:00,2026-03-14T23:30:00-05:00,80000,-12.0671,-77.0336\n\
    clasico-1,Clásico,Estadio Monumental,Lima,2026-04-05T15:30:00-05:00,2026-04-05T17:30:00-05:00,60000,,\n";

on_each_backend!(events_import_whole_with_their_series, |db| {
    let file = db.write("events.csv", GOOD);
    let trips = SeriesId::parse("trips").unwrap();
    assert_eq!(
        import_events(&db.store, &file, std::slice::from_ref(&trips))
            .await
            .unwrap(),
        2
    );
    let events = db.store.events(Some(&trips)).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].venue, "Estadio Nacional, Lima");
    assert_eq!(events[0].expected_attendance, 80000);
    assert_eq!(events[0].latitude, Some(-12.0671));
    assert_eq!(events[1].latitude, None);
    assert_eq!(
        events[0].starts_at.to_rfc3339(),
        "2026-03-15T01:00:00+00:00"
    );
    assert!(
        db.store
            .events(Some(&SeriesId::parse("other").unwrap()))
            .await
            .unwrap()
            .is_empty()
    );
    // Importing again replaces, it does not duplicate.
    import_events(&db.store, &file, &[trips]).await.unwrap();
    assert_eq!(db.store.events(None).await.unwrap().len(), 2);
});

on_each_backend!(a_bad_event_row_rejects_the_file, |db| {
    let bad = format!(
        "{GOOD}late-1,Late,Somewhere,Lima,2026-05-01T20:00:00-05:00,2026-05-01T19:00:00-05:00,100,,\n"
    );
    let file = db.write("events.csv", &bad);
    let err = import_events(&db.store, &file, &[]).await.unwrap_err();
    let row = err.row().expect("row error");
    assert_eq!(row.line, 4);
    assert!(row.problem.contains("not after starts_at"), "{row}");
    assert!(db.store.events(None).await.unwrap().is_empty());

    let file = db.write("events2.csv", &GOOD.replace("80000", "many"));
    let row = import_events(&db.store, &file, &[])
        .await
        .unwrap_err()
        .row()
        .cloned()
        .expect("row error");
    assert_eq!((row.line, row.column.as_str()), (2, "expected_attendance"));
});

on_each_backend!(the_world_cup_schedule_imports, |db| {
    let Some(dir) = crate::helpers::shared_datasets() else {
        return;
    };
    let wc = SeriesId::parse("worldcup98").unwrap();
    let n = import_events(
        &db.store,
        &dir.join("worldcup98_events.csv"),
        std::slice::from_ref(&wc),
    )
    .await
    .unwrap();
    assert_eq!(n, 64);
    let events = db.store.events(Some(&wc)).await.unwrap();
    let total: u64 = events
        .iter()
        .map(|e| u64::from(e.expected_attendance))
        .sum();
    assert_eq!(total, 2_785_100, "FIFA's official tournament total");
});

on_each_backend!(
    an_event_is_held_when_a_complete_hour_of_its_own_is_stored,
    |db| {
        // Each case is a series with demand stored (complete) at 10:00, 11:00 and 12:00 UTC on
        // 2026-03-14 and a partial count at 18:00, an event of 10,000 people, and a probe: an event
        // of 12,000 a week later, with no demand stored. The probe is unlike the history exactly
        // when the first event was not held (12,000 is not 1.5 times 10,000, but is more than
        // nothing). The listing asks the store once for all events; this pins which hours count as
        // an event's own: from the hour it starts in to the hour of its last second, complete.
        let cases = [
            // Within 12:xx: held.
            (
                "inside",
                "2026-03-14T12:15:00Z",
                "2026-03-14T12:45:00Z",
                true,
            ),
            // Ends on the hour of 10:00, so its last second is at 09:59:59: not held.
            (
                "ends-on-the-hour",
                "2026-03-14T09:00:00Z",
                "2026-03-14T10:00:00Z",
                false,
            ),
            // Runs into 10:00 by a second: held.
            (
                "a-second-in",
                "2026-03-14T09:00:00Z",
                "2026-03-14T10:00:01Z",
                true,
            ),
            // Starts at 12:59 and ends in the 13:00 hour: held by 12:00.
            (
                "from-12-59",
                "2026-03-14T12:59:00Z",
                "2026-03-14T13:30:00Z",
                true,
            ),
            // Starts in 13:00, after the data: not held.
            (
                "after",
                "2026-03-14T13:00:00Z",
                "2026-03-14T15:00:00Z",
                false,
            ),
            // Only a partial hour: not held.
            (
                "partial",
                "2026-03-14T18:00:00Z",
                "2026-03-14T19:00:00Z",
                false,
            ),
        ];
        let csv = "timestamp,y\n\
        2026-03-14T10:00:00Z,5\n2026-03-14T11:00:00Z,5\n2026-03-14T12:00:00Z,5\n";
        let demand = db.write("demand.csv", csv);
        for (case, from, to, held) in cases {
            crate::import::import(&db, &demand, &crate::import::options(case))
                .await
                .unwrap();
            let id = SeriesId::parse(case).unwrap();
            let partial = prescale::domain::Observation {
                hour: prescale::domain::Hour::containing(
                    chrono::DateTime::parse_from_rfc3339("2026-03-14T18:00:00Z")
                        .unwrap()
                        .to_utc(),
                ),
                demand: prescale::domain::Demand::new(5.0).unwrap(),
            };
            db.store.put_partial(&id, &[partial]).await.unwrap();
            let rows = format!(
                "event_id,name,venue,starts_at,ends_at,expected_attendance\n\
             {case}-event,E,Here,{from},{to},10000\n\
             {case}-probe,P,Here,2026-03-21T18:00:00Z,2026-03-21T21:00:00Z,12000\n"
            );
            let file = db.write(&format!("{case}.csv"), &rows);
            import_events(&db.store, &file, std::slice::from_ref(&id))
                .await
                .unwrap();
            let listed = db.store.events_against_history(&id).await.unwrap();
            let flags: Vec<(&str, bool)> = listed
                .iter()
                .map(|e| (e.event.id.as_str(), e.unlike_history))
                .collect();
            assert_eq!(
                flags,
                [
                    (format!("{case}-event").as_str(), true),
                    (format!("{case}-probe").as_str(), !held)
                ],
                "{case}"
            );
            assert_eq!(listed[0].event.series, std::slice::from_ref(&id), "{case}");
        }
        // One event by id, with its series.
        let one = db
            .store
            .event(&prescale::domain::EventId::parse("inside-event").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(one.series, [SeriesId::parse("inside").unwrap()]);
        assert!(
            db.store
                .event(&prescale::domain::EventId::parse("nothing").unwrap())
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(db.store.events(None).await.unwrap().len(), 2 * cases.len());
    }
);
