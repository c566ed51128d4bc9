//! The schema, versioned. Each daemon brings the database up to its own version when it starts,
//! holding an advisory lock so that daemons starting together migrate once; a database of a
//! newer version is refused, as a newer sled store is.

use super::{db, pool_error};
use crate::store::StoreError;
use deadpool_postgres::Pool;

/// The schema this daemon writes. Bump it with a new entry in `MIGRATIONS`.
pub const SCHEMA_VERSION: i32 = 1;

/// Any number, the same in every daemon: the advisory lock that serialises migrations.
const MIGRATION_LOCK: i64 = 0x706f_7374_6572_6e01;

/// `MIGRATIONS[n]` takes the schema from version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE users (
    id UUID PRIMARY KEY,
    -- The case-folded username: unique without regard to case, and the order of user lists.
    name_key TEXT COLLATE "C" NOT NULL UNIQUE,
    record BYTEA NOT NULL
);
CREATE TABLE roles (
    name TEXT COLLATE "C" PRIMARY KEY,
    record BYTEA NOT NULL
);
-- Who holds which role. A role cannot go while held; a user takes their memberships along.
CREATE TABLE role_members (
    role TEXT COLLATE "C" NOT NULL REFERENCES roles (name),
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (role, user_id)
);
CREATE TABLE clients (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL UNIQUE,
    record BYTEA NOT NULL
);
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    record BYTEA NOT NULL
);
CREATE TABLE signing_keys (
    kid TEXT COLLATE "C" PRIMARY KEY,
    record BYTEA NOT NULL
);
CREATE TABLE consents (
    user_id UUID NOT NULL,
    client_id TEXT COLLATE "C" NOT NULL,
    record BYTEA NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
-- Running totals, kept in the same transactions as what they count.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('users', 0);
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    record BYTEA NOT NULL
);
CREATE TABLE mail_log (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    record BYTEA NOT NULL
);
-- Sessions, flows, codes, tokens, remembered browsers and hosts, failure counts: found by the
-- hash of their bearer value (and, for some, their user), removed once expired.
CREATE TABLE short_lived (
    kind TEXT NOT NULL,
    key BYTEA NOT NULL,
    owner UUID,
    expires_at BIGINT NOT NULL,
    record BYTEA NOT NULL,
    -- What the record points at (`Record::links`), so a query can follow it: an access
    -- token's family, client and user, checked together at every userinfo and introspection.
    link_family BYTEA,
    link_client TEXT COLLATE "C",
    link_user UUID,
    PRIMARY KEY (kind, key)
);
CREATE INDEX short_lived_by_owner ON short_lived (kind, owner) WHERE owner IS NOT NULL;
CREATE INDEX short_lived_by_expiry ON short_lived (expires_at);
"#];

/// Brings the schema to [`SCHEMA_VERSION`], or refuses a newer one.
pub(super) async fn migrate(pool: &Pool) -> Result<(), StoreError> {
    let mut client = pool.get().await.map_err(pool_error)?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db)?;
    let migrated = migrate_locked(&mut client).await;
    // Released even when the migration failed; a connection that broke releases it anyway.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    migrated
}

async fn migrate_locked(client: &mut deadpool_postgres::Object) -> Result<(), StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS postern_schema (\
                 one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one), \
                 version INTEGER NOT NULL)",
        )
        .await
        .map_err(db)?;
    let found: Option<i32> = client
        .query_opt("SELECT version FROM postern_schema", &[])
        .await
        .map_err(db)?
        .map(|row| row.get(0));
    let found = found.unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(StoreError::StoreTooNew {
            found: found as u32,
            supported: SCHEMA_VERSION as u32,
        });
    }
    for version in found..SCHEMA_VERSION {
        let transaction = client.transaction().await.map_err(db)?;
        transaction
            .batch_execute(MIGRATIONS[version as usize])
            .await
            .map_err(db)?;
        transaction
            .execute(
                "INSERT INTO postern_schema (version) VALUES ($1) \
                 ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version",
                &[&(version + 1)],
            )
            .await
            .map_err(db)?;
        transaction.commit().await.map_err(db)?;
        tracing::info!(
            from = version,
            to = version + 1,
            "migrated the PostgreSQL schema"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_has_its_migration() {
        assert_eq!(MIGRATIONS.len(), SCHEMA_VERSION as usize);
    }
}
