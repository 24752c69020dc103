use std::fmt;

use super::ParseError;

/// A credit amount held exactly as integer micro-credits (1 credit = 1,000,000).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Credits(pub i64);

impl Credits {
    pub const MICRO_PER_CREDIT: i64 = 1_000_000;
    /// Large enough for any wallet, small enough that sums stay inside i64.
    const MAX_MICRO: i64 = 1_000_000_000_000_000_000 / 1000;

    pub fn micro(self) -> i64 {
        self.0
    }

    /// Parses a non-negative decimal such as `"2"` or `"0.25"`, exact to the micro-credit.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ParseError> {
        let invalid = || {
            ParseError::new(
                field,
                "must be a non-negative decimal with at most 6 fractional digits",
            )
        };
        let raw = raw.trim();
        let (int, frac) = raw.split_once('.').unwrap_or((raw, ""));
        if int.is_empty()
            || int.len() > 13
            || frac.len() > 6
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || (raw.contains('.') && frac.is_empty())
        {
            return Err(invalid());
        }
        let int: i64 = int.parse().map_err(|_| invalid())?;
        let frac_micro: i64 = format!("{frac:0<6}").parse().map_err(|_| invalid())?;
        let micro = int
            .checked_mul(Self::MICRO_PER_CREDIT)
            .and_then(|v| v.checked_add(frac_micro))
            .filter(|v| *v <= Self::MAX_MICRO)
            .ok_or_else(invalid)?;
        Ok(Credits(micro))
    }
}

impl fmt::Display for Credits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let micro = Self::MICRO_PER_CREDIT.unsigned_abs();
        let (int, frac) = (abs / micro, abs % micro);
        if frac == 0 {
            write!(f, "{sign}{int}")
        } else {
            let frac = format!("{frac:06}");
            write!(f, "{sign}{int}.{}", frac.trim_end_matches('0'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_credits_are_exact_micro_credits() {
        assert_eq!(Credits::parse("c", "2"), Ok(Credits(2_000_000)));
        assert_eq!(Credits::parse("c", "0.25"), Ok(Credits(250_000)));
        assert_eq!(Credits::parse("c", "0.000001"), Ok(Credits(1)));
        assert_eq!(Credits(250_000).to_string(), "0.25");
        assert_eq!(Credits(2_000_000).to_string(), "2");
        assert_eq!(Credits(-1_500_000).to_string(), "-1.5");
    }

    #[test]
    fn malformed_or_negative_credits_are_rejected() {
        for bad in [
            "-1",
            "1.",
            ".5",
            "1.0000001",
            "abc",
            "",
            "1e3",
            "99999999999999",
        ] {
            assert!(
                Credits::parse("c", bad).is_err(),
                "{bad} should be rejected"
            );
        }
    }
}
