use crate::harness::*;
use reqwest::StatusCode;

#[tokio::test]
async fn zz_trace_statements() {
    let scratch = scratch_db().await;
    let name = scratch.url.rsplit('/').next().unwrap().to_string();
    let admin = sqlx::postgres::PgPool::connect("postgres://postgres@127.0.0.1:5432/test")
        .await
        .unwrap();
    sqlx::query(&format!("ALTER DATABASE {name} SET log_statement = 'all'"))
        .execute(&admin)
        .await
        .unwrap();
    let app = TestApp::spawn_on(scratch, |_| {}).await;
    let (s, _) = app.put_settings(&app.token, sandbox_settings()).await;
    assert_eq!(s, StatusCode::OK);
    let agr = agreement_id();
    app.card_preauth(&tx_id(), &agr, 10.0, "4200000000000000")
        .await;
    let id = tx_id();
    eprintln!("MARK-POST-START {id}");
    let (s, p) = app
        .post("/api/Payment", recurring_body(&id, &agr, 12.5))
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    eprintln!("MARK-GET-START");
    let (s, _) = app.get(&format!("/api/Payment/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    eprintln!("MARK-END {name}");
}
