//! The tenant's application secret in Secrets Manager.

use aws_sdk_secretsmanager::types::Tag as SecretTag;
use serde::Serialize;
use serde_json::{Value, json};
use tenant_domain::names::TAG_KEY;
use tenant_domain::{MappingType, TenantId, TenantNames};
use tracing::info;

use super::access::{Answer, Attempt, Reach, Whose};
use super::{Drift, DriftKind, Observation, Resource, Row, TenantResource, judge_found, not_found_row, retains_data};
use crate::error::classify;
use crate::ownership::require_tenant_tag;
use crate::{Context, Settings, StepError, StepInput};

pub struct Secret;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretObserved {
    pub arn: String,
    /// When Secrets Manager will delete it, if it is scheduled for deletion.
    pub deletion_date: Option<String>,
}

/// What `audit` reads of the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretAudited {
    pub deletion_date: Option<String>,
    /// The `tenant` tag.
    pub tag: Option<String>,
}

impl TenantResource for Secret {
    fn applies(_mode: MappingType) -> bool {
        true
    }

    /// The `tenant` tag it must carry.
    type Expected = String;

    fn expected(tenant: &TenantId, _settings: &Settings) -> String {
        tenant.to_string()
    }

    type Audited = SecretAudited;

    async fn audit_read(ctx: &Context, tenant: &TenantId) -> Observation<SecretAudited> {
        described(ctx, tenant).await.map(|d| SecretAudited {
            deletion_date: d.deleted_date().map(|t| t.to_string()),
            tag: secret_tags(d.tags())
                .find(|(k, _)| *k == TAG_KEY)
                .map(|(_, v)| v.to_string()),
        })
    }

    /// There, not scheduled for deletion, tagged with the tenant.
    fn judge(name: &str, tag: &String, audited: &Observation<SecretAudited>) -> Vec<Drift> {
        let what = format!("secret {name}");
        judge_found(Resource::Secret, &what, audited, |o| {
            let mut out = vec![];
            if let Some(date) = &o.deletion_date {
                out.push(Drift::new(
                    Resource::Secret,
                    DriftKind::Missing,
                    &what,
                    format!("the secret is scheduled for deletion ({date})"),
                ));
            }
            if o.tag.as_ref() != Some(tag) {
                out.push(Drift::differs(
                    Resource::Secret,
                    &what,
                    "tag tenant",
                    json!(tag),
                    json!(o.tag),
                ));
            }
            out
        })
    }

    type Observed = SecretObserved;

    fn name(tenant: &TenantId, _settings: &Settings) -> String {
        TenantNames::new(tenant).secret_name
    }

    async fn create(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
        create_secret(ctx, input).await
    }

    async fn delete(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
        delete_secret(ctx, input).await
    }

    async fn inspect(ctx: &Context, tenant: &TenantId) -> Observation<SecretObserved> {
        described(ctx, tenant).await.map(|d| SecretObserved {
            arn: d.arn().unwrap_or_default().to_string(),
            deletion_date: d.deleted_date().map(|t| t.to_string()),
        })
    }

    /// A secret scheduled for deletion is not residue: it goes by itself.
    fn present(observed: &SecretObserved) -> Vec<&'static str> {
        if observed.deletion_date.is_none() {
            vec!["secret"]
        } else {
            vec![]
        }
    }

    /// Reads the value and the description: refused on any secret but the tenant's own.
    async fn reach(_ctx: &Context, reach: &Reach<'_>) -> Vec<Attempt> {
        let name = match reach.whose {
            Whose::Canary => tenant_domain::canary::canary_secret_name(reach.target),
            Whose::Own | Whose::Other => TenantNames::new(reach.target).secret_name,
        };
        let secrets = &reach.session.secrets;
        let read = secrets.get_secret_value().secret_id(&name).send().await;
        let described = secrets.describe_secret().secret_id(&name).send().await;
        vec![
            Attempt::new(
                "secretsmanager:GetSecretValue",
                &name,
                Answer::of("secretsmanager", "GetSecretValue", &read),
            ),
            Attempt::new(
                "secretsmanager:DescribeSecret",
                &name,
                Answer::of("secretsmanager", "DescribeSecret", &described),
            ),
        ]
    }

    fn unusable(observed: &SecretObserved) -> bool {
        observed.deletion_date.is_some()
    }

    fn rows(name: &str, observed: &Observation<SecretObserved>) -> Vec<Row> {
        vec![
            not_found_row("secret", name, observed).unwrap_or_else(|| match observed.found() {
                Some(SecretObserved {
                    arn,
                    deletion_date: Some(date),
                }) => Row::new("secret", format!("scheduled for deletion ({date})"), arn),
                Some(o) => Row::new("secret", "exists", &o.arn),
                None => Row::new("secret", "absent", name),
            }),
        ]
    }

    const CENSUS_KIND: &'static str = "secret";

    /// Live secrets only: one scheduled for deletion goes by itself.
    async fn census(ctx: &Context) -> Result<Vec<(String, String)>, StepError> {
        let mut out = vec![];
        let mut pages = ctx.clients.secrets.list_secrets().into_paginator().send();
        while let Some(page) = pages.next().await {
            for sec in page
                .map_err(|e| classify("secretsmanager", "ListSecrets", &e))?
                .secret_list()
            {
                let name = sec.name().unwrap_or_default();
                if sec.deleted_date().is_none()
                    && let Some(id) = name.strip_prefix("tenants/").and_then(|r| r.split('/').next())
                {
                    out.push((id.to_string(), name.to_string()));
                }
            }
        }
        Ok(out)
    }

    fn census_name(tenant: &TenantId, _settings: &Settings) -> Option<String> {
        Some(TenantNames::new(tenant).secret_name)
    }
}

/// The tenant's secret as Secrets Manager describes it.
async fn described(
    ctx: &Context,
    tenant: &TenantId,
) -> Observation<aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput> {
    let names = TenantNames::new(tenant);
    match ctx
        .clients
        .secrets
        .describe_secret()
        .secret_id(&names.secret_name)
        .send()
        .await
    {
        Ok(d) => Observation::Found(d),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_not_found_exception()) =>
        {
            Observation::Absent(format!("no secret {}", names.secret_name))
        }
        Err(e) => Observation::unavailable(&classify("secretsmanager", "DescribeSecret", &e)),
    }
}

async fn create_secret(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let names = TenantNames::new(&tenant);
    let sm = &ctx.clients.secrets;
    let tag = SecretTag::builder().key(TAG_KEY).value(tenant.as_str()).build();

    // An earlier attempt's secret may exist, possibly scheduled for deletion.
    match sm.describe_secret().secret_id(&names.secret_name).send().await {
        Ok(existing) => {
            // Adopt only a secret onboarding made for this tenant: anything else under the
            // name would otherwise be re-tagged and later deleted as the tenant's.
            require_tenant_tag(
                &tenant,
                &format!("secret {}", names.secret_name),
                secret_tags(existing.tags()),
                "rename or delete it",
            )?;
            if existing.deleted_date().is_some() {
                sm.restore_secret()
                    .secret_id(&names.secret_name)
                    .send()
                    .await
                    .map_err(|e| secret_not_settled(classify("secretsmanager", "RestoreSecret", &e)))?;
            }
            sm.tag_resource()
                .secret_id(&names.secret_name)
                .tags(tag)
                .send()
                .await
                .map_err(|e| classify("secretsmanager", "TagResource", &e))?;
            let arn = existing.arn().unwrap_or_default().to_string();
            info!(secret = %arn, created = false, "secret ready");
            return Ok(json!({ "secret_arn": arn, "created": false }));
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_not_found_exception()) => {}
        Err(e) => return Err(classify("secretsmanager", "DescribeSecret", &e)),
    }
    let value = sm
        .get_random_password()
        .password_length(40)
        .exclude_punctuation(true)
        .send()
        .await
        .map_err(|e| classify("secretsmanager", "GetRandomPassword", &e))?
        .random_password()
        .unwrap_or_default()
        .to_string();
    let secret = json!({ "tenant_id": tenant, "api_key": value }).to_string();
    let result = sm
        .create_secret()
        .name(&names.secret_name)
        .description(format!("Tenant {tenant} application secret"))
        .secret_string(secret)
        .tags(tag)
        .send()
        .await;
    let arn = match result {
        Ok(out) => out.arn().unwrap_or_default().to_string(),
        // A concurrent run of this step won the race: its secret is the tenant's.
        Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_exists_exception()) => {
            return Box::pin(create_secret(ctx, input)).await;
        }
        Err(e) => return Err(secret_not_settled(classify("secretsmanager", "CreateSecret", &e))),
    };
    info!(secret = %arn, created = true, "secret ready");
    Ok(json!({ "secret_arn": arn, "created": true }))
}

/// A secret's tags as (key, value) pairs.
pub(crate) fn secret_tags(tags: &[SecretTag]) -> impl Iterator<Item = (&str, &str)> {
    tags.iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
}

/// Secrets Manager deletes asynchronously: right after a rollback force-deleted the
/// secret, creating or restoring it is refused for a short while. That clears by itself.
fn secret_not_settled(e: StepError) -> StepError {
    match e {
        StepError::AwsRequestFailed {
            service,
            operation,
            code,
            message,
        } if code == "InvalidRequestException" && message.contains("deletion") => StepError::ServiceUnavailable {
            service,
            operation,
            message,
        },
        other => other,
    }
}

async fn delete_secret(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let names = TenantNames::new(&tenant);
    let sm = &ctx.clients.secrets;
    let existing = match sm.describe_secret().secret_id(&names.secret_name).send().await {
        Ok(d) => d,
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_not_found_exception()) =>
        {
            return Ok(json!({ "deleted": false, "absent": format!("no secret {}", names.secret_name) }));
        }
        Err(e) => return Err(classify("secretsmanager", "DescribeSecret", &e)),
    };
    // Never delete a secret that is not the tenant's own.
    require_tenant_tag(
        &tenant,
        &format!("secret {}", names.secret_name),
        secret_tags(existing.tags()),
        "left in place",
    )?;
    let req = sm.delete_secret().secret_id(&names.secret_name);
    let (req, recovery) = match &input.offboard {
        // Offboarding keeps a recovery window; a tenant that never became ACTIVE has
        // nothing anyone could want back.
        Some(o) => (
            req.recovery_window_in_days(o.secret_recovery_days),
            Some(o.secret_recovery_days),
        ),
        None if existing.deleted_date().is_some() => return Ok(json!({ "deleted": true })),
        // The secret predates this attempt (restored from an offboarding): give it back
        // its recovery window instead of destroying it.
        None if retains_data(ctx, &tenant).await? => (req.recovery_window_in_days(7), Some(7)),
        None => (req.force_delete_without_recovery(true), None),
    };
    match req.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_not_found_exception()) => {}
        // Already scheduled for deletion: nothing more to do.
        Err(e)
            if e.as_service_error().is_some_and(|se| se.is_invalid_request_exception())
                && existing.deleted_date().is_some() => {}
        Err(e) => return Err(classify("secretsmanager", "DeleteSecret", &e)),
    }
    info!(secret = %names.secret_name, ?recovery, "secret deleted");
    Ok(json!({ "deleted": true, "recovery_days": recovery }))
}
