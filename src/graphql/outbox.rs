//! The outbox, for operators: what is waiting to be carried out, what failed and why, and a
//! retry for a message that was given up.
use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::{OutboxKind, OutboxMessage, OutboxMessageId, OutboxStatus};
use crate::graphql::scalars::{connection, page_request};
use crate::graphql::{CtxExt, GqlResult};
use crate::jobs;

gql_enum!(OutboxKindGql as "OutboxKind" => OutboxKind { CollectInvoice, RefundPayment, DeliverWebhook, SendEmail });
gql_enum!(OutboxStatusGql as "OutboxStatus" => OutboxStatus { Pending, Done, Dead });

#[derive(SimpleObject)]
#[graphql(name = "OutboxMessage")]
pub struct OutboxMessageOut {
    id: ID,
    tenant_id: Option<ID>,
    kind: OutboxKindGql,
    /// `PENDING` (due, leased or waiting to retry), `DONE`, or `DEAD` (given up).
    status: OutboxStatusGql,
    /// The id of what it is about (an invoice for a collection).
    reference: String,
    dedupe_key: String,
    /// Attempts made so far (counted again from zero after a retry).
    attempts: i32,
    /// When a pending message is next tried (or its current attempt's lease ends).
    next_attempt_at: DateTime<Utc>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<OutboxMessage> for OutboxMessageOut {
    fn from(m: OutboxMessage) -> Self {
        Self {
            id: ID(m.id.to_string()),
            tenant_id: m.tenant_id.map(|t| ID(t.to_string())),
            kind: m.kind.into(),
            status: m.status.into(),
            reference: m.reference,
            dedupe_key: m.dedupe_key,
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at,
            last_error: m.last_error,
            created_at: m.created_at,
        }
    }
}

#[derive(Default)]
pub struct OutboxQuery;

#[Object]
impl OutboxQuery {
    /// Outbox messages in creation order, optionally of one status and kind (admin).
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn outbox_messages(
        &self,
        ctx: &Context<'_>,
        status: Option<OutboxStatusGql>,
        kind: Option<OutboxKindGql>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, OutboxMessageOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let page = page_request(first, after).gql()?;
        let found = jobs::outbox_messages(
            state,
            actor,
            status.map(Into::into),
            kind.map(Into::into),
            page,
        )
        .await
        .gql()?;
        Ok(connection(
            found,
            |m| m.id.to_string(),
            OutboxMessageOut::from,
        ))
    }
}

#[derive(InputObject)]
pub struct RetryOutboxMessageInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct RetryOutboxMessagePayload {
    /// The message, `PENDING` and due now; the worker carries it out on its next run.
    message: OutboxMessageOut,
}

#[derive(Default)]
pub struct OutboxMutation;

#[Object]
impl OutboxMutation {
    /// Makes a `DEAD` message due again with a fresh count of attempts (admin). Anything else
    /// is a `CONFLICT` (`ILLEGAL_TRANSITION`).
    async fn retry_outbox_message(
        &self,
        ctx: &Context<'_>,
        input: RetryOutboxMessageInput,
    ) -> async_graphql::Result<RetryOutboxMessagePayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = OutboxMessageId::parse("id", &input.id).gql()?;
        let message = jobs::retry_outbox_message(state, actor, id).await.gql()?;
        Ok(RetryOutboxMessagePayload {
            message: message.into(),
        })
    }
}
