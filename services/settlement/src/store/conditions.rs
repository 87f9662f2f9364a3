//! Business-condition sets as stored: versions of one set, each its definition as JSON.

use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use diesel::prelude::*;

use crate::schema::condition_sets;

/// The latest version of the condition set and its definition (JSON); none before the first.
pub fn latest_definition(conn: &mut AnyConnection) -> Result<Option<(i32, String)>, Error> {
    Ok(condition_sets::table
        .order(condition_sets::version.desc())
        .select((condition_sets::version, condition_sets::definition))
        .first::<(i32, String)>(conn)
        .optional()?)
}
