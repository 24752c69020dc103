//! What the HTTP layer and the schema tell each other about one request: a `GET` may only
//! read (GraphQL over HTTP: a mutation over GET is refused, with HTTP 405), and whether the
//! request reached execution. A request that did not is a request error (unparsable, invalid,
//! over a limit): its response has no `data`, and it answers 4xx under
//! `application/graphql-response+json`.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Response, ServerError, ServerResult, Variables};

/// One request's exchange, put in the request data by the HTTP layer.
#[derive(Clone, Default)]
pub struct Exchange(Arc<Inner>);

#[derive(Default)]
struct Inner {
    /// Set for `GET`: the operation the request names, to refuse it when it is a mutation.
    read_only: Option<Option<String>>,
    executed: AtomicBool,
    mutation_refused: AtomicBool,
}

impl Exchange {
    /// A `POST`: any operation may run.
    pub fn read_write() -> Self {
        Self::default()
    }

    /// A `GET` naming `operation_name` (or none): only a query may run.
    pub fn read_only(operation_name: Option<String>) -> Self {
        Self(Arc::new(Inner {
            read_only: Some(operation_name),
            ..Inner::default()
        }))
    }

    /// Whether the request was parsed, validated and handed to execution.
    pub fn executed(&self) -> bool {
        self.0.executed.load(Ordering::Relaxed)
    }

    /// Whether it was refused because it is a mutation sent with `GET`.
    pub fn mutation_refused(&self) -> bool {
        self.0.mutation_refused.load(Ordering::Relaxed)
    }
}

/// The operation a request selects: the one it names, or the document's only one.
fn selected(doc: &ExecutableDocument, name: Option<&str>) -> Option<OperationType> {
    let mut operations = doc.operations.iter();
    match name {
        Some(name) => operations
            .find(|(n, _)| n.is_some_and(|n| n.as_str() == name))
            .map(|(_, op)| op.node.ty),
        None => match (operations.next(), operations.next()) {
            (Some((_, op)), None) => Some(op.node.ty),
            _ => None,
        },
    }
}

pub struct Transport;

impl ExtensionFactory for Transport {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(TransportExt)
    }
}

struct TransportExt;

#[async_trait::async_trait]
impl Extension for TransportExt {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let Some(exchange) = ctx.data_opt::<Exchange>() else {
            return Ok(doc);
        };
        if let Some(name) = &exchange.0.read_only
            && selected(&doc, name.as_deref()) == Some(OperationType::Mutation)
        {
            exchange.0.mutation_refused.store(true, Ordering::Relaxed);
            let mut err = ServerError::new("a mutation cannot be sent with GET: use POST", None);
            let mut ext = async_graphql::ErrorExtensionValues::default();
            ext.set("code", "VALIDATION");
            err.extensions = Some(ext);
            return Err(err);
        }
        Ok(doc)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let Some(exchange) = ctx.data_opt::<Exchange>() {
            exchange.0.executed.store(true, Ordering::Relaxed);
        }
        next.run(ctx, operation_name).await
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptySubscription, Object, Request, Schema};

    use super::*;

    struct Query;

    #[Object]
    impl Query {
        async fn hello(&self) -> &str {
            "hi"
        }
    }

    struct Mutation;

    #[Object]
    impl Mutation {
        async fn poke(&self) -> bool {
            true
        }
    }

    async fn run(query: &str, name: Option<&str>, exchange: &Exchange) -> Response {
        let schema = Schema::build(Query, Mutation, EmptySubscription)
            .extension(Transport)
            .finish();
        let mut request = Request::new(query).data(exchange.clone());
        if let Some(name) = name {
            request = request.operation_name(name);
        }
        schema.execute(request).await
    }

    #[tokio::test]
    async fn a_read_only_request_runs_queries_and_refuses_the_mutation_it_selects() {
        let get = Exchange::read_only(None);
        assert!(run("{ hello }", None, &get).await.errors.is_empty());
        assert!(get.executed() && !get.mutation_refused());

        let get = Exchange::read_only(None);
        let r = run("mutation { poke }", None, &get).await;
        assert_eq!(r.errors.len(), 1);
        assert!(get.mutation_refused() && !get.executed());

        let doc = "query Q { hello } mutation M { poke }";
        let get = Exchange::read_only(Some("Q".into()));
        assert!(run(doc, Some("Q"), &get).await.errors.is_empty());
        let get = Exchange::read_only(Some("M".into()));
        run(doc, Some("M"), &get).await;
        assert!(get.mutation_refused());
    }

    #[tokio::test]
    async fn a_read_write_request_runs_mutations_and_an_invalid_one_is_not_executed() {
        let post = Exchange::read_write();
        assert!(
            run("mutation { poke }", None, &post)
                .await
                .errors
                .is_empty()
        );
        assert!(post.executed());

        let post = Exchange::read_write();
        assert!(!run("{ nope }", None, &post).await.errors.is_empty());
        assert!(!post.executed() && !post.mutation_refused());
    }
}
