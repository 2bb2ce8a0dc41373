//! The tenant's prefix in the tenants' bucket, made visible by a marker object.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use serde::Serialize;
use serde_json::{Value, json};
use tenant_domain::names::TAG_KEY;
use tenant_domain::{MappingType, TenantId, TenantNames};
use tracing::info;

use super::{Drift, Observation, Resource, Row, TenantResource, judge_found, not_found_row, retains_data};
use crate::error::classify;
use crate::{Context, Settings, StepError, StepInput};

pub struct Prefix;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrefixObserved {
    pub objects: usize,
}

/// S3's code for a bucket that does not exist.
const NO_SUCH_BUCKET: &str = "NoSuchBucket";

impl TenantResource for Prefix {
    fn applies(_mode: MappingType) -> bool {
        true
    }

    type Expected = ();

    fn expected(_tenant: &TenantId, _settings: &Settings) {}

    fn judge(name: &str, _expected: &(), observed: &Observation<PrefixObserved>) -> Vec<Drift> {
        judge_found(Resource::Prefix, name, observed, |_| vec![])
    }

    type Observed = PrefixObserved;

    fn name(tenant: &TenantId, settings: &Settings) -> String {
        format!("s3://{}/{}", settings.bucket, TenantNames::new(tenant).prefix)
    }

    async fn create(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
        create_prefix(ctx, input).await
    }

    async fn delete(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
        delete_prefix(ctx, input).await
    }

    async fn inspect(ctx: &Context, tenant: &TenantId) -> Observation<PrefixObserved> {
        let names = TenantNames::new(tenant);
        let bucket = &ctx.settings.bucket;
        match ctx
            .clients
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(&names.prefix)
            .send()
            .await
        {
            Ok(listed) => match listed.key_count().unwrap_or(0).max(0) as usize {
                0 => Observation::Absent(format!("no object under s3://{bucket}/{}", names.prefix)),
                objects => Observation::Found(PrefixObserved { objects }),
            },
            Err(e) if e.code() == Some(NO_SUCH_BUCKET) => Observation::Absent(format!("no bucket {bucket}")),
            Err(e) => Observation::unavailable(&classify("s3", "ListObjectsV2", &e)),
        }
    }

    fn present(_observed: &PrefixObserved) -> Vec<&'static str> {
        vec!["prefix objects"]
    }

    fn unusable(_observed: &PrefixObserved) -> bool {
        false
    }

    fn rows(name: &str, observed: &Observation<PrefixObserved>) -> Vec<Row> {
        vec![not_found_row("prefix", name, observed).unwrap_or_else(|| {
            Row::new(
                "prefix",
                format!("{} object(s)", observed.found().map_or(0, |o| o.objects)),
                name,
            )
        })]
    }
}

async fn create_prefix(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let names = TenantNames::new(&tenant);
    let marker = json!({ "tenant_id": tenant, "prefix": names.prefix }).to_string();
    ctx.clients
        .s3
        .put_object()
        .bucket(&ctx.settings.bucket)
        .key(&names.marker_key)
        .content_type("application/json")
        .tagging(format!("{TAG_KEY}={tenant}"))
        .body(ByteStream::from(marker.into_bytes()))
        .send()
        .await
        .map_err(|e| classify("s3", "PutObject", &e))?;
    info!(prefix = %names.prefix, "prefix ready");
    Ok(json!({ "prefix": names.prefix, "marker": names.marker_key }))
}

async fn delete_prefix(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let names = TenantNames::new(&tenant);
    if input.offboard.as_ref().is_some_and(|o| o.keep_prefix) {
        return Ok(json!({ "kept": names.prefix }));
    }
    let s3 = &ctx.clients.s3;
    if input.offboard.is_none() && retains_data(ctx, &tenant).await? {
        // Rolling back a re-onboarding: the objects predate this attempt; only the
        // marker is ours.
        return match s3
            .delete_object()
            .bucket(&ctx.settings.bucket)
            .key(&names.marker_key)
            .send()
            .await
        {
            Ok(_) => Ok(json!({ "kept": names.prefix, "deleted_objects": 1 })),
            Err(e) if e.code() == Some(NO_SUCH_BUCKET) => Ok(bucket_gone(ctx, 0)),
            Err(e) => Err(classify("s3", "DeleteObject", &e)),
        };
    }
    let mut deleted = 0usize;
    loop {
        // Re-list from the start each round: deleting while paginating would skip keys.
        let page = s3
            .list_objects_v2()
            .bucket(&ctx.settings.bucket)
            .prefix(&names.prefix)
            .max_keys(1000)
            .send()
            .await;
        let page = match page {
            Ok(p) => p,
            Err(e) if e.code() == Some(NO_SUCH_BUCKET) => return Ok(bucket_gone(ctx, deleted)),
            Err(e) => return Err(classify("s3", "ListObjectsV2", &e)),
        };
        let keys: Vec<ObjectIdentifier> = page
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .filter_map(|k| ObjectIdentifier::builder().key(k).build().ok())
            .collect();
        if keys.is_empty() {
            break;
        }
        let batch = keys.len();
        let delete = Delete::builder()
            .set_objects(Some(keys))
            .quiet(true)
            .build()
            .map_err(StepError::internal)?;
        let out = s3
            .delete_objects()
            .bucket(&ctx.settings.bucket)
            .delete(delete)
            .send()
            .await;
        let out = match out {
            Ok(o) => o,
            Err(e) if e.code() == Some(NO_SUCH_BUCKET) => return Ok(bucket_gone(ctx, deleted)),
            Err(e) => return Err(classify("s3", "DeleteObjects", &e)),
        };
        deleted += batch;
        if let Some(err) = out.errors().first() {
            let message = format!("{}: {}", err.key().unwrap_or(""), err.message().unwrap_or(""));
            return Err(crate::error::classify_code(
                "s3",
                "DeleteObjects",
                err.code().unwrap_or("Unknown"),
                None,
                message,
            ));
        }
    }
    info!(prefix = %names.prefix, deleted, "prefix emptied");
    Ok(json!({ "deleted_objects": deleted }))
}

/// The bucket itself is gone: nothing of the tenant's is left in it, so the delete is done.
fn bucket_gone(ctx: &Context, deleted: usize) -> Value {
    info!(bucket = %ctx.settings.bucket, "bucket absent: prefix already gone");
    json!({ "deleted_objects": deleted, "absent": format!("no bucket {}", ctx.settings.bucket) })
}
