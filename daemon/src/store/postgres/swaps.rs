//! Swaps, each only if the ones before it held, and the events that record them, as one
//! statement ([`crate::store::swaps`]): each swap an `UPDATE` of the row as it was read that
//! runs only if the one before it returned its row, the events one insert that runs only if
//! the last swap did. The count of rows the swaps returned is how many held.

use super::{db, seconds};
use crate::model::audit::AuditEvent;
use crate::store::StoreError;
use crate::store::batch::{Write, Writes};
use crate::store::codec::encode;
use crate::store::swaps::{Encoded, Swap};
use tokio_postgres::types::ToSql;

impl super::PgStore {
    pub(super) async fn swap_statement(
        &self,
        swaps: Vec<Swap>,
        events: Vec<AuditEvent>,
    ) -> Result<usize, StoreError> {
        if swaps.is_empty() {
            // Nothing to hold: the events are written as they are.
            let writes = events.into_iter().map(Write::Audit).collect::<Writes>();
            return self.write_statement(writes).await.map(|()| 0);
        }
        let swaps = swaps
            .iter()
            .map(|swap| {
                let encoded = swap.encoded()?;
                Ok((seconds(encoded.next_expires_at), encoded))
            })
            .collect::<Result<Vec<(i64, Encoded)>, StoreError>>()?;
        let events = events
            .iter()
            .map(|event| Ok((seconds(event.at), encode(event)?)))
            .collect::<Result<Vec<(i64, Vec<u8>)>, StoreError>>()?;
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
        for (expires_at, swap) in &swaps {
            params.extend([
                &swap.kind as &(dyn ToSql + Sync),
                &swap.key,
                &swap.next,
                expires_at,
                &swap.seen,
            ]);
        }
        for (at, record) in &events {
            params.extend([at as &(dyn ToSql + Sync), record]);
        }
        let client = self.client().await?;
        let row = super::sql::query_one(
            &*client,
            &super::sql::text_of(&TEXTS, (swaps.len(), events.len()), text),
            &params,
        )
        .await
        .map_err(db)?;
        let held: i64 = row.try_get(0).map_err(db)?;
        Ok(usize::try_from(held).unwrap_or(0))
    }
}

/// How many swaps and events: the text follows from that alone.
type Shape = (usize, usize);

static TEXTS: super::sql::Texts<Shape> = std::sync::Mutex::new(None);

fn text((swaps, events): Shape) -> String {
    let mut parts = Vec::new();
    // The parts of a WITH run against one snapshot, and a part that reads another waits for
    // it: each swap reads the one before it, the events read the last.
    let after = |i: usize| match i {
        0 => String::new(),
        i => format!(" AND EXISTS (SELECT 1 FROM s{})", i - 1),
    };
    for i in 0..swaps {
        let p = 1 + 5 * i;
        parts.push(format!(
            "s{i} AS (UPDATE short_lived SET record = ${}, expires_at = ${} \
             WHERE kind = ${p} AND key = ${}{} AND record = ${} RETURNING 1)",
            p + 2,
            p + 3,
            p + 1,
            after(i),
            p + 4,
        ));
    }
    if events > 0 {
        let first = 1 + 5 * swaps;
        let values: Vec<String> = (0..events)
            .map(|i| {
                format!(
                    "(${}::bigint, ${}::bytea)",
                    first + 2 * i,
                    first + 2 * i + 1
                )
            })
            .collect();
        parts.push(format!(
            "e AS (INSERT INTO audit_log (at, record) SELECT at, record \
             FROM (VALUES {}) AS v (at, record) WHERE EXISTS (SELECT 1 FROM s{}))",
            values.join(", "),
            swaps - 1
        ));
    }
    let counts: Vec<String> = (0..swaps)
        .map(|i| format!("(SELECT count(*) FROM s{i})"))
        .collect();
    format!("WITH {} SELECT {}", parts.join(", "), counts.join(" + "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_swap_waits_for_the_one_before_and_the_events_for_the_last() {
        assert_eq!(
            text((2, 1)),
            "WITH s0 AS (UPDATE short_lived SET record = $3, expires_at = $4 \
             WHERE kind = $1 AND key = $2 AND record = $5 RETURNING 1), \
             s1 AS (UPDATE short_lived SET record = $8, expires_at = $9 \
             WHERE kind = $6 AND key = $7 AND EXISTS (SELECT 1 FROM s0) AND record = $10 \
             RETURNING 1), \
             e AS (INSERT INTO audit_log (at, record) SELECT at, record \
             FROM (VALUES ($11::bigint, $12::bytea)) AS v (at, record) \
             WHERE EXISTS (SELECT 1 FROM s1)) \
             SELECT (SELECT count(*) FROM s0) + (SELECT count(*) FROM s1)"
        );
    }
}
