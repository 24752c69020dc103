use sea_orm_migration::{prelude::*, schema::*};

use crate::indexes::{index, unique};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Subscriptions::Table)
                .col(uuid(Subscriptions::Id).primary_key())
                .col(uuid(Subscriptions::TenantId))
                .col(uuid(Subscriptions::PlanId))
                .col(string_len(Subscriptions::Interval, 8))
                .col(string_len(Subscriptions::Status, 16))
                .col(integer(Subscriptions::Cycle))
                .col(timestamp_with_time_zone_null(Subscriptions::AnchorAt))
                .col(timestamp_with_time_zone(Subscriptions::CurrentPeriodStart))
                .col(timestamp_with_time_zone(Subscriptions::CurrentPeriodEnd))
                .col(timestamp_with_time_zone_null(Subscriptions::TrialStart))
                .col(timestamp_with_time_zone_null(Subscriptions::TrialEnd))
                .col(boolean(Subscriptions::CancelAtPeriodEnd))
                .col(timestamp_with_time_zone_null(Subscriptions::CanceledAt))
                .col(timestamp_with_time_zone_null(Subscriptions::EndedAt))
                .col(uuid_null(Subscriptions::ScheduledPlanId))
                // Set to the tenant id while the subscription is live, NULL once canceled: the
                // unique index then allows one live subscription per tenant on both backends.
                .col(uuid_null(Subscriptions::LiveTenantId))
                // Bumped by every change: writers update only the version they read.
                .col(integer(Subscriptions::Version))
                .col(timestamp_with_time_zone(Subscriptions::CreatedAt))
                .col(timestamp_with_time_zone(Subscriptions::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Subscriptions::Table, Subscriptions::TenantId)
                        .to(Tenants::Table, Tenants::Id),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(Subscriptions::Table, Subscriptions::PlanId)
                        .to(Plans::Table, Plans::Id),
                )
                .to_owned(),
        )
        .await?;
        unique(
            m,
            "ux_subscriptions_live_tenant",
            Subscriptions::Table,
            &[Subscriptions::LiveTenantId.into_iden()],
        )
        .await?;
        index(
            m,
            "ix_subscriptions_tenant",
            Subscriptions::Table,
            &[Subscriptions::TenantId.into_iden()],
            false,
        )
        .await?;
        index(
            m,
            "ix_subscriptions_due",
            Subscriptions::Table,
            &[
                Subscriptions::Status.into_iden(),
                Subscriptions::CurrentPeriodEnd.into_iden(),
            ],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(CouponRedemptions::Table)
                .col(uuid(CouponRedemptions::Id).primary_key())
                .col(uuid(CouponRedemptions::CouponId))
                .col(uuid(CouponRedemptions::TenantId))
                .col(uuid(CouponRedemptions::SubscriptionId))
                .col(integer(CouponRedemptions::FirstCycle))
                .col(integer_null(CouponRedemptions::LastCycle))
                .col(timestamp_with_time_zone(CouponRedemptions::RedeemedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(CouponRedemptions::Table, CouponRedemptions::CouponId)
                        .to(Coupons::Table, Coupons::Id),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(CouponRedemptions::Table, CouponRedemptions::SubscriptionId)
                        .to(Subscriptions::Table, Subscriptions::Id),
                )
                .to_owned(),
        )
        .await?;
        unique(
            m,
            "ux_coupon_redemptions_coupon_tenant",
            CouponRedemptions::Table,
            &[
                CouponRedemptions::CouponId.into_iden(),
                CouponRedemptions::TenantId.into_iden(),
            ],
        )
        .await?;
        index(
            m,
            "ix_coupon_redemptions_subscription",
            CouponRedemptions::Table,
            &[CouponRedemptions::SubscriptionId.into_iden()],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Invoices::Table)
                .col(uuid(Invoices::Id).primary_key())
                .col(uuid(Invoices::TenantId))
                .col(uuid_null(Invoices::SubscriptionId))
                .col(string_len_null(Invoices::Number, 32))
                .col(string_len(Invoices::Status, 16))
                .col(string_len(Invoices::BillingReason, 32))
                .col(integer_null(Invoices::Cycle))
                .col(string_len(Invoices::Currency, 3))
                .col(big_integer(Invoices::SubtotalMinor))
                .col(big_integer(Invoices::DiscountMinor))
                .col(big_integer(Invoices::TotalMinor))
                .col(big_integer(Invoices::AmountDueMinor))
                .col(big_integer(Invoices::AmountPaidMinor))
                .col(string_len_null(Invoices::CouponCode, 32))
                .col(timestamp_with_time_zone(Invoices::PeriodStart))
                .col(timestamp_with_time_zone(Invoices::PeriodEnd))
                .col(timestamp_with_time_zone_null(Invoices::IssuedAt))
                .col(timestamp_with_time_zone_null(Invoices::DueAt))
                .col(timestamp_with_time_zone_null(Invoices::PaidAt))
                .col(timestamp_with_time_zone_null(Invoices::VoidedAt))
                .col(timestamp_with_time_zone_null(
                    Invoices::MarkedUncollectibleAt,
                ))
                .col(string_len_null(Invoices::PaymentReference, 200))
                // What caused a system-made invoice (e.g. `cycle:<sub>:3`): a job run twice
                // finds its invoice already there.
                .col(string_len_null(Invoices::SourceKey, 120))
                .col(timestamp_with_time_zone(Invoices::CreatedAt))
                .col(timestamp_with_time_zone(Invoices::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Invoices::Table, Invoices::TenantId)
                        .to(Tenants::Table, Tenants::Id),
                )
                .to_owned(),
        )
        .await?;
        unique(
            m,
            "ux_invoices_number",
            Invoices::Table,
            &[Invoices::Number.into_iden()],
        )
        .await?;
        unique(
            m,
            "ux_invoices_source_key",
            Invoices::Table,
            &[Invoices::SourceKey.into_iden()],
        )
        .await?;
        index(
            m,
            "ix_invoices_tenant",
            Invoices::Table,
            &[Invoices::TenantId.into_iden()],
            false,
        )
        .await?;
        index(
            m,
            "ix_invoices_status_due",
            Invoices::Table,
            &[Invoices::Status.into_iden(), Invoices::DueAt.into_iden()],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(InvoiceLines::Table)
                .col(uuid(InvoiceLines::Id).primary_key())
                .col(uuid(InvoiceLines::InvoiceId))
                .col(integer(InvoiceLines::Position))
                .col(string_len(InvoiceLines::Description, 500))
                .col(big_integer(InvoiceLines::Quantity))
                .col(big_integer(InvoiceLines::UnitAmountMinor))
                .col(big_integer(InvoiceLines::AmountMinor))
                .col(timestamp_with_time_zone(InvoiceLines::PeriodStart))
                .col(timestamp_with_time_zone(InvoiceLines::PeriodEnd))
                .col(string_len(InvoiceLines::Kind, 16))
                .foreign_key(
                    ForeignKey::create()
                        .from(InvoiceLines::Table, InvoiceLines::InvoiceId)
                        .to(Invoices::Table, Invoices::Id),
                )
                .to_owned(),
        )
        .await?;
        unique(
            m,
            "ux_invoice_lines_position",
            InvoiceLines::Table,
            &[
                InvoiceLines::InvoiceId.into_iden(),
                InvoiceLines::Position.into_iden(),
            ],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(InvoiceSequences::Table)
                .col(integer(InvoiceSequences::Year).primary_key())
                .col(big_integer(InvoiceSequences::LastNumber))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Notifications::Table)
                .col(uuid(Notifications::Id).primary_key())
                .col(uuid(Notifications::TenantId))
                .col(string_len(Notifications::Kind, 48))
                .col(string_len_null(Notifications::Reference, 64))
                .col(text(Notifications::Message))
                .col(string_len(Notifications::DedupeKey, 160))
                .col(timestamp_with_time_zone(Notifications::CreatedAt))
                .col(timestamp_with_time_zone_null(Notifications::SentAt))
                .to_owned(),
        )
        .await?;
        unique(
            m,
            "ux_notifications_dedupe",
            Notifications::Table,
            &[Notifications::DedupeKey.into_iden()],
        )
        .await?;
        index(
            m,
            "ix_notifications_tenant",
            Notifications::Table,
            &[Notifications::TenantId.into_iden()],
            false,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Notifications::Table.into_iden(),
            InvoiceSequences::Table.into_iden(),
            InvoiceLines::Table.into_iden(),
            Invoices::Table.into_iden(),
            CouponRedemptions::Table.into_iden(),
            Subscriptions::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Plans {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Coupons {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Subscriptions {
    Table,
    Id,
    TenantId,
    PlanId,
    Interval,
    Status,
    Cycle,
    AnchorAt,
    CurrentPeriodStart,
    CurrentPeriodEnd,
    TrialStart,
    TrialEnd,
    CancelAtPeriodEnd,
    CanceledAt,
    EndedAt,
    ScheduledPlanId,
    LiveTenantId,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CouponRedemptions {
    Table,
    Id,
    CouponId,
    TenantId,
    SubscriptionId,
    FirstCycle,
    LastCycle,
    RedeemedAt,
}

#[derive(DeriveIden)]
enum Invoices {
    Table,
    Id,
    TenantId,
    SubscriptionId,
    Number,
    Status,
    BillingReason,
    Cycle,
    Currency,
    SubtotalMinor,
    DiscountMinor,
    TotalMinor,
    AmountDueMinor,
    AmountPaidMinor,
    CouponCode,
    PeriodStart,
    PeriodEnd,
    IssuedAt,
    DueAt,
    PaidAt,
    VoidedAt,
    MarkedUncollectibleAt,
    PaymentReference,
    SourceKey,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum InvoiceLines {
    Table,
    Id,
    InvoiceId,
    Position,
    Description,
    Quantity,
    UnitAmountMinor,
    AmountMinor,
    PeriodStart,
    PeriodEnd,
    Kind,
}

#[derive(DeriveIden)]
enum InvoiceSequences {
    Table,
    Year,
    LastNumber,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    TenantId,
    Kind,
    Reference,
    Message,
    DedupeKey,
    CreatedAt,
    SentAt,
}
