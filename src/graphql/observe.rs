//! Records the first root field a request resolved, to label metrics with a bounded name
//! (a schema field, never client text).
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ServerResult, Value};

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
        Arc::new(ObserveExt)
    }
}

struct ObserveExt;

#[async_trait::async_trait]
impl Extension for ObserveExt {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.path_node.parent.is_none()
            && let Some(root) = ctx.data_opt::<RootField>()
            && let Ok(mut slot) = root.0.lock()
            && slot.is_none()
        {
            *slot = Some(info.path_node.field_name().to_owned());
        }
        next.run(ctx, info).await
    }
}
