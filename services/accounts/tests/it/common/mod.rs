//! What every accounts test module needs: a fresh database on either backend, the HTTP app over
//! it, and a look at what was written (the outbox, row counts).

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::web;
use carebill_accounts::AccountsState;
use carebill_platform::db::{AnyConnection, Backend, Db};
use carebill_platform::schema::outbox;
use carebill_platform::testing::{TestDb, test_app};
use diesel::prelude::*;
use serde_json::Value;
use tokio::sync::Notify;

pub mod fixtures;

/// A fresh accounts database, dropped with the harness.
pub struct Harness {
    /// The database, migrated.
    pub db: Db,
    _guard: TestDb,
}

/// A migrated database on `backend`.
pub fn harness(backend: Backend) -> Harness {
    let t = TestDb::new(backend, &carebill_accounts::MIGRATIONS);
    Harness {
        db: t.db.clone(),
        _guard: t,
    }
}

/// The accounts routes over the harness's database.
pub async fn app(
    h: &Harness,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    app_with_mail(h, None).await
}

/// The accounts routes, sending agency notices through the SMTP server at `smtp_url`.
pub async fn app_with_mail(
    h: &Harness,
    smtp_url: Option<&str>,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    let state = web::Data::new(AccountsState {
        db: h.db.clone(),
        wake: Arc::new(Notify::new()),
        channels: carebill_accounts::AgencyChannels {
            mail: smtp_url.map(|url| {
                carebill_platform::outbound::mail::Mailer::from_config(
                    &carebill_platform::config::MailConfig {
                        smtp_url: Some(carebill_platform::config::Secret::new(url.to_owned())),
                        from: "Zorgbemiddeling Utrecht <uren@zorgbemiddeling.example>".to_owned(),
                        timeout_secs: 5,
                    },
                )
                .expect("mailer")
                .expect("a mailer for a URL")
            }),
            portal_url: "http://carebill.test".to_owned(),
            link_hours: 168,
        },
        notices: carebill_accounts::NoticeSettings {
            hours_deadline_days: 2,
            approval_reminder_days: 3,
        },
    });
    test_app(carebill_accounts::routes(state)).await
}

/// Every event in the outbox, oldest first: its type and body.
pub async fn outbox_types(db: &Db) -> Vec<(String, Value)> {
    let rows: Vec<(String, String)> = db
        .read(|c: &mut AnyConnection| {
            Ok(outbox::table
                .order(outbox::seq.asc())
                .select((outbox::event_type, outbox::body))
                .load(c)?)
        })
        .await
        .expect("outbox");
    rows.into_iter()
        .map(|(t, b)| (t, serde_json::from_str(&b).expect("json")))
        .collect()
}

/// Rows in `table` (a trusted name).
pub async fn count(db: &Db, table: &'static str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    db.read(move |c: &mut AnyConnection| {
        Ok(
            diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
                .get_result::<N>(c)?
                .n,
        )
    })
    .await
    .expect("count")
}
