//! Database access on PostgreSQL and SQLite from one code base.
//!
//! [`AnyConnection`] is a diesel `MultiConnection` over both backends; the backend is chosen from
//! the URL scheme (`postgres://`/`postgresql://` or `sqlite://`/a file path), never by trial. Queries
//! run on a blocking thread ([`Db::read`], [`Db::write`]) so the async executor never waits on I/O.
//!
//! SQLite allows one writer at a time and a deferred transaction that tries to upgrade from read
//! to write can fail with `SQLITE_BUSY` without waiting; so on SQLite writes go through a pool of
//! exactly one connection while reads get their own pool (WAL mode lets them run alongside).
//! On PostgreSQL both are the same pool.
//!
//! Settings read: `database.url`, `database.pool_size` (see [`crate::config`]).

use std::time::Duration;

use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::{Connection as _, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

use crate::error::Error;

/// A connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    /// PostgreSQL (distributed mode).
    Postgresql(diesel::PgConnection),
    /// SQLite (embedded mode).
    Sqlite(diesel::SqliteConnection),
}

/// Which engine a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

impl Backend {
    /// Reads the backend from a URL scheme; anything that is not PostgreSQL is a SQLite path.
    pub fn from_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// Failures of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had (server down, pool exhausted).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A query failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migration(String),
}

/// Opens connections for r2d2, choosing the backend from the URL and preparing SQLite.
#[derive(Debug, Clone)]
pub struct Manager {
    url: String,
    backend: Backend,
}

impl Manager {
    fn sqlite_path(&self) -> &str {
        self.url.strip_prefix("sqlite://").unwrap_or(&self.url)
    }
}

impl ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, r2d2::Error> {
        match self.backend {
            Backend::Postgres => {
                let mut conn = diesel::PgConnection::establish(&self.url)
                    .map_err(r2d2::Error::ConnectionError)?;
                // diesel prepares every statement once per connection, and after five runs
                // PostgreSQL may keep a generic plan made while a table was still empty; a
                // look-up of many ids (`= ANY($1)`) then scans what an index would find (50 ms
                // instead of 0.1 ms once a table holds 40,000 rows). Planning each execution
                // with its parameters and the current statistics costs a fraction of that.
                diesel::sql_query("SET plan_cache_mode = force_custom_plan")
                    .execute(&mut conn)
                    .map_err(r2d2::Error::QueryError)?;
                Ok(AnyConnection::Postgresql(conn))
            }
            Backend::Sqlite => {
                let mut conn = diesel::SqliteConnection::establish(self.sqlite_path())
                    .map_err(r2d2::Error::ConnectionError)?;
                // WAL lets readers run beside the writer; synchronous=FULL makes every commit
                // durable (nothing committed is lost even on power failure); the busy timeout
                // makes a second process wait instead of failing.
                for pragma in [
                    "PRAGMA journal_mode = WAL",
                    "PRAGMA synchronous = FULL",
                    "PRAGMA busy_timeout = 15000",
                    "PRAGMA foreign_keys = ON",
                ] {
                    diesel::sql_query(pragma)
                        .execute(&mut conn)
                        .map_err(r2d2::Error::QueryError)?;
                }
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        conn.is_broken()
    }
}

type Pool = r2d2::Pool<Manager>;

/// The database of one service: a read pool and a write pool (the same pool on PostgreSQL).
#[derive(Clone)]
pub struct Db {
    read: Pool,
    write: Pool,
    backend: Backend,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Db {
    /// Connects to `url` with up to `pool_size` connections. Fails if no first connection can
    /// be made within a few seconds, with the backend's own error.
    pub fn connect(url: &str, pool_size: u32) -> Result<Db, DbError> {
        let backend = Backend::from_url(url);
        let manager = Manager {
            url: url.to_owned(),
            backend,
        };
        // Fail fast with the real reason rather than r2d2's generic timeout.
        manager
            .connect()
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        let build = |size: u32| {
            r2d2::Pool::builder()
                .max_size(size.max(1))
                .min_idle(Some(1))
                .connection_timeout(Duration::from_secs(10))
                .build(manager.clone())
                .map_err(|e| DbError::Unavailable(e.to_string()))
        };
        let (read, write) = match backend {
            Backend::Postgres => {
                let pool = build(pool_size)?;
                (pool.clone(), pool)
            }
            Backend::Sqlite => (build(pool_size)?, build(1)?),
        };
        Ok(Db {
            read,
            write,
            backend,
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies every pending migration of each set, in order. Each set holds one folder per
    /// backend with matching names; versions must not collide between sets.
    pub fn migrate(&self, sets: &[&MigrationSet]) -> Result<Vec<String>, DbError> {
        let mut conn = self
            .write
            .get()
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        // Replicas starting together must not race on the same migration: on PostgreSQL the
        // first takes a session lock, the others wait and then find nothing pending.
        let locked = self.backend == Backend::Postgres;
        if locked {
            diesel::sql_query("SELECT pg_advisory_lock(hashtext('carebill:migrations'))")
                .execute(&mut conn)
                .map_err(|e| DbError::Migration(e.to_string()))?;
        }
        let result = Self::apply(&mut conn, self.backend, sets);
        if locked {
            let _ = diesel::sql_query("SELECT pg_advisory_unlock(hashtext('carebill:migrations'))")
                .execute(&mut conn);
        }
        result
    }

    fn apply(
        conn: &mut AnyConnection,
        backend: Backend,
        sets: &[&MigrationSet],
    ) -> Result<Vec<String>, DbError> {
        let mut applied = Vec::new();
        for set in sets {
            let source = match backend {
                Backend::Postgres => &set.postgres,
                Backend::Sqlite => &set.sqlite,
            };
            let versions = conn
                .run_pending_migrations(Borrowed(source))
                .map_err(|e| DbError::Migration(e.to_string()))?;
            applied.extend(versions.into_iter().map(|v| v.to_string()));
        }
        Ok(applied)
    }

    /// Runs `f` with a read connection on a blocking thread.
    pub async fn read<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, Error> + Send + 'static,
    {
        Self::run(self.read.clone(), f).await
    }

    /// Runs `f` with the write connection on a blocking thread. `f` opens its own transaction.
    pub async fn write<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, Error> + Send + 'static,
    {
        Self::run(self.write.clone(), f).await
    }

    async fn run<T, F>(pool: Pool, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, Error> + Send + 'static,
    {
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(|e| Error::unavailable(&e))?;
            f(&mut conn)
        })
        .await
        .map_err(|e| Error::internal(&e))?
    }

    /// Checks that the database answers (readiness).
    pub async fn ping(&self) -> Result<(), Error> {
        self.read(|conn| {
            diesel::sql_query("SELECT 1").execute(conn)?;
            Ok(())
        })
        .await
    }

    /// Pool statistics: (connections, idle) of the write pool, for metrics.
    pub fn pool_state(&self) -> (u32, u32) {
        let s = self.write.state();
        (s.connections, s.idle_connections)
    }
}

/// Lends an embedded migration set to diesel's harness, which wants one by value.
struct Borrowed<'a>(&'a EmbeddedMigrations);

impl<DB: diesel::backend::Backend> diesel::migration::MigrationSource<DB> for Borrowed<'_> {
    fn migrations(
        &self,
    ) -> diesel::migration::Result<Vec<Box<dyn diesel::migration::Migration<DB>>>> {
        <EmbeddedMigrations as diesel::migration::MigrationSource<DB>>::migrations(self.0)
    }
}

/// The embedded migrations of one component, one folder per backend.
pub struct MigrationSet {
    /// PostgreSQL migrations.
    pub postgres: EmbeddedMigrations,
    /// SQLite migrations.
    pub sqlite: EmbeddedMigrations,
}

/// The platform's own tables (outbox, inbox, idempotency keys, audit trail, dead letters),
/// present in every service database.
pub const PLATFORM_MIGRATIONS: MigrationSet = MigrationSet {
    postgres: diesel_migrations::embed_migrations!("migrations/postgres"),
    sqlite: diesel_migrations::embed_migrations!("migrations/sqlite"),
};

/// Current time truncated to microseconds: PostgreSQL keeps microseconds, SQLite would keep
/// nanoseconds, and values must compare equal after a round trip on both.
pub fn now() -> chrono::NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    truncate_micros(now)
}

/// Truncates a timestamp to whole microseconds.
pub fn truncate_micros(t: chrono::NaiveDateTime) -> chrono::NaiveDateTime {
    use chrono::Timelike;
    let nanos = t.nanosecond() / 1_000 * 1_000;
    t.with_nanosecond(nanos).unwrap_or(t)
}

/// True when a diesel error is a unique-constraint violation.
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Inserts `rows` (a slice or `Vec` of insertable values) into `table` in as few statements as
/// possible: multi-row INSERTs of up to 1,000 rows on PostgreSQL; one by one on SQLite, whose
/// diesel MultiConnection backend has no multi-row INSERT (cheap there: it is in-process).
/// Propagates diesel's error with `?`.
#[macro_export]
macro_rules! insert_all {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let rows = &$rows[..];
        match $conn {
            $crate::db::AnyConnection::Postgresql(pg) => {
                for chunk in rows.chunks(1000) {
                    ::diesel::RunQueryDsl::execute(
                        ::diesel::insert_into($table).values(chunk),
                        pg,
                    )?;
                }
            }
            $crate::db::AnyConnection::Sqlite(lite) => {
                for row in rows {
                    ::diesel::RunQueryDsl::execute(
                        ::diesel::insert_into($table).values(row),
                        lite,
                    )?;
                }
            }
        }
    }};
}

/// Like [`insert_all!`] for rows taken by value: rows whose typed fields convert on the way in
/// (`#[diesel(serialize_as = String)]` on an id or an enum) can only be inserted owned.
/// PostgreSQL gets multi-row INSERTs of up to 1,000 rows; SQLite one row at a time.
#[macro_export]
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let mut rows: ::std::vec::Vec<_> = $rows;
        match $conn {
            $crate::db::AnyConnection::Postgresql(pg) => {
                while !rows.is_empty() {
                    let rest = rows.split_off(rows.len().min(1000));
                    ::diesel::RunQueryDsl::execute(::diesel::insert_into($table).values(rows), pg)?;
                    rows = rest;
                }
            }
            $crate::db::AnyConnection::Sqlite(lite) => {
                for row in rows {
                    ::diesel::RunQueryDsl::execute(
                        ::diesel::insert_into($table).values(row),
                        lite,
                    )?;
                }
            }
        }
    }};
}

/// Inserts one row into `table` unless a row with its key (or another unique value) exists
/// already: `INSERT … ON CONFLICT DO NOTHING` on either database. diesel's MultiConnection has
/// no ON CONFLICT, hence the match. Evaluates to the number of rows inserted (0 or 1); propagates
/// diesel's error with `?`.
#[macro_export]
macro_rules! insert_new {
    ($conn:expr, $table:expr, $row:expr) => {{
        let row = $row;
        match $conn {
            $crate::db::AnyConnection::Postgresql(pg) => ::diesel::RunQueryDsl::execute(
                ::diesel::insert_into($table)
                    .values(row)
                    .on_conflict_do_nothing(),
                pg,
            )?,
            $crate::db::AnyConnection::Sqlite(lite) => ::diesel::RunQueryDsl::execute(
                ::diesel::insert_into($table)
                    .values(row)
                    .on_conflict_do_nothing(),
                lite,
            )?,
        }
    }};
}

/// Locks a row until the end of the transaction on PostgreSQL (`SELECT … FOR UPDATE`), so that
/// a check-then-write on data hanging off it cannot interleave with another transaction's.
/// SQLite serialises writers, so there is nothing to do there. `table` is a trusted identifier.
pub fn lock_row(
    conn: &mut AnyConnection,
    table: &'static str,
    id: &str,
) -> diesel::QueryResult<()> {
    if let AnyConnection::Postgresql(pg) = conn {
        diesel::sql_query(format!("SELECT id FROM {table} WHERE id = $1 FOR UPDATE"))
            .bind::<diesel::sql_types::Text, _>(id)
            .execute(pg)?;
    }
    Ok(())
}

/// Serialises transactions that check-then-write under the same `key` on PostgreSQL (a
/// transaction-scoped advisory lock), e.g. "no two overlapping prices for one code". SQLite
/// serialises writers already.
pub fn lock_key(conn: &mut AnyConnection, key: &str) -> diesel::QueryResult<()> {
    if let AnyConnection::Postgresql(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind::<diesel::sql_types::Text, _>(key)
            .execute(pg)?;
    }
    Ok(())
}
