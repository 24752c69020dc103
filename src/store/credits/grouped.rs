//! Group commit of one tenant's spends (PostgreSQL). While a tenant's spend is in flight, the
//! spends of the same tenant that arrive wait, and then go to the database together as one
//! statement: one wallet update for their sum, one ledger entry each, one commit. A hot
//! tenant's clients no longer queue one by one on the wallet's row lock and one commit each
//! (in a profile of one tenant with 32 clients, PostgreSQL spent its time waking lock waiters
//! and flushing commits). Per tenant and per process: other replicas still meet at the row
//! lock, which keeps every batch exact.
//!
//! A batch is all or nothing for the spends it moves. A key used before is answered from its
//! first entry and leaves the batch. When the batch cannot move (the sum would cross the
//! low-balance threshold, use the balance up or overdraw it, a key appears twice, the snapshot
//! is stale), nothing is written and each spend is tried alone, in arrival order, as
//! [`quick::consume`] would; a spend that still cannot be decided there goes to the full path.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, Statement};
use tokio::sync::oneshot;

use super::quick::{self, Guard, Quick};
use crate::domain::{Credits, LedgerEntry, TenantId, Wallet};
use crate::error::{Error, Result};

/// Spends per statement at most.
const MOST: usize = 64;

struct Waiting {
    entry: LedgerEntry,
    guard: Guard,
    reply: oneshot::Sender<Result<Quick>>,
}

/// The spends waiting, per tenant with a batch in flight.
#[derive(Default)]
pub struct Groups {
    waiting: Mutex<HashMap<TenantId, Vec<Waiting>>>,
}

impl Groups {
    /// Spends `entry` (a `consume`, its amount negative) with the tenant's other spends in
    /// flight, as [`quick::consume`] would alone.
    pub async fn consume(
        self: &Arc<Self>,
        db: &DatabaseConnection,
        entry: LedgerEntry,
        guard: Guard,
    ) -> Result<Quick> {
        let tenant = entry.tenant_id;
        let (reply, answer) = oneshot::channel();
        let first = {
            let mut waiting = self.waiting.lock().map_err(|_| poisoned())?;
            let item = Waiting {
                entry,
                guard,
                reply,
            };
            match waiting.get_mut(&tenant) {
                Some(queue) => {
                    queue.push(item);
                    false
                }
                None => {
                    waiting.insert(tenant, vec![item]);
                    true
                }
            }
        };
        if first {
            // A task of its own: a caller that goes away must not strand the others.
            let (groups, db) = (self.clone(), db.clone());
            tokio::spawn(async move { groups.drain(&db, tenant).await });
        }
        // A lost answer (the task ended abnormally) leaves the caller to the full path, whose
        // replay lookup finds the spend if it was written.
        answer.await.unwrap_or(Ok(Quick::Declined))
    }

    /// Runs the tenant's waiting spends, batch after batch, until none are left.
    async fn drain(&self, db: &DatabaseConnection, tenant: TenantId) {
        loop {
            let batch = {
                let Ok(mut waiting) = self.waiting.lock() else {
                    return;
                };
                let Some(queue) = waiting.get_mut(&tenant) else {
                    return;
                };
                if queue.is_empty() {
                    waiting.remove(&tenant);
                    return;
                }
                let n = queue.len().min(MOST);
                queue.drain(..n).collect::<Vec<_>>()
            };
            run(db, batch).await;
        }
    }
}

fn poisoned() -> Error {
    Error::internal("the spend queue's lock was poisoned")
}

/// One batch: together when there are several under one snapshot, else one by one.
async fn run(db: &DatabaseConnection, batch: Vec<Waiting>) {
    let together = batch.len() > 1
        && batch.iter().all(|w| {
            w.guard.epoch == batch[0].guard.epoch && w.guard.scope == batch[0].guard.scope
        });
    let answers = match together {
        true => consume_many(db, &batch).await,
        false => Ok(None),
    };
    let answers = match answers {
        Ok(Some(answers)) => answers,
        // Nothing was written: each is tried alone.
        Ok(None) => (0..batch.len()).map(|_| None).collect(),
        // The statement may have committed before the error (a lost connection): each caller
        // gets the error, and a retry finds its key.
        Err(e) => {
            for w in batch {
                let _ = w.reply.send(Err(e.clone().into()));
            }
            return;
        }
    };
    for (w, answer) in batch.into_iter().zip(answers) {
        let answer = match answer {
            Some(quick) => Ok(quick),
            None => quick::consume(db, w.entry, &w.guard).await,
        };
        let _ = w.reply.send(answer);
    }
}

/// The batch as one statement: `Some` answer per spend it decided, `None` for the ones left to
/// try alone; `Ok(None)` when a key's unique index refused the statement (a key twice in the
/// batch, or taken meanwhile by another replica), which then wrote nothing.
async fn consume_many(
    db: &DatabaseConnection,
    batch: &[Waiting],
) -> std::result::Result<Option<Vec<Option<Quick>>>, DbErr> {
    let guard = &batch[0].guard;
    let first = &batch[0].entry;
    let rows: Vec<serde_json::Value> = batch
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let e = &w.entry;
            serde_json::json!({
                "ord": i, "id": e.id.0, "key": e.idempotency_key, "cost": -e.amount.micro(),
                "metric": e.metric_code, "op": e.operation_type, "qty": e.quantity,
                "at": e.created_at,
            })
        })
        .collect();
    let stmt = Statement::from_sql_and_values(
        DbBackend::Postgres,
        MANY,
        [
            first.tenant_id.0.into(),
            serde_json::Value::Array(rows).to_string().into(),
            first.created_at.into(),
            guard.scope.clone().into(),
            guard.epoch.into(),
            guard.low_micro.into(),
        ],
    );
    let found = match db.query_all_raw(stmt).await {
        Ok(rows) => rows,
        Err(e) if quick::refused_by_a_constraint(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut answers: Vec<Option<Quick>> = (0..batch.len()).map(|_| None).collect();
    for row in found {
        let ord: i32 = row.try_get("", "ord")?;
        let Some(w) = usize::try_from(ord).ok().and_then(|i| batch.get(i)) else {
            return Err(DbErr::Custom(
                "a grouped spend answered out of range".into(),
            ));
        };
        answers[ord as usize] = answer(&row, &w.entry)?;
    }
    Ok(Some(answers))
}

fn answer(row: &QueryResult, entry: &LedgerEntry) -> std::result::Result<Option<Quick>, DbErr> {
    let tenant = entry.tenant_id;
    if let Some(after) = row.try_get::<Option<i64>>("", "after")? {
        let held: i64 = row.try_get("", "held")?;
        let mut entry = entry.clone();
        entry.balance_after = Credits(after);
        let wallet = Wallet {
            tenant_id: tenant,
            balance: Credits(after),
            held: Credits(held),
        };
        return Ok(Some(Quick::Done(entry, wallet)));
    }
    quick::prior(row, tenant, entry.idempotency_key.clone())
}

/// $1 tenant, $2 the spends (JSON: ord, id, key, cost, metric, op, qty, at), $3 now, $4 scope,
/// $5 epoch, $6 low-balance threshold. One row per spend: `after` when it moved, the `p_`
/// columns when its key was used before, neither when it is left to try alone.
const MANY: &str = "WITH req AS ( \
        SELECT * FROM json_to_recordset($2::json) AS r(ord int, id uuid, key text, \
            cost bigint, metric text, op text, qty bigint, at timestamptz)), \
    prior AS ( \
        SELECT r.ord, l.id, l.kind, l.amount_micro, l.balance_after_micro, l.reference, \
            l.metric_code, l.operation_type, l.quantity, l.created_at \
        FROM req r CROSS JOIN LATERAL (SELECT * FROM ledger_entries e \
            WHERE e.tenant_id = $1 AND e.idempotency_key = r.key LIMIT 1) l), \
    new AS ( \
        SELECT r.*, (sum(r.cost) OVER (ORDER BY r.ord))::bigint AS upto FROM req r \
        WHERE r.ord NOT IN (SELECT ord FROM prior)), \
    total AS (SELECT coalesce(sum(cost), 0)::bigint AS spent FROM new), \
    fresh AS ( \
        SELECT coalesce((SELECT epoch FROM cache_epochs WHERE scope = $4), 0) = $5 AS ok), \
    moved AS ( \
        UPDATE wallets SET balance_micro = balance_micro - (SELECT spent FROM total), \
            updated_at = $3 \
        WHERE tenant_id = $1 AND (SELECT ok FROM fresh) AND (SELECT spent FROM total) > 0 \
            AND balance_micro >= (SELECT spent FROM total) \
            AND (balance_micro <= 0 OR balance_micro - (SELECT spent FROM total) > 0) \
            AND (balance_micro < $6 OR balance_micro - (SELECT spent FROM total) >= $6) \
        RETURNING balance_micro + (SELECT spent FROM total) AS before, held_micro), \
    written AS ( \
        INSERT INTO ledger_entries (id, tenant_id, kind, amount_micro, balance_after_micro, \
            reference, idempotency_key, metric_code, operation_type, quantity, created_at) \
        SELECT n.id, $1, 'consume', -n.cost, m.before - n.upto, NULL, n.key, n.metric, n.op, \
            n.qty, n.at FROM new n CROSS JOIN moved m \
        RETURNING 1) \
    SELECT r.ord, (m.before - n.upto)::bigint AS after, m.held_micro AS held, \
        p.id AS p_id, p.kind AS p_kind, p.amount_micro AS p_amount, \
        p.balance_after_micro AS p_after, p.reference AS p_reference, \
        p.metric_code AS p_metric, p.operation_type AS p_operation, p.quantity AS p_quantity, \
        p.created_at AS p_created, w.balance_micro AS wallet_balance, \
        w.held_micro AS wallet_held, (SELECT count(*) FROM written) AS written \
    FROM req r \
    LEFT JOIN new n ON n.ord = r.ord \
    LEFT JOIN moved m ON n.ord IS NOT NULL \
    LEFT JOIN prior p ON p.ord = r.ord \
    LEFT JOIN wallets w ON w.tenant_id = $1 AND p.ord IS NOT NULL \
    ORDER BY r.ord";
