//! The tenant's prefix in the tenants' bucket, made visible by a marker object.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use serde::Serialize;
use serde_json::{Value, json};
use tenant_domain::names::{MARKER_NAME, TAG_KEY};
use tenant_domain::{MappingType, TenantId, TenantNames};
use tracing::info;

use super::access::{Answer, Attempt, Reach, Whose};
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

    /// The `tenant` tag its marker must carry.
    type Expected = String;

    fn expected(tenant: &TenantId, _settings: &Settings) -> String {
        tenant.to_string()
    }

    /// The marker object's `tenant` tag (None: untagged).
    type Audited = Option<String>;

    async fn audit_read(ctx: &Context, tenant: &TenantId) -> Observation<Option<String>> {
        let names = TenantNames::new(tenant);
        let tagging = ctx
            .clients
            .s3
            .get_object_tagging()
            .bucket(&ctx.settings.bucket)
            .key(&names.marker_key)
            .send()
            .await;
        match tagging {
            Ok(t) => Observation::Found(
                t.tag_set()
                    .iter()
                    .find(|t| t.key() == TAG_KEY)
                    .map(|t| t.value().to_string()),
            ),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                Observation::Absent("the marker object does not exist".into())
            }
            Err(e) => Observation::unavailable(&classify("s3", "GetObjectTagging", &e)),
        }
    }

    /// The marker that makes the prefix exists and carries the tenant's tag.
    fn judge(name: &str, tag: &String, audited: &Observation<Option<String>>) -> Vec<Drift> {
        let what = format!("prefix marker {name}{MARKER_NAME}");
        judge_found(Resource::Prefix, &what, audited, |found| {
            if found.as_ref() == Some(tag) {
                vec![]
            } else {
                vec![Drift::differs(
                    Resource::Prefix,
                    &what,
                    "tag tenant",
                    json!(tag),
                    json!(found),
                )]
            }
        })
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

    /// Writes an object, reads, lists and deletes under the target's prefix; for another
    /// tenant, also reads its marker and copies it (a copy reads its source). On the
    /// canary, only calls whose refusal does not depend on the key existing: S3 answers a
    /// read of a missing key with 403 to a caller without s3:ListBucket.
    async fn reach(ctx: &Context, reach: &Reach<'_>) -> Vec<Attempt> {
        let bucket = &ctx.settings.bucket;
        let s3 = &reach.session.s3;
        let names = TenantNames::new(reach.target);
        let prefix = match reach.whose {
            Whose::Canary => tenant_domain::canary::canary_prefix(reach.target),
            Whose::Own | Whose::Other => names.prefix.clone(),
        };
        let key = format!("{prefix}.probe/{}", reach.actor);
        let body = format!("isolation probe by {}", reach.actor);
        let mut out = vec![];
        let put = s3
            .put_object()
            .bucket(bucket)
            .key(&key)
            .body(ByteStream::from(body.clone().into_bytes()))
            .send()
            .await;
        let written = put.is_ok();
        out.push(Attempt::new("s3:PutObject", &key, Answer::of("s3", "PutObject", &put)));
        match reach.whose {
            Whose::Own => out.push(Attempt::new(
                "s3:GetObject",
                &key,
                read_back(s3, bucket, &key, &body).await,
            )),
            Whose::Other => {
                let read = s3.get_object().bucket(bucket).key(&names.marker_key).send().await;
                out.push(Attempt::new(
                    "s3:GetObject",
                    &names.marker_key,
                    Answer::of("s3", "GetObject", &read),
                ));
            }
            Whose::Canary => {}
        }
        let listed = s3.list_objects_v2().bucket(bucket).prefix(&prefix).send().await;
        out.push(Attempt::new(
            "s3:ListBucket",
            &prefix,
            Answer::of("s3", "ListObjectsV2", &listed),
        ));
        let deleted = s3.delete_object().bucket(bucket).key(&key).send().await;
        let left = written && deleted.is_err();
        out.push(Attempt::new(
            "s3:DeleteObject",
            &key,
            Answer::of("s3", "DeleteObject", &deleted),
        ));
        // Only the destination of the copy is the actor's own (or, for a user of no
        // tenant, the target's: both ends refused); IAM must refuse the source.
        let mut copied = None;
        if reach.whose == Whose::Other {
            let to = TenantNames::new(reach.own.unwrap_or(reach.target)).prefix;
            let copy_key = format!("{to}.probe/{}-copy", reach.actor);
            let copy = s3
                .copy_object()
                .bucket(bucket)
                .key(&copy_key)
                .copy_source(format!("{bucket}/{}", names.marker_key))
                .send()
                .await;
            if copy.is_ok() {
                copied = Some(copy_key);
            }
            out.push(Attempt::new(
                "s3:CopyObject (source)",
                &names.marker_key,
                Answer::of("s3", "CopyObject", &copy),
            ));
        }
        // What a wrongly allowed call left goes, with the caller's own role: a probe
        // object must never stay in someone else's prefix.
        for stale in [left.then_some(key), copied].into_iter().flatten() {
            let _ = ctx.clients.s3.delete_object().bucket(bucket).key(&stale).send().await;
        }
        out
    }

    const CENSUS_KIND: &'static str = "prefix";

    async fn census(ctx: &Context) -> Result<Vec<(String, String)>, StepError> {
        let mut out = vec![];
        let mut pages = ctx
            .clients
            .s3
            .list_objects_v2()
            .bucket(&ctx.settings.bucket)
            .prefix("tenants/")
            .delimiter("/")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = match page {
                // No bucket, no prefixes: `audit` reports the bucket itself as missing.
                Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_bucket()) => break,
                other => other.map_err(|e| classify("s3", "ListObjectsV2", &e))?,
            };
            for p in page.common_prefixes() {
                let prefix = p.prefix().unwrap_or_default();
                if let Some(id) = prefix.strip_prefix("tenants/").and_then(|r| r.strip_suffix('/')) {
                    out.push((id.to_string(), prefix.to_string()));
                }
            }
        }
        Ok(out)
    }

    fn census_name(tenant: &TenantId, _settings: &Settings) -> Option<String> {
        Some(TenantNames::new(tenant).prefix)
    }
}

/// Reads back the object the session wrote: allowed, and the same content.
async fn read_back(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &str) -> Answer {
    let read = s3.get_object().bucket(bucket).key(key).send().await;
    let object = match read {
        Ok(object) => object,
        Err(e) => return Answer::of("s3", "GetObject", &Err::<(), _>(e)),
    };
    match object.body.collect().await.map(|got| got.into_bytes()) {
        Ok(got) if got.as_ref() == body.as_bytes() => Answer::Allowed("read back what it wrote".into()),
        Ok(_) => Answer::Wrong(format!("the object it wrote to {key} read back different content")),
        Err(e) => Answer::Failed(StepError::ServiceUnavailable {
            service: "s3",
            operation: "GetObject",
            message: e.to_string(),
        }),
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
