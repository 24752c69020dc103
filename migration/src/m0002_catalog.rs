use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(BillableMetrics::Table)
                .col(uuid(BillableMetrics::Id).primary_key())
                .col(string_len_uniq(BillableMetrics::Code, 64))
                .col(string_len(BillableMetrics::Name, 200))
                .col(string_len(BillableMetrics::Unit, 32))
                .col(string_len(BillableMetrics::Aggregation, 16))
                .col(timestamp_with_time_zone(BillableMetrics::CreatedAt))
                .to_owned(),
        )
        .await?;

        // Plans are versioned: a price change publishes a new row, so what a customer bought
        // keeps pointing at the version it bought.
        m.create_table(
            Table::create()
                .table(Plans::Table)
                .col(uuid(Plans::Id).primary_key())
                .col(string_len(Plans::Code, 64))
                .col(integer(Plans::Version))
                .col(boolean(Plans::IsCurrent))
                .col(string_len(Plans::Name, 200))
                .col(text(Plans::Description))
                .col(string_len(Plans::Currency, 3))
                .col(big_integer(Plans::MonthlyPriceMinor))
                .col(big_integer_null(Plans::YearlyPriceMinor))
                .col(integer(Plans::TrialDays))
                .col(json(Plans::Features))
                .col(timestamp_with_time_zone(Plans::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_plans_code_version")
                .table(Plans::Table)
                .col(Plans::Code)
                .col(Plans::Version)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PlanCharges::Table)
                .col(uuid(PlanCharges::Id).primary_key())
                .col(uuid(PlanCharges::PlanId))
                .col(integer(PlanCharges::Position))
                .col(uuid(PlanCharges::MetricId))
                .col(string_len(PlanCharges::Model, 16))
                .col(string_len(PlanCharges::Timing, 16))
                .col(big_integer(PlanCharges::IncludedUnits))
                .col(big_integer_null(PlanCharges::BlockSize))
                .col(big_integer_null(PlanCharges::BlockPriceMinor))
                .col(string_len_null(PlanCharges::UnitPriceMinor, 40))
                .col(big_integer_null(PlanCharges::CreditsMicro))
                .col(big_integer_null(PlanCharges::PerUnits))
                .col(string_len_null(PlanCharges::CreditRounding, 16))
                .foreign_key(
                    ForeignKey::create()
                        .from(PlanCharges::Table, PlanCharges::PlanId)
                        .to(Plans::Table, Plans::Id),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(PlanCharges::Table, PlanCharges::MetricId)
                        .to(BillableMetrics::Table, BillableMetrics::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_plan_charges_plan_metric")
                .table(PlanCharges::Table)
                .col(PlanCharges::PlanId)
                .col(PlanCharges::MetricId)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PlanLimits::Table)
                .col(uuid(PlanLimits::Id).primary_key())
                .col(uuid(PlanLimits::PlanId))
                .col(uuid(PlanLimits::MetricId))
                .col(big_integer(PlanLimits::Value))
                .col(string_len(PlanLimits::Enforcement, 8))
                .foreign_key(
                    ForeignKey::create()
                        .from(PlanLimits::Table, PlanLimits::PlanId)
                        .to(Plans::Table, Plans::Id),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(PlanLimits::Table, PlanLimits::MetricId)
                        .to(BillableMetrics::Table, BillableMetrics::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_plan_limits_plan_metric")
                .table(PlanLimits::Table)
                .col(PlanLimits::PlanId)
                .col(PlanLimits::MetricId)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(CreditPacks::Table)
                .col(uuid(CreditPacks::Id).primary_key())
                .col(string_len(CreditPacks::Code, 64))
                .col(integer(CreditPacks::Version))
                .col(boolean(CreditPacks::IsCurrent))
                .col(string_len(CreditPacks::Name, 200))
                .col(big_integer(CreditPacks::CreditsMicro))
                .col(big_integer(CreditPacks::PriceMinor))
                .col(string_len(CreditPacks::Currency, 3))
                .col(timestamp_with_time_zone(CreditPacks::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_credit_packs_code_version")
                .table(CreditPacks::Table)
                .col(CreditPacks::Code)
                .col(CreditPacks::Version)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Coupons::Table)
                .col(uuid(Coupons::Id).primary_key())
                .col(string_len_uniq(Coupons::Code, 32))
                .col(string_len(Coupons::Name, 200))
                .col(integer_null(Coupons::PercentOff))
                .col(big_integer_null(Coupons::AmountOffMinor))
                .col(string_len_null(Coupons::Currency, 3))
                .col(string_len(Coupons::Duration, 16))
                .col(integer_null(Coupons::DurationPeriods))
                .col(integer_null(Coupons::MaxRedemptions))
                .col(integer(Coupons::TimesRedeemed).default(0))
                .col(timestamp_with_time_zone_null(Coupons::ValidFrom))
                .col(timestamp_with_time_zone_null(Coupons::ValidUntil))
                .col(json_null(Coupons::PlanCodes))
                .col(timestamp_with_time_zone(Coupons::CreatedAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Coupons::Table.into_iden(),
            CreditPacks::Table.into_iden(),
            PlanLimits::Table.into_iden(),
            PlanCharges::Table.into_iden(),
            Plans::Table.into_iden(),
            BillableMetrics::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum BillableMetrics {
    Table,
    Id,
    Code,
    Name,
    Unit,
    Aggregation,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Plans {
    Table,
    Id,
    Code,
    Version,
    IsCurrent,
    Name,
    Description,
    Currency,
    MonthlyPriceMinor,
    YearlyPriceMinor,
    TrialDays,
    Features,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PlanCharges {
    Table,
    Id,
    PlanId,
    Position,
    MetricId,
    Model,
    Timing,
    IncludedUnits,
    BlockSize,
    BlockPriceMinor,
    UnitPriceMinor,
    CreditsMicro,
    PerUnits,
    CreditRounding,
}

#[derive(DeriveIden)]
enum PlanLimits {
    Table,
    Id,
    PlanId,
    MetricId,
    Value,
    Enforcement,
}

#[derive(DeriveIden)]
enum CreditPacks {
    Table,
    Id,
    Code,
    Version,
    IsCurrent,
    Name,
    CreditsMicro,
    PriceMinor,
    Currency,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Coupons {
    Table,
    Id,
    Code,
    Name,
    PercentOff,
    AmountOffMinor,
    Currency,
    Duration,
    DurationPeriods,
    MaxRedemptions,
    TimesRedeemed,
    ValidFrom,
    ValidUntil,
    PlanCodes,
    CreatedAt,
}
