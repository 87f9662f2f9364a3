//! Delivering issued invoices and credit notes: each recipient's delivery settings (an e-mail
//! with the PDF, and UBL for payers that take it; an e-mail notice with a portal link; or none),
//! each location's sending windows, the queue, the sender, the log, resends and portal links.
//!
//! A document whose recipient asked for e-mail gets a delivery in the transaction that issues
//! it, so nothing issued is missed and nothing is queued twice. The sender takes due deliveries
//! whose location's window is open, claims each (several replicas may run it), renders the
//! document, and sends it; the server's answer is logged per try. A passing failure (the
//! server is down, a 4xx reply) is tried again later with growing waits; a permanent one (5xx,
//! a malformed address) fails the delivery. Each delivery's `Message-ID` is fixed, so a try
//! repeated after a crash between the server's acceptance and the record of it is recognisable
//! as the same message by the receiving side. A resend is another delivery of the document.

use carebill_domain::delivery::{
    DeliveryChannel, DeliveryStatus, MAX_ATTEMPTS, SendingWindows, retry_after,
};
use carebill_domain::events::PartyKind;
use carebill_domain::ids::{CreditNoteId, InvoiceId};
use carebill_layout::Language;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::{self, AnyConnection, Db};
use carebill_platform::outbound::SendError;
use carebill_platform::outbound::mail::{Attachment, Email, Mailer};
use carebill_platform::{Error, ErrorCode, audit};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::documents;
use super::e_invoices::{self, Rendered};
pub(crate) use super::printing::party_of;
use super::printing::{self, Printable};
pub(crate) use crate::store::deliveries::LinkRow;
use crate::store::deliveries::{
    self as store, AttemptRow, DeliveryRow, Outcome, SettingsRow, WindowsRow,
};

/// What the sender sends through, and what its links look like.
#[derive(Clone, Debug)]
pub struct Channels {
    /// The SMTP sender; none when no server is configured (deliveries then wait, retried).
    pub mail: Option<Mailer>,
    /// The public base URL of the API, which portal links start with.
    pub portal_url: String,
    /// Hours a portal link opens its document.
    pub link_hours: u32,
}

/// Invoice or credit note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DocKind {
    /// An invoice.
    Invoice,
    /// A credit note.
    CreditNote,
}

impl DocKind {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Invoice => "invoice",
            DocKind::CreditNote => "credit_note",
        }
    }

    fn parse(text: &str) -> Result<DocKind, Error> {
        match text {
            "invoice" => Ok(DocKind::Invoice),
            "credit_note" => Ok(DocKind::CreditNote),
            other => Err(Error::stored("delivery document kind", other, "unknown")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Settings

/// A recipient's delivery settings, in one version.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Settings {
    /// Payer or patient.
    pub party_kind: PartyKind,
    /// The payer's code or the patient's id.
    pub party: String,
    /// Version, from 1.
    pub version: i64,
    /// How documents go.
    pub channel: DeliveryChannel,
    /// Where e-mail goes.
    pub email: Option<String>,
    /// Whether UBL goes along with the PDF.
    pub attach_ubl: bool,
    /// The language documents are printed in (else the layout's).
    pub language: Option<Language>,
    /// Who set it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl Settings {
    fn of(r: SettingsRow) -> Result<Settings, Error> {
        let what = format!("delivery settings of {} {}", r.party_kind, r.party);
        Ok(Settings {
            party_kind: r
                .party_kind
                .parse()
                .map_err(|e| Error::stored(&what, &r.party_kind, e))?,
            channel: r
                .channel
                .parse()
                .map_err(|e| Error::stored(&what, &r.channel, e))?,
            language: r
                .language
                .as_deref()
                .map(|l| Language::parse(l).ok_or_else(|| Error::stored(&what, l, "no labels")))
                .transpose()?,
            party: r.party,
            version: r.version,
            email: r.email,
            attach_ubl: r.attach_ubl,
            created_by: r.created_by,
            created_at: r.created_at.and_utc(),
        })
    }
}

/// Checked settings to store.
#[derive(Debug, Clone)]
pub(crate) struct NewSettings {
    /// How documents go.
    pub channel: DeliveryChannel,
    /// Where e-mail goes (required but for `none`).
    pub email: Option<String>,
    /// Whether UBL goes along.
    pub attach_ubl: bool,
    /// Preferred language.
    pub language: Option<Language>,
}

/// Sets a recipient's delivery settings: a new version, for documents issued from now on.
#[tracing::instrument(skip_all)]
pub(crate) fn put_settings(
    conn: &mut AnyConnection,
    who: &Principal,
    party_kind: PartyKind,
    party: &str,
    new: NewSettings,
) -> Result<Settings, Error> {
    let current = store::settings(conn, party_kind.as_str(), party, None)?;
    let row = SettingsRow {
        party_kind: party_kind.as_str().to_owned(),
        party: party.to_owned(),
        version: current.map_or(1, |c| c.version + 1),
        channel: new.channel.as_str().to_owned(),
        email: new.email,
        attach_ubl: new.attach_ubl,
        language: new.language.map(|l| l.code().to_owned()),
        created_by: who.subject.clone(),
        created_at: db::now(),
    };
    store::insert_settings(conn, row.clone())?;
    let settings = Settings::of(row)?;
    audit::record(
        conn,
        who,
        "update",
        "delivery_settings",
        &format!("{}/{}", party_kind.as_str(), party),
        serde_json::json!({ "after": &settings }),
        None,
    )?;
    Ok(settings)
}

/// A recipient's current delivery settings.
pub(crate) fn settings(
    conn: &mut AnyConnection,
    party_kind: PartyKind,
    party: &str,
) -> Result<Settings, Error> {
    store::settings(conn, party_kind.as_str(), party, None)?
        .map(Settings::of)
        .transpose()?
        .ok_or_else(|| Error::not_found("delivery settings"))
}

// ---------------------------------------------------------------------------------------------
// Sending windows

/// A location's sending windows as stored.
#[derive(Debug, Clone)]
pub(crate) struct StoredWindows {
    /// The location.
    pub location_code: String,
    /// The windows.
    pub windows: SendingWindows,
    /// Version.
    pub version: i64,
    /// Who set them.
    pub updated_by: String,
    /// When.
    pub updated_at: DateTime<Utc>,
}

impl StoredWindows {
    fn of(r: WindowsRow) -> Result<StoredWindows, Error> {
        let windows = serde_json::from_str(&r.definition)
            .map_err(|e| Error::stored("sending windows", &r.location_code, e))?;
        Ok(StoredWindows {
            location_code: r.location_code,
            windows,
            version: r.version,
            updated_by: r.updated_by,
            updated_at: r.updated_at.and_utc(),
        })
    }
}

/// Sets a location's sending windows (no windows: any time).
#[tracing::instrument(skip_all)]
pub(crate) fn put_windows(
    conn: &mut AnyConnection,
    who: &Principal,
    location_code: &str,
    windows: SendingWindows,
) -> Result<StoredWindows, Error> {
    if !Scope::of(who).allows_location(location_code) {
        return Err(Error::not_found("location"));
    }
    let version = store::windows(conn, location_code)?.map_or(1, |w| w.version + 1);
    let row = WindowsRow {
        location_code: location_code.to_owned(),
        definition: serde_json::to_string(&windows).map_err(|e| Error::internal(&e))?,
        version,
        updated_by: who.subject.clone(),
        updated_at: db::now(),
    };
    store::put_windows(conn, row.clone())?;
    store::requeue_location(conn, location_code, row.updated_at)?;
    audit::record(
        conn,
        who,
        "update",
        "sending_windows",
        location_code,
        serde_json::json!({ "after": &windows }),
        None,
    )?;
    StoredWindows::of(row)
}

/// A location's sending windows (404 when it has none: it sends any time).
pub(crate) fn windows(
    conn: &mut AnyConnection,
    scope: &Scope,
    location_code: &str,
) -> Result<StoredWindows, Error> {
    if !scope.allows_location(location_code) || scope.is_payer_limited() {
        return Err(Error::not_found("sending windows"));
    }
    store::windows(conn, location_code)?
        .map(StoredWindows::of)
        .transpose()?
        .ok_or_else(|| Error::not_found("sending windows"))
}

// ---------------------------------------------------------------------------------------------
// The queue

/// A document just issued, as the queue needs it.
#[derive(Debug, Clone)]
pub(crate) struct IssuedDocument {
    /// Invoice or credit note.
    pub kind: DocKind,
    /// Its id.
    pub id: String,
    /// Its number.
    pub number: String,
    /// Its location.
    pub location_code: String,
    /// Who it is addressed to.
    pub recipient_kind: PartyKind,
    /// The payer's code or the patient's id.
    pub party: String,
    /// The payer, for a payer's document.
    pub payer_code: Option<String>,
}

/// Queues the documents whose recipients asked for e-mail or a portal notice, in the issuing
/// transaction: one set-based read of the recipients' settings, one insert.
pub(crate) fn enqueue(
    conn: &mut AnyConnection,
    docs: &[IssuedDocument],
    by: &str,
) -> Result<(), Error> {
    if docs.is_empty() {
        return Ok(());
    }
    let mut newest: std::collections::HashMap<(String, String), SettingsRow> =
        std::collections::HashMap::new();
    for kind in [PartyKind::Payer, PartyKind::Patient, PartyKind::Carer] {
        let mut parties: Vec<String> = docs
            .iter()
            .filter(|d| d.recipient_kind == kind)
            .map(|d| d.party.clone())
            .collect();
        parties.sort();
        parties.dedup();
        for row in store::settings_of(conn, kind.as_str(), &parties)? {
            let key = (row.party_kind.clone(), row.party.clone());
            if newest.get(&key).is_none_or(|r| r.version < row.version) {
                newest.insert(key, row);
            }
        }
    }
    let now = db::now();
    let rows: Vec<DeliveryRow> = docs
        .iter()
        .filter_map(|d| {
            let s = newest.get(&(d.recipient_kind.as_str().to_owned(), d.party.clone()))?;
            let email = s
                .email
                .clone()
                .filter(|_| s.channel != DeliveryChannel::None.as_str())?;
            Some(DeliveryRow {
                id: uuid::Uuid::now_v7().to_string(),
                document_kind: d.kind.as_str().to_owned(),
                document_id: d.id.clone(),
                document_number: d.number.clone(),
                location_code: d.location_code.clone(),
                payer_code: d.payer_code.clone(),
                channel: s.channel.clone(),
                recipient: email,
                attach_ubl: s.attach_ubl,
                resend_of: None,
                status: DeliveryStatus::Queued.as_str().to_owned(),
                attempts: 0,
                not_before: now,
                claimed_until: None,
                last_error: None,
                message_id: None,
                created_by: by.to_owned(),
                created_at: now,
                updated_at: now,
                sent_at: None,
            })
        })
        .collect();
    store::insert(conn, rows)
}

/// A delivery with its tries.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryView {
    /// The delivery.
    pub row: DeliveryRow,
    /// Its channel, read from the row.
    pub channel: DeliveryChannel,
    /// Its tries, in order.
    pub attempts: Vec<AttemptRow>,
}

/// The document's location and recipient, checked against the caller's scope.
fn document_in_scope(
    conn: &mut AnyConnection,
    scope: &Scope,
    kind: DocKind,
    id: &str,
) -> Result<IssuedDocument, Error> {
    let (number, location_code, recipient) = match kind {
        DocKind::Invoice => {
            let id: InvoiceId = id.parse().map_err(|_| Error::not_found("invoice"))?;
            let d = documents::invoice(conn, scope, id)?;
            let h = d.invoice;
            (h.number, h.issuer.code, h.recipient)
        }
        DocKind::CreditNote => {
            let id: CreditNoteId = id.parse().map_err(|_| Error::not_found("credit note"))?;
            let d = documents::credit_note(conn, scope, id)?;
            let h = d.header;
            (h.number, h.issuer.code, h.recipient)
        }
    };
    let party = party_of(&recipient);
    Ok(IssuedDocument {
        kind,
        id: id.to_owned(),
        number,
        location_code,
        recipient_kind: recipient.kind,
        party,
        payer_code: recipient.payer_code,
    })
}

/// The deliveries of a document in the caller's scope, with their tries.
#[tracing::instrument(skip_all)]
pub(crate) fn of_document(
    conn: &mut AnyConnection,
    scope: &Scope,
    kind: DocKind,
    id: &str,
) -> Result<Vec<DeliveryView>, Error> {
    document_in_scope(conn, scope, kind, id)?;
    let rows = store::of_document(conn, id)?;
    with_attempts(conn, rows)
}

fn with_attempts(
    conn: &mut AnyConnection,
    rows: Vec<DeliveryRow>,
) -> Result<Vec<DeliveryView>, Error> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut attempts = store::attempts_of(conn, &ids)?;
    rows.into_iter()
        .map(|row| {
            let (mine, rest): (Vec<AttemptRow>, Vec<AttemptRow>) =
                attempts.drain(..).partition(|a| a.delivery_id == row.id);
            attempts = rest;
            Ok(DeliveryView {
                channel: row
                    .channel
                    .parse()
                    .map_err(|e| Error::stored("delivery channel", &row.channel, e))?,
                row,
                attempts: mine,
            })
        })
        .collect()
}

/// A resend: by another channel or to another address than the recipient's settings when
/// given.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resend {
    /// E-mail with documents or a portal notice.
    pub channel: Option<DeliveryChannel>,
    /// To this address.
    pub email: Option<String>,
}

/// Queues the document again, now (the sending window still applies); 409 when there is nowhere
/// to send it.
#[tracing::instrument(skip_all)]
pub(crate) fn resend(
    conn: &mut AnyConnection,
    who: &Principal,
    kind: DocKind,
    id: &str,
    asked: Resend,
) -> Result<DeliveryView, Error> {
    let doc = document_in_scope(conn, &Scope::of(who), kind, id)?;
    let current = store::settings(conn, doc.recipient_kind.as_str(), &doc.party, None)?
        .map(Settings::of)
        .transpose()?;
    let channel = asked
        .channel
        .or_else(|| current.as_ref().map(|c| c.channel))
        .filter(|c| *c != DeliveryChannel::None)
        .unwrap_or(DeliveryChannel::Email); // not stored: a resend without settings is an e-mail
    let email = asked
        .email
        .or_else(|| current.as_ref().and_then(|c| c.email.clone()))
        .ok_or_else(|| {
            Error::field(
                "email",
                "required",
                "the recipient has no e-mail address in its delivery settings; give one",
            )
        })?;
    let first = store::of_document(conn, id)?.into_iter().next();
    let now = db::now();
    let row = DeliveryRow {
        id: uuid::Uuid::now_v7().to_string(),
        document_kind: kind.as_str().to_owned(),
        document_id: id.to_owned(),
        document_number: doc.number.clone(),
        location_code: doc.location_code.clone(),
        payer_code: doc.payer_code.clone(),
        channel: channel.as_str().to_owned(),
        recipient: email,
        attach_ubl: current.as_ref().is_some_and(|c| c.attach_ubl),
        resend_of: first.map(|f| f.id),
        status: DeliveryStatus::Queued.as_str().to_owned(),
        attempts: 0,
        not_before: now,
        claimed_until: None,
        last_error: None,
        message_id: None,
        created_by: who.subject.clone(),
        created_at: now,
        updated_at: now,
        sent_at: None,
    };
    store::insert(conn, vec![row.clone()])?;
    audit::record(
        conn,
        who,
        "resend",
        kind.as_str(),
        id,
        serde_json::json!({ "delivery_id": row.id, "channel": row.channel, "recipient": row.recipient }),
        None,
    )?;
    Ok(DeliveryView {
        row,
        channel,
        attempts: Vec::new(),
    })
}

/// Deliveries in the caller's locations, of one status when given, oldest first.
pub(crate) fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    status: Option<DeliveryStatus>,
    page: &carebill_platform::http::PageRequest,
) -> Result<carebill_platform::http::Page<DeliveryView>, Error> {
    let rows = if scope.is_payer_limited() {
        Vec::new()
    } else {
        store::list(
            conn,
            status.map(|s| s.as_str()),
            scope.locations.as_deref(),
            page.after.as_deref(),
            page.limit,
        )?
    };
    let page = carebill_platform::http::Page::from_rows(rows, page, |r| r.id.clone());
    let items = with_attempts(conn, page.items)?;
    Ok(carebill_platform::http::Page {
        items,
        next_cursor: page.next_cursor,
    })
}

// ---------------------------------------------------------------------------------------------
// Portal links

/// A link just made: the URL (with its token, shown once) and its record.
#[derive(Debug, Clone)]
pub(crate) struct NewLink {
    /// The URL that opens the document.
    pub url: String,
    /// The link.
    pub link: LinkRow,
}

/// Makes a link that opens one document for `hours`.
pub(crate) fn make_link(
    conn: &mut AnyConnection,
    by: &str,
    doc: (DocKind, &str, &str),
    delivery_id: Option<&str>,
    channels: &Channels,
    hours: u32,
) -> Result<NewLink, Error> {
    let (token, token_hash) = carebill_platform::http::link_token();
    let now = db::now();
    let row = LinkRow {
        id: uuid::Uuid::now_v7().to_string(),
        token_hash,
        document_kind: doc.0.as_str().to_owned(),
        document_id: doc.1.to_owned(),
        location_code: doc.2.to_owned(),
        delivery_id: delivery_id.map(str::to_owned),
        expires_at: now + Duration::hours(i64::from(hours)),
        revoked_at: None,
        uses: 0,
        last_used_at: None,
        created_by: by.to_owned(),
        created_at: now,
    };
    store::insert_link(conn, row.clone())?;
    Ok(NewLink {
        url: format!(
            "{}/v1/portal-links/{token}",
            channels.portal_url.trim_end_matches('/')
        ),
        link: row,
    })
}

/// Makes a link to a document in the caller's scope, by hand.
#[tracing::instrument(skip_all)]
pub(crate) fn link_for(
    conn: &mut AnyConnection,
    who: &Principal,
    channels: &Channels,
    kind: DocKind,
    id: &str,
    hours: Option<u32>,
) -> Result<NewLink, Error> {
    let doc = document_in_scope(conn, &Scope::of(who), kind, id)?;
    let link = make_link(
        conn,
        &who.subject,
        (kind, id, &doc.location_code),
        None,
        channels,
        hours.unwrap_or(channels.link_hours), // not stored: the installation's default lifetime
    )?;
    audit::record(
        conn,
        who,
        "create",
        "portal_link",
        &link.link.id,
        serde_json::json!({ "document_kind": kind.as_str(), "document_id": id, "expires_at": link.link.expires_at.and_utc() }),
        None,
    )?;
    Ok(link)
}

/// The portal links of a document in the caller's scope.
pub(crate) fn links_of(
    conn: &mut AnyConnection,
    scope: &Scope,
    kind: DocKind,
    id: &str,
) -> Result<Vec<LinkRow>, Error> {
    document_in_scope(conn, scope, kind, id)?;
    store::links_of(conn, id)
}

/// Revokes a link of a document in the caller's scope.
#[tracing::instrument(skip_all)]
pub(crate) fn revoke(
    conn: &mut AnyConnection,
    who: &Principal,
    link_id: &str,
) -> Result<LinkRow, Error> {
    let link = store::link(conn, link_id)?.ok_or_else(|| Error::not_found("portal link"))?;
    document_in_scope(
        conn,
        &Scope::of(who),
        DocKind::parse(&link.document_kind)?,
        &link.document_id,
    )
    .map_err(|_| Error::not_found("portal link"))?;
    store::revoke_link(conn, link_id, db::now())?;
    audit::record(
        conn,
        who,
        "revoke",
        "portal_link",
        link_id,
        serde_json::json!({}),
        None,
    )?;
    store::link(conn, link_id)?.ok_or_else(|| Error::not_found("portal link"))
}

/// The document a portal link opens, counting the use; 401 (`invalid_link`, saying nothing
/// more) for a token that is unknown, expired or revoked.
#[tracing::instrument(skip_all)]
pub(crate) fn open_link(conn: &mut AnyConnection, token: &str) -> Result<Printable, Error> {
    let invalid = || Error::new(ErrorCode::InvalidLink, "this link does not open a document");
    let now = db::now();
    let link = store::link_by_hash(conn, &carebill_platform::http::link_token_hash(token))?
        .ok_or_else(invalid)?;
    if link.revoked_at.is_some() || link.expires_at <= now {
        tracing::info!(link_id = %link.id, "a revoked or expired portal link was used");
        return Err(invalid());
    }
    store::link_used(conn, &link.id, now)?;
    tracing::info!(link_id = %link.id, document_id = %link.document_id, "portal link opened");
    let everything = Scope::everything();
    match DocKind::parse(&link.document_kind)? {
        DocKind::Invoice => printing::invoice(
            conn,
            &everything,
            link.document_id.parse().map_err(|_| invalid())?,
        ),
        DocKind::CreditNote => printing::credit_note(
            conn,
            &everything,
            link.document_id.parse().map_err(|_| invalid())?,
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// The sender

/// What one pass of the sender did.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct DispatchSummary {
    /// Accepted by the server.
    pub sent: i64,
    /// Failed for a passing reason, to try again.
    pub retrying: i64,
    /// Given up.
    pub failed: i64,
    /// Waiting for their location's sending window.
    pub deferred: i64,
}

/// How long a claimed delivery is its sender's before another may take it.
const CLAIM: Duration = Duration::minutes(5);

/// One pass at a time in a process: the background sender and `POST /v1/delivery-dispatches`
/// take turns instead of racing for the same rows (replicas still may; each delivery is
/// claimed by one).
static ONE_PASS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Sends the deliveries due at `now` (at most `limit`), one at a time.
pub(crate) async fn dispatch(
    db: &Db,
    channels: &Channels,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<DispatchSummary, Error> {
    let _one_pass = ONE_PASS.lock().await;
    let mut summary = DispatchSummary::default();
    let due = db
        .read(move |conn| store::due(conn, now.naive_utc(), limit))
        .await?;
    if due.is_empty() {
        return Ok(summary);
    }
    let windows: std::collections::HashMap<String, SendingWindows> = db
        .read(store::all_windows)
        .await?
        .into_iter()
        .map(|r| StoredWindows::of(r).map(|w| (w.location_code, w.windows)))
        .collect::<Result<_, Error>>()?;
    for d in due {
        if let Some(w) = windows.get(&d.location_code) {
            let open = w.next_open(now);
            if open > now {
                let id = d.id.clone();
                db.write(move |conn| store::defer(conn, &id, open.naive_utc(), db::now()))
                    .await?;
                summary.deferred += 1;
                continue;
            }
        }
        let (id, tried) = (d.id.clone(), d.attempts);
        let claimed = db
            .write(move |conn| {
                let now = db::now();
                store::claim(conn, &id, tried, now, now + CLAIM)
            })
            .await?;
        if !claimed {
            continue;
        }
        let attempt = d.attempts + 1;
        let result = send(db, channels, &d).await;
        let (outcome, detail) = match &result {
            Ok((message_id, note)) => (
                Outcome {
                    status: DeliveryStatus::Sent.as_str(),
                    attempts: attempt,
                    not_before: None,
                    last_error: None,
                    message_id: Some(message_id.clone()),
                },
                Some(match note {
                    Some(n) => format!("accepted as {message_id}; {n}"),
                    None => format!("accepted as {message_id}"),
                }),
            ),
            Err(e) if e.is_transient() && attempt < MAX_ATTEMPTS => (
                Outcome {
                    status: DeliveryStatus::Queued.as_str(),
                    attempts: attempt,
                    not_before: Some((now + retry_after(attempt)).naive_utc()),
                    last_error: Some(e.to_string()),
                    message_id: None,
                },
                Some(e.to_string()),
            ),
            Err(SendError::Refused(m)) => (
                Outcome {
                    status: DeliveryStatus::Bounced.as_str(),
                    attempts: attempt,
                    not_before: None,
                    last_error: Some(m.clone()),
                    message_id: None,
                },
                Some(m.clone()),
            ),
            Err(e) => (
                Outcome {
                    status: DeliveryStatus::Failed.as_str(),
                    attempts: attempt,
                    not_before: None,
                    last_error: Some(e.to_string()),
                    message_id: None,
                },
                Some(e.to_string()),
            ),
        };
        let label = match outcome.status {
            "sent" => {
                summary.sent += 1;
                "sent"
            }
            "queued" => {
                summary.retrying += 1;
                "retrying"
            }
            "bounced" => {
                summary.failed += 1;
                "bounced"
            }
            _ => {
                summary.failed += 1;
                "failed"
            }
        };
        if let Err(e) = &result {
            tracing::warn!(delivery_id = %d.id, attempt, error = %e, "document not delivered");
        }
        let id = d.id.clone();
        db.write(move |conn| {
            let at = db::now();
            store::settle(
                conn,
                &id,
                &outcome,
                AttemptRow {
                    delivery_id: id.clone(),
                    attempt,
                    at,
                    outcome: label.to_owned(),
                    detail,
                },
                at,
            )
        })
        .await?;
    }
    Ok(summary)
}

/// Renders and sends one delivery; the accepted `Message-ID` and a note (what was left out).
async fn send(
    db: &Db,
    channels: &Channels,
    d: &DeliveryRow,
) -> Result<(String, Option<String>), SendError> {
    let Some(mailer) = &channels.mail else {
        return Err(SendError::Transient(
            "no SMTP server is configured".to_owned(),
        ));
    };
    let kind = DocKind::parse(&d.document_kind).map_err(|e| SendError::Permanent(e.to_string()))?;
    let channel: DeliveryChannel = d
        .channel
        .parse()
        .map_err(|e| SendError::Permanent(format!("channel: {e}")))?;
    let doc_id = d.document_id.clone();
    let attach_ubl = d.attach_ubl && channel == DeliveryChannel::Email;
    // Read what the message needs; a portal notice gets a fresh link (revoked below when the
    // message does not go out).
    let link_channels = channels.clone();
    let delivery = d.clone();
    let read = db
        .write(
            move |conn| -> Result<(Printable, Option<Rendered>, Option<NewLink>), Error> {
                let everything = Scope::everything();
                let (printable, ubl) = match kind {
                    DocKind::Invoice => {
                        let id: InvoiceId =
                            doc_id.parse().map_err(|_| Error::not_found("invoice"))?;
                        let ubl = if attach_ubl {
                            Some(e_invoices::invoice_ubl(conn, &everything, id)?)
                        } else {
                            None
                        };
                        (printing::invoice(conn, &everything, id)?, ubl)
                    }
                    DocKind::CreditNote => {
                        let id: CreditNoteId = doc_id
                            .parse()
                            .map_err(|_| Error::not_found("credit note"))?;
                        let ubl = if attach_ubl {
                            Some(e_invoices::credit_note_ubl(conn, &everything, id)?)
                        } else {
                            None
                        };
                        (printing::credit_note(conn, &everything, id)?, ubl)
                    }
                };
                let link = if channel == DeliveryChannel::PortalNotice {
                    Some(make_link(
                        conn,
                        "invoicing/delivery",
                        (kind, &delivery.document_id, &delivery.location_code),
                        Some(&delivery.id),
                        &link_channels,
                        link_channels.link_hours,
                    )?)
                } else {
                    None
                };
                Ok((printable, ubl, link))
            },
        )
        .await
        .map_err(|e| SendError::Transient(format!("reading the document: {e}")))?;
    let (printable, ubl, link) = read;
    let lang = printable.layout.language;
    let texts = texts(lang);
    let title = match kind {
        DocKind::Invoice => texts.invoice,
        DocKind::CreditNote => texts.credit_note,
    };
    let amount = format!(
        "{} {}",
        lang.amount(
            printable.sheet.totals.due,
            printable.sheet.currency_decimals
        ),
        printable.sheet.currency
    );
    let seller = printable.sheet.seller.name.clone();
    let number = printable.sheet.number.clone();
    let mut note = None;
    let mut attachments = Vec::new();
    let text = match &link {
        Some(l) => format!(
            "{}\n\n{} {} ({}) {}\n{}\n\n{}\n\n{}\n",
            texts.greeting,
            title,
            number,
            amount,
            texts.waits,
            l.url,
            texts
                .link_expires
                .replace("{date}", &lang.date(l.link.expires_at.date())),
            seller
        ),
        None => {
            let pdf = tokio::task::spawn_blocking(move || printing::pdf(&printable))
                .await
                .map_err(|e| SendError::Transient(format!("rendering: {e}")))?
                .map_err(|e| SendError::Permanent(format!("rendering: {e}")))?;
            attachments.push(Attachment {
                filename: format!("{number}.pdf"),
                media_type: "application/pdf".to_owned(),
                bytes: pdf,
            });
            match ubl {
                Some(Rendered::Ubl(xml)) => attachments.push(Attachment {
                    filename: format!("{number}.xml"),
                    media_type: "application/xml".to_owned(),
                    bytes: xml,
                }),
                Some(Rendered::Incomplete(gaps)) => {
                    let terms: Vec<&str> = gaps.iter().map(|g| g.term).collect();
                    note = Some(format!(
                        "UBL left out: the document lacks {}",
                        terms.join(", ")
                    ));
                }
                None => {}
            }
            format!(
                "{}\n\n{} {} ({}) {}\n\n{}\n",
                texts.greeting, title, number, amount, texts.attached, seller
            )
        }
    };
    let mail = Email {
        to: d.recipient.clone(),
        subject: format!("{title} {number} · {seller}"),
        text,
        id: format!("delivery-{}", d.id),
        attachments,
    };
    let sent = mailer.send(&mail).await;
    if sent.is_err()
        && let Some(l) = link
    {
        // The link never reached anyone: it must not open the document.
        let id = l.link.id.clone();
        let _ = db
            .write(move |conn| store::revoke_link(conn, &id, db::now()))
            .await;
    }
    sent.map(|message_id| (message_id, note))
}

/// The words of delivery e-mails.
struct Texts {
    greeting: &'static str,
    invoice: &'static str,
    credit_note: &'static str,
    attached: &'static str,
    waits: &'static str,
    link_expires: &'static str,
}

fn texts(lang: Language) -> Texts {
    match lang {
        Language::Es => Texts {
            greeting: "Estimado/a cliente:",
            invoice: "Factura",
            credit_note: "Factura rectificativa",
            attached: "se adjunta a este mensaje.",
            waits: "le espera en el portal:",
            link_expires: "El enlace es válido hasta el {date}.",
        },
        Language::De => Texts {
            greeting: "Sehr geehrte Damen und Herren,",
            invoice: "Rechnung",
            credit_note: "Gutschrift",
            attached: "finden Sie im Anhang.",
            waits: "liegt im Portal für Sie bereit:",
            link_expires: "Der Link ist bis zum {date} gültig.",
        },
        Language::Fr => Texts {
            greeting: "Madame, Monsieur,",
            invoice: "Facture",
            credit_note: "Avoir",
            attached: "est jointe à ce message.",
            waits: "vous attend sur le portail :",
            link_expires: "Le lien est valable jusqu'au {date}.",
        },
        Language::Nl => Texts {
            greeting: "Geachte klant,",
            invoice: "Factuur",
            credit_note: "Creditnota",
            attached: "vindt u in de bijlage.",
            waits: "staat voor u klaar in het portaal:",
            link_expires: "De link is geldig tot {date}.",
        },
        Language::En => Texts {
            greeting: "Dear customer,",
            invoice: "Invoice",
            credit_note: "Credit note",
            attached: "is attached to this message.",
            waits: "waits for you in the portal:",
            link_expires: "The link opens it until {date}.",
        },
    }
}
