//! Care agencies' approvals (`carebill.accounts.timesheet.approved.v1`): each priced once —
//! every approved line at its placement's tariff, cut where the agency calendar's rates change
//! and adjusted by the business conditions in force, with the agency's commission and mediation
//! fee — and announced (`carebill.settlement.hours.priced.v1`) in the inbox transaction. A
//! redelivered approval changes nothing; one that cannot be priced (a condition that cannot be
//! evaluated) fails, and after the retries waits in the dead letters.

use carebill_domain::agency::price;
use carebill_domain::events::{Envelope, HoursPricedV1, TimesheetApprovedV1};
use carebill_platform::Error;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::events::outbox;
use chrono::Utc;

use crate::service::conditions;
use crate::store::agency::{self as store, PricingRow};

/// Prices an approval once and announces it.
#[tracing::instrument(skip_all, fields(approval_id = %e.approval_id))]
pub fn on_timesheet_approved(
    conn: &mut AnyConnection,
    env: &Envelope,
    e: &TimesheetApprovedV1,
) -> Result<(), Error> {
    let id = e.approval_id.to_string();
    if store::exists(conn, &id)? {
        return Ok(());
    }
    let in_force = conditions::compiled(conn)?;
    let priced = price(e, in_force.as_ref().map(|(_, set)| set.as_ref()))
        .map_err(|m| Error::invalid_event(format!("approval {id} cannot be priced: {m}")))?;
    let minor =
        |m: &carebill_domain::Money| m.to_minor().map(|v| v.0).map_err(|x| Error::internal(&x));
    let payload = HoursPricedV1 {
        approval: e.clone(),
        conditions_version: in_force.as_ref().map(|(v, _)| *v),
        priced_at: Utc::now(),
        priced,
    };
    store::insert(
        conn,
        PricingRow {
            approval_id: id,
            timesheet_id: e.timesheet_id.to_string(),
            location_code: e.location.code.clone(),
            carer_id: e.carer.id.to_string(),
            currency: e.currency.code().to_owned(),
            total_minor: minor(&payload.priced.total)?,
            commission_minor: minor(&payload.priced.commission)?,
            priced: serde_json::to_string(&payload.priced)?,
            conditions_version: payload.conditions_version,
            priced_at: db::now(),
        },
    )?;
    let out = Envelope::new(
        "settlement",
        &payload,
        payload.priced_at,
        env.correlationid.clone(),
        Some(env.id.to_string()),
    )
    .map_err(|x| Error::internal(&x))?;
    outbox::enqueue(conn, &out)
}
