use chrono::{DateTime, Utc};
use entity::users::{ActiveModel, Column, Entity, Model};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
};

use crate::domain::{NewUser, Page, PageRequest, Role, TenantId, User, UserId};
use crate::error::{ConflictReason, OptionExt, Result, conflict_on_unique};
use crate::store::{TenantScope, fetch_page};

fn to_domain(m: Model) -> User {
    User {
        id: m.id.into(),
        tenant_id: m.tenant_id.map(TenantId),
        email: m.email,
        name: m.name,
        role: Role::parse("role", &m.role).unwrap_or(Role::Member),
        created_at: m.created_at,
    }
}

pub async fn insert(
    db: &impl ConnectionTrait,
    new: NewUser,
    password_hash: String,
    now: DateTime<Utc>,
) -> Result<User> {
    let row = ActiveModel {
        id: Set(UserId::new().0),
        tenant_id: Set(new.tenant_id.map(|t| t.0)),
        email: Set(new.email.into_inner()),
        name: Set(new.name.into_inner()),
        password_hash: Set(password_hash),
        role: Set(new.role.as_str().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let model = row.insert(db).await.map_err(|e| {
        conflict_on_unique(
            e,
            ConflictReason::EmailTaken,
            "a user with this email already exists",
        )
    })?;
    Ok(to_domain(model))
}

/// The user and password hash for a login. Emails are unique across the platform.
pub async fn find_for_login(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<(User, String)>> {
    let row = Entity::find()
        .filter(Column::Email.eq(email))
        .one(db)
        .await?;
    Ok(row.map(|m| {
        let hash = m.password_hash.clone();
        (to_domain(m), hash)
    }))
}

pub async fn find(
    db: &impl ConnectionTrait,
    scope: TenantScope,
    id: UserId,
) -> Result<Option<User>> {
    let select = scope.filter(Entity::find_by_id(id.0), Column::TenantId);
    Ok(select.one(db).await?.map(to_domain))
}

pub async fn find_by_email(db: &impl ConnectionTrait, email: &str) -> Result<Option<User>> {
    Ok(find_for_login(db, email).await?.map(|(u, _)| u))
}

pub async fn list(
    db: &impl ConnectionTrait,
    scope: TenantScope,
    page: PageRequest,
) -> Result<Page<User>> {
    let select = scope.filter(Entity::find(), Column::TenantId);
    Ok(fetch_page(db, select, Column::Id, page)
        .await?
        .map(to_domain))
}

pub async fn count_with_role(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    role: Role,
) -> Result<u64> {
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tenant.0))
        .filter(Column::Role.eq(role.as_str()))
        .count(db)
        .await?)
}

pub async fn set_role(
    db: &impl ConnectionTrait,
    scope: TenantScope,
    id: UserId,
    role: Role,
    now: DateTime<Utc>,
) -> Result<User> {
    let current = scope
        .filter(Entity::find_by_id(id.0), Column::TenantId)
        .one(db)
        .await?
        .or_not_found("user")?;
    let mut row: ActiveModel = current.into();
    row.role = Set(role.as_str().to_owned());
    row.updated_at = Set(now);
    Ok(to_domain(row.update(db).await?))
}

pub async fn set_password_hash(
    db: &impl ConnectionTrait,
    id: UserId,
    hash: String,
    now: DateTime<Utc>,
) -> Result<()> {
    let current = Entity::find_by_id(id.0)
        .one(db)
        .await?
        .or_not_found("user")?;
    let mut row: ActiveModel = current.into();
    row.password_hash = Set(hash);
    row.updated_at = Set(now);
    row.update(db).await?;
    Ok(())
}

pub async fn delete(db: &impl ConnectionTrait, scope: TenantScope, id: UserId) -> Result<()> {
    let row = scope
        .filter(Entity::find_by_id(id.0), Column::TenantId)
        .one(db)
        .await?
        .or_not_found("user")?;
    Entity::delete_by_id(row.id).exec(db).await?;
    Ok(())
}
