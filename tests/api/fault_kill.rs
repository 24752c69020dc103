//! `kill -9` of the server process under mixed load: the `billing` binary, started as a
//! child process on the test's database, serves usage batches, credit spends and holds from
//! several clients; it is killed with SIGKILL mid-load, started again, and every request is
//! sent again. Whatever was acknowledged exists exactly once, and usage, blocks and ledger
//! agree with what was sent.
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::helpers::*;

const START: &str = "2026-03-01T00:00:00Z";
/// How long the load runs before the kill.
const LOAD_FOR: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_kill_9_under_mixed_load_then_resend_acknowledged_exist_exactly_once() {
    let began = Instant::now();
    // The harness prepares the database (catalog, customers, credits) and checks it after;
    // the server under test is the binary.
    let harness = spawn_app_at(START).await;
    let customers = Arc::new(harness.load_customers(2).await);

    let server = ServerProcess::start(&harness.state.config).await;
    let app = Arc::new(server.app(&harness));
    let load = Load::start(app.clone(), customers.clone(), 8, "kill");
    tokio::time::sleep(LOAD_FOR).await;
    load.until_each_kind_acknowledged(Duration::from_secs(30))
        .await;
    server.kill();
    let mut sent = load.stop().await;
    eprintln!("before the kill on {}: {}", backend(), load_tally(&sent));
    assert_each_kind_acknowledged(&sent, "before the kill");
    assert!(
        sent.iter()
            .any(|s| matches!(s.failure, Some(Failure::Transport(_)))),
        "no request failed: the server was not killed under load"
    );

    let restarted = ServerProcess::start(&harness.state.config).await;
    let app = restarted.app(&harness);
    let resent = resend_all(&app, &customers, &mut sent).await;
    eprintln!("resent after the restart: {resent}");
    charge_deferred(&app).await;
    assert_money_invariants(&app, &customers, &sent).await;
    eprintln!(
        "kill -9 on {}: {} requests, {:?} in all",
        backend(),
        sent.len(),
        began.elapsed()
    );
}
