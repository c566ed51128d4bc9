//! Statements prepared once per connection and reused: the server plans a statement once,
//! and each use is one round trip instead of two. Errors are the client library's, so a caller
//! can tell a unique violation from the rest.

use deadpool_postgres::GenericClient;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub(super) async fn execute(
    client: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<u64, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    client.execute(&statement, params).await
}

pub(super) async fn query(
    client: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    client.query(&statement, params).await
}

pub(super) async fn query_opt(
    client: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<Row>, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    client.query_opt(&statement, params).await
}

pub(super) async fn query_one(
    client: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<Row, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    client.query_one(&statement, params).await
}

/// Statement texts built by the caller, one for each shape (how many rows, parts...) it writes:
/// a sign-in writes the same few shapes over and over.
pub(super) type Texts<Shape> = Mutex<Option<HashMap<Shape, Arc<str>>>>;

/// The text of `shape` from `texts`, built by `build` the first time.
pub(super) fn text_of<Shape: Hash + Eq + Copy>(
    texts: &Texts<Shape>,
    shape: Shape,
    build: fn(Shape) -> String,
) -> Arc<str> {
    let mut texts = texts.lock().unwrap_or_else(|p| p.into_inner());
    texts
        .get_or_insert_with(HashMap::new)
        .entry(shape)
        .or_insert_with(|| build(shape).into())
        .clone()
}
