//! The tenant's first user: the admin email from signup becomes a user of the pool
//! (Cognito emails the invitation) and a member of the tenant's group once the tenant is
//! ACTIVE. Teardown removes the tenant's users again, so a failed onboarding leaves none.
//!
//! One user belongs to one tenant: a user in another tenant's group would get an
//! ambiguous role, so such an email is refused, and teardown never deletes a user that
//! still belongs to another group.

use aws_sdk_cognitoidentityprovider::types::{AttributeType, DeliveryMediumType};
use tenant_domain::{TenantId, TenantNames};
use tracing::info;

use crate::error::classify;
use crate::{Context, StepError};

fn attr(name: &str, value: &str) -> Result<AttributeType, StepError> {
    AttributeType::builder()
        .name(name)
        .value(value)
        .build()
        .map_err(StepError::internal)
}

/// The groups a user is in; `None` if there is no such user.
pub async fn groups_of(ctx: &Context, username: &str) -> Result<Option<Vec<String>>, StepError> {
    let mut groups = vec![];
    let mut token = None;
    loop {
        let out = ctx
            .clients
            .idp
            .admin_list_groups_for_user()
            .user_pool_id(&ctx.settings.user_pool_id)
            .username(username)
            .set_next_token(token)
            .send()
            .await;
        let out = match out {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|se| se.is_user_not_found_exception()) => return Ok(None),
            Err(e) => return Err(classify("cognito-idp", "AdminListGroupsForUser", &e)),
        };
        groups.extend(out.groups().iter().filter_map(|g| g.group_name().map(str::to_string)));
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(Some(groups));
        }
    }
}

/// Creates the admin user (if absent) and puts it in the tenant's group. Converges.
pub async fn ensure_admin(ctx: &Context, tenant: &TenantId, admin_email: &str) -> Result<bool, StepError> {
    let names = TenantNames::new(tenant);
    let idp = &ctx.clients.idp;
    let created = match idp
        .admin_create_user()
        .user_pool_id(&ctx.settings.user_pool_id)
        .username(admin_email)
        .user_attributes(attr("email", admin_email)?)
        // The address came from the signup; the invitation itself proves it on first sign-in.
        .user_attributes(attr("email_verified", "true")?)
        .desired_delivery_mediums(DeliveryMediumType::Email)
        .send()
        .await
    {
        Ok(_) => true,
        Err(e) if e.as_service_error().is_some_and(|se| se.is_username_exists_exception()) => false,
        Err(e) => return Err(classify("cognito-idp", "AdminCreateUser", &e)),
    };
    let groups = groups_of(ctx, admin_email).await?.unwrap_or_default();
    let others: Vec<&String> = groups.iter().filter(|g| **g != names.group).collect();
    if !others.is_empty() {
        return Err(StepError::ResourceConflict {
            tenant: tenant.to_string(),
            message: format!(
                "admin email {admin_email} already belongs to {}; a user can belong to one workspace — sign up with another email",
                others.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", ")
            ),
        });
    }
    idp.admin_add_user_to_group()
        .user_pool_id(&ctx.settings.user_pool_id)
        .username(admin_email)
        .group_name(&names.group)
        .send()
        .await
        .map_err(|e| classify("cognito-idp", "AdminAddUserToGroup", &e))?;
    info!(created, group = %names.group, "admin user ready");
    Ok(created)
}

/// Deletes one user if the tenant's group is all it belongs to; otherwise only takes it
/// out of the group. Returns whether it was deleted.
async fn remove_user(ctx: &Context, group: &str, username: &str) -> Result<bool, StepError> {
    let idp = &ctx.clients.idp;
    let Some(groups) = groups_of(ctx, username).await? else {
        return Ok(false);
    };
    if groups.iter().all(|g| g == group) {
        match idp
            .admin_delete_user()
            .user_pool_id(&ctx.settings.user_pool_id)
            .username(username)
            .send()
            .await
        {
            Ok(_) => return Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_user_not_found_exception()) => return Ok(false),
            Err(e) => return Err(classify("cognito-idp", "AdminDeleteUser", &e)),
        }
    }
    match idp
        .admin_remove_user_from_group()
        .user_pool_id(&ctx.settings.user_pool_id)
        .username(username)
        .group_name(group)
        .send()
        .await
    {
        Ok(_) => Ok(false),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_user_not_found_exception() || se.is_resource_not_found_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(classify("cognito-idp", "AdminRemoveUserFromGroup", &e)),
    }
}

/// The usernames in a group, every page; `None` when the group does not exist.
pub async fn group_members(ctx: &Context, group: &str) -> Result<Option<Vec<String>>, StepError> {
    let mut members = vec![];
    let mut token = None;
    loop {
        let out = ctx
            .clients
            .idp
            .list_users_in_group()
            .user_pool_id(&ctx.settings.user_pool_id)
            .group_name(group)
            .set_next_token(token)
            .send()
            .await;
        let out = match out {
            Ok(o) => o,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(classify("cognito-idp", "ListUsersInGroup", &e)),
        };
        members.extend(out.users().iter().filter_map(|u| u.username().map(str::to_string)));
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(Some(members));
        }
    }
}

/// Removes the tenant's users: every member of its group, and `admin_email` if that user
/// is in no group at all (created by an attempt that failed before adding it).
pub async fn remove_tenant_users(
    ctx: &Context,
    tenant: &TenantId,
    admin_email: Option<&str>,
) -> Result<usize, StepError> {
    let names = TenantNames::new(tenant);
    // A group already gone has no members left to remove.
    let members = group_members(ctx, &names.group).await?.unwrap_or_default();
    let mut deleted = 0;
    for user in &members {
        if remove_user(ctx, &names.group, user).await? {
            deleted += 1;
        }
    }
    if let Some(email) = admin_email
        && groups_of(ctx, email).await?.is_some_and(|g| g.is_empty())
        && remove_user(ctx, &names.group, email).await?
    {
        deleted += 1;
    }
    info!(deleted, members = members.len(), "tenant users removed");
    Ok(deleted)
}
