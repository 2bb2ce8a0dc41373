//! The pre-token-generation trigger: puts the user's `tenant_id` claim in their tokens.
//!
//! Cognito sends the V1_0 event (ID token only) or, where the pool's feature plan allows
//! the V2_0/V3_0 trigger, the V2 event (ID and access tokens); the event's `version`
//! says which. The decision is [`tenant_domain::claim::tenant_claim`]; this module only
//! reads and answers Cognito's event. The user's groups are echoed back unchanged: the
//! response's group override is not optional in either shape, and an empty one would
//! strip `cognito:groups` (and with it the Rules/Token role mapping).

use std::collections::HashMap;

use aws_lambda_events::event::cognito::{
    ClaimsAndScopeOverrideDetailsV2, ClaimsOverrideDetails, CognitoAccessTokenGenerationV2,
    CognitoEventUserPoolsPreTokenGen, CognitoEventUserPoolsPreTokenGenV2, CognitoIdTokenGenerationV2,
    GroupConfiguration,
};
use serde_json::Value;
use tenant_domain::claim::{CLAIM, TenantClaim, tenant_claim};

use crate::StepError;

/// The claim for these groups, with the event logged when there is none to give.
fn decide(user: Option<&str>, groups: &GroupConfiguration) -> Option<String> {
    match tenant_claim(&groups.groups_to_override) {
        TenantClaim::Tenant(t) => Some(t.as_str().to_string()),
        TenantClaim::NoTenantGroup => {
            tracing::info!(user, "no tenant group: token issued without a tenant claim");
            None
        }
        TenantClaim::Ambiguous(tenants) => {
            let tenants: Vec<&str> = tenants.iter().map(|t| t.as_str()).collect();
            tracing::warn!(
                user,
                tenants = tenants.join(","),
                "user is in more than one tenant group: token issued without a tenant claim"
            );
            None
        }
    }
}

fn invalid(e: serde_json::Error) -> StepError {
    StepError::InvalidInput {
        message: format!("pre-token-generation event: {e}"),
    }
}

/// Answers a pre-token-generation event of any version with the event and its response.
pub fn handle(event: Value) -> Result<Value, StepError> {
    let version = event.get("version").and_then(Value::as_str).unwrap_or("1");
    if version == "1" {
        let mut e: CognitoEventUserPoolsPreTokenGen = serde_json::from_value(event).map_err(invalid)?;
        let user = e.cognito_event_user_pools_header.user_name.clone();
        let claim = decide(user.as_deref(), &e.request.group_configuration);
        let mut details = ClaimsOverrideDetails::default();
        details.group_override_details = e.request.group_configuration.clone();
        details.claims_to_add_or_override = claim.into_iter().map(|t| (CLAIM.to_string(), t)).collect();
        e.response.claims_override_details = Some(details);
        serde_json::to_value(e).map_err(invalid)
    } else {
        let mut e: CognitoEventUserPoolsPreTokenGenV2 = serde_json::from_value(event).map_err(invalid)?;
        let user = e.cognito_event_user_pools_header.user_name.clone();
        let claim = decide(user.as_deref(), &e.request.group_configuration);
        let claims: HashMap<String, Value> = claim
            .into_iter()
            .map(|t| (CLAIM.to_string(), Value::String(t)))
            .collect();
        let mut id = CognitoIdTokenGenerationV2::default();
        id.claims_to_add_or_override = claims.clone();
        let mut access = CognitoAccessTokenGenerationV2::default();
        access.claims_to_add_or_override = claims;
        let mut details = ClaimsAndScopeOverrideDetailsV2::default();
        details.group_override_details = e.request.group_configuration.clone();
        details.id_token_generation = Some(id);
        details.access_token_generation = Some(access);
        e.response.claims_and_scope_override_details = Some(details);
        serde_json::to_value(e).map_err(invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(version: &str, groups: &[&str]) -> Value {
        let mut e = json!({
            "version": version,
            "triggerSource": "TokenGeneration_Authentication",
            "region": "us-east-1",
            "userPoolId": "us-east-1_pool",
            "userName": "alice",
            "callerContext": { "awsSdkVersion": "aws-sdk-unknown", "clientId": "client" },
            "request": {
                "userAttributes": { "sub": "1234", "email": "alice@example.com" },
                "groupConfiguration": {
                    "groupsToOverride": groups,
                    "iamRolesToOverride": ["arn:aws:iam::123456789012:role/tenants/tenant-acme"],
                    "preferredRole": "arn:aws:iam::123456789012:role/tenants/tenant-acme"
                },
                "clientMetadata": {}
            },
            "response": {}
        });
        if version != "1" {
            e["request"]["scopes"] = json!(["aws.cognito.signin.user.admin"]);
        }
        e
    }

    #[test]
    fn v2_puts_the_claim_in_id_and_access_tokens() {
        for version in ["2", "3"] {
            let out = handle(event(version, &["tenant:acme:members"])).unwrap();
            let d = &out["response"]["claimsAndScopeOverrideDetails"];
            assert_eq!(
                d["idTokenGeneration"]["claimsToAddOrOverride"],
                json!({ "tenant_id": "acme" })
            );
            assert_eq!(
                d["accessTokenGeneration"]["claimsToAddOrOverride"],
                json!({ "tenant_id": "acme" })
            );
            // Groups and roles pass through untouched: Rules and Token mapping still work.
            assert_eq!(
                d["groupOverrideDetails"]["groupsToOverride"],
                json!(["tenant:acme:members"])
            );
            assert_eq!(
                d["groupOverrideDetails"]["preferredRole"],
                "arn:aws:iam::123456789012:role/tenants/tenant-acme"
            );
        }
    }

    #[test]
    fn v1_puts_the_claim_in_the_id_token() {
        let out = handle(event("1", &["tenant:acme:members", "ops"])).unwrap();
        let d = &out["response"]["claimsOverrideDetails"];
        assert_eq!(d["claimsToAddOrOverride"], json!({ "tenant_id": "acme" }));
        assert_eq!(
            d["groupOverrideDetails"]["groupsToOverride"],
            json!(["tenant:acme:members", "ops"])
        );
    }

    #[test]
    fn two_tenant_groups_or_none_give_no_claim() {
        for groups in [
            &["tenant:acme:members", "tenant:globex:members"][..],
            &[][..],
            &["ops"][..],
        ] {
            let out = handle(event("2", groups)).unwrap();
            let d = &out["response"]["claimsAndScopeOverrideDetails"];
            assert_eq!(d["idTokenGeneration"]["claimsToAddOrOverride"], json!({}), "{groups:?}");
            assert_eq!(
                d["accessTokenGeneration"]["claimsToAddOrOverride"],
                json!({}),
                "{groups:?}"
            );
            let out = handle(event("1", groups)).unwrap();
            assert_eq!(
                out["response"]["claimsOverrideDetails"]["claimsToAddOrOverride"],
                json!({})
            );
        }
    }

    /// A user in two tenant groups is an event an operator must be able to find.
    #[test]
    fn two_tenant_groups_are_logged() {
        let (_, text) = crate::lambda::capture_logs(|| {
            handle(event("2", &["tenant:globex:members", "tenant:acme:members"])).unwrap()
        });
        let line: Value = serde_json::from_str(text.lines().last().expect("a log line")).unwrap();
        assert_eq!(line["level"], "WARN", "{text}");
        assert_eq!(line["fields"]["user"], "alice", "{text}");
        assert_eq!(line["fields"]["tenants"], "acme,globex", "{text}");
    }

    #[test]
    fn a_malformed_event_is_invalid_input() {
        let err = handle(json!({ "version": "2", "request": "not an object" })).unwrap_err();
        assert_eq!(err.name(), "InvalidInput");
    }
}
