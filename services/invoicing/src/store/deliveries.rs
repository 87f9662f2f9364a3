//! Stored delivery: recipients' delivery settings (versions), locations' sending windows, the
//! deliveries of documents with their tries, and portal links.

use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{
    deliveries, delivery_attempts, delivery_settings, portal_links, sending_windows,
};

/// One version of a recipient's delivery settings.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = delivery_settings)]
pub(crate) struct SettingsRow {
    /// `payer` or `patient`.
    pub party_kind: String,
    /// The payer's code or the patient's id.
    pub party: String,
    /// Version, from 1.
    pub version: i64,
    /// `email`, `portal_notice` or `none`.
    pub channel: String,
    /// Where e-mail goes.
    pub email: Option<String>,
    /// Whether UBL goes along with the PDF.
    pub attach_ubl: bool,
    /// Preferred language of documents.
    pub language: Option<String>,
    /// Who set it.
    pub created_by: String,
    /// When.
    pub created_at: NaiveDateTime,
}

/// A location's sending windows.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sending_windows)]
pub(crate) struct WindowsRow {
    /// The location.
    pub location_code: String,
    /// The windows as JSON.
    pub definition: String,
    /// Version, from 1.
    pub version: i64,
    /// Who set them.
    pub updated_by: String,
    /// When.
    pub updated_at: NaiveDateTime,
}

/// A delivery of a document.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = deliveries)]
pub(crate) struct DeliveryRow {
    /// Id.
    pub id: String,
    /// `invoice` or `credit_note`.
    pub document_kind: String,
    /// The document's id.
    pub document_id: String,
    /// Its number.
    pub document_number: String,
    /// Its issuing location.
    pub location_code: String,
    /// The payer it is addressed to.
    pub payer_code: Option<String>,
    /// `email` or `portal_notice`.
    pub channel: String,
    /// The e-mail address.
    pub recipient: String,
    /// Whether UBL goes along.
    pub attach_ubl: bool,
    /// The delivery this one resends.
    pub resend_of: Option<String>,
    /// `queued`, `sent`, `failed`.
    pub status: String,
    /// Tries so far.
    pub attempts: i32,
    /// Not to be tried before.
    pub not_before: NaiveDateTime,
    /// Claimed by a sender until.
    pub claimed_until: Option<NaiveDateTime>,
    /// What the last failed try said.
    pub last_error: Option<String>,
    /// The `Message-ID` of the e-mail the server accepted.
    pub message_id: Option<String>,
    /// Who asked for it (the issuing service, or a user's resend).
    pub created_by: String,
    /// When.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// When the server accepted it.
    pub sent_at: Option<NaiveDateTime>,
}

/// One try of a delivery.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = delivery_attempts)]
pub(crate) struct AttemptRow {
    /// The delivery.
    pub delivery_id: String,
    /// 1, 2, ...
    pub attempt: i32,
    /// When.
    pub at: NaiveDateTime,
    /// `sent`, `retrying`, `failed`.
    pub outcome: String,
    /// The server's answer or why it failed.
    pub detail: Option<String>,
}

/// A portal link: a token (kept only as its SHA-256) that opens one document until it expires
/// or is revoked.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = portal_links)]
pub(crate) struct LinkRow {
    /// Id.
    pub id: String,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// `invoice` or `credit_note`.
    pub document_kind: String,
    /// The document.
    pub document_id: String,
    /// Its location.
    pub location_code: String,
    /// The delivery that sent it.
    pub delivery_id: Option<String>,
    /// Opens the document until.
    pub expires_at: NaiveDateTime,
    /// Revoked at.
    pub revoked_at: Option<NaiveDateTime>,
    /// Times opened.
    pub uses: i64,
    /// Last opened.
    pub last_used_at: Option<NaiveDateTime>,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: NaiveDateTime,
}

/// Stores a version of a recipient's settings.
pub(crate) fn insert_settings(conn: &mut AnyConnection, row: SettingsRow) -> Result<(), Error> {
    carebill_platform::insert_rows!(conn, delivery_settings::table, vec![row]);
    Ok(())
}

/// A recipient's newest settings (at `at` when given).
pub(crate) fn settings(
    conn: &mut AnyConnection,
    party_kind: &str,
    party: &str,
    at: Option<NaiveDateTime>,
) -> Result<Option<SettingsRow>, Error> {
    let mut q = delivery_settings::table
        .filter(delivery_settings::party_kind.eq(party_kind.to_owned()))
        .filter(delivery_settings::party.eq(party.to_owned()))
        .select(SettingsRow::as_select())
        .into_boxed();
    if let Some(at) = at {
        q = q.filter(delivery_settings::created_at.le(at));
    }
    Ok(q.order(delivery_settings::version.desc())
        .first(conn)
        .optional()?)
}

/// Every version of the settings of these parties of one kind (the caller keeps the newest).
pub(crate) fn settings_of(
    conn: &mut AnyConnection,
    party_kind: &str,
    parties: &[String],
) -> Result<Vec<SettingsRow>, Error> {
    if parties.is_empty() {
        return Ok(Vec::new());
    }
    Ok(delivery_settings::table
        .filter(delivery_settings::party_kind.eq(party_kind.to_owned()))
        .filter(delivery_settings::party.eq_any(parties.to_vec()))
        .select(SettingsRow::as_select())
        .load(conn)?)
}

/// A location's sending windows.
pub(crate) fn windows(
    conn: &mut AnyConnection,
    location_code: &str,
) -> Result<Option<WindowsRow>, Error> {
    Ok(sending_windows::table
        .find(location_code)
        .select(WindowsRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every location's sending windows.
pub(crate) fn all_windows(conn: &mut AnyConnection) -> Result<Vec<WindowsRow>, Error> {
    Ok(sending_windows::table
        .select(WindowsRow::as_select())
        .load(conn)?)
}

/// Stores a location's windows, replacing what it had.
pub(crate) fn put_windows(conn: &mut AnyConnection, row: WindowsRow) -> Result<(), Error> {
    let updated = diesel::update(sending_windows::table.find(row.location_code.clone()))
        .set((
            sending_windows::definition.eq(&row.definition),
            sending_windows::version.eq(row.version),
            sending_windows::updated_by.eq(&row.updated_by),
            sending_windows::updated_at.eq(row.updated_at),
        ))
        .execute(conn)?;
    if updated == 0 {
        carebill_platform::insert_rows!(conn, sending_windows::table, vec![row]);
    }
    Ok(())
}

/// Makes a location's queued first tries due now again (after its windows changed, which may
/// open earlier than the time they were put off to).
pub(crate) fn requeue_location(
    conn: &mut AnyConnection,
    location_code: &str,
    now: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(
        deliveries::table
            .filter(deliveries::location_code.eq(location_code))
            .filter(deliveries::status.eq("queued"))
            .filter(deliveries::attempts.eq(0))
            .filter(deliveries::not_before.gt(now)),
    )
    .set(deliveries::not_before.eq(now))
    .execute(conn)?;
    Ok(())
}

/// Stores new deliveries.
pub(crate) fn insert(conn: &mut AnyConnection, rows: Vec<DeliveryRow>) -> Result<(), Error> {
    if !rows.is_empty() {
        carebill_platform::insert_rows!(conn, deliveries::table, rows);
    }
    Ok(())
}

/// The deliveries of a document, oldest first.
pub(crate) fn of_document(
    conn: &mut AnyConnection,
    document_id: &str,
) -> Result<Vec<DeliveryRow>, Error> {
    Ok(deliveries::table
        .filter(deliveries::document_id.eq(document_id))
        .order((deliveries::created_at.asc(), deliveries::id.asc()))
        .select(DeliveryRow::as_select())
        .load(conn)?)
}

/// The tries of these deliveries.
pub(crate) fn attempts_of(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<Vec<AttemptRow>, Error> {
    Ok(delivery_attempts::table
        .filter(delivery_attempts::delivery_id.eq_any(ids.to_vec()))
        .order((
            delivery_attempts::delivery_id.asc(),
            delivery_attempts::attempt.asc(),
        ))
        .select(AttemptRow::as_select())
        .load(conn)?)
}

/// Up to `limit` queued deliveries due at `now` and claimed by nobody, oldest first.
pub(crate) fn due(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<DeliveryRow>, Error> {
    Ok(deliveries::table
        .filter(deliveries::status.eq("queued"))
        .filter(deliveries::not_before.le(now))
        .filter(
            deliveries::claimed_until
                .is_null()
                .or(deliveries::claimed_until.lt(now)),
        )
        .order((deliveries::not_before.asc(), deliveries::id.asc()))
        .limit(limit)
        .select(DeliveryRow::as_select())
        .load(conn)?)
}

/// Moves a queued delivery's next try to `not_before`.
pub(crate) fn defer(
    conn: &mut AnyConnection,
    id: &str,
    not_before: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(
        deliveries::table
            .find(id)
            .filter(deliveries::status.eq("queued")),
    )
    .set((
        deliveries::not_before.eq(not_before),
        deliveries::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(())
}

/// Claims a queued delivery, as it was read (`attempts` tries, due at `now`), until `until`
/// unless another sender holds it or has tried it since; whether it got it.
pub(crate) fn claim(
    conn: &mut AnyConnection,
    id: &str,
    attempts: i32,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<bool, Error> {
    let n = diesel::update(
        deliveries::table
            .find(id)
            .filter(deliveries::status.eq("queued"))
            .filter(deliveries::attempts.eq(attempts))
            .filter(deliveries::not_before.le(now))
            .filter(
                deliveries::claimed_until
                    .is_null()
                    .or(deliveries::claimed_until.lt(now)),
            ),
    )
    .set(deliveries::claimed_until.eq(Some(until)))
    .execute(conn)?;
    Ok(n == 1)
}

/// What a try changed.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// `queued` (to try again), `sent` or `failed`.
    pub status: &'static str,
    /// Tries so far.
    pub attempts: i32,
    /// The next try, for `queued`.
    pub not_before: Option<NaiveDateTime>,
    /// Why it failed.
    pub last_error: Option<String>,
    /// The accepted message's id.
    pub message_id: Option<String>,
}

/// Records a try: the delivery's new state and the try in the log.
pub(crate) fn settle(
    conn: &mut AnyConnection,
    id: &str,
    outcome: &Outcome,
    attempt: AttemptRow,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let sent_at = (outcome.status == "sent").then_some(now);
    diesel::update(deliveries::table.find(id))
        .set((
            deliveries::status.eq(outcome.status),
            deliveries::attempts.eq(outcome.attempts),
            deliveries::claimed_until.eq(None::<NaiveDateTime>),
            deliveries::last_error.eq(&outcome.last_error),
            deliveries::message_id.eq(&outcome.message_id),
            deliveries::updated_at.eq(now),
            deliveries::sent_at.eq(sent_at),
        ))
        .execute(conn)?;
    if let Some(nb) = outcome.not_before {
        diesel::update(deliveries::table.find(id))
            .set(deliveries::not_before.eq(nb))
            .execute(conn)?;
    }
    carebill_platform::insert_rows!(conn, delivery_attempts::table, vec![attempt]);
    Ok(())
}

/// Deliveries in a status, oldest first, after a cursor.
pub(crate) fn list(
    conn: &mut AnyConnection,
    status: Option<&str>,
    locations: Option<&[String]>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<DeliveryRow>, Error> {
    let mut q = deliveries::table
        .select(DeliveryRow::as_select())
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(deliveries::status.eq(s.to_owned()));
    }
    if let Some(codes) = locations {
        q = q.filter(deliveries::location_code.eq_any(codes.to_vec()));
    }
    if let Some(a) = after {
        q = q.filter(deliveries::id.gt(a.to_owned()));
    }
    Ok(q.order(deliveries::id.asc()).limit(limit + 1).load(conn)?)
}

/// Stores a portal link.
pub(crate) fn insert_link(conn: &mut AnyConnection, row: LinkRow) -> Result<(), Error> {
    carebill_platform::insert_rows!(conn, portal_links::table, vec![row]);
    Ok(())
}

/// A portal link by its token's hash.
pub(crate) fn link_by_hash(conn: &mut AnyConnection, hash: &str) -> Result<Option<LinkRow>, Error> {
    Ok(portal_links::table
        .filter(portal_links::token_hash.eq(hash))
        .select(LinkRow::as_select())
        .first(conn)
        .optional()?)
}

/// A portal link by id.
pub(crate) fn link(conn: &mut AnyConnection, id: &str) -> Result<Option<LinkRow>, Error> {
    Ok(portal_links::table
        .find(id)
        .select(LinkRow::as_select())
        .first(conn)
        .optional()?)
}

/// The portal links of a document, oldest first.
pub(crate) fn links_of(conn: &mut AnyConnection, document_id: &str) -> Result<Vec<LinkRow>, Error> {
    Ok(portal_links::table
        .filter(portal_links::document_id.eq(document_id))
        .order((portal_links::created_at.asc(), portal_links::id.asc()))
        .select(LinkRow::as_select())
        .load(conn)?)
}

/// Counts a use of a link.
pub(crate) fn link_used(
    conn: &mut AnyConnection,
    id: &str,
    now: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(portal_links::table.find(id))
        .set((
            portal_links::uses.eq(portal_links::uses + 1),
            portal_links::last_used_at.eq(Some(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Revokes a link (once; a revoked link stays revoked at its first revocation time).
pub(crate) fn revoke_link(
    conn: &mut AnyConnection,
    id: &str,
    now: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(
        portal_links::table
            .find(id)
            .filter(portal_links::revoked_at.is_null()),
    )
    .set(portal_links::revoked_at.eq(Some(now)))
    .execute(conn)?;
    Ok(())
}
