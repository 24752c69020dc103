//! What one request may cost, checked as early as each check can be made: the query text's
//! size and token count before it is parsed, aliases and root fields right after parsing, the
//! cost of its fields at validation, and each tenant's budget of cost per second before it
//! runs. A hostile query is refused before it costs more than reading it.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, ValidationResult, Variables};

use super::Credential;
use crate::auth::Actor;
use crate::config::Config;
use crate::domain::PageRequest;

/// Extra cost of a resolver that aggregates over a tenant's data (usage, statistics).
pub const HEAVY: usize = 50;

/// A list's cost: its page size times what each item costs.
pub fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    // An out-of-range size is refused by the resolver, naming the field; here it costs the
    // most a page can.
    let first = first
        .unwrap_or(PageRequest::DEFAULT_SIZE)
        .clamp(1, PageRequest::MAX_SIZE);
    usize::try_from(first)
        .unwrap_or(1)
        .saturating_mul(child_complexity.max(1))
}

#[derive(Clone, Copy, Debug)]
pub struct QueryLimits {
    pub max_bytes: usize,
    pub max_tokens: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    /// Cost a tenant may spend per second, and at once.
    pub cost_per_second: u64,
    pub cost_burst: u64,
}

impl QueryLimits {
    pub fn from_config(c: &Config) -> Self {
        Self {
            max_bytes: c.max_query_bytes,
            max_tokens: c.max_query_tokens,
            max_aliases: c.max_query_aliases,
            max_root_fields: c.max_query_root_fields,
            cost_per_second: c.tenant_cost_per_second,
            cost_burst: c.tenant_cost_burst,
        }
    }
}

fn refused(code: &str, limit: &str, message: String) -> ServerError {
    let mut err = ServerError::new(message, None);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", code);
    ext.set("limit", limit);
    err.extensions = Some(ext);
    err
}

/// Tokens of a GraphQL document as the lexer would see them, counted without building
/// anything: names, numbers, strings and punctuators. Whitespace, commas and comments are
/// free. Stops counting once past `stop`.
pub fn count_tokens(query: &str, stop: usize) -> usize {
    let b = query.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < b.len() && n <= stop {
        match b[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' if b[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < b.len() && !b[i..].starts_with(b"\"\"\"") {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 3;
                n += 1;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                n += 1;
            }
            b'.' if b[i..].starts_with(b"...") => {
                i += 3;
                n += 1;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' => {
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.')
                {
                    i += 1;
                }
                n += 1;
            }
            _ => {
                i += 1;
                n += 1;
            }
        }
    }
    n
}

/// Aliased fields anywhere in the document, fragments included.
fn aliases(doc: &ExecutableDocument) -> usize {
    fn walk(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|s| match &s.node {
                Selection::Field(f) => {
                    usize::from(f.node.alias.is_some()) + walk(&f.node.selection_set.node)
                }
                Selection::InlineFragment(f) => walk(&f.node.selection_set.node),
                Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    let operations: usize = doc
        .operations
        .iter()
        .map(|(_, op)| walk(&op.node.selection_set.node))
        .sum();
    let fragments: usize = doc
        .fragments
        .values()
        .map(|f| walk(&f.node.selection_set.node))
        .sum();
    operations + fragments
}

/// The most root fields any one operation selects, through fragments at the root.
fn root_fields(doc: &ExecutableDocument) -> usize {
    fn walk(doc: &ExecutableDocument, set: &SelectionSet, depth: usize) -> usize {
        if depth > 8 {
            return 0;
        }
        set.items
            .iter()
            .map(|s| match &s.node {
                Selection::Field(_) => 1,
                Selection::InlineFragment(f) => walk(doc, &f.node.selection_set.node, depth + 1),
                Selection::FragmentSpread(spread) => doc
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .map_or(0, |f| walk(doc, &f.node.selection_set.node, depth + 1)),
            })
            .sum()
    }
    doc.operations
        .iter()
        .map(|(_, op)| walk(doc, &op.node.selection_set.node, 0))
        .max()
        .unwrap_or(0)
}

/// A token bucket of query cost per tenant, in this process.
#[derive(Default)]
pub struct CostBudget {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl CostBudget {
    /// Takes `cost` from `who`'s bucket, or says how many whole seconds until it could.
    fn take(&self, who: &str, cost: u64, limits: &QueryLimits) -> Result<(), u64> {
        let (rate, burst) = (limits.cost_per_second as f64, limits.cost_burst as f64);
        if rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            buckets.retain(|_, (_, at)| now.duration_since(*at).as_secs() < 60);
        }
        let (level, at) = buckets.entry(who.to_owned()).or_insert((burst, now));
        *level = (*level + now.duration_since(*at).as_secs_f64() * rate).min(burst);
        *at = now;
        let cost = cost as f64;
        if *level >= cost {
            *level -= cost;
            return Ok(());
        }
        Err(((cost - *level) / rate).ceil().max(1.0) as u64)
    }
}

pub struct Limits {
    pub limits: QueryLimits,
    pub budget: Arc<CostBudget>,
}

impl ExtensionFactory for Limits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(LimitsExt {
            limits: self.limits,
            budget: self.budget.clone(),
            reads: AtomicBool::new(false),
        })
    }
}

struct LimitsExt {
    limits: QueryLimits,
    budget: Arc<CostBudget>,
    /// Whether the document holds a query (read) operation; set once parsed.
    reads: AtomicBool,
}

#[async_trait::async_trait]
impl Extension for LimitsExt {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let l = &self.limits;
        if query.len() > l.max_bytes {
            return Err(refused(
                "VALIDATION",
                "BILLING_MAX_QUERY_BYTES",
                format!("the query is larger than {} bytes", l.max_bytes),
            ));
        }
        if count_tokens(query, l.max_tokens) > l.max_tokens {
            return Err(refused(
                "VALIDATION",
                "BILLING_MAX_QUERY_TOKENS",
                format!("the query has more than {} tokens", l.max_tokens),
            ));
        }
        let doc = next.run(ctx, query, variables).await?;
        if aliases(&doc) > l.max_aliases {
            return Err(refused(
                "VALIDATION",
                "BILLING_MAX_QUERY_ALIASES",
                format!("the query has more than {} aliases", l.max_aliases),
            ));
        }
        if root_fields(&doc) > l.max_root_fields {
            return Err(refused(
                "VALIDATION",
                "BILLING_MAX_QUERY_ROOT_FIELDS",
                format!(
                    "an operation selects more than {} root fields",
                    l.max_root_fields
                ),
            ));
        }
        let reads = doc
            .operations
            .iter()
            .any(|(_, op)| op.node.ty == OperationType::Query);
        self.reads.store(reads, Ordering::Relaxed);
        Ok(doc)
    }

    /// Charges the validated cost of reads to the caller's tenant. Mutations are not charged:
    /// they are the money path an AI product calls on every request, bounded by their own
    /// locks and keys, while the costly reads are what one tenant could starve others with.
    /// Operators (the admin console, the operator's service keys) are trusted and not
    /// budgeted; anonymous calls are bounded by the limits above and the sign-in throttle.
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        if !self.reads.load(Ordering::Relaxed) {
            return Ok(result);
        }
        let Some(Credential::Valid(Actor {
            tenant: Some(tenant),
            ..
        })) = ctx.data_opt::<Credential>()
        else {
            return Ok(result);
        };
        let who = tenant.to_string();
        let cost = u64::try_from(result.complexity).unwrap_or(u64::MAX);
        if let Err(wait) = self.budget.take(&who, cost, &self.limits) {
            let mut err = refused(
                "RATE_LIMITED",
                "BILLING_TENANT_COST_PER_SECOND",
                format!("this tenant's query budget is spent; retry in {wait} s"),
            );
            if let Some(ext) = err.extensions.as_mut() {
                ext.set("retryAfterSeconds", wait);
            }
            return Err(vec![err]);
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_counted_as_the_lexer_sees_them() {
        assert_eq!(count_tokens("{ me { role } }", 100), 6);
        assert_eq!(count_tokens("query Q($a: Int = -1) { f(a: $a) }", 100), 19);
        assert_eq!(count_tokens("# comment\n{ a, b }", 100), 4);
        assert_eq!(count_tokens(r#"{ f(s: "a \" b}") }"#, 100), 8);
        assert_eq!(count_tokens("{ ...F } fragment F on Q { a }", 100), 11);
        assert_eq!(count_tokens(&"a ".repeat(1_000_000), 10), 11, "stops early");
    }

    #[test]
    fn aliases_and_root_fields_are_counted_through_fragments() {
        let doc = async_graphql::parser::parse_query(
            "{ a: me { role } b: me { r: role } ...F } fragment F on Query { c: me { role } d: me { role } }",
        )
        .expect("parses");
        assert_eq!(aliases(&doc), 5);
        assert_eq!(root_fields(&doc), 4);
    }

    #[test]
    fn a_budget_refills_at_its_rate_and_says_how_long_to_wait() {
        let limits = QueryLimits {
            max_bytes: 0,
            max_tokens: 0,
            max_aliases: 0,
            max_root_fields: 0,
            cost_per_second: 100,
            cost_burst: 1_000,
        };
        let budget = CostBudget::default();
        assert_eq!(budget.take("t", 1_000, &limits), Ok(()));
        let wait = budget.take("t", 500, &limits).expect_err("spent");
        assert!((4..=5).contains(&wait), "{wait}");
        assert_eq!(budget.take("other", 1_000, &limits), Ok(()), "per tenant");
    }

    #[test]
    fn a_page_costs_its_size_times_its_items() {
        assert_eq!(page_cost(None, 3), 60);
        assert_eq!(page_cost(Some(100), 5), 500);
        assert_eq!(page_cost(Some(-5), 5), 5);
        assert_eq!(page_cost(Some(i32::MAX), 5), 500);
    }
}
