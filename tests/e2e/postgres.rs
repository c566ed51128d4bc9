//! Which backend this run of the suite puts its sites on. The server is the test kit's
//! (`postern_testkit::Postgres`).
//!
//! `E2E_STORE=postgres` (not a `POSTERN_` variable: the daemon refuses unknown ones) makes every site of the end-to-end suite use one (`tests/run`
//! runs the suite once per backend).

pub use postern_testkit::Postgres;

/// Whether this run of the suite puts its sites on PostgreSQL.
pub fn selected() -> bool {
    std::env::var("E2E_STORE").is_ok_and(|v| v == "postgres")
}

/// For a test of what only the embedded store does: true (and says so) on the PostgreSQL run,
/// where the test returns at once. The sled run of the suite runs it.
pub fn skip_on_postgres(why: &str) -> bool {
    if selected() {
        eprintln!("skipped on the PostgreSQL run: {why}");
    }
    selected()
}

/// For a test of several daemons on PostgreSQL: true (and says so) on the sled run, where the
/// test returns at once. The PostgreSQL run of the suite runs it.
pub fn skip_on_sled(why: &str) -> bool {
    if !selected() {
        eprintln!("skipped on the sled run (tests/run runs it on PostgreSQL): {why}");
    }
    !selected()
}
