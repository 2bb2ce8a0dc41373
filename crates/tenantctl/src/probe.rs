//! Proof of isolation with real identities: a throwaway user per tenant signs in through
//! the user pool, gets credentials from the identity pool, and tries its own and every
//! other tenant's prefix and secret. Allowed or denied is decided by IAM, not by us.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use anyhow::Context as _;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_cognitoidentityprovider::types::{AttributeType, AuthFlowType, MessageActionType};
use aws_sdk_s3::primitives::ByteStream;
use serde::Serialize;
use tenant_domain::{TenantId, TenantNames};

use crate::Ops;

/// A signed-in probe user and clients holding its tenant credentials.
pub struct Identity {
    pub tenant: TenantId,
    pub username: String,
    pub role_arn: Option<String>,
    pub s3: aws_sdk_s3::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Check {
    pub actor: String,
    pub target: String,
    pub action: String,
    pub expected: Outcome,
    pub actual: Outcome,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Denied,
    /// Neither: the call failed for another reason (counts as a failed check).
    Error,
}

impl Check {
    pub fn holds(&self) -> bool {
        self.expected == self.actual
    }
}

fn random_suffix() -> String {
    format!("{:016x}", RandomState::new().hash_one(std::time::SystemTime::now()))
}

/// Creates a user in the tenant's group, signs it in and exchanges its ID token for
/// identity-pool credentials.
pub async fn sign_in(ops: &Ops, tenant: &TenantId) -> anyhow::Result<Identity> {
    let s = &ops.ctx.settings;
    let c = &ops.ctx.clients;
    let names = TenantNames::new(tenant);
    // The deployed user pool signs users in by email address.
    let username = format!("probe-{tenant}-{}@example.invalid", &random_suffix()[..8]);
    let password = format!("Pr0be!{}aZ", random_suffix());
    c.idp
        .admin_create_user()
        .user_pool_id(&s.user_pool_id)
        .username(&username)
        .message_action(MessageActionType::Suppress)
        .user_attributes(AttributeType::builder().name("email").value(&username).build()?)
        .user_attributes(AttributeType::builder().name("email_verified").value("true").build()?)
        .send()
        .await
        .with_context(|| format!("creating probe user for {tenant}"))?;
    match sign_in_created(ops, tenant, &names, username.clone(), &password).await {
        Ok(identity) => Ok(identity),
        Err(e) => {
            // Never leave a signed-up probe user behind in a tenant's group.
            delete_username(ops, &username).await;
            Err(e)
        }
    }
}

async fn sign_in_created(
    ops: &Ops,
    tenant: &TenantId,
    names: &TenantNames,
    username: String,
    password: &str,
) -> anyhow::Result<Identity> {
    let s = &ops.ctx.settings;
    let c = &ops.ctx.clients;
    c.idp
        .admin_set_user_password()
        .user_pool_id(&s.user_pool_id)
        .username(&username)
        .password(password)
        .permanent(true)
        .send()
        .await
        .context("setting the probe user's password")?;
    c.idp
        .admin_add_user_to_group()
        .user_pool_id(&s.user_pool_id)
        .username(&username)
        .group_name(&names.group)
        .send()
        .await
        .with_context(|| format!("adding the probe user to {}", names.group))?;
    let auth = c
        .idp
        .admin_initiate_auth()
        .user_pool_id(&s.user_pool_id)
        .client_id(&s.user_pool_client_id)
        .auth_flow(AuthFlowType::AdminUserPasswordAuth)
        .auth_parameters("USERNAME", &username)
        .auth_parameters("PASSWORD", password)
        .send()
        .await
        .context("signing the probe user in")?;
    let id_token = auth
        .authentication_result()
        .and_then(|a| a.id_token())
        .context("sign-in returned no ID token")?
        .to_string();
    let logins = HashMap::from([(
        format!("cognito-idp.{}.amazonaws.com/{}", s.region, s.user_pool_id),
        id_token,
    )]);
    let id = c
        .identity
        .get_id()
        .identity_pool_id(&s.identity_pool_id)
        .set_logins(Some(logins.clone()))
        .send()
        .await
        .context("getting an identity from the identity pool")?;
    let identity_id = id.identity_id().context("no identity id")?.to_string();
    let creds = c
        .identity
        .get_credentials_for_identity()
        .identity_id(&identity_id)
        .set_logins(Some(logins))
        .send()
        .await
        .with_context(|| format!("getting credentials for {tenant}'s probe user from the identity pool"))?;
    let creds = creds.credentials().context("identity pool returned no credentials")?;
    let creds = Credentials::new(
        creds.access_key_id().unwrap_or_default(),
        creds.secret_key().unwrap_or_default(),
        creds.session_token().map(str::to_string),
        None,
        "cognito-identity",
    );
    let config = ops
        .sdk_config
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .build();
    Ok(Identity {
        tenant: tenant.clone(),
        username,
        role_arn: None,
        s3: tenant_steps::aws::s3_client(&config),
        secrets: aws_sdk_secretsmanager::Client::new(&config),
    })
}

pub async fn delete_user(ops: &Ops, identity: &Identity) {
    delete_username(ops, &identity.username).await;
}

async fn delete_username(ops: &Ops, username: &str) {
    let _ = ops
        .ctx
        .clients
        .idp
        .admin_delete_user()
        .user_pool_id(&ops.ctx.settings.user_pool_id)
        .username(username)
        .send()
        .await;
}

fn outcome<E: aws_sdk_s3::error::ProvideErrorMetadata>(r: Result<(), E>) -> (Outcome, String) {
    match r {
        Ok(()) => (Outcome::Allowed, "ok".into()),
        Err(e) => {
            let code = e.code().unwrap_or("Unknown").to_string();
            let msg = e.message().unwrap_or("").to_string();
            let o = if code == "AccessDenied" || code == "AccessDeniedException" {
                Outcome::Denied
            } else {
                Outcome::Error
            };
            (o, format!("{code}: {msg}"))
        }
    }
}

/// Every S3 and Secrets Manager action a tenant role is granted, by `actor` on `target`'s
/// resources: allowed on its own, denied on anyone else's.
pub async fn check(ops: &Ops, actor: &Identity, target: &TenantId) -> Vec<Check> {
    let bucket = &ops.ctx.settings.bucket;
    let names = TenantNames::new(target);
    let own = &actor.tenant == target;
    let expected = if own { Outcome::Allowed } else { Outcome::Denied };
    let key = format!("{}probe/{}.txt", names.prefix, actor.username);
    let mut checks = vec![];
    let mut record = |action: &str, (actual, detail): (Outcome, String)| {
        checks.push(Check {
            actor: actor.tenant.to_string(),
            target: target.to_string(),
            action: action.to_string(),
            expected,
            actual,
            detail,
        });
    };
    let put = actor
        .s3
        .put_object()
        .bucket(bucket)
        .key(&key)
        .body(ByteStream::from_static(b"probe"))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| e.into_service_error());
    record("s3:PutObject", outcome(put));
    // Read the marker the onboarding wrote, which exists whoever the actor is.
    let get = actor
        .s3
        .get_object()
        .bucket(bucket)
        .key(&names.marker_key)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| e.into_service_error());
    record("s3:GetObject", outcome(get));
    let list = actor
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&names.prefix)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| e.into_service_error());
    record("s3:ListBucket", outcome(list));
    let get_secret = actor
        .secrets
        .get_secret_value()
        .secret_id(&names.secret_name)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| e.into_service_error());
    record("secretsmanager:GetSecretValue", outcome(get_secret));
    let describe = actor
        .secrets
        .describe_secret()
        .secret_id(&names.secret_name)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| e.into_service_error());
    record("secretsmanager:DescribeSecret", outcome(describe));
    // Deletes the probe object it tried to write: its own (allowed), or one that should
    // not exist in another tenant's prefix (denied before S3 looks for it).
    let delete = actor
        .s3
        .delete_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| e.into_service_error());
    record("s3:DeleteObject", outcome(delete));
    // Removed whoever the actor is: a cross-tenant write that wrongly succeeded must
    // not leave a probe object in someone else's prefix.
    let _ = ops.ctx.clients.s3.delete_object().bucket(bucket).key(&key).send().await;
    checks
}

/// Signs in one probe user per tenant and checks every ordered pair.
pub async fn check_isolation(ops: &Ops, tenants: &[TenantId]) -> anyhow::Result<Vec<Check>> {
    let mut identities = vec![];
    for t in tenants {
        match sign_in(ops, t).await {
            Ok(i) => identities.push(i),
            Err(e) => {
                for i in &identities {
                    delete_user(ops, i).await;
                }
                return Err(e);
            }
        }
    }
    let mut checks = vec![];
    for actor in &identities {
        for target in tenants {
            checks.extend(check(ops, actor, target).await);
        }
    }
    for i in &identities {
        delete_user(ops, i).await;
    }
    Ok(checks)
}
