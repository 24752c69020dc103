//! Parsed documents, kept by query text. A client on the hot paths sends the same few
//! operations thousands of times a second with new variables each time; parsing the text
//! again (async-graphql's pest parser) was about a twentieth of the server's time in a profile
//! of `consumeCredits`. Registered as the innermost extension, so the query limits and the
//! transport checks still look at every request's text and document; only the parse, its
//! recursion and directive checks, which depend on the text alone, are skipped for a text
//! already parsed. Only documents that parsed are kept, at most [`CAPACITY`] of them, each at
//! most [`MAX_TEXT`] bytes of text: when full the cache starts again empty, so a client sending
//! ever new texts costs what it cost without the cache.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerResult, Variables};

pub const CAPACITY: usize = 256;
pub const MAX_TEXT: usize = 16 * 1024;

#[derive(Clone, Default)]
pub struct Documents {
    parsed: Arc<Mutex<HashMap<String, ExecutableDocument>>>,
}

impl Documents {
    fn get(&self, query: &str) -> Option<ExecutableDocument> {
        self.parsed.lock().ok()?.get(query).cloned()
    }

    fn keep(&self, query: &str, doc: &ExecutableDocument) {
        if query.len() > MAX_TEXT {
            return;
        }
        if let Ok(mut parsed) = self.parsed.lock() {
            if parsed.len() >= CAPACITY {
                parsed.clear();
            }
            parsed.insert(query.to_owned(), doc.clone());
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.parsed.lock().map(|p| p.len()).unwrap_or(0)
    }
}

impl ExtensionFactory for Documents {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Extension for Documents {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if let Some(doc) = self.get(query) {
            return Ok(doc);
        }
        let doc = next.run(ctx, query, variables).await?;
        self.keep(query, &doc);
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Request, Schema};

    use super::*;

    struct Query;

    #[Object]
    impl Query {
        async fn twice(&self, n: i32) -> i32 {
            n * 2
        }
    }

    fn schema(docs: &Documents) -> Schema<Query, EmptyMutation, EmptySubscription> {
        Schema::build(Query, EmptyMutation, EmptySubscription)
            .limit_recursive_depth(4)
            .extension(docs.clone())
            .finish()
    }

    #[tokio::test]
    async fn a_text_parsed_once_answers_with_each_requests_variables() {
        let docs = Documents::default();
        let schema = schema(&docs);
        let text = "query($n: Int!) { twice(n: $n) }";
        for n in [1, 2, 3] {
            let vars = Variables::from_json(serde_json::json!({ "n": n }));
            let r = schema.execute(Request::new(text).variables(vars)).await;
            assert!(r.errors.is_empty(), "{:?}", r.errors);
            assert_eq!(r.data.into_json().expect("json")["twice"], n * 2);
        }
        assert_eq!(docs.len(), 1);
    }

    #[tokio::test]
    async fn texts_that_fail_to_parse_or_are_too_deep_are_never_kept() {
        let docs = Documents::default();
        let schema = schema(&docs);
        let deep = format!("{{ {} twice(n: 1) {} }}", "a { ".repeat(6), "} ".repeat(6));
        for text in ["{ twice(n: ", deep.as_str()] {
            for _ in 0..2 {
                let r = schema.execute(Request::new(text)).await;
                assert!(!r.errors.is_empty(), "{text} was accepted");
            }
        }
        assert_eq!(docs.len(), 0);
    }

    #[tokio::test]
    async fn a_full_cache_starts_again_and_long_texts_are_not_kept() {
        let docs = Documents::default();
        let schema = schema(&docs);
        for n in 0..=CAPACITY {
            let r = schema
                .execute(Request::new(format!("{{ twice(n: {n}) }}")))
                .await;
            assert!(r.errors.is_empty());
        }
        assert_eq!(docs.len(), 1, "the cache was not emptied when full");
        let long = format!("{{ twice(n: 1) }}{}", " ".repeat(MAX_TEXT));
        assert!(schema.execute(Request::new(long)).await.errors.is_empty());
        assert_eq!(docs.len(), 1);
    }
}
