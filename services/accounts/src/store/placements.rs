//! The `placements` table: a carer placed with a client, with tariffs and fees as JSON
//! documents checked when written.

use carebill_domain::Currency;
use carebill_domain::agency::{Fee, TimesheetPeriod};
use carebill_domain::ids::{CarerId, LocationId, PlacementId};
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::PageRequest;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::schema::placements;
use crate::store::read_json;

/// An hourly tariff as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTariff {
    /// Service type (catalog code).
    pub service_type: String,
    /// Rate per hour, decimal text.
    pub hourly_rate: String,
}

/// Whom the agency asks to approve hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredApprover {
    /// Name.
    pub name: String,
    /// E-mail address.
    pub email: String,
}

/// A placement as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = placements)]
pub struct PlacementRow {
    /// Id.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: PlacementId,
    /// Unique reference.
    pub reference: String,
    /// The agency.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub location_id: LocationId,
    /// Its code, for scope.
    pub location_code: String,
    /// The carer.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub carer_id: CarerId,
    /// The client, when a person.
    pub client_patient_id: Option<String>,
    /// The client, when an organisation.
    pub client_payer_id: Option<String>,
    /// Who pays, when not the client.
    pub bill_to_payer_id: Option<String>,
    /// First day.
    pub valid_from: NaiveDate,
    /// Last day; open when absent.
    pub valid_to: Option<NaiveDate>,
    /// Week or month.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub period: TimesheetPeriod,
    /// Currency of the tariffs and fees.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub currency: Currency,
    /// Tariffs, JSON.
    pub tariffs: String,
    /// Commission, JSON.
    pub commission: String,
    /// Mediation fee, JSON.
    pub mediation_fee: Option<String>,
    /// Approver, JSON.
    pub approver: String,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last changed.
    pub updated_at: NaiveDateTime,
}

impl PlacementRow {
    /// The stored tariffs.
    pub fn tariffs(&self) -> Result<Vec<StoredTariff>, Error> {
        read_json("placement tariffs", &self.tariffs)
    }

    /// The stored commission.
    pub fn commission(&self) -> Result<Fee, Error> {
        read_json("placement commission", &self.commission)
    }

    /// The stored mediation fee.
    pub fn mediation_fee(&self) -> Result<Option<Fee>, Error> {
        self.mediation_fee
            .as_deref()
            .map(|f| read_json("placement mediation fee", f))
            .transpose()
    }

    /// The stored approver.
    pub fn approver(&self) -> Result<StoredApprover, Error> {
        read_json("placement approver", &self.approver)
    }
}

/// What a change of terms writes.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = placements, treat_none_as_null = true)]
pub struct PlacementChanges {
    /// Last day.
    pub valid_to: Option<NaiveDate>,
    /// Tariffs JSON.
    pub tariffs: String,
    /// Commission JSON.
    pub commission: String,
    /// Mediation fee JSON.
    pub mediation_fee: Option<String>,
    /// Approver JSON.
    pub approver: String,
    /// Now.
    pub updated_at: NaiveDateTime,
}

/// Filters of the placement list.
#[derive(Debug, Clone, Default)]
pub struct PlacementFilter {
    /// Of this carer.
    pub carer_id: Option<String>,
    /// For this client (patient or payer id).
    pub client_id: Option<String>,
    /// Valid on this day.
    pub on: Option<NaiveDate>,
}

/// The placement with this id, if at a location `allowed` lists (`None`: any).
pub fn find(
    conn: &mut AnyConnection,
    allowed: Option<&[String]>,
    id: &str,
) -> Result<Option<PlacementRow>, Error> {
    let mut q = placements::table
        .find(id)
        .select(PlacementRow::as_select())
        .into_boxed();
    if let Some(codes) = allowed {
        q = q.filter(placements::location_code.eq_any(codes));
    }
    Ok(q.first(conn).optional()?)
}

/// How many placements have this reference.
pub fn count_reference(conn: &mut AnyConnection, reference: &str) -> Result<i64, Error> {
    Ok(placements::table
        .filter(placements::reference.eq(reference))
        .count()
        .get_result(conn)?)
}

/// Inserts a placement.
pub fn insert(conn: &mut AnyConnection, row: PlacementRow) -> Result<(), Error> {
    carebill_platform::insert_rows!(conn, placements::table, vec![row]);
    Ok(())
}

/// Updates a placement's terms.
pub fn update(conn: &mut AnyConnection, id: &str, changes: &PlacementChanges) -> Result<(), Error> {
    diesel::update(placements::table.find(id))
        .set(changes)
        .execute(conn)?;
    Ok(())
}

/// A page of placements at the locations `allowed` lists (`None`: any), by id.
pub fn page(
    conn: &mut AnyConnection,
    allowed: Option<&[String]>,
    f: &PlacementFilter,
    page: &PageRequest,
) -> Result<Vec<PlacementRow>, Error> {
    let mut q = placements::table
        .select(PlacementRow::as_select())
        .into_boxed();
    if let Some(codes) = allowed {
        q = q.filter(placements::location_code.eq_any(codes));
    }
    if let Some(c) = &f.carer_id {
        q = q.filter(placements::carer_id.eq(c.clone()));
    }
    if let Some(c) = &f.client_id {
        q = q.filter(
            placements::client_patient_id
                .eq(c.clone())
                .or(placements::client_payer_id.eq(c.clone())),
        );
    }
    if let Some(on) = f.on {
        q = q.filter(placements::valid_from.le(on)).filter(
            placements::valid_to
                .is_null()
                .or(placements::valid_to.ge(on)),
        );
    }
    if let Some(after) = &page.after {
        q = q.filter(placements::id.gt(after.clone()));
    }
    Ok(q.order(placements::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}

/// Every placement that runs on some day of `from`..=`to`.
pub fn running(
    conn: &mut AnyConnection,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<PlacementRow>, Error> {
    Ok(placements::table
        .filter(placements::valid_from.le(to))
        .filter(
            placements::valid_to
                .is_null()
                .or(placements::valid_to.ge(from)),
        )
        .select(PlacementRow::as_select())
        .order(placements::id.asc())
        .load(conn)?)
}
