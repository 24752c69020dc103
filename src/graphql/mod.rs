//! The GraphQL API: one schema built from per-area objects. Resolvers read the context, call
//! one service function and map the result.
use async_graphql::{ErrorExtensions, MergedObject, MergedSubscription, Schema};

use crate::auth::Actor;
use crate::config::Config;
use crate::error::Error;
use crate::state::AppState;

/// A GraphQL enum mirroring a domain enum variant for variant.
macro_rules! gql_enum {
    ($gql:ident as $name:literal => $domain:ident { $($v:ident),+ }) => {
        #[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq)]
        #[graphql(name = $name)]
        pub enum $gql { $($v),+ }

        impl From<$gql> for $domain {
            fn from(v: $gql) -> Self { match v { $($gql::$v => $domain::$v),+ } }
        }

        impl From<$domain> for $gql {
            fn from(v: $domain) -> Self { match v { $($domain::$v => $gql::$v),+ } }
        }
    };
}

mod accounts;
mod catalog;
mod credits;
mod documents;
mod invoicing;
mod limits;
mod live;
mod mail;
mod metering;
mod notify;
mod observe;
mod outbox;
mod payments;
mod scalars;
mod subscriptions;
mod transport;
mod webhooks;

pub use observe::RootField;
pub use scalars::RequestTenant;
pub use transport::Exchange;

#[derive(MergedObject, Default)]
pub struct Query(
    accounts::AccountsQuery,
    catalog::CatalogQuery,
    subscriptions::SubscriptionsQuery,
    invoicing::InvoicesQuery,
    notify::NotifyQuery,
    metering::MeteringQuery,
    credits::CreditsQuery,
    credits::deferred::DeferredQuery,
    outbox::OutboxQuery,
    payments::PaymentsQuery,
    webhooks::WebhooksQuery,
    mail::MailQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    accounts::AccountsMutation,
    catalog::CatalogMutation,
    subscriptions::SubscriptionsMutation,
    invoicing::InvoicesMutation,
    metering::MeteringMutation,
    credits::CreditsMutation,
    credits::deferred::DeferredMutation,
    outbox::OutboxMutation,
    payments::PaymentsMutation,
    webhooks::WebhooksMutation,
    mail::MailMutation,
);

/// Live updates over WebSocket (`/graphql/ws`, README "Live updates").
/// Named apart from the billing `Subscription` type.
#[derive(MergedSubscription, Default)]
#[graphql(name = "SubscriptionRoot")]
pub struct Subscription(live::LiveSubscription);

pub type BillingSchema = Schema<Query, Mutation, Subscription>;

/// What the request's credential proved, decided before the query runs.
#[derive(Clone)]
pub enum Credential {
    Missing,
    Invalid(String),
    Valid(Actor),
    /// The credential could not be checked because the database did not answer: the
    /// resolvers that need a caller answer `UNAVAILABLE` (retryable), not `UNAUTHENTICATED`.
    Unavailable,
}

/// Builds the schema with the limits of `config`. `state` is `None` only to print the SDL.
pub fn build_schema(state: Option<AppState>, config: &Config) -> BillingSchema {
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .limit_depth(config.max_query_depth)
    .limit_complexity(config.max_query_complexity)
    .limit_recursive_depth(32)
    .limit_directives(16)
    .extension(limits::Limits {
        limits: limits::QueryLimits::from_config(config),
        budget: Default::default(),
    })
    .extension(transport::Transport)
    .extension(observe::Observe)
    // Innermost: it stands in for the parse alone.
    .extension(documents::Documents::default());
    if let Some(state) = state {
        builder = builder.data(state);
    }
    builder.finish()
}

/// The SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    build_schema(None, &Config::default()).sdl()
}

/// Maps a service error to a GraphQL error with its stable `extensions.code` (and, for a
/// `CONFLICT`, its `extensions.reason`). Internal errors are logged here, once, with their
/// cause chain and the place they arose, and replaced by an opaque message.
pub fn to_gql(err: Error) -> async_graphql::Error {
    let code = err.code();
    let message = match &err {
        Error::Internal { location, .. } => {
            tracing::error!(error = %err.cause_chain(), %location, "internal error");
            "internal error".to_owned()
        }
        Error::Unavailable { location, .. } => {
            tracing::warn!(error = %err.cause_chain(), %location, "database unavailable");
            err.to_string()
        }
        other => other.to_string(),
    };
    async_graphql::Error::new(message).extend_with(|_, ext| {
        ext.set("code", code);
        if let Error::Validation { field, .. } = &err {
            ext.set("field", field.as_str());
        }
        if let Error::Conflict { reason, .. } = &err {
            ext.set("reason", reason.as_str());
        }
        if let Error::InsufficientCredits { balance, required } = &err {
            ext.set("balance", balance.to_string());
            ext.set("required", required.to_string());
        }
    })
}

pub(crate) trait GqlResult<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T, E: Into<Error>> GqlResult<T> for Result<T, E> {
    /// A foreign error (a `DbErr`) becoming an internal one here records this call's place.
    #[track_caller]
    fn gql(self) -> async_graphql::Result<T> {
        match self {
            Ok(v) => Ok(v),
            Err(e) => Err(to_gql(e.into())),
        }
    }
}

pub(crate) trait CtxExt {
    fn state(&self) -> async_graphql::Result<&AppState>;
    fn actor(&self) -> async_graphql::Result<&Actor>;
}

impl CtxExt for async_graphql::Context<'_> {
    fn state(&self) -> async_graphql::Result<&AppState> {
        self.data::<AppState>()
            .map_err(|_| to_gql(Error::internal("application state missing from the schema")))
    }

    fn actor(&self) -> async_graphql::Result<&Actor> {
        match self.data_opt::<Credential>() {
            Some(Credential::Valid(actor)) => Ok(actor),
            Some(Credential::Invalid(why)) => Err(to_gql(Error::Unauthenticated(why.clone()))),
            Some(Credential::Unavailable) => Err(to_gql(Error::unavailable(
                "the credential could not be checked: the database did not answer",
            ))),
            _ => Err(to_gql(Error::Unauthenticated(
                "sign in: send 'Authorization: Bearer <token or API key>'".into(),
            ))),
        }
    }
}
