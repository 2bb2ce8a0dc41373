//! The Verify step: every onboarding ends with a proof by a probe user's real credentials;
//! a role whose policy is broken before the proof fails it and is rolled back.

use std::time::Duration;

use aws_sdk_sfn::types::HistoryEventType;
use tenant_domain::Status;
use tenant_domain::canary::{canary_prefix, is_probe_email};
use tenant_localstack::Options;
use tenant_localstack::lambda_endpoint::FaultMode;
use tenant_steps::{Step, record};
use tenantctl::onboard;

use crate::helpers::{TestStack, spawn, spawn_stack, tid};

/// Emails of every user in the pool that is a probe user of `tenant`.
async fn probe_users(t: &TestStack, tenant: &str) -> Vec<String> {
    let out = t
        .ops
        .ctx
        .clients
        .idp
        .list_users()
        .user_pool_id(&t.ops.ctx.settings.user_pool_id)
        .send()
        .await
        .unwrap();
    out.users()
        .iter()
        .flat_map(|u| u.attributes().iter())
        .filter(|a| a.name() == "email")
        .filter_map(|a| a.value())
        .filter(|e| is_probe_email(&tid(tenant), e))
        .map(str::to_string)
        .collect()
}

/// The states the execution entered, in order.
async fn states_entered(t: &TestStack, execution_arn: &str) -> Vec<String> {
    let mut out = vec![];
    let mut pages = t
        .ops
        .ctx
        .clients
        .sfn
        .get_execution_history()
        .execution_arn(execution_arn)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for e in page.unwrap().events() {
            if let Some(d) = e.state_entered_event_details() {
                out.push(d.name().to_string());
            }
        }
    }
    out
}

async fn output(t: &TestStack, execution_arn: &str) -> serde_json::Value {
    let out = t
        .ops
        .ctx
        .clients
        .sfn
        .describe_execution()
        .execution_arn(execution_arn)
        .send()
        .await
        .unwrap();
    serde_json::from_str(out.output().unwrap_or("null")).unwrap()
}

/// How many Lambda invocations of an execution failed (each retry of a step counts).
async fn lambda_failures(t: &TestStack, execution_arn: &str) -> usize {
    t.ops
        .ctx
        .clients
        .sfn
        .get_execution_history()
        .execution_arn(execution_arn)
        .max_results(1000)
        .send()
        .await
        .unwrap()
        .events()
        .iter()
        .filter(|e| e.r#type() == &HistoryEventType::LambdaFunctionFailed)
        .count()
}

async fn keys_under(t: &TestStack, prefix: &str) -> Vec<String> {
    let out = t
        .ops
        .ctx
        .clients
        .s3
        .list_objects_v2()
        .bucket(&t.ops.ctx.settings.bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    out.contents()
        .iter()
        .filter_map(|o| o.key())
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_onboarding_is_proven_by_a_probe_user_that_is_then_gone() {
    let t = spawn().await;
    let done = t.onboard("acme").await;
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    let states = states_entered(&t, &done.execution_arn).await;
    let at = |s: &str| {
        states
            .iter()
            .position(|x| x == s)
            .unwrap_or_else(|| panic!("{s} not in {states:?}"))
    };
    assert!(
        at("RebuildRoleMappings") < at("Verify") && at("Verify") < at("RecordActive"),
        "{states:?}"
    );
    let out = output(&t, &done.execution_arn).await;
    assert_eq!(out["verification"]["verified"], true, "{out}");
    let checks = out["verification"]["checks"].to_string();
    assert!(
        checks.contains("denied") && checks.contains("tenants/acme_canary/"),
        "{checks}"
    );
    // The probe user, its object and any canary write are gone; only the marker remains.
    assert!(probe_users(&t, "acme").await.is_empty());
    assert_eq!(keys_under(&t, "tenants/acme/").await, ["tenants/acme/.tenant"]);
    assert!(keys_under(&t, &canary_prefix(&tid("acme"))).await.is_empty());
    // 8 Lambda invocations on the success path, Verify the last before RecordActive.
    let tasks = states.iter().filter(|s| Step::from_name(&kebab(s)).is_some()).count();
    assert_eq!(tasks, 8, "{states:?}");
    t.stack.stop().await;
}

fn kebab(state: &str) -> String {
    let mut out = String::new();
    for (i, c) in state.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// A role whose policy reaches other tenants (widened) or nothing at all (revoked) right
/// before the proof: both fail with IsolationNotProven and leave nothing behind. The
/// revoked one is retried as IAM lag first, then given up.
#[tokio::test(flavor = "multi_thread")]
async fn a_broken_role_policy_fails_the_proof_and_is_rolled_back() {
    let t = spawn().await;
    t.stack.faults.set("acme", Step::Verify, FaultMode::WidenPolicy);
    t.stack.faults.set("globex", Step::Verify, FaultMode::RevokePolicy);
    let mut runs = tokio::task::JoinSet::new();
    for tenant in ["acme", "globex"] {
        let ops = t.ops.clone();
        runs.spawn(async move {
            let started = onboard::start(&ops, &tid(tenant), None, None).await.unwrap();
            let done = onboard::wait(&ops, &started.execution_arn, Duration::from_secs(180))
                .await
                .unwrap();
            (tenant, done)
        });
    }
    while let Some(done) = runs.join_next().await {
        let (tenant, done) = done.unwrap();
        assert_eq!(done.status, "FAILED", "{tenant}: {done:?}");
        assert_eq!(done.error.as_deref(), Some("IsolationNotProven"), "{tenant}: {done:?}");
        let rec = record::get(&t.ops.ctx, tenant).await.unwrap().expect("record");
        assert_eq!(rec.status, Status::Failed, "{tenant}: {rec:?}");
        assert_eq!(rec.failed_step.as_deref(), Some("Verify"), "{tenant}");
        assert_eq!(rec.error_name.as_deref(), Some("IsolationNotProven"), "{tenant}");
        let message = rec.error_message.unwrap_or_default();
        assert!(message.contains(&format!("tenant {tenant}")), "{message}");
        let expected = if tenant == "acme" {
            "canary"
        } else {
            "after the role was created (propagation budget 8s"
        };
        assert!(message.contains(expected), "{tenant}: {message}");
        if tenant == "globex" {
            let retried = lambda_failures(&t, &done.execution_arn).await;
            assert!(
                retried >= 2,
                "the revoked role was retried as IAM lag first ({retried} failures)"
            );
        }
        let res = tenantctl::status::inspect(&t.ops, &tid(tenant)).await.unwrap();
        assert!(res.present().is_empty(), "{tenant} left {:?}", res.present());
        assert!(
            probe_users(&t, tenant).await.is_empty(),
            "{tenant}'s probe user is left"
        );
        assert!(keys_under(&t, &canary_prefix(&tid(tenant))).await.is_empty());
    }
    let findings = tenantctl::audit::audit(&t.ops).await.unwrap();
    assert!(findings.is_empty(), "{findings:#?}");
    t.stack.stop().await;
}

/// A probe user left by a crashed proof is removed by teardown; verification can be off.
#[tokio::test(flavor = "multi_thread")]
async fn leftover_probe_users_are_swept_and_verification_can_be_switched_off() {
    let t = spawn_stack(Options {
        iam_wait_seconds: 0,
        verify: false,
        ..Options::default()
    })
    .await;
    let done = t.onboard("acme").await;
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    let out = output(&t, &done.execution_arn).await;
    assert_eq!(out["verification"]["verified"], false, "{out}");
    assert!(out["verification"]["skipped"].is_string(), "{out}");
    assert!(
        states_entered(&t, &done.execution_arn)
            .await
            .contains(&"Verify".to_string())
    );
    // A crash between creating and deleting the probe user leaves it in the group.
    let (user, _session) = tenant_steps::probe::sign_in(&t.ops.ctx, &tid("acme")).await.unwrap();
    assert_eq!(probe_users(&t, "acme").await, std::slice::from_ref(&user.email));
    let off = t.offboard("acme", false).await;
    assert_eq!(off.status, "SUCCEEDED", "{off:?}");
    assert!(
        probe_users(&t, "acme").await.is_empty(),
        "teardown swept the probe user"
    );
    t.stack.stop().await;
}

/// Verify's propagation deadline is the time since the role's creation: with the
/// emulator refusing identity-pool credentials for a role younger than 6 s, a budget of
/// 30 s waits it out (several IamNotPropagated retries, then ACTIVE); with a role that
/// takes 40 s, a budget of 2 s gives up once the role is 2 s old, however few retries that
/// took, and rolls back. (With 6 s there too, the retries' full jitter could jump from an
/// attempt before 2 s to one after 6 s, and the role was then simply there.)
#[tokio::test(flavor = "multi_thread")]
async fn the_propagation_budget_is_honoured_by_time() {
    for (budget, tenant, propagation) in [(30, "patient", 6.0), (2, "hasty", 40.0)] {
        let t = spawn_stack(Options {
            iam_wait_seconds: 0,
            propagation_budget_seconds: budget,
            simulated_propagation_seconds: propagation,
            ..Options::default()
        })
        .await;
        let started = std::time::Instant::now();
        let done = t.onboard(tenant).await;
        let elapsed = started.elapsed();
        let failures = lambda_failures(&t, &done.execution_arn).await;
        if budget == 30 {
            assert_eq!(done.status, "SUCCEEDED", "{done:?}");
            assert!(failures >= 1, "no IamNotPropagated retry before the role propagated");
            assert!(
                elapsed >= Duration::from_secs(6),
                "succeeded before the simulated propagation: {elapsed:?}"
            );
        } else {
            assert_eq!(done.status, "FAILED", "{done:?}");
            assert_eq!(done.error.as_deref(), Some("IsolationNotProven"), "{done:?}");
            let rec = record::get(&t.ops.ctx, tenant).await.unwrap().expect("record");
            let message = rec.error_message.unwrap_or_default();
            assert!(message.contains("propagation budget 2s"), "{message}");
            assert!(
                failures < tenant_steps::verify::PROPAGATION_RETRIES as usize,
                "gave up by retry count ({failures}), not by time"
            );
            let res = tenantctl::status::inspect(&t.ops, &tid(tenant)).await.unwrap();
            assert!(res.present().is_empty(), "{tenant} left {:?}", res.present());
        }
        t.stack.stop().await;
    }
}
