//! The business conditions in force (seed 000), compiled once per stored version: what pricing
//! applies to every line.

use std::sync::{Arc, Mutex};

use carebill_domain::conditions::{CompiledSet, ConditionSet};
use carebill_domain::stored::json;
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;

use crate::store::conditions as store;
use crate::store::unreadable;

/// The compiled set of the latest version (none when there are no conditions), compiled once
/// per version and process (the cache is keyed by the stored definition itself, so processes
/// serving several databases — the tests — never mix them up).
pub fn compiled(conn: &mut AnyConnection) -> Result<Option<(i32, Arc<CompiledSet>)>, Error> {
    static CACHE: Mutex<Option<(String, Arc<CompiledSet>)>> = Mutex::new(None);
    let Some((version, definition)) = store::latest_definition(conn)? else {
        return Ok(None);
    };
    if let Ok(cache) = CACHE.lock()
        && let Some((d, set)) = cache.as_ref()
        && *d == definition
    {
        return Ok((!set.is_empty()).then(|| (version, set.clone())));
    }
    let set: ConditionSet = json("condition set", &definition).map_err(unreadable)?;
    let set = Arc::new(set.compile().map_err(|v| {
        Error::internal(&format!(
            "stored condition set v{version} does not compile: {:?}",
            v.errors()
        ))
    })?);
    if let Ok(mut cache) = CACHE.lock() {
        *cache = Some((definition, set.clone()));
    }
    Ok((!set.is_empty()).then_some((version, set)))
}
