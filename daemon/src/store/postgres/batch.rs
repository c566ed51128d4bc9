//! A request's gathered writes ([`crate::store::batch`]) as one statement: the audit events in
//! one insert, each removal a `DELETE`, the records in one insert, joined as the parts of one
//! `WITH`. One statement is one transaction: they land all or none.

use super::short_lived::Row;
use super::{db, seconds};
use crate::store::StoreError;
use crate::store::batch::{Put, Write, Writes};
use crate::store::codec::encode;
use std::sync::Arc;
use tokio_postgres::types::ToSql;

/// `writes` as a statement and its parameters.
pub(super) struct Statement {
    pub text: Arc<str>,
    events: Vec<(i64, Vec<u8>)>,
    removals: Vec<(&'static str, Vec<u8>)>,
    rows: Vec<Row>,
}

impl Statement {
    pub fn of(writes: Writes) -> Result<Self, StoreError> {
        let (mut events, mut removals, mut rows) = (Vec::new(), Vec::new(), Vec::new());
        for write in writes {
            match write {
                Write::Audit(event) => events.push((seconds(event.at), encode(&event)?)),
                Write::Remove(removal) => removals.push((removal.kind(), removal.key().to_bytes())),
                Write::Put(put) => rows.push(row_of(&put)?),
            }
        }
        let text = super::sql::text_of(&TEXTS, (events.len(), removals.len(), rows.len()), text);
        Ok(Self {
            text,
            events,
            removals,
            rows,
        })
    }

    /// The parameters, in the order the text numbers them.
    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
        for (at, record) in &self.events {
            params.extend([at as &(dyn ToSql + Sync), record]);
        }
        for (kind, key) in &self.removals {
            params.extend([kind as &(dyn ToSql + Sync), key]);
        }
        for row in &self.rows {
            params.extend(row.params());
        }
        params
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.removals.is_empty() && self.rows.is_empty()
    }
}

fn row_of(put: &Put) -> Result<Row, StoreError> {
    let (kind, key) = (put.kind(), put.key());
    match put {
        Put::LoginFlow(_, flow) => Row::of(kind, key, flow),
        Put::Session(_, session) => Row::of(kind, key, session),
        Put::RememberedDevice(_, device) => Row::of(kind, key, device),
        Put::TokenFamily(_, family) => Row::of(kind, key, family),
        Put::AuthorizationCode(_, code) => Row::of(kind, key, code),
    }
}

/// How many events, removals and rows a statement writes: its text follows from that alone.
type Shape = (usize, usize, usize);

/// The texts built so far, one a shape.
static TEXTS: super::sql::Texts<Shape> = std::sync::Mutex::new(None);

fn text((events, removals, rows): Shape) -> String {
    let mut parts = Vec::new();
    let mut next = 1;
    if events > 0 {
        let values: Vec<String> = (0..events)
            .map(|i| format!("(${}, ${})", next + 2 * i, next + 2 * i + 1))
            .collect();
        parts.push(format!(
            "INSERT INTO audit_log (at, record) VALUES {}",
            values.join(", ")
        ));
        next += 2 * events;
    }
    for _ in 0..removals {
        parts.push(format!(
            "DELETE FROM short_lived WHERE kind = ${} AND key = ${}",
            next,
            next + 1
        ));
        next += 2;
    }
    if rows > 0 {
        parts.push(Row::statement(next, rows));
    }
    match parts.as_slice() {
        [one] => one.clone(),
        // Every part of a WITH runs, read or not, against one snapshot: the parts write
        // different rows (`Writes` keeps one write a record).
        parts => {
            let named: Vec<String> = parts
                .iter()
                .enumerate()
                .map(|(i, part)| format!("w{i} AS ({part})"))
                .collect();
            format!("WITH {} SELECT 1", named.join(", "))
        }
    }
}

impl super::PgStore {
    pub(super) async fn write_statement(&self, writes: Writes) -> Result<(), StoreError> {
        let statement = Statement::of(writes)?;
        if statement.is_empty() {
            return Ok(());
        }
        let client = self.client().await?;
        super::sql::execute(&*client, &statement.text, &statement.params())
            .await
            .map_err(db)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_of_several_parts_numbers_its_parameters_in_order() {
        assert_eq!(
            text((2, 1, 2)),
            "WITH w0 AS (INSERT INTO audit_log (at, record) VALUES ($1, $2), ($3, $4)), \
             w1 AS (DELETE FROM short_lived WHERE kind = $5 AND key = $6), \
             w2 AS ("
                .to_owned()
                + &Row::statement(7, 2)
                + ") SELECT 1"
        );
        assert!(Row::statement(7, 2).contains("($15, $16, $17, $18, $19, $20, $21, $22)"));
        assert_eq!(
            text((0, 1, 0)),
            "DELETE FROM short_lived WHERE kind = $1 AND key = $2"
        );
    }
}
