//! The catalog: billable metrics, plans, credit packs and coupons. The operator writes it;
//! every signed-in caller reads it, except the coupon list (see `coupons`).
mod coupons;
mod metrics;
mod plans;

pub use coupons::{create_coupon, find_coupon, list_coupons};
pub use metrics::{create_metric, list_metrics};
pub use plans::{
    create_pack, create_plan, find_pack, find_plan, list_packs, list_plans, publish_pack_version,
    publish_plan_version,
};
