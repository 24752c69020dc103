//! What the clients of a throughput benchmark saw, one table row per phase, and the summary
//! of each scenario against its two baselines: the plain SQL the API runs, and the best SQL
//! (one statement per request).
use std::time::Duration;

use super::Path;

/// Which answers a phase expects: new work (first attempts) or replays of it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    First,
    Replay,
}

impl Attempt {
    pub fn label(self) -> &'static str {
        match self {
            Attempt::First => "first",
            Attempt::Replay => "replay",
        }
    }
}

/// What one client saw in one phase.
#[derive(Default)]
pub struct Outcome {
    pub latencies: Vec<Duration>,
    /// Units (spends, pairs, events) that did new work: credits moved, events stored.
    pub charged: i64,
    /// Units answered as a replay or a duplicate: nothing written.
    pub replayed: i64,
    /// Units refused (insufficient, rejected events).
    pub refused: i64,
    /// Requests (API) or transactions (SQL) that failed as a whole.
    pub failures: i64,
    /// API answers whose HTTP status was 5xx.
    pub server_errors: i64,
    /// Block charges and immediate invoices the API reported (usage).
    pub blocks: i64,
    pub invoices: i64,
    /// The first few distinct failure messages.
    pub messages: Vec<String>,
}

impl Outcome {
    pub fn with_capacity(requests: usize) -> Outcome {
        Outcome {
            latencies: Vec::with_capacity(requests),
            ..Outcome::default()
        }
    }

    pub fn fail(&mut self, message: String) {
        self.failures += 1;
        if self.messages.len() < 5 && !self.messages.contains(&message) {
            self.messages.push(message);
        }
    }

    pub fn merge(&mut self, other: &Outcome) {
        self.latencies.extend_from_slice(&other.latencies);
        self.charged += other.charged;
        self.replayed += other.replayed;
        self.refused += other.refused;
        self.failures += other.failures;
        self.server_errors += other.server_errors;
        self.blocks += other.blocks;
        self.invoices += other.invoices;
        for m in &other.messages {
            if self.messages.len() < 8 && !self.messages.contains(m) {
                self.messages.push(m.clone());
            }
        }
    }
}

/// The latency at `per_mille` (500 = p50, 999 = p99.9) of sorted latencies.
pub fn permille(sorted: &[Duration], per_mille: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * per_mille / 1000).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One phase's figures.
#[derive(Clone, Copy, Default)]
pub struct Figures {
    /// Units per second: new work in a first attempt, replays in a replay.
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub p999: Duration,
}

/// The header of the phase rows; `unit` names what is counted (spends, pairs, events).
pub fn print_header(unit: &str) {
    println!(
        "{:<32} {:<9} {:>8} {:>8} {:>6} {:>9} {:>7} {:>7} {:>7} {:>8} {:>6} {:>4} {:>6}",
        "scenario",
        "path",
        unit,
        "requests",
        "s",
        &format!("{unit}/s"),
        "req/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "failed",
        "5xx",
        "other",
    );
}

/// Prints the row of one phase; returns its figures. In a first attempt the units counted
/// are new work and "other" the replays and refusals; in a replay, the reverse.
pub fn print_row(
    scenario: &str,
    path: Path,
    attempt: Attempt,
    elapsed: Duration,
    outcomes: &[Outcome],
) -> Figures {
    let mut all = Outcome::default();
    for o in outcomes {
        all.merge(o);
    }
    all.latencies.sort();
    let secs = elapsed.as_secs_f64();
    let (units, other) = match attempt {
        Attempt::First => (all.charged, all.replayed + all.refused),
        Attempt::Replay => (all.replayed, all.charged + all.refused),
    };
    let figures = Figures {
        per_second: units as f64 / secs,
        p50: permille(&all.latencies, 500),
        p99: permille(&all.latencies, 990),
        p999: permille(&all.latencies, 999),
    };
    let server_errors = match path {
        Path::Api => all.server_errors.to_string(),
        _ => "-".to_owned(),
    };
    println!(
        "{scenario:<32} {:<9} {units:>8} {:>8} {secs:>6.1} {:>9.0} {:>7.0} {:>7.2} {:>7.2} {:>8.2} {:>6} {server_errors:>4} {other:>6}",
        path.label(),
        all.latencies.len(),
        figures.per_second,
        all.latencies.len() as f64 / secs,
        ms(figures.p50),
        ms(figures.p99),
        ms(figures.p999),
        all.failures,
    );
    for m in &all.messages {
        println!("    ! {m}");
    }
    figures
}

/// One scenario's API figures next to its two baselines from the same run.
pub struct SummaryRow {
    pub scenario: String,
    pub api: Figures,
    pub plain: Figures,
    pub best: Figures,
}

/// Prints the table of API figures and their ratios to both baselines.
pub fn print_summary(unit: &str, rows: &[SummaryRow]) {
    println!();
    println!(
        "{:<32} {:>10} {:>22} {:>10} {:>10} {:>9} {:>9}",
        "scenario",
        &format!("API {unit}/s"),
        "API p50/p99/p99.9 ms",
        "plain SQL",
        "best SQL",
        "API/plain",
        "API/best",
    );
    for r in rows {
        let latencies = format!(
            "{:.1} / {:.1} / {:.1}",
            ms(r.api.p50),
            ms(r.api.p99),
            ms(r.api.p999)
        );
        println!(
            "{:<32} {:>10.0} {latencies:>22} {:>10.0} {:>10.0} {:>9.3} {:>9.3}",
            r.scenario,
            r.api.per_second,
            r.plain.per_second,
            r.best.per_second,
            r.api.per_second / r.plain.per_second,
            r.api.per_second / r.best.per_second,
        );
    }
}

/// Prints the exactness check's result; with problems, the process exits non-zero after
/// `keep` says where the data was left.
pub fn conclude(ok_message: &str, problems: &[String], keep: &str) {
    if problems.is_empty() {
        println!("{ok_message}");
        return;
    }
    println!("EXACTNESS CHECK FAILED ({} problems):", problems.len());
    for p in problems {
        println!("  {p}");
    }
    println!("{keep}");
    std::process::exit(1);
}
