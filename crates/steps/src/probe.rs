//! Real identities of a tenant: a short-lived probe user in the tenant's group signs in
//! through the app client, exchanges its ID token at the identity pool (enhanced flow:
//! GetId + GetCredentialsForIdentity) and gets clients holding the resulting tenant
//! credentials. Used by the Verify step and by `tenantctl check-isolation`.

use std::collections::HashMap;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_cognitoidentityprovider::types::{AttributeType, AuthFlowType, MessageActionType};
use tenant_domain::canary::{is_probe_email, probe_email, probe_password};
use tenant_domain::{TenantId, TenantNames};
use tracing::info;

use crate::error::classify;
use crate::{Context, StepError};

/// A probe user created in a tenant's group. `username` is the pool's own name for it
/// (a GUID, since the pool signs users in by email).
#[derive(Debug, Clone)]
pub struct ProbeUser {
    pub tenant: TenantId,
    pub email: String,
    pub username: String,
    password: String,
}

/// Clients that act with a probe user's tenant credentials.
#[derive(Debug, Clone)]
pub struct TenantSession {
    pub identity_id: String,
    pub s3: aws_sdk_s3::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    /// The same credentials, for requests signed outside the SDK (check-isolation's SigV2
    /// GET): an S3 client config does not give its credentials back.
    pub credentials: Credentials,
}

/// Operating-system randomness; a probe password must not be guessable.
fn random_bytes<const N: usize>() -> Result<[u8; N], StepError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| StepError::Misconfigured {
        message: format!("no operating-system randomness for the probe user's password: {e}"),
    })?;
    Ok(buf)
}

/// Creates a user with a random permanent password in the tenant's group. Removed again
/// if any part of its setup fails.
pub async fn create_user(ctx: &Context, tenant: &TenantId) -> Result<ProbeUser, StepError> {
    let s = &ctx.settings;
    let idp = &ctx.clients.idp;
    let email = probe_email(tenant, u64::from_le_bytes(random_bytes::<8>()?));
    let password = probe_password(&random_bytes::<24>()?);
    let out = idp
        .admin_create_user()
        .user_pool_id(&s.user_pool_id)
        .username(&email)
        .message_action(MessageActionType::Suppress)
        .user_attributes(
            AttributeType::builder()
                .name("email")
                .value(&email)
                .build()
                .map_err(StepError::internal)?,
        )
        .user_attributes(
            AttributeType::builder()
                .name("email_verified")
                .value("true")
                .build()
                .map_err(StepError::internal)?,
        )
        .send()
        .await
        .map_err(|e| classify("cognito-idp", "AdminCreateUser", &e))?;
    let username = out
        .user()
        .and_then(|u| u.username())
        .unwrap_or(email.as_str())
        .to_string();
    let user = ProbeUser {
        tenant: tenant.clone(),
        email,
        username,
        password,
    };
    if let Err(e) = finish_setup(ctx, &user).await {
        // Never leave a half-made probe user in a tenant's group.
        let _ = delete_user(ctx, &user).await;
        return Err(e);
    }
    Ok(user)
}

async fn finish_setup(ctx: &Context, user: &ProbeUser) -> Result<(), StepError> {
    let s = &ctx.settings;
    let idp = &ctx.clients.idp;
    idp.admin_set_user_password()
        .user_pool_id(&s.user_pool_id)
        .username(&user.username)
        .password(&user.password)
        .permanent(true)
        .send()
        .await
        .map_err(|e| classify("cognito-idp", "AdminSetUserPassword", &e))?;
    idp.admin_add_user_to_group()
        .user_pool_id(&s.user_pool_id)
        .username(&user.username)
        .group_name(TenantNames::new(&user.tenant).group)
        .send()
        .await
        .map_err(|e| classify("cognito-idp", "AdminAddUserToGroup", &e))?;
    Ok(())
}

/// Signs the user in through the app client and returns its ID token.
pub async fn id_token(ctx: &Context, user: &ProbeUser) -> Result<String, StepError> {
    password_id_token(ctx, &user.username, &user.password).await
}

/// Signs any user of the pool in with its password (the app client's admin password
/// flow) and returns its ID token.
pub async fn password_id_token(ctx: &Context, username: &str, password: &str) -> Result<String, StepError> {
    let s = &ctx.settings;
    let auth = ctx
        .clients
        .idp
        .admin_initiate_auth()
        .user_pool_id(&s.user_pool_id)
        .client_id(&s.user_pool_client_id)
        .auth_flow(AuthFlowType::AdminUserPasswordAuth)
        .auth_parameters("USERNAME", username)
        .auth_parameters("PASSWORD", password)
        .send()
        .await
        .map_err(|e| classify("cognito-idp", "AdminInitiateAuth", &e))?;
    auth.authentication_result()
        .and_then(|a| a.id_token())
        .map(str::to_string)
        .ok_or_else(|| StepError::AwsRequestFailed {
            service: "cognito-idp",
            operation: "AdminInitiateAuth",
            code: "NoIdToken".into(),
            message: "sign-in returned no ID token (a challenge instead?)".into(),
        })
}

/// The user pool's provider name in identity-pool `Logins`.
pub fn login_provider(ctx: &Context) -> String {
    format!(
        "cognito-idp.{}.amazonaws.com/{}",
        ctx.settings.region, ctx.settings.user_pool_id
    )
}

/// Exchanges an ID token for tenant credentials. A refusal that a just-created role or
/// mapping causes until IAM and Cognito catch up (the role is not assumable yet, no rule
/// matches yet) is `IamNotPropagated`.
pub async fn session(ctx: &Context, id_token: &str) -> Result<TenantSession, StepError> {
    let s = &ctx.settings;
    let identity = &ctx.clients.identity;
    let logins = HashMap::from([(login_provider(ctx), id_token.to_string())]);
    let id = identity
        .get_id()
        .identity_pool_id(&s.identity_pool_id)
        .set_logins(Some(logins.clone()))
        .send()
        .await
        .map_err(|e| classify("cognito-identity", "GetId", &e))?;
    let identity_id = id.identity_id().unwrap_or_default().to_string();
    let out = identity
        .get_credentials_for_identity()
        .identity_id(&identity_id)
        .set_logins(Some(logins))
        .send()
        .await
        .map_err(|e| {
            use aws_sdk_cognitoidentity::error::ProvideErrorMetadata;
            match e.code() {
                Some("InvalidIdentityPoolConfigurationException" | "NotAuthorizedException") => {
                    StepError::IamNotPropagated {
                        service: "cognito-identity",
                        operation: "GetCredentialsForIdentity",
                        message: format!("{}: {}", e.code().unwrap_or(""), e.message().unwrap_or("")),
                    }
                }
                _ => classify("cognito-identity", "GetCredentialsForIdentity", &e),
            }
        })?;
    let c = out.credentials().ok_or_else(|| StepError::AwsRequestFailed {
        service: "cognito-identity",
        operation: "GetCredentialsForIdentity",
        code: "NoCredentials".into(),
        message: "the identity pool returned no credentials".into(),
    })?;
    let credentials = Credentials::new(
        c.access_key_id().unwrap_or_default(),
        c.secret_key().unwrap_or_default(),
        c.session_token().map(str::to_string),
        None,
        "cognito-identity",
    );
    let creds = SharedCredentialsProvider::new(credentials.clone());
    // Same endpoint, region and S3 addressing as the function's own clients; only the
    // credentials differ.
    let s3 = aws_sdk_s3::Client::from_conf(
        ctx.clients
            .s3
            .config()
            .to_builder()
            .credentials_provider(creds.clone())
            .build(),
    );
    let secrets = aws_sdk_secretsmanager::Client::from_conf(
        ctx.clients
            .secrets
            .config()
            .to_builder()
            .credentials_provider(creds)
            .build(),
    );
    Ok(TenantSession {
        identity_id,
        s3,
        secrets,
        credentials,
    })
}

/// Creates a probe user, signs it in and returns its tenant session. The user is deleted
/// again if signing in fails; otherwise the caller deletes it with [`delete_user`].
pub async fn sign_in(ctx: &Context, tenant: &TenantId) -> Result<(ProbeUser, TenantSession), StepError> {
    let user = create_user(ctx, tenant).await?;
    let result = match id_token(ctx, &user).await {
        Ok(token) => session(ctx, &token).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(session) => Ok((user, session)),
        Err(e) => {
            let _ = delete_user(ctx, &user).await;
            Err(e)
        }
    }
}

/// Deletes a probe user; one that is already gone is fine.
pub async fn delete_user(ctx: &Context, user: &ProbeUser) -> Result<(), StepError> {
    delete_username(ctx, &user.username).await
}

async fn delete_username(ctx: &Context, username: &str) -> Result<(), StepError> {
    match ctx
        .clients
        .idp
        .admin_delete_user()
        .user_pool_id(&ctx.settings.user_pool_id)
        .username(username)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|se| se.is_user_not_found_exception()) => Ok(()),
        Err(e) => Err(classify("cognito-idp", "AdminDeleteUser", &e)),
    }
}

/// Forgets the identity a probe user got from the identity pool, so proofs do not pile
/// up identities. Best effort: an identity without its user can sign nobody in.
pub async fn forget_identity(ctx: &Context, identity_id: &str) {
    let _ = ctx
        .clients
        .identity
        .delete_identities()
        .identity_ids_to_delete(identity_id)
        .send()
        .await;
}

/// Deletes every probe user left in the tenant's group (a crashed or timed-out proof);
/// real users are never touched. A group that does not exist has none.
pub async fn sweep(ctx: &Context, tenant: &TenantId) -> Result<usize, StepError> {
    let names = TenantNames::new(tenant);
    let mut pages = ctx
        .clients
        .idp
        .list_users_in_group()
        .user_pool_id(&ctx.settings.user_pool_id)
        .group_name(&names.group)
        .into_paginator()
        .send();
    let mut leftovers = vec![];
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_not_found_exception()) =>
            {
                return Ok(0);
            }
            Err(e) => return Err(classify("cognito-idp", "ListUsersInGroup", &e)),
        };
        for user in page.users() {
            let email = user
                .attributes()
                .iter()
                .find(|a| a.name() == "email")
                .and_then(|a| a.value());
            if email.is_some_and(|e| is_probe_email(tenant, e))
                && let Some(name) = user.username()
            {
                leftovers.push(name.to_string());
            }
        }
    }
    for name in &leftovers {
        delete_username(ctx, name).await?;
    }
    if !leftovers.is_empty() {
        info!(deleted = leftovers.len(), "leftover probe users deleted");
    }
    Ok(leftovers.len())
}
