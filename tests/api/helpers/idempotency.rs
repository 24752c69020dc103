//! Checks shared by the idempotency tests: a key reused for another request, and the same
//! request sent many times at once.
use std::future::Future;

use futures::future::join_all;
use serde_json::json;

use super::{Gql, TestApp};

/// How many copies the concurrent replays send at once.
pub const AT_ONCE: usize = 8;

/// Asserts `CONFLICT` with `extensions.reason = IDEMPOTENCY_KEY_REUSED`.
pub fn assert_key_reused(r: &Gql, what: &str) {
    let error = r.expect_code("CONFLICT");
    assert_eq!(
        error["extensions"]["reason"], "IDEMPOTENCY_KEY_REUSED",
        "{what}: {}",
        r.body
    );
}

/// Runs `n` copies of one request at once and returns every answer.
pub async fn at_once<F, Fut>(n: usize, call: F) -> Vec<Gql>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Gql>,
{
    join_all((0..n).map(|_| call())).await
}

impl TestApp {
    /// Every ledger entry id of `tenant`, newest or oldest first as the API lists them.
    pub async fn ledger_ids(&self, tenant: &str) -> Vec<String> {
        let r = self
            .as_admin(
                "query($t: ID) { wallet(tenantId: $t) { ledger(first: 100) { edges { node { id } } } } }",
                json!({ "t": tenant }),
            )
            .await;
        r.data()["wallet"]["ledger"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
            .collect()
    }

    /// (balance, held) of `tenant`'s wallet.
    pub async fn balance(&self, tenant: &str) -> (String, String) {
        let r = self
            .as_admin(
                "query($t: ID) { wallet(tenantId: $t) { balance held } }",
                json!({ "t": tenant }),
            )
            .await;
        let w = &r.data()["wallet"];
        (
            w["balance"].as_str().expect("balance").to_owned(),
            w["held"].as_str().expect("held").to_owned(),
        )
    }
}
