use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tenant_domain::{MappingType, TenantNames};
use tenant_localstack::Options;
use tenantctl::onboard;

use crate::helpers::{TestStack, spawn_stack, tid};

async fn run_all(t: &TestStack, tenants: &[String], offboard: bool) {
    let mut runs = tokio::task::JoinSet::new();
    for tenant in tenants {
        let ops = t.ops.clone();
        let tenant = tenant.clone();
        runs.spawn(async move {
            let started = if offboard {
                onboard::offboard(&ops, &tid(&tenant), false, 7, std::time::Duration::ZERO)
                    .await
                    .unwrap()
            } else {
                onboard::start(&ops, &tid(&tenant), None, None).await.unwrap()
            };
            let done = onboard::wait(&ops, &started.execution_arn, Duration::from_secs(600))
                .await
                .unwrap();
            assert_eq!(done.status, "SUCCEEDED", "{tenant}: {done:?}");
        });
    }
    while let Some(done) = runs.join_next().await {
        done.unwrap();
    }
}

/// Groups that the identity pool maps to a role right now, read from the pool (Rules) or
/// from the groups' roles (Token).
async fn mapped_groups(t: &TestStack) -> BTreeSet<String> {
    let c = &t.ops.ctx.clients;
    let s = &t.ops.ctx.settings;
    let mapping = tenant_steps::mapping::provider_mapping(&t.ops.ctx).await.unwrap();
    match s.mapping_type {
        MappingType::Rules => tenant_steps::mapping::mapped_rules(&t.ops.ctx)
            .await
            .unwrap()
            .iter()
            .filter_map(|r| tenant_domain::mapping::tenant_of_rule(r.claim(), r.value()))
            .map(|t| TenantNames::new(&t).group)
            .collect(),
        // No group is mapped: every identity gets the shared role.
        MappingType::Abac => {
            assert!(mapping.is_none(), "{mapping:?}");
            BTreeSet::new()
        }
        MappingType::Token => {
            assert_eq!(mapping.as_ref().map(|m| m.r#type().as_str()), Some("Token"));
            let mut out = BTreeSet::new();
            let mut pages = c
                .idp
                .list_groups()
                .user_pool_id(&s.user_pool_id)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                for g in page.unwrap().groups() {
                    if g.role_arn().is_some() {
                        out.insert(g.group_name().unwrap().to_string());
                    }
                }
            }
            out
        }
    }
}

/// Sends a burst of CreateGroup with the SDK's retries off; the error code of the first
/// refusal (so a rate-limited test cannot pass with the limits off).
async fn throttled_burst(t: &TestStack) -> String {
    use aws_sdk_cognitoidentityprovider::config::retry::RetryConfig;
    use aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata as _;
    let config = aws_sdk_cognitoidentityprovider::config::Builder::from(&t.ops.sdk_config)
        .retry_config(RetryConfig::disabled())
        .build();
    let idp = aws_sdk_cognitoidentityprovider::Client::from_conf(config);
    let pool = &t.ops.ctx.settings.user_pool_id;
    let mut refused = None;
    let mut created = 0;
    for i in 0..20 {
        let result = idp
            .create_group()
            .user_pool_id(pool)
            .group_name(format!("burst-{i}"))
            .send()
            .await;
        match result {
            Ok(_) => created += 1,
            Err(e) => {
                let code = e.as_service_error().and_then(|s| s.code()).map(str::to_string);
                refused = Some(code.unwrap_or_else(|| format!("{e:?}")));
                break;
            }
        }
    }
    // Not tenants' groups: removed (with the SDK's retries) so the audit stays clean.
    for i in 0..created {
        let group = format!("burst-{i}");
        let deleted = t
            .ops
            .ctx
            .clients
            .idp
            .delete_group()
            .user_pool_id(pool)
            .group_name(group)
            .send()
            .await;
        deleted.unwrap();
    }
    refused.unwrap_or_else(|| "not throttled".into())
}

async fn onboard_then_offboard_half(mapping_type: MappingType, count: usize) {
    onboard_then_offboard_half_with(mapping_type, count, false).await;
}

async fn onboard_then_offboard_half_with(mapping_type: MappingType, count: usize, rate_limits: bool) {
    let t = spawn_stack(Options {
        iam_wait_seconds: 0,
        mapping_type,
        rate_limits,
        ..Options::default()
    })
    .await;
    if rate_limits {
        assert_eq!(
            throttled_burst(&t).await,
            "TooManyRequestsException",
            "the limits are on"
        );
    }
    let tenants: Vec<String> = (0..count).map(|i| format!("c{i:03}")).collect();
    let started = Instant::now();
    run_all(&t, &tenants, false).await;
    eprintln!(
        "{count} concurrent onboardings ({mapping_type:?}): {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let group = |id: &String| TenantNames::new(&tid(id)).group;
    assert_eq!(
        mapped_groups(&t).await,
        tenants.iter().map(group).collect(),
        "no mapping lost"
    );

    let (leaving, staying) = tenants.split_at(count / 2);
    let started = Instant::now();
    run_all(&t, leaving, true).await;
    eprintln!(
        "{} concurrent offboardings: {:.1}s",
        leaving.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        mapped_groups(&t).await,
        staying.iter().map(group).collect(),
        "exactly the other half is mapped"
    );
    for tenant in leaving {
        let res = tenantctl::status::inspect(&t.ops, &tid(tenant)).await.unwrap();
        assert!(res.present().is_empty(), "{tenant} left {:?}", res.present());
    }
    let findings = tenantctl::audit::audit(&t.ops).await.unwrap();
    assert!(findings.is_empty(), "{findings:#?}");
    t.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_five_concurrent_rules_onboardings_lose_no_rule() {
    onboard_then_offboard_half(MappingType::Rules, 25).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_concurrent_token_onboardings_all_map() {
    onboard_then_offboard_half(MappingType::Token, 100).await;
}

/// Under the emulator's enforced Cognito quotas (CreateGroup 5/s, AdminAddUserToGroup 25/s,
/// GetId 25/s) every onboarding still ends ACTIVE: the throttling error is `Throttled`, which
/// the state machine retries with backoff.
#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_concurrent_token_onboardings_ride_out_the_rate_limits() {
    onboard_then_offboard_half_with(MappingType::Token, 100, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_twenty_sixth_rules_tenant_is_refused_up_front() {
    let t = spawn_stack(Options {
        iam_wait_seconds: 0,
        mapping_type: MappingType::Rules,
        ..Options::default()
    })
    .await;
    let tenants: Vec<String> = (0..24).map(|i| format!("r{i:03}")).collect();
    run_all(&t, &tenants, false).await;
    // Two newcomers race for the last rule: exactly one gets it, the other rolls back.
    let mut racers = tokio::task::JoinSet::new();
    for tenant in ["racer-a", "racer-b"] {
        let ops = t.ops.clone();
        racers.spawn(async move {
            let started = onboard::start(&ops, &tid(tenant), None, None).await.unwrap();
            (
                tenant,
                onboard::wait(&ops, &started.execution_arn, Duration::from_secs(120))
                    .await
                    .unwrap(),
            )
        });
    }
    let mut outcomes = vec![];
    while let Some(done) = racers.join_next().await {
        outcomes.push(done.unwrap());
    }
    outcomes.sort_by_key(|(_, f)| f.status.clone());
    assert_eq!(outcomes[0].1.status, "FAILED", "{outcomes:?}");
    assert_eq!(outcomes[0].1.error.as_deref(), Some("RuleLimitReached"));
    assert_eq!(outcomes[1].1.status, "SUCCEEDED", "{outcomes:?}");
    let loser = tenantctl::status::inspect(&t.ops, &tid(outcomes[0].0)).await.unwrap();
    assert!(loser.present().is_empty(), "{:?}", loser.present());
    assert_eq!(mapped_groups(&t).await.len(), 25);
    let done = t.onboard("one-too-many").await;
    assert_eq!(done.status, "FAILED");
    assert_eq!(done.error.as_deref(), Some("RuleLimitReached"));
    let cause = done.cause.as_deref().unwrap_or("");
    assert!(cause.contains("redeploy with MappingType=Token"), "{done:?}");
    assert!(cause.contains("refused before anything was created"), "{done:?}");
    let res = tenantctl::status::inspect(&t.ops, &tid("one-too-many")).await.unwrap();
    assert!(res.present().is_empty());

    // A signup refused for lack of room: its PENDING record becomes FAILED, the page
    // says so, and TenantOnboardingFailed tells the sender.
    let events = crate::signup::Subscriber::new(&t).await;
    let raw = tenant_domain::signup::RawSignup::from_json(&serde_json::json!({
        "tenant_id": "late-signup", "company_name": "Late", "admin_email": "late@late.example"
    }))
    .unwrap();
    let signup = tenant_domain::signup::validate(&raw).unwrap();
    let source = tenant_steps::signup::Source::Form;
    tenant_steps::signup::submit(&t.ops.ctx, &t.ops.onboarding_arn, &signup, source)
        .await
        .unwrap();
    let rec = crate::signup::wait_for_status(
        &t.ops.ctx,
        "late-signup",
        &[tenant_domain::Status::Failed],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(
        (rec.failed_step.as_deref(), rec.error_name.as_deref()),
        (Some("RecordProvisioning"), Some("RuleLimitReached"))
    );
    let progress = tenant_steps::signup::progress(&t.ops.ctx, &t.ops.onboarding_arn, &tid("late-signup"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(progress.phase, "failed");
    let published = events.drain(Duration::from_secs(2)).await;
    assert!(
        published.iter().any(|e| e["detail-type"] == "TenantOnboardingFailed"
            && e["detail"]["tenant_id"] == "late-signup"
            && e["detail"]["error"] == "RuleLimitReached"),
        "{published:?}"
    );

    // `onboard` claims the record before it starts (one ownership rule for every entry
    // point), so the refusal left it FAILED, attempt 1, and nothing else: onboarding the
    // same id again is refused and names the way out, and once there is room `retry`
    // starts the next attempt.
    let refused = onboard::start(&t.ops, &tid("one-too-many"), None, None)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("is already FAILED")
            && refused.to_string().contains("tenantctl retry one-too-many"),
        "{refused:#}"
    );
    run_all(&t, &["r000".to_string()], true).await;
    let again = onboard::retry(&t.ops, &tid("one-too-many")).await.unwrap();
    assert_eq!(again.execution_name, "one-too-many-2");
    let done = onboard::wait(&t.ops, &again.execution_arn, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    t.stack.stop().await;
}
