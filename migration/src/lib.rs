//! Database migrations. One set serves SQLite and PostgreSQL: only portable column types and
//! plain unique indexes are used.
pub use sea_orm_migration::prelude::*;

mod indexes;
mod m0001_accounts;
mod m0002_catalog;
mod m0003_billing;
mod m0004_metering;
mod m0005_credits;
mod m0006_outbox;
mod m0007_billing_clock;
mod m0008_idempotency;
mod m0009_payments;
mod m0010_refunds;
mod m0011_webhooks;
mod m0012_email;
mod m0013_dunning;
mod m0014_cache_epochs;
mod m0015_block_plans;

pub use m0015_block_plans::backfill as backfill_block_plans;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_accounts::Migration),
            Box::new(m0002_catalog::Migration),
            Box::new(m0003_billing::Migration),
            Box::new(m0004_metering::Migration),
            Box::new(m0005_credits::Migration),
            Box::new(m0006_outbox::Migration),
            Box::new(m0007_billing_clock::Migration),
            Box::new(m0008_idempotency::Migration),
            Box::new(m0009_payments::Migration),
            Box::new(m0010_refunds::Migration),
            Box::new(m0011_webhooks::Migration),
            Box::new(m0012_email::Migration),
            Box::new(m0013_dunning::Migration),
            Box::new(m0014_cache_epochs::Migration),
            Box::new(m0015_block_plans::Migration),
        ]
    }
}
