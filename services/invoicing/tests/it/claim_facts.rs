//! What invoicing keeps of accounts' master data for electronic claims: each record as its
//! newest event said it, whatever order the events arrive in and however often; the kind of care
//! each invoice bills.

use carebill_domain::events::{
    CatalogItemRef, CodedDiagnosis, Envelope, EpisodeCodedV1, EpisodeCoding, EventPayload,
    LocationChangedV1, LocationClaims, PatientChangedV1,
};
use carebill_domain::ids::{CatalogItemId, ConsumptionId, SettlementId};
use carebill_platform::both_backends;
use carebill_platform::db::{AnyConnection, Backend, Db};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::common::*;

both_backends!(
    master_data_is_kept_newest_first_whatever_the_order_of_its_events,
    an_invoice_keeps_the_kind_of_care_it_bills,
);

fn env<P: EventPayload>(payload: &P) -> Envelope {
    Envelope::new("accounts", payload, Utc::now(), None, None).expect("envelope")
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Kept {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Text)]
    data: String,
    #[diesel(sql_type = BigInt)]
    version: i64,
}

async fn kept(db: &Db, kind: &'static str) -> Vec<(String, serde_json::Value, i64)> {
    let rows: Vec<Kept> = db
        .read(move |c: &mut AnyConnection| {
            Ok(diesel::sql_query(format!(
                "SELECT key, data, version FROM claim_facts WHERE kind = '{kind}' ORDER BY key"
            ))
            .load(c)?)
        })
        .await
        .expect("claim facts");
    rows.into_iter()
        .map(|k| {
            (
                k.key,
                serde_json::from_str(&k.data).expect("json"),
                k.version,
            )
        })
        .collect()
}

fn location_changed(w: &World, npi: &str, at: DateTime<Utc>) -> LocationChangedV1 {
    LocationChangedV1 {
        location: w.episode.location.clone(),
        claims: Some(LocationClaims {
            npi: Some(npi.to_owned()),
            ..Default::default()
        }),
        changed_at: at,
    }
}

fn coded(w: &World, version: i64, principal: &str) -> EpisodeCodedV1 {
    EpisodeCodedV1 {
        episode_id: w.episode.id,
        location_id: w.episode.location.id,
        version,
        coding: EpisodeCoding {
            diagnoses: vec![CodedDiagnosis {
                code: principal.to_owned(),
                present_on_admission: None,
            }],
            ..Default::default()
        },
        reason: None,
        changed_at: Utc::now(),
    }
}

async fn master_data_is_kept_newest_first_whatever_the_order_of_its_events(b: Backend) {
    let h = harness(b);
    let w = world("H1");
    let now = Utc::now();
    // The newer location arrives first; the older one after it changes nothing.
    let newer = env(&location_changed(&w, "1234567893", now));
    deliver(&h.db, newer.clone()).await.expect("newer");
    deliver(
        &h.db,
        env(&location_changed(
            &w,
            "1999999992",
            now - Duration::hours(1),
        )),
    )
    .await
    .expect("older");
    deliver(&h.db, newer).await.expect("the same event again");
    let locations = kept(&h.db, "location").await;
    assert_eq!(locations.len(), 1);
    assert_eq!(locations[0].0, w.episode.location.id.to_string());
    assert_eq!(locations[0].1["claims"]["npi"], "1234567893");
    // An even newer one wins.
    deliver(
        &h.db,
        env(&location_changed(
            &w,
            "1000000004",
            now + Duration::hours(1),
        )),
    )
    .await
    .expect("newest");
    assert_eq!(
        kept(&h.db, "location").await[0].1["claims"]["npi"],
        "1000000004"
    );

    // Codings: the highest version wins, whenever it arrives.
    deliver(&h.db, env(&coded(&w, 2, "J18.9")))
        .await
        .expect("v2");
    deliver(&h.db, env(&coded(&w, 1, "R50.9")))
        .await
        .expect("v1");
    let codings = kept(&h.db, "coding").await;
    assert_eq!(
        (
            codings[0].1["coding"]["diagnoses"][0]["code"].as_str(),
            codings[0].2
        ),
        (Some("J18.9"), 2)
    );

    // Patients by id, catalog items by the code invoice lines carry.
    let patient = PatientChangedV1 {
        patient_id: w.patient.id,
        family_name: "Garcia".to_owned(),
        given_name: "Ana".to_owned(),
        birth_date: None,
        sex: "female".to_owned(),
        address: None,
        changed_at: now,
    };
    deliver(&h.db, env(&patient)).await.expect("patient");
    let item = carebill_domain::events::CatalogItemChangedV1 {
        item: CatalogItemRef {
            id: CatalogItemId::new(),
            code: "LAB-HB".to_owned(),
            description: "Hemoglobin".to_owned(),
            service_group: "LAB".to_owned(),
            kind: carebill_domain::accounts::ServiceKind::Lab,
            unit: "test".to_owned(),
        },
        active: true,
        billing_code: None,
        changed_at: now,
    };
    deliver(&h.db, env(&item)).await.expect("item");
    assert_eq!(kept(&h.db, "patient").await[0].1["family_name"], "Garcia");
    assert_eq!(kept(&h.db, "catalog_item").await[0].0, "LAB-HB");

    // A payload that breaks its contract is refused, and nothing is kept of it.
    let mut broken = env(&patient);
    broken.data =
        serde_json::value::RawValue::from_string("{\"patient_id\": 7}".to_owned()).expect("raw");
    assert!(deliver(&h.db, broken).await.is_err());
    assert_eq!(kept(&h.db, "patient").await.len(), 1);
}

async fn an_invoice_keeps_the_kind_of_care_it_bills(b: Backend) {
    let h = harness(b);
    let w = world("H1");
    let pat = carebill_domain::events::PartyRef::patient(w.patient.id);
    // The patient's own invoice is not claimed: nothing kept.
    let own = line(ConsumptionId::new(), "LAB-HB", 1_000, &[(&pat, 1_000)]);
    deliver(
        &h.db,
        envelope(&approval(&w, SettlementId::new(), 1, vec![own])),
    )
    .await
    .expect("approved");
    assert!(kept(&h.db, "episode").await.is_empty());
    let l = line(
        ConsumptionId::new(),
        "LAB-HB",
        1_000,
        &[(&w.sanitas, 1_000)],
    );
    deliver(
        &h.db,
        envelope(&approval(&w, SettlementId::new(), 1, vec![l])),
    )
    .await
    .expect("approved");
    let episodes = kept(&h.db, "episode").await;
    assert_eq!(episodes.len(), 1);
    assert_eq!(episodes[0].0, w.episode.id.to_string());
    assert_eq!(episodes[0].1["kind"], w.episode.kind.as_str());
    assert_eq!(episodes[0].1["number"], w.episode.number.as_str());
}
