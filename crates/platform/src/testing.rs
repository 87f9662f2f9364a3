//! Test helpers (feature `testing`): throwaway PostgreSQL databases on the server named by
//! `CAREBILL_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`), the
//! broker named by `CAREBILL_TEST_AMQP_URL` (default `amqp://guest:guest@127.0.0.1:5672/%2f`),
//! and tokens. A missing server is a test failure with a clear message, never a skip.

use diesel::{Connection as _, PgConnection, RunQueryDsl};

use crate::auth::{Claims, mint_hs256};

/// The server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("CAREBILL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The broker tests use.
pub fn amqp_url() -> String {
    std::env::var("CAREBILL_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// A database created for one test and dropped when this value is dropped.
pub struct PgTestDb {
    /// URL of the new database.
    pub url: String,
    name: String,
    admin: String,
}

impl PgTestDb {
    /// Creates a fresh, empty database.
    ///
    /// # Panics
    /// When PostgreSQL cannot be reached: the tests need it and say so.
    #[expect(
        clippy::panic,
        reason = "test helper: a missing server must fail the test loudly"
    )]
    pub fn create() -> PgTestDb {
        let admin = postgres_admin_url();
        let mut conn = PgConnection::establish(&admin).unwrap_or_else(|e| {
            panic!("PostgreSQL is required for this test and is not reachable at {admin}: {e}. Start it (see README, 'Running the tests') or set CAREBILL_TEST_DATABASE_URL.")
        });
        let name = format!("carebill_test_{}", uuid::Uuid::now_v7().simple());
        if let Err(e) = diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn) {
            panic!("creating test database {name}: {e}");
        }
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        PgTestDb {
            url: format!("{base}/{name}"),
            name,
            admin,
        }
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

/// The HS256 secret test servers use.
pub const TEST_SECRET: &str = "carebill-test-secret-0123456789abcdef";

/// A token for `roles`, optionally limited to location codes, signed with [`TEST_SECRET`].
pub fn token(roles: &[&str], locations: Option<&[&str]>) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: format!("test-{}", roles.join("+")),
        iss: "carebill".to_owned(),
        aud: "carebill".to_owned(),
        exp: now + 3600,
        iat: now,
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        locations: locations.map(|l| l.iter().map(|c| (*c).to_owned()).collect()),
        payer: None,
    };
    mint_hs256(TEST_SECRET.as_bytes(), &claims).unwrap_or_default()
}

/// A RabbitMQ virtual host created for one test (with `rabbitmqctl`) and deleted on drop, so
/// queues a test fills (every known consumer's, declared by publishers) do not outlive it.
pub struct TestVhost {
    /// AMQP URL of the virtual host.
    pub url: String,
    name: String,
}

impl TestVhost {
    /// Creates the virtual host and grants the URL's user every permission on it.
    ///
    /// # Panics
    /// When `rabbitmqctl` is missing or fails: these tests need a local broker.
    #[expect(
        clippy::panic,
        reason = "test helper: a missing broker must fail the test loudly"
    )]
    pub fn create() -> TestVhost {
        let base = amqp_url();
        let name = format!("carebill-test-{}", uuid::Uuid::now_v7().simple());
        let user = base
            .strip_prefix("amqp://")
            .and_then(|r| r.split_once('@'))
            .and_then(|(cred, _)| cred.split(':').next())
            .unwrap_or("guest")
            .to_owned();
        for args in [
            vec!["add_vhost", name.as_str()],
            vec![
                "set_permissions",
                "-p",
                name.as_str(),
                user.as_str(),
                ".*",
                ".*",
                ".*",
            ],
        ] {
            let out = std::process::Command::new("rabbitmqctl").args(&args).output().unwrap_or_else(|e| {
                panic!("rabbitmqctl is needed to give this test its own RabbitMQ virtual host ({e}); install rabbitmq-server (see README)")
            });
            if !out.status.success() {
                panic!(
                    "rabbitmqctl {args:?} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        let prefix = base.rsplit_once('/').map_or(base.as_str(), |(p, _)| p);
        TestVhost {
            url: format!("{prefix}/{name}"),
            name,
        }
    }
}

impl Drop for TestVhost {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.name])
            .output();
    }
}
