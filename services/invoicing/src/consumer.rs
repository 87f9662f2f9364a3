//! The events invoicing consumes, each to its use case, in batches applied in one transaction.
//!
//! `carebill.settlement.settlement.approved.v1` → [`crate::service::issuing`];
//! `carebill.settlement.hours.priced.v1` → [`crate::service::agency_issuing`]; accounts' master
//! data claims need (`location.changed`, `patient.changed`, `coverage.changed`,
//! `practitioner.changed`, `episode.coded`, `catalog_item.changed`) →
//! [`crate::service::claim_facts`], kept in order of arrival (the newest wins);
//! `carebill.collections.remittance.posted.v1` → [`crate::service::e_billing_responses`] (the
//! claims a payer's 835 paid or denied). Other types are ignored.
//!
//! The batch locking order, so that two replicas' batches never wait on each other in a cycle:
//! 1. every settlement of the batch (its advisory key), sorted by id, before anything is read;
//! 2. at the end of the batch, the invoice series it takes numbers from, sorted by location id
//!    and year ([`crate::service::issuing::number_and_announce`]);
//! 3. then each priced approval of hours, in (agency, carer) id order: the agency's series, then
//!    the carer's.

use carebill_domain::events::{
    CatalogItemChangedV1, CoverageChangedV1, Envelope, EpisodeCodedV1, EventPayload as _,
    HoursPricedV1, LocationChangedV1, PatientChangedV1, PractitionerChangedV1, RemittancePostedV1,
    SettlementApprovedV1,
};
use carebill_domain::ids::SettlementId;
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;

use crate::service::{agency_issuing, claim_facts, e_billing_responses, issuing};

/// The event types consumed.
pub(crate) const TYPES: &[&str] = &[
    SettlementApprovedV1::TYPE,
    HoursPricedV1::TYPE,
    LocationChangedV1::TYPE,
    PatientChangedV1::TYPE,
    CoverageChangedV1::TYPE,
    PractitionerChangedV1::TYPE,
    EpisodeCodedV1::TYPE,
    CatalogItemChangedV1::TYPE,
    RemittancePostedV1::TYPE,
];

/// Applies a batch of consumed events in one transaction: issues the invoices of each approved
/// settlement, then numbers and announces them all.
#[tracing::instrument(skip_all, fields(events = envs.len()))]
pub(crate) fn apply_events(conn: &mut AnyConnection, envs: &[&Envelope]) -> Result<(), Error> {
    let mut approvals = Vec::new();
    let mut priced = Vec::new();
    for env in envs {
        if env.event_type == HoursPricedV1::TYPE {
            let hours: HoursPricedV1 = env
                .payload()
                .map_err(|e| Error::invalid_event(e.to_string()))?;
            priced.push((*env, hours));
            continue;
        }
        if env.event_type == RemittancePostedV1::TYPE {
            let posted: RemittancePostedV1 = env
                .payload()
                .map_err(|e| Error::invalid_event(e.to_string()))?;
            e_billing_responses::remittance_posted(conn, env, &posted)?;
            continue;
        }
        if env.event_type != SettlementApprovedV1::TYPE {
            claim_facts::apply(conn, env)?;
            continue;
        }
        let approval: SettlementApprovedV1 = env
            .payload()
            .map_err(|e| Error::invalid_event(e.to_string()))?;
        approvals.push((*env, approval));
    }
    let mut settlements: Vec<SettlementId> =
        approvals.iter().map(|(_, a)| a.settlement_id).collect();
    settlements.sort();
    settlements.dedup();
    issuing::lock_settlements(conn, &settlements)?;
    let mut issued = Vec::new();
    for (env, approval) in &approvals {
        issued.extend(issuing::issue_invoices(conn, env, approval)?);
    }
    issuing::number_and_announce(conn, issued)?;
    // In (agency, carer) id order, so two replicas take the series in the same order.
    priced.sort_by_key(|(_, h)| (h.approval.location.id, h.approval.carer.id));
    for (env, hours) in &priced {
        agency_issuing::issue(conn, env, hours)?;
    }
    Ok(())
}
