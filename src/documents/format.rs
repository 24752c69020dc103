//! Money, dates and quantities as a document shows them, per language. Pure.
//!
//! Money is [`Money::format`], the same text the API's `Money.formatted` gives (`R$ 1.234,56`
//! in pt-BR, `R$1,234.56` in English; each currency keeps its own symbol), so a PDF and the
//! SPA never disagree. The built-in PDF fonts speak WinAnsi only, so a symbol outside it (`₹`)
//! is written as the ISO code instead (`INR 1,234.56`).
use chrono::{DateTime, Datelike, Utc};

use crate::domain::Money;

/// The language of a document: `pt-BR` for a tenant whose locale starts with `pt`, English
/// for everything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    PtBr,
    En,
}

impl Lang {
    pub fn of_locale(locale: &str) -> Lang {
        if locale.trim().to_ascii_lowercase().starts_with("pt") {
            Lang::PtBr
        } else {
            Lang::En
        }
    }

    /// The locale [`Money::format`] takes.
    fn money_locale(self) -> &'static str {
        match self {
            Lang::PtBr => "pt-BR",
            Lang::En => "en",
        }
    }
}

/// `R$ 1.234,56` (pt-BR) or `R$1,234.56` (en), from integer minor units.
pub fn money(amount: Money, lang: Lang) -> String {
    let text = amount.format(lang.money_locale());
    if text.chars().all(winansi) {
        return text;
    }
    // Keep the sign and digits; put the ISO code where the symbol was.
    let digits: String = text.chars().skip_while(|c| !c.is_ascii_digit()).collect();
    let sign = if amount.amount_minor < 0 { "-" } else { "" };
    format!("{sign}{} {digits}", amount.currency.code())
}

/// `31/01/2026` (pt-BR) or `Jan 31, 2026` (en). Dates are UTC days, like the billing clock.
pub fn date(at: DateTime<Utc>, lang: Lang) -> String {
    match lang {
        Lang::PtBr => at.format("%d/%m/%Y").to_string(),
        Lang::En => {
            const MONTHS: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            let month = MONTHS[at.month0() as usize];
            format!("{month} {}, {}", at.day(), at.year())
        }
    }
}

/// A billing period, `01/01/2026 – 31/01/2026`; a period of one instant is one date.
pub fn period(start: DateTime<Utc>, end: DateTime<Utc>, lang: Lang) -> String {
    let (a, b) = (date(start, lang), date(end, lang));
    if a == b { a } else { format!("{a} – {b}") }
}

/// A whole quantity with the language's digit grouping: `1.000` or `1,000`.
pub fn quantity(n: i64, lang: Lang) -> String {
    let digits = n.unsigned_abs().to_string();
    let group = match lang {
        Lang::PtBr => '.',
        Lang::En => ',',
    };
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(group);
        }
        out.push(ch);
    }
    out
}

/// Whether the built-in PDF fonts (WinAnsi, about Latin-1) can show `c`.
pub fn winansi(c: char) -> bool {
    matches!(c, ' '..='~' | '\u{a0}'..='\u{ff}') || "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ".contains(c)
}

/// `text` with every character the built-in fonts cannot show replaced by `?`.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if winansi(c) { c } else { '?' })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::Currency;

    fn brl(minor: i64) -> Money {
        Money::new(minor, Currency::BRL)
    }

    #[test]
    fn money_in_pt_br_groups_with_dots_and_a_decimal_comma() {
        assert_eq!(money(brl(123_456), Lang::PtBr), "R$ 1.234,56");
        assert_eq!(money(brl(5), Lang::PtBr), "R$ 0,05");
        assert_eq!(money(brl(-123_456), Lang::PtBr), "-R$ 1.234,56");
    }

    #[test]
    fn money_in_english_groups_with_commas() {
        assert_eq!(money(brl(123_456), Lang::En), "R$1,234.56");
        let usd = Currency::parse("c", "USD").expect("test value");
        assert_eq!(
            money(Money::new(100_000_000, usd), Lang::En),
            "US$1,000,000.00"
        );
    }

    #[test]
    fn a_symbol_outside_winansi_becomes_the_currency_code() {
        let inr = Currency::parse("c", "INR").expect("test value");
        assert_eq!(money(Money::new(123_456, inr), Lang::En), "INR 1,234.56");
        assert_eq!(
            money(Money::new(-123_456, inr), Lang::PtBr),
            "-INR 1.234,56"
        );
        let eur = Currency::parse("c", "EUR").expect("test value");
        assert_eq!(money(Money::new(123_456, eur), Lang::En), "€1,234.56");
    }

    #[test]
    fn dates_per_language() {
        let at = Utc
            .with_ymd_and_hms(2026, 1, 31, 23, 59, 0)
            .single()
            .expect("a valid date");
        assert_eq!(date(at, Lang::PtBr), "31/01/2026");
        assert_eq!(date(at, Lang::En), "Jan 31, 2026");
        let from = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("a valid date");
        assert_eq!(period(from, at, Lang::PtBr), "01/01/2026 – 31/01/2026");
        assert_eq!(period(at, at, Lang::En), "Jan 31, 2026");
    }

    #[test]
    fn quantities_are_grouped() {
        assert_eq!(quantity(1_234_567, Lang::PtBr), "1.234.567");
        assert_eq!(quantity(1_234_567, Lang::En), "1,234,567");
        assert_eq!(quantity(12, Lang::En), "12");
        assert_eq!(quantity(-1000, Lang::En), "-1,000");
    }

    #[test]
    fn locales_pick_a_language() {
        assert_eq!(Lang::of_locale("pt-BR"), Lang::PtBr);
        assert_eq!(Lang::of_locale("pt"), Lang::PtBr);
        assert_eq!(Lang::of_locale("en-US"), Lang::En);
        assert_eq!(Lang::of_locale("es"), Lang::En);
    }

    #[test]
    fn text_outside_winansi_is_replaced() {
        assert_eq!(printable("Descrição ₹ 日"), "Descrição ? ?");
    }
}
