use super::ParseError;

macro_rules! string_type {
    ($name:ident) => {
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_type!(Name);
string_type!(Slug);
string_type!(Email);
string_type!(Code);
string_type!(CouponCode);
string_type!(Locale);
string_type!(Password);

impl Name {
    /// Trimmed, 1 to `max` characters, no control characters.
    pub fn parse(field: &str, raw: &str, max: usize) -> Result<Self, ParseError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(ParseError::new(field, "must not be empty"));
        }
        if s.chars().count() > max {
            return Err(ParseError::new(
                field,
                format!("must be at most {max} characters"),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(ParseError::new(
                field,
                "must not contain control characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

impl Slug {
    /// 3 to 63 of `a-z`, `0-9` and single inner hyphens, as in a DNS label.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ParseError> {
        let ok = (3..=63).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-')
            && !raw.contains("--");
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ParseError::new(
                field,
                "must be 3-63 lowercase letters, digits or single hyphens, not at the ends",
            ))
        }
    }
}

impl Email {
    /// A plausible address, stored lowercase; delivery proves the rest.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim().to_lowercase();
        let valid = s.len() <= 254
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && match s.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && local.len() <= 64
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if valid {
            Ok(Self(s))
        } else {
            Err(ParseError::new(field, "must be a valid email address"))
        }
    }
}

impl Code {
    /// A catalog code such as `tokens` or `starter`: 1 to 64 of `a-z`, `0-9`, `_`, `-`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ParseError> {
        let ok = (1..=64).contains(&raw.len())
            && raw.as_bytes()[0].is_ascii_alphanumeric()
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ParseError::new(
                field,
                "must be 1-64 lowercase letters, digits, '_' or '-', starting with a letter or digit",
            ))
        }
    }
}

impl CouponCode {
    /// Case-insensitive on input, stored uppercase: 3 to 32 of `A-Z`, `0-9`, `_`, `-`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim().to_ascii_uppercase();
        let ok = (3..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(s))
        } else {
            Err(ParseError::new(
                field,
                "must be 3-32 letters, digits, '_' or '-'",
            ))
        }
    }
}

impl Locale {
    /// A language tag such as `pt-BR`, `en-US` or `es`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ParseError> {
        let (lang, region) = raw.split_once('-').unwrap_or((raw, ""));
        let ok = lang.len() == 2
            && lang.bytes().all(|b| b.is_ascii_lowercase())
            && (region.is_empty()
                || (region.len() == 2 && region.bytes().all(|b| b.is_ascii_uppercase())))
            && !(raw.contains('-') && region.is_empty());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ParseError::new(
                field,
                "must be a language tag such as pt-BR",
            ))
        }
    }
}

impl Password {
    pub const MIN: usize = 8;
    pub const MAX: usize = 256;

    pub fn parse(field: &str, raw: &str) -> Result<Self, ParseError> {
        let n = raw.chars().count();
        if (Self::MIN..=Self::MAX).contains(&n) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ParseError::new(
                field,
                format!("must be {} to {} characters", Self::MIN, Self::MAX),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            Name::parse("name", "  Acme  ", 10).map(Name::into_inner),
            Ok("Acme".into())
        );
        assert!(Name::parse("name", "   ", 10).is_err());
        assert!(Name::parse("name", &"x".repeat(11), 10).is_err());
        assert!(Name::parse("name", "a\u{0}b", 10).is_err());
        assert!(Name::parse("name", "São Paulo Ltda", 200).is_ok());
    }

    #[test]
    fn slugs_look_like_dns_labels() {
        assert!(Slug::parse("slug", "acme-corp").is_ok());
        for bad in [
            "ab",
            "Acme",
            "-acme",
            "acme-",
            "ac--me",
            "acme corp",
            "açme",
        ] {
            assert!(Slug::parse("slug", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(
            Email::parse("email", " Ana@Example.COM ").map(Email::into_inner),
            Ok("ana@example.com".into())
        );
        for bad in ["ana", "ana@", "@x.com", "ana@x", "a b@x.com", "a@b@c.com"] {
            assert!(Email::parse("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn codes_locales_and_coupons_have_fixed_shapes() {
        assert!(Code::parse("code", "api_calls").is_ok());
        assert!(Code::parse("code", "Tokens").is_err());
        assert!(Code::parse("code", "").is_err());
        assert_eq!(
            CouponCode::parse("code", "welcome20").map(CouponCode::into_inner),
            Ok("WELCOME20".into())
        );
        assert!(CouponCode::parse("code", "w!").is_err());
        assert!(Locale::parse("locale", "pt-BR").is_ok());
        assert!(Locale::parse("locale", "en").is_ok());
        assert!(Locale::parse("locale", "pt-br").is_err());
        assert!(Locale::parse("locale", "pt-").is_err());
    }
}
