//! Watches each request as it runs: records the first root field it resolved, to label
//! metrics with a bounded name (a schema field, never client text), and resolves every root
//! field inside a `graphql` tracing span naming the field, the operation and the caller, so
//! that whatever a resolver logs says who asked for what. The span nests in the HTTP request's
//! span, which carries the request id.
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, ResolveInfo,
};
use async_graphql::{Response, ServerResult, Value};
use tracing::Instrument;

use super::Credential;

#[derive(Clone, Default)]
pub struct RootField(pub Arc<Mutex<Option<String>>>);

impl RootField {
    pub fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|g| g.clone())
    }
}

pub struct Observe;

impl ExtensionFactory for Observe {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ObserveExt::default())
    }
}

/// One per request.
#[derive(Default)]
struct ObserveExt {
    /// The operation being executed, when it has a name (from the request, or the only
    /// operation of the document).
    operation: Mutex<Option<String>>,
}

#[async_trait::async_trait]
impl Extension for ObserveExt {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let (Some(name), Ok(mut slot)) = (operation_name, self.operation.lock()) {
            *slot = Some(name.to_owned());
        }
        next.run(ctx, operation_name).await
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.path_node.parent.is_some() {
            return next.run(ctx, info).await;
        }
        if let Some(root) = ctx.data_opt::<RootField>()
            && let Ok(mut slot) = root.0.lock()
            && slot.is_none()
        {
            *slot = Some(info.path_node.field_name().to_owned());
        }
        let operation = self.operation.lock().ok().and_then(|o| o.clone());
        let actor = match ctx.data_opt::<Credential>() {
            Some(Credential::Valid(actor)) => Some(actor),
            _ => None,
        };
        let span = tracing::info_span!(
            "graphql",
            field = info.name,
            operation = operation.as_deref(),
            tenant = actor.and_then(|a| a.tenant).map(tracing::field::display),
            role = actor.map_or("anonymous", |a| a.role.as_str()),
        );
        next.run(ctx, info).instrument(span).await
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use async_graphql::{EmptyMutation, EmptySubscription, Object, Request, Schema};
    use serde_json::Value as Json;

    use super::*;
    use crate::auth::Actor;
    use crate::domain::{Role, TenantId};

    struct Query;

    #[Object]
    impl Query {
        async fn hello(&self) -> &str {
            tracing::info!("resolving hello");
            "hi"
        }
    }

    /// Log lines written as JSON into a buffer.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut b) = self.0.lock() {
                b.extend_from_slice(buf);
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Runs `request` and returns the spans around the resolver's log line, innermost last.
    async fn spans_of(request: Request) -> Vec<Json> {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .finish();
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .extension(Observe)
            .finish();
        let response = {
            let _guard = tracing::subscriber::set_default(subscriber);
            let outer = tracing::info_span!("request", request_id = "req-1");
            schema.execute(request).instrument(outer).await
        };
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let bytes = lines.0.lock().map(|b| b.clone()).unwrap_or_default();
        let text = String::from_utf8(bytes).expect("utf8 logs");
        let line = text
            .lines()
            .find(|l| l.contains("resolving hello"))
            .unwrap_or_else(|| panic!("no log line from the resolver in {text:?}"));
        let event: Json = serde_json::from_str(line).expect("a JSON log line");
        event["spans"].as_array().cloned().unwrap_or_default()
    }

    #[tokio::test]
    async fn a_root_field_runs_in_a_span_naming_field_operation_and_caller() {
        let tenant = TenantId::new();
        let actor = Actor {
            subject: "u".into(),
            role: Role::Billing,
            tenant: Some(tenant),
            user: None,
            api_key: None,
            cache_epoch: None,
        };
        let spans =
            spans_of(Request::new("query Greet { hello }").data(Credential::Valid(actor))).await;
        assert_eq!(spans.len(), 2, "{spans:?}");
        assert_eq!(spans[0]["name"], "request");
        assert_eq!(spans[0]["request_id"], "req-1");
        let span = &spans[1];
        assert_eq!(span["name"], "graphql");
        assert_eq!(span["field"], "hello");
        assert_eq!(span["operation"], "Greet");
        assert_eq!(span["tenant"], tenant.to_string());
        assert_eq!(span["role"], "billing");
    }

    #[tokio::test]
    async fn an_anonymous_unnamed_request_has_no_tenant_or_operation() {
        let spans = spans_of(Request::new("{ hello }").data(Credential::Missing)).await;
        let span = spans.last().expect("a span");
        assert_eq!(span["name"], "graphql");
        assert_eq!(span["field"], "hello");
        assert_eq!(span["role"], "anonymous");
        assert!(span.get("operation").is_none(), "{span}");
        assert!(span.get("tenant").is_none(), "{span}");
    }
}
