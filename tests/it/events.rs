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
