//! What invoices name a payer or a location by, as accounts last announced it: one row per
//! party (`payer:<id>`, `location:<id>`), the newest announcement kept.

use carebill_domain::events::PartyBilling;
use carebill_domain::stored;
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::party_billing;

/// Keeps `billing` for `party` unless a newer announcement is kept already.
pub fn keep_newest(
    conn: &mut AnyConnection,
    party: &str,
    billing: &PartyBilling,
    changed_at: NaiveDateTime,
) -> Result<(), Error> {
    let json = serde_json::to_string(billing)?;
    let inserted = carebill_platform::insert_new!(
        conn,
        party_billing::table,
        (
            party_billing::party.eq(party),
            party_billing::billing.eq(&json),
            party_billing::changed_at.eq(changed_at),
        )
    );
    if inserted == 0 {
        diesel::update(
            party_billing::table
                .filter(party_billing::party.eq(party))
                .filter(party_billing::changed_at.lt(changed_at)),
        )
        .set((
            party_billing::billing.eq(&json),
            party_billing::changed_at.eq(changed_at),
        ))
        .execute(conn)?;
    }
    Ok(())
}

/// The billing kept for `party`, with when it was announced.
pub fn find(
    conn: &mut AnyConnection,
    party: &str,
) -> Result<Option<(PartyBilling, NaiveDateTime)>, Error> {
    let row: Option<(String, NaiveDateTime)> = party_billing::table
        .filter(party_billing::party.eq(party))
        .select((party_billing::billing, party_billing::changed_at))
        .first(conn)
        .optional()?;
    row.map(|(json, at)| {
        stored::json("party billing", &json)
            .map(|b| (b, at))
            .map_err(Error::from)
    })
    .transpose()
}
