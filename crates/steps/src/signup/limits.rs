//! The page's abuse limits beyond the API Gateway throttle (`tenant_domain::limit` judges):
//! every valid sign-up counts once against its email address and once against its source
//! address, in one atomic counter per scope, key and fixed window in the tenants table.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use tenant_domain::limit::{Limit, Refusal, Scope, Verdict};

use crate::record::attr;
use crate::{Context, StepError};

/// Counters live in the tenants table under keys no tenant id can take (`#` is outside
/// the grammar, like the mapping lock's); they carry no status, so no reader takes them
/// for a tenant, and the table's TTL deletes them once their window has passed.
pub const KEY_PREFIX: &str = "#signup-limit";
const HITS: &str = "hits";

fn counter_key(scope: Scope, key: &str, window_start: u64) -> String {
    format!("{KEY_PREFIX}:{}:{key}:{window_start}", scope.as_str())
}

/// Counts this sign-up against each limit that applies; the first one it exceeds, if any.
/// A source is unknown only to in-process callers (tests); then only the email counts.
pub async fn admit(ctx: &Context, source: Option<&str>, email: &str) -> Result<Option<Refusal>, StepError> {
    let email = email.trim().to_lowercase();
    let limits = [
        (Scope::Source, source, ctx.settings.signup_limit_per_source),
        (Scope::Email, Some(email.as_str()), ctx.settings.signup_limit_per_email),
    ];
    for (scope, key, limit) in limits {
        let Some(key) = key.filter(|_| !limit.is_off()) else {
            continue;
        };
        if let Verdict::Refuse(r) = count(ctx, scope, key, limit).await? {
            tracing::warn!(scope = scope.as_str(), limit = %limit, "signup refused: over the limit");
            return Ok(Some(r));
        }
    }
    Ok(None)
}

async fn count(ctx: &Context, scope: Scope, key: &str, limit: Limit) -> Result<Verdict, StepError> {
    let now = crate::record::now();
    let (start, end) = limit.window(now);
    let out = ctx
        .clients
        .ddb
        .update_item()
        .table_name(&ctx.settings.table)
        .key(attr::TENANT_ID, AttributeValue::S(counter_key(scope, key, start)))
        .update_expression("ADD #h :one SET #x = :end")
        .expression_attribute_names("#h", HITS)
        .expression_attribute_names("#x", attr::SIGNUP_EXPIRES_AT)
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .expression_attribute_values(":end", AttributeValue::N(end.to_string()))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await
        .map_err(|e| {
            crate::error::classify("dynamodb", "UpdateItem", &e).about(format!("table {}", ctx.settings.table))
        })?;
    let hits = out
        .attributes()
        .and_then(|a| a.get(HITS))
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    Ok(limit.judge(scope, hits, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_keys_cannot_be_tenant_ids_and_differ_by_scope_key_and_window() {
        let k = counter_key(Scope::Email, "a@acme.io", 3600);
        assert_eq!(k, "#signup-limit:email:a@acme.io:3600");
        assert!(tenant_domain::TenantId::parse(&k).is_err());
        assert_ne!(k, counter_key(Scope::Source, "a@acme.io", 3600));
        assert_ne!(k, counter_key(Scope::Email, "a@acme.io", 7200));
    }
}
