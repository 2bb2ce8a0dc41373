//! Trust of tenant roles, as STS evaluates it: a tenant role's credentials come only from
//! this deployment's identity pool, for authenticated identities, through the enhanced
//! flow. Another pool mapping to the role, an unauthenticated identity, and the basic
//! (classic) flow are all refused.

use std::collections::HashMap;

use aws_sdk_cognitoidentity::error::ProvideErrorMetadata;
use aws_sdk_cognitoidentity::types::CognitoIdentityProvider;
use aws_sdk_cognitoidentity::types::{
    MappingRule, MappingRuleMatchType, RoleMapping, RoleMappingType, RulesConfigurationType,
};
use tenant_domain::TenantNames;
use tenant_steps::probe;

use tenant_domain::MappingType;

use crate::helpers::{TestStack, spawn_mode, tid};

/// A second identity pool on the same user pool and app client.
async fn other_pool(t: &TestStack, name: &str, unauthenticated: bool, classic: bool) -> String {
    let s = &t.ops.ctx.settings;
    t.ops
        .ctx
        .clients
        .identity
        .create_identity_pool()
        .identity_pool_name(name)
        .allow_unauthenticated_identities(unauthenticated)
        .allow_classic_flow(classic)
        .cognito_identity_providers(
            CognitoIdentityProvider::builder()
                .provider_name(probe::login_provider(&t.ops.ctx))
                .client_id(&s.user_pool_client_id)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .identity_pool_id()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_role_is_refused_to_other_pools_guests_and_the_classic_flow() {
    tenant_role_is_refused_elsewhere(MappingType::Rules).await;
}

/// The same refusals for Abac mode's shared role: its trust, like a tenant role's, admits
/// only this pool's authenticated identities through the enhanced flow.
#[tokio::test(flavor = "multi_thread")]
async fn the_shared_abac_role_is_refused_to_other_pools_guests_and_the_classic_flow() {
    tenant_role_is_refused_elsewhere(MappingType::Abac).await;
}

async fn tenant_role_is_refused_elsewhere(mode: MappingType) {
    let t = spawn_mode(mode).await;
    assert_eq!(t.onboard("acme").await.status, "SUCCEEDED");
    let ctx = &t.ops.ctx;
    let ci = &ctx.clients.identity;
    let s = &ctx.settings;
    // The role acme's users get: its own, or the pool's default (the shared one).
    let role_arn = if mode.has_tenant_role() {
        TenantNames::new(&tid("acme")).role_arn(&s.partition, &s.account_id)
    } else {
        let roles = tenant_steps::mapping::pool_roles(ctx).await.unwrap();
        roles.roles().unwrap()["authenticated"].clone()
    };

    // Positive control: the deployment's own pool gives acme's user acme's credentials.
    let user = probe::create_user(ctx, &tid("acme")).await.unwrap();
    let token = probe::id_token(ctx, &user).await.unwrap();
    probe::session(ctx, &token)
        .await
        .expect("the deployment's pool issues acme's credentials");
    let logins = HashMap::from([(probe::login_provider(ctx), token.clone())]);

    // Another pool whose mapping sends acme's group to acme's role.
    let other = other_pool(&t, "elsewhere", false, false).await;
    let rule = MappingRule::builder()
        .claim("cognito:groups")
        .match_type(MappingRuleMatchType::Contains)
        .value(TenantNames::new(&tid("acme")).group)
        .role_arn(&role_arn)
        .build()
        .unwrap();
    let mapping = RoleMapping::builder()
        .r#type(RoleMappingType::Rules)
        .ambiguous_role_resolution(aws_sdk_cognitoidentity::types::AmbiguousRoleResolutionType::Deny)
        .rules_configuration(RulesConfigurationType::builder().rules(rule).build().unwrap())
        .build()
        .unwrap();
    ci.set_identity_pool_roles()
        .identity_pool_id(&other)
        .role_mappings(
            format!("{}:{}", probe::login_provider(ctx), s.user_pool_client_id),
            mapping,
        )
        .send()
        .await
        .unwrap();
    let id = ci
        .get_id()
        .identity_pool_id(&other)
        .set_logins(Some(logins.clone()))
        .send()
        .await
        .unwrap();
    let err = ci
        .get_credentials_for_identity()
        .identity_id(id.identity_id().unwrap())
        .set_logins(Some(logins.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidIdentityPoolConfigurationException"), "{err:?}");

    // A pool that hands acme's role to unauthenticated guests.
    let guests = other_pool(&t, "guests", true, false).await;
    ci.set_identity_pool_roles()
        .identity_pool_id(&guests)
        .roles("unauthenticated", &role_arn)
        .send()
        .await
        .unwrap();
    let guest = ci.get_id().identity_pool_id(&guests).send().await.unwrap();
    let err = ci
        .get_credentials_for_identity()
        .identity_id(guest.identity_id().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidIdentityPoolConfigurationException"), "{err:?}");

    // The basic flow: off on the deployment's pool ...
    let own = ci
        .get_id()
        .identity_pool_id(&s.identity_pool_id)
        .set_logins(Some(logins.clone()))
        .send()
        .await
        .unwrap();
    let err = ci
        .get_open_id_token()
        .identity_id(own.identity_id().unwrap())
        .set_logins(Some(logins.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterException"), "{err:?}");
    // ... and a token from a pool that allows it cannot be traded for acme's role at STS.
    let classic = other_pool(&t, "classic", false, true).await;
    let cid = ci
        .get_id()
        .identity_pool_id(&classic)
        .set_logins(Some(logins.clone()))
        .send()
        .await
        .unwrap();
    let open_id = ci
        .get_open_id_token()
        .identity_id(cid.identity_id().unwrap())
        .set_logins(Some(logins))
        .send()
        .await
        .unwrap();
    let sts = aws_sdk_sts::Client::new(&t.ops.sdk_config);
    let err = sts
        .assume_role_with_web_identity()
        .role_arn(&role_arn)
        .role_session_name("classic-flow")
        .web_identity_token(open_id.token().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDenied"), "{err:?}");

    probe::delete_user(ctx, &user).await.unwrap();
    t.stack.stop().await;
}
