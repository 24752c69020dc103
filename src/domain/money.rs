use std::fmt;

use super::ParseError;

/// ISO 4217 currencies we accept, with their minor-unit exponent and symbol.
const CURRENCIES: &[(&str, u8, &str)] = &[
    ("BRL", 2, "R$"),
    ("USD", 2, "US$"),
    ("EUR", 2, "€"),
    ("GBP", 2, "£"),
    ("CAD", 2, "CA$"),
    ("AUD", 2, "A$"),
    ("CHF", 2, "CHF"),
    ("MXN", 2, "MX$"),
    ("ARS", 2, "ARS"),
    ("COP", 2, "COP"),
    ("CLP", 0, "CLP"),
    ("JPY", 0, "¥"),
    ("INR", 2, "₹"),
    ("CNY", 2, "CN¥"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Currency(&'static str);

impl Currency {
    pub const BRL: Currency = Currency("BRL");

    pub fn parse(field: &str, raw: &str) -> Result<Self, ParseError> {
        let upper = raw.trim().to_ascii_uppercase();
        CURRENCIES
            .iter()
            .find(|(code, _, _)| *code == upper)
            .map(|(code, _, _)| Currency(code))
            .ok_or_else(|| ParseError::new(field, format!("unknown currency '{raw}'")))
    }

    pub fn code(self) -> &'static str {
        self.0
    }

    fn info(self) -> (u8, &'static str) {
        CURRENCIES
            .iter()
            .find(|(code, _, _)| *code == self.0)
            .map(|(_, exp, sym)| (*exp, *sym))
            .unwrap_or((2, self.0))
    }

    pub fn exponent(self) -> u8 {
        self.info().0
    }
}

/// Serialized as its code (cached values carry it); an unknown code does not deserialize.
impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Currency::parse("currency", &code).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// An amount in the currency's minor unit (centavos for BRL). Never a float.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount_minor: i64, currency: Currency) -> Self {
        Self {
            amount_minor,
            currency,
        }
    }

    /// A price: zero or more, and small enough that sums of many of them stay exact in i64.
    pub fn price(field: &str, amount_minor: i64, currency: Currency) -> Result<Self, ParseError> {
        const MAX: i64 = 1_000_000_000_000_000; // 10^15 minor units
        if amount_minor < 0 {
            return Err(ParseError::new(field, "must not be negative"));
        }
        if amount_minor > MAX {
            return Err(ParseError::new(field, format!("must be at most {MAX}")));
        }
        Ok(Self::new(amount_minor, currency))
    }

    /// Formats for a locale: `R$ 1.234,56` for pt-BR, `R$1,234.56` for English locales.
    pub fn format(&self, locale: &str) -> String {
        let (exp, symbol) = self.currency.info();
        let comma_decimal = !locale.starts_with("en") && !locale.starts_with("ja");
        let (group, decimal, sep) = if comma_decimal {
            ('.', ',', " ")
        } else {
            (',', '.', "")
        };
        let abs = self.amount_minor.unsigned_abs();
        let scale = 10u64.pow(u32::from(exp));
        let (units, frac) = (abs / scale, abs % scale);
        let digits = units.to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(group);
            }
            grouped.push(ch);
        }
        let sign = if self.amount_minor < 0 { "-" } else { "" };
        if exp == 0 {
            format!("{sign}{symbol}{sep}{grouped}")
        } else {
            let width = usize::from(exp);
            format!("{sign}{symbol}{sep}{grouped}{decimal}{frac:0width$}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brl_is_formatted_the_brazilian_way() {
        let m = Money::new(123_456, Currency::BRL);
        assert_eq!(m.format("pt-BR"), "R$ 1.234,56");
        assert_eq!(
            Money::new(40_000, Currency::BRL).format("pt-BR"),
            "R$ 400,00"
        );
        assert_eq!(Money::new(5, Currency::BRL).format("pt-BR"), "R$ 0,05");
        assert_eq!(Money::new(-100, Currency::BRL).format("pt-BR"), "-R$ 1,00");
    }

    #[test]
    fn english_locales_use_a_decimal_point() {
        let usd = Currency::parse("c", "usd").expect("USD is known");
        assert_eq!(
            Money::new(123_456_789, usd).format("en-US"),
            "US$1,234,567.89"
        );
        let jpy = Currency::parse("c", "JPY").expect("JPY is known");
        assert_eq!(Money::new(1500, jpy).format("en-US"), "¥1,500");
    }

    #[test]
    fn unknown_currencies_and_negative_prices_are_rejected() {
        assert!(Currency::parse("currency", "XXX").is_err());
        assert!(Currency::parse("currency", "").is_err());
        assert!(Money::price("price", -1, Currency::BRL).is_err());
        assert!(Money::price("price", i64::MAX, Currency::BRL).is_err());
        assert!(Money::price("price", 0, Currency::BRL).is_ok());
    }
}
