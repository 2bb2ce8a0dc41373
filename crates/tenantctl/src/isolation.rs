//! Proof of isolation with real identities: a throwaway user per tenant signs in through
//! the user pool, gets credentials from the identity pool, and tries its own and every
//! other tenant's prefix and secret. Allowed or denied is decided by IAM, not by us.

use anyhow::Context as _;
use aws_sdk_s3::primitives::ByteStream;
use serde::Serialize;
use tenant_domain::{TenantId, TenantNames};
use tenant_steps::probe::ProbeUser;

use crate::Ops;

/// A signed-in probe user and clients holding its tenant credentials.
pub struct Identity {
    pub tenant: TenantId,
    pub username: String,
    pub role_arn: Option<String>,
    pub s3: aws_sdk_s3::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    user: ProbeUser,
    identity_id: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Check {
    pub actor: String,
    pub target: String,
    pub action: String,
    pub expected: Access,
    pub actual: Access,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub enum Access {
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

/// Creates a user in the tenant's group, signs it in and exchanges its ID token for
/// identity-pool credentials (the same code the Verify step runs).
pub async fn sign_in(ops: &Ops, tenant: &TenantId) -> anyhow::Result<Identity> {
    let (user, session) = tenant_steps::probe::sign_in(&ops.ctx, tenant)
        .await
        .with_context(|| format!("signing a probe user of {tenant} in"))?;
    Ok(Identity {
        tenant: tenant.clone(),
        username: user.username.clone(),
        role_arn: None,
        s3: session.s3,
        secrets: session.secrets,
        user,
        identity_id: session.identity_id,
    })
}

pub async fn delete_user(ops: &Ops, identity: &Identity) {
    let _ = tenant_steps::probe::delete_user(&ops.ctx, &identity.user).await;
    tenant_steps::probe::forget_identity(&ops.ctx, &identity.identity_id).await;
}

fn outcome<E: aws_sdk_s3::error::ProvideErrorMetadata>(r: Result<(), E>) -> (Access, String) {
    match r {
        Ok(()) => (Access::Allowed, "ok".into()),
        Err(e) => {
            let code = e.code().unwrap_or("Unknown").to_string();
            let msg = e.message().unwrap_or("").to_string();
            let o = if code == "AccessDenied" || code == "AccessDeniedException" {
                Access::Denied
            } else {
                Access::Error
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
    let expected = if own { Access::Allowed } else { Access::Denied };
    let key = format!("{}probe/{}.txt", names.prefix, actor.username);
    let mut checks = vec![];
    let mut record = |action: &str, (actual, detail): (Access, String)| {
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
    // A copy reads its source: the target's marker copied into the actor's own prefix.
    // Only the destination would be the actor's; IAM must refuse the source for another
    // tenant (s3:GetObject on it), so the copy is checked as a read of the target.
    let copy_key = format!(
        "{}probe/{}-copy.txt",
        TenantNames::new(&actor.tenant).prefix,
        actor.username
    );
    let copy = actor
        .s3
        .copy_object()
        .bucket(bucket)
        .key(&copy_key)
        .copy_source(format!("{bucket}/{}", names.marker_key))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| e.into_service_error());
    record("s3:CopyObject (source)", outcome(copy));
    let _ = ops
        .ctx
        .clients
        .s3
        .delete_object()
        .bucket(bucket)
        .key(&copy_key)
        .send()
        .await;
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
