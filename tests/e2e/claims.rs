//! The pre-token-generation trigger on the local stack: the user pool calls it through
//! the local Lambda endpoint whenever it issues tokens.

use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, MessageActionType};
use base64::Engine as _;
use serde_json::Value;
use tenant_domain::TenantNames;

use crate::helpers::{spawn, tid};

const PASSWORD: &str = "Claim-Test-Passw0rd!";

/// A token's payload. The emulator signs with a fixed key: only the claims matter here.
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON payload")
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_carry_the_single_tenant_claim_and_two_tenant_groups_none() {
    let t = spawn().await;
    for tenant in ["acme", "globex"] {
        assert_eq!(t.onboard(tenant).await.status, "SUCCEEDED");
    }
    let ctx = &t.ops.ctx;
    let s = &ctx.settings;
    let idp = &ctx.clients.idp;
    let email = "claims-user@example.com";
    idp.admin_create_user()
        .user_pool_id(&s.user_pool_id)
        .username(email)
        .message_action(MessageActionType::Suppress)
        .send()
        .await
        .unwrap();
    idp.admin_set_user_password()
        .user_pool_id(&s.user_pool_id)
        .username(email)
        .password(PASSWORD)
        .permanent(true)
        .send()
        .await
        .unwrap();
    let join = async |tenant: &str| {
        idp.admin_add_user_to_group()
            .user_pool_id(&s.user_pool_id)
            .username(email)
            .group_name(TenantNames::new(&tid(tenant)).group)
            .send()
            .await
            .unwrap();
    };
    let sign_in = async || {
        let out = idp
            .admin_initiate_auth()
            .user_pool_id(&s.user_pool_id)
            .client_id(&s.user_pool_client_id)
            .auth_flow(AuthFlowType::AdminUserPasswordAuth)
            .auth_parameters("USERNAME", email)
            .auth_parameters("PASSWORD", PASSWORD)
            .send()
            .await
            .unwrap();
        let r = out.authentication_result().expect("tokens, not a challenge");
        (claims(r.id_token().unwrap()), claims(r.access_token().unwrap()))
    };

    // In no tenant group: no claim.
    let (id, access) = sign_in().await;
    assert_eq!(id.get("tenant_id"), None, "{id}");
    assert_eq!(access.get("tenant_id"), None, "{access}");

    // In acme's group: acme, in the ID and the access token; the groups are untouched.
    join("acme").await;
    let (id, access) = sign_in().await;
    assert_eq!(id["tenant_id"], "acme", "{id}");
    assert_eq!(access["tenant_id"], "acme", "{access}");
    assert_eq!(id["cognito:groups"], serde_json::json!(["tenant:acme:members"]), "{id}");

    // In acme's and globex's groups: no claim at all, not one of the two.
    join("globex").await;
    let (id, access) = sign_in().await;
    assert_eq!(id.get("tenant_id"), None, "{id}");
    assert_eq!(access.get("tenant_id"), None, "{access}");
}

/// A user in two tenant groups has no `tenant_id` claim, and so no tenant's access in
/// any mode: Rules match the claim (not the groups), Token finds two roles and no
/// preferred one (ambiguous: denied), Abac's shared role gets no tag (reaches nothing).
async fn two_tenant_groups_get_no_access(mode: tenant_domain::MappingType) {
    let t = crate::helpers::spawn_mode(mode).await;
    for tenant in ["acme", "globex"] {
        assert_eq!(t.onboard(tenant).await.status, "SUCCEEDED", "{mode:?}");
    }
    let ctx = &t.ops.ctx;
    let user = tenant_steps::probe::create_user(ctx, &tid("acme")).await.unwrap();
    ctx.clients
        .idp
        .admin_add_user_to_group()
        .user_pool_id(&ctx.settings.user_pool_id)
        .username(&user.username)
        .group_name(TenantNames::new(&tid("globex")).group)
        .send()
        .await
        .unwrap();
    let token = tenant_steps::probe::id_token(ctx, &user).await.unwrap();
    assert_eq!(claims(&token).get("tenant_id"), None, "{mode:?}");
    match tenant_steps::probe::session(ctx, &token).await {
        Err(e) => {
            assert_ne!(mode, tenant_domain::MappingType::Abac, "{e}");
            // The pool refuses the identity: no rule (Rules) or no single role (Token).
            assert!(e.to_string().contains("denied this request"), "{mode:?}: {e}");
        }
        Ok(session) => {
            assert_eq!(mode, tenant_domain::MappingType::Abac, "credentials were issued");
            for tenant in ["acme", "globex"] {
                let names = TenantNames::new(&tid(tenant));
                let read = session
                    .secrets
                    .get_secret_value()
                    .secret_id(&names.secret_name)
                    .send()
                    .await
                    .unwrap_err();
                assert_eq!(
                    aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(&read),
                    Some("AccessDeniedException"),
                    "{tenant}"
                );
                let get = session
                    .s3
                    .get_object()
                    .bucket(&ctx.settings.bucket)
                    .key(&names.marker_key)
                    .send()
                    .await
                    .unwrap_err();
                assert_eq!(
                    aws_sdk_s3::error::ProvideErrorMetadata::code(&get),
                    Some("AccessDenied"),
                    "{tenant}"
                );
            }
        }
    }
    t.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_tenant_groups_get_no_access_in_rules_mode() {
    two_tenant_groups_get_no_access(tenant_domain::MappingType::Rules).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_tenant_groups_get_no_access_in_token_mode() {
    two_tenant_groups_get_no_access(tenant_domain::MappingType::Token).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_tenant_groups_get_no_access_in_abac_mode() {
    two_tenant_groups_get_no_access(tenant_domain::MappingType::Abac).await;
}
