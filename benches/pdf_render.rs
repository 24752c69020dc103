//! PDF renders per second for a 10-line and a 200-line invoice: the layout and serialisation
//! only (`documents::render_pdf`), in-process, on one thread. Printed, never asserted.
//! Run: `cargo bench --bench pdf_render`.
use std::time::{Duration, Instant};

use billing::documents::format::{self, Lang};
use billing::documents::render::{Document, Party, Row, Stamp, Tone};
use billing::documents::{i18n, render_pdf};
use billing::domain::{Currency, Money};

/// An invoice of `lines` lines as the service would hand it to the layout, in pt-BR.
fn invoice(lines: usize) -> Document {
    let lang = Lang::PtBr;
    let l = i18n::labels(lang);
    let brl = |minor: i64| format::money(Money::new(minor, Currency::BRL), lang);
    let rows: Vec<Row> = (1..=lines as i64)
        .map(|i| Row {
            description: format!("Chamadas de API — lote {i:03}"),
            quantity: format::quantity(i * 1_000, lang),
            unit_price: brl(2),
            amount: brl(i * 2_000),
        })
        .collect();
    let subtotal: i64 = (1..=lines as i64).map(|i| i * 2_000).sum();
    let party = |heading: &str, name: &str| Party {
        heading: heading.to_owned(),
        lines: vec![
            name.to_owned(),
            "CNPJ/CPF: 00.000.000/0001-00".to_owned(),
            "Av. Paulista, 1000 - São Paulo - SP".to_owned(),
            "billing@example.com".to_owned(),
        ],
    };
    Document {
        key: format!("invoice:bench-{lines}"),
        title: l.invoice.to_owned(),
        number: "2026-000001".to_owned(),
        number_label: l.number.to_owned(),
        stamp: Some(Stamp {
            text: l.paid.to_owned(),
            tone: Tone::Good,
        }),
        from: party(l.from, "Billing Platform Ltda."),
        to: party(l.bill_to, "Acme Ltda."),
        facts: vec![
            (l.issued.to_owned(), "01/03/2026".to_owned()),
            (l.due.to_owned(), "08/03/2026".to_owned()),
            (l.period.to_owned(), "01/02/2026 – 28/02/2026".to_owned()),
        ],
        columns: [l.description, l.quantity, l.unit_price, l.amount].map(str::to_owned),
        rows,
        totals: vec![
            (l.subtotal.to_owned(), brl(subtotal)),
            (l.total.to_owned(), brl(subtotal)),
            (l.amount_paid.to_owned(), brl(subtotal)),
            (l.amount_due.to_owned(), brl(0)),
        ],
        page_words: (l.page.to_owned(), l.of.to_owned()),
    }
}

fn bench(lines: usize, budget: Duration) {
    let doc = invoice(lines);
    let size = render_pdf(&doc).expect("render").len();
    let started = Instant::now();
    let mut renders = 0u32;
    let mut latencies = Vec::new();
    while started.elapsed() < budget {
        let t = Instant::now();
        std::hint::black_box(render_pdf(std::hint::black_box(&doc)).expect("render"));
        latencies.push(t.elapsed());
        renders += 1;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    println!(
        "render {lines:>3}-line invoice   {:>8.0} renders/s   p50 {:>7.3} ms   p99 {:>7.3} ms   ({renders} renders, {size} bytes)",
        f64::from(renders) / elapsed.as_secs_f64(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
    );
}

fn main() {
    bench(10, Duration::from_secs(3));
    bench(200, Duration::from_secs(3));
}
