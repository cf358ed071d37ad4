//! The audit log is tamper-evident and readable as an auditor keeps it: each row holds the hash
//! of its columns and of the row before it, so a changed, inserted or deleted row is found by
//! `verify`; a damaged row is reported by the export, not passed off as a row without
//! conclusions; a read-only copy can be exported; the database is created readable by its owner
//! only; and answers carrying patient data are never cached.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;

async fn three_rows() -> (cobalt_server::AppState, std::path::PathBuf) {
    let (s, db) = state().await;
    let path = "/cds-services/cobalt-b12-patient-view";
    for _ in 0..3 {
        let body = hook_request("patient-view", Some(patient_bundle()), json!({}));
        let (status, _) = call(&s, "POST", path, Some(&token(path)), Some(body)).await;
        assert_eq!(status, StatusCode::OK);
    }
    (s, db)
}

fn sql(db: &std::path::Path, statement: &str) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch(statement).unwrap();
}

#[tokio::test]
async fn a_changed_inserted_or_deleted_row_breaks_the_chain() {
    let (_s, db) = three_rows().await;
    let v = cobalt_server::audit::sqlite::verify(&db).unwrap();
    assert_eq!((v.rows, v.unchained, v.broken_at), (3, 0, None));
    assert!(v.intact());
    // One field of the second row changed.
    sql(
        &db,
        "UPDATE audit SET patient = 'someone-else' WHERE seq = 2",
    );
    let v = cobalt_server::audit::sqlite::verify(&db).unwrap();
    assert_eq!(v.broken_at, Some(2));
    assert!(!v.intact());
    sql(&db, "UPDATE audit SET patient = '' WHERE seq = 2");
    assert!(
        cobalt_server::audit::sqlite::verify(&db).unwrap().intact(),
        "restored"
    );
    // A row deleted: the next one no longer chains.
    sql(&db, "DELETE FROM audit WHERE seq = 2");
    assert_eq!(
        cobalt_server::audit::sqlite::verify(&db).unwrap().broken_at,
        Some(3)
    );
}

#[tokio::test]
async fn a_damaged_row_is_reported_by_the_export_and_by_verify() {
    let (_s, db) = three_rows().await;
    sql(
        &db,
        "UPDATE audit SET conclusions = substr(conclusions, 2) WHERE seq = 3",
    );
    let mut out = Vec::new();
    let done = cobalt_server::audit::export(&db, &mut out).unwrap();
    assert_eq!(done.rows, 3);
    assert_eq!(done.damaged, vec![3]);
    let last: serde_json::Value =
        serde_json::from_str(String::from_utf8(out).unwrap().lines().last().unwrap()).unwrap();
    assert!(last["conclusions"].is_null());
    assert!(
        last["conclusions_damaged"]
            .as_str()
            .unwrap()
            .starts_with('"'),
        "the damaged text is kept"
    );
    let v = cobalt_server::audit::sqlite::verify(&db).unwrap();
    assert_eq!(v.damaged, vec![3]);
    assert_eq!(v.broken_at, Some(3));
}

#[tokio::test]
async fn a_copy_whose_directory_cannot_be_written_is_exported() {
    let (s, db) = three_rows().await;
    drop(s);
    // A copy in a directory where SQLite cannot make its -shm file (a directory of that name
    // stands in its way, which holds even for root).
    let dir = std::env::temp_dir().join(format!("cobalt-audit-copy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("audit.sqlite3");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    }
    std::fs::copy(&db, &copy).unwrap();
    std::fs::create_dir(dir.join("audit.sqlite3-shm")).unwrap();
    let mut out = Vec::new();
    let done = cobalt_server::audit::export(&copy, &mut out).unwrap();
    assert_eq!(done.rows, 3);
    assert!(cobalt_server::audit::sqlite::verify(&copy)
        .unwrap()
        .intact());
}

#[cfg(unix)]
#[tokio::test]
async fn the_database_is_created_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let (_s, db) = state().await;
    let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[tokio::test]
async fn answers_with_patient_data_are_not_cached_and_long_token_ids_are_refused() {
    let (s, _db) = state().await;
    let path = "/v1/assess";
    let req = axum::http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", token(path)))
        .body(axum::body::Body::from(r#"{"format":"cobalt.case/1"}"#))
        .unwrap();
    let resp = tower::ServiceExt::oneshot(cobalt_server::app(s.clone()), req)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    // A 60 KB jti is refused, not stored.
    let mut c = claims(&format!("{PUBLIC}{path}"));
    c["jti"] = json!("j".repeat(60_000));
    let t = token_with(jsonwebtoken::Algorithm::ES384, "test-ec", c);
    let (status, _) = call(
        &s,
        "POST",
        path,
        Some(&t),
        Some(json!({"format": "cobalt.case/1"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
