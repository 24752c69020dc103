//! Scalars and shared output types: `BigInt`, `Money`, cursors and connections.
use async_graphql::connection::{Connection, Edge};
use async_graphql::{
    Context, InputValueError, InputValueResult, Object, OutputType, Scalar, ScalarType, Value,
};
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::{CtxExt, GqlResult};
use crate::accounts;
use crate::domain::{Money, Page, PageRequest, ParseError, Tenant};

/// A 64-bit integer, written as a JSON string and read from a string or an integer. A string
/// must be canonical decimal: an optional `-`, then digits without a leading zero (`"0"` is
/// fine; `"042"`, `"+42"`, `" 42"` and `"-0"` are not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BigInt(pub i64);

/// Reads a canonical decimal 64-bit integer, or says what is wrong with the text.
fn parse_canonical(s: &str) -> Result<i64, &'static str> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if s.is_empty() {
        return Err("BigInt must not be empty");
    }
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(
            "BigInt must be canonical decimal: an optional '-' then digits, with no spaces, '+', fraction or exponent",
        );
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return Err("BigInt must not have a leading zero");
    }
    if s == "-0" {
        return Err("BigInt must not be negative zero; write \"0\"");
    }
    s.parse::<i64>()
        .map_err(|_| "BigInt must be within 64 bits (-9223372036854775808 to 9223372036854775807)")
}

#[Scalar(name = "BigInt")]
impl ScalarType for BigInt {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => parse_canonical(s)
                .map(BigInt)
                .map_err(InputValueError::custom),
            Value::Number(n) => n
                .as_i64()
                .map(BigInt)
                .ok_or_else(|| InputValueError::custom("BigInt must be an integer within 64 bits")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// The caller's tenant, read at most once per request, when a resolver first needs it (a
/// money amount's locale, `me { tenant }`).
#[derive(Default)]
pub struct RequestTenant(OnceCell<Option<Tenant>>);

/// The caller's tenant: `None` for operators and for a tenant that no longer exists.
pub(crate) async fn caller_tenant<'a>(
    ctx: &Context<'a>,
) -> async_graphql::Result<Option<&'a Tenant>> {
    let Some(cell) = ctx.data_opt::<RequestTenant>() else {
        return Ok(None);
    };
    let tenant = cell
        .0
        .get_or_try_init(|| async {
            match ctx.actor() {
                Ok(actor) => accounts::tenants::of_caller(ctx.state()?, actor)
                    .await
                    .gql(),
                Err(_) => Ok(None),
            }
        })
        .await?;
    Ok(tenant.as_ref())
}

pub struct MoneyOut(pub Money);

#[Object(name = "Money")]
impl MoneyOut {
    /// Amount in the currency's minor unit (centavos for BRL).
    async fn amount_minor(&self) -> BigInt {
        BigInt(self.0.amount_minor)
    }

    /// ISO 4217 code.
    async fn currency(&self) -> &str {
        self.0.currency.code()
    }

    /// Formatted for the caller's locale, e.g. `R$ 1.234,56` for pt-BR.
    async fn formatted(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        let locale = caller_tenant(ctx)
            .await?
            .map_or("pt-BR", |t| t.locale.as_str());
        Ok(self.0.format(locale))
    }
}

/// Reads a cursor, which is the public id of the last item seen.
pub fn parse_cursor(after: Option<&str>) -> Result<Option<Uuid>, ParseError> {
    let Some(raw) = after else { return Ok(None) };
    let bad = || ParseError::new("after", "not a cursor from this API");
    let (_, hex) = raw.split_once('_').ok_or_else(bad)?;
    if hex.len() != 32 {
        return Err(bad());
    }
    Uuid::try_parse(hex).map(Some).map_err(|_| bad())
}

/// An optional `idempotencyKey`: 1 to 128 of `A-Z a-z 0-9 _ . : -`.
pub fn opt_idempotency_key(raw: Option<&str>) -> Result<Option<String>, ParseError> {
    raw.map(|k| crate::domain::parse_idempotency_key("idempotencyKey", k))
        .transpose()
}

pub fn page_request(first: Option<i32>, after: Option<String>) -> Result<PageRequest, ParseError> {
    PageRequest::parse(first, parse_cursor(after.as_deref())?)
}

/// Builds a forward connection whose cursors are the items' public ids.
pub fn connection<T, N: OutputType>(
    page: Page<T>,
    cursor: impl Fn(&T) -> String,
    node: impl Fn(T) -> N,
) -> Connection<String, N> {
    let mut conn = Connection::new(false, page.has_next);
    conn.edges.extend(
        page.items
            .into_iter()
            .map(|item| Edge::new(cursor(&item), node(item))),
    );
    conn
}

#[cfg(test)]
mod tests {
    use super::parse_canonical;

    #[test]
    fn only_canonical_decimal_is_a_big_int() {
        for (text, n) in [
            ("0", 0),
            ("42", 42),
            ("-42", -42),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
        ] {
            assert_eq!(parse_canonical(text), Ok(n), "{text}");
        }
        for (text, problem) in [
            ("", "empty"),
            (" 42", "canonical"),
            ("42 ", "canonical"),
            ("+42", "canonical"),
            ("-", "canonical"),
            ("--1", "canonical"),
            ("042", "leading zero"),
            ("-042", "leading zero"),
            ("00", "leading zero"),
            ("-0", "negative zero"),
            ("1e3", "canonical"),
            ("4.0", "canonical"),
            ("\u{0664}\u{0662}", "canonical"),
            ("9223372036854775808", "64 bits"),
            ("-9223372036854775809", "64 bits"),
        ] {
            let err = parse_canonical(text).expect_err(text);
            assert!(err.contains(problem), "{text:?}: {err}");
        }
    }
}
