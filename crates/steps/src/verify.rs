//! The Verify step: proof of isolation with real credentials at the end of onboarding.
//!
//! A probe user in the tenant's group signs in and gets credentials from the identity
//! pool. With them it makes each resource module's calls (`TenantResource::reach`): every
//! one must be allowed on the tenant's own resources and refused on its canary
//! (`tenants/{id}_canary/`, see `tenant_domain::canary`). The probe user is deleted
//! whatever happens.
//!
//! Right after onboarding created the role and mapping, IAM and Cognito may still refuse
//! the tenant's own access: that is `IamNotPropagated`, and the state machine retries with
//! backoff — the proof by real credentials replaces a long fixed wait. A new role can take
//! well over ten seconds to become assumable through an identity pool, so the deadline is
//! a time budget since the role's creation (`PropagationBudgetSeconds`), not a retry count:
//! once the role is older than the budget (or on the last attempt the state machine
//! allows, `$$.State.RetryCount` = [`PROPAGATION_RETRIES`]) the same refusal is a failed
//! proof, `IsolationNotProven`, as is a canary that is NOT refused; both go to
//! compensation.

use serde_json::{Value, json};
use tenant_domain::{TenantId, TenantNames};
use tracing::{info, warn};

use crate::probe::{self, TenantSession};
use crate::resources::{
    self,
    access::{Answer, Attempt, Reach, Whose},
};
use crate::{Context, StepError, StepInput};

/// How often the state machine retries `IamNotPropagated` at the Verify state (its
/// `MaxAttempts`; a test checks the ASL agrees). A backstop only: with full jitter capped
/// at 16 s, 20 retries take about two minutes, so the time budget decides first.
pub const PROPAGATION_RETRIES: u32 = 20;

/// Where Verify stands against its propagation deadline.
struct Propagation {
    /// Whether anything of this onboarding propagates at all: Abac mode creates no IAM
    /// entity, so a refusal of the tenant's own access is final at once.
    propagates: bool,
    retries: u32,
    /// Seconds since the tenant role was created, or converged (None: IAM could not say).
    role_age_seconds: Option<u64>,
    budget_seconds: u64,
    /// The proof follows a converge of an existing role (a rollout, a repair), which puts
    /// the previous documents back when it fails: the advice is about the template.
    converged: bool,
}

impl Propagation {
    fn exhausted(&self) -> bool {
        !self.propagates
            || self.retries >= PROPAGATION_RETRIES
            || self.role_age_seconds.is_some_and(|age| age >= self.budget_seconds)
    }
}

/// Why a proof did not succeed.
enum Failed {
    /// The tenant's own access was refused: IAM may still be propagating.
    OwnAccessRefused(String),
    /// The proof ran and isolation does not hold.
    NotIsolated(String),
    /// Anything else (throttling, a 5xx, a setup error): classified as usual.
    Step(StepError),
}

impl From<StepError> for Failed {
    fn from(e: StepError) -> Self {
        match e {
            StepError::IamNotPropagated { operation, message, .. } => {
                Failed::OwnAccessRefused(format!("{operation}: {message}"))
            }
            other => Failed::Step(other),
        }
    }
}

pub async fn verify(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    if !ctx.settings.verify {
        warn!("isolation proof skipped: verification is switched off (TENANT_VERIFY=false)");
        return Ok(json!({ "verified": false, "skipped": "verification is switched off" }));
    }
    let retries = input.retry_count.unwrap_or(0);
    // A retried attempt may have crashed before deleting its user. (A proof that failed
    // for good is followed by compensation, whose DeleteGroup sweeps the same way.)
    if retries > 0 {
        probe::sweep(ctx, &tenant).await?;
    }
    let (user, session) = match probe::sign_in(ctx, &tenant).await {
        Ok(signed_in) => signed_in,
        Err(e) => return Err(judge(ctx, &tenant, retries, input.changed_at, Failed::from(e)).await),
    };
    let proof = prove(ctx, &tenant, &session, &user.email).await;
    // Always: the probe user and its identity go, whatever the proof said.
    let deleted = probe::delete_user(ctx, &user).await;
    probe::forget_identity(ctx, &session.identity_id).await;
    let checks = match proof {
        Ok(checks) => checks,
        Err(f) => return Err(judge(ctx, &tenant, retries, input.changed_at, f).await),
    };
    deleted?;
    info!(retries, "isolation proven with the tenant's own credentials");
    Ok(json!({ "verified": true, "checks": checks }))
}

/// Seconds since the tenant role was created, from IAM (None if it cannot say).
async fn role_age_seconds(ctx: &Context, tenant: &TenantId) -> Option<u64> {
    let names = TenantNames::new(tenant);
    let out = ctx.clients.iam.get_role().role_name(&names.role_name).send().await;
    let created = match out {
        Ok(out) => out.role()?.create_date().secs(),
        Err(e) => {
            warn!(error = %aws_sdk_iam::error::DisplayErrorContext(&e), "could not read the role's creation time");
            return None;
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(now.saturating_sub(u64::try_from(created).unwrap_or(0)))
}

/// The error for a failed proof; a refusal of own access is weighed against the budget.
/// After a converge (`changed_at`, epoch seconds), the budget runs from the change: a
/// changed policy propagates as a new role does.
async fn judge(ctx: &Context, tenant: &TenantId, retries: u32, changed_at: Option<u64>, failed: Failed) -> StepError {
    let propagates = ctx.settings.mapping_type.has_tenant_role();
    let role_age_seconds = match failed {
        Failed::OwnAccessRefused(_) if propagates => role_age_seconds(ctx, tenant).await.map(|age| {
            let since_change = changed_at.map(|at| crate::record::now().saturating_sub(at));
            since_change.map_or(age, |c| c.min(age))
        }),
        _ => None,
    };
    let state = Propagation {
        propagates,
        retries,
        role_age_seconds,
        budget_seconds: ctx.settings.propagation_budget_seconds,
        converged: changed_at.is_some(),
    };
    verdict(tenant, &state, failed)
}

/// The error the state machine sees for a failed proof.
fn verdict(tenant: &TenantId, state: &Propagation, failed: Failed) -> StepError {
    match failed {
        Failed::OwnAccessRefused(message) if !state.exhausted() => StepError::IamNotPropagated {
            service: "verify",
            operation: "OwnAccess",
            message,
        },
        Failed::OwnAccessRefused(message) if !state.propagates => StepError::IsolationNotProven {
            tenant: tenant.to_string(),
            message: format!(
                "its own credentials were refused ({message}); Abac mode creates nothing that propagates, so this is final: check the shared tenant role's policy and the identity pool's principal tag map (tenant_id claim -> tenant tag) with `tenantctl audit`, then `tenantctl retry {tenant}`"
            ),
        },
        Failed::OwnAccessRefused(message) if state.converged => StepError::IsolationNotProven {
            tenant: tenant.to_string(),
            message: format!(
                "its own credentials were still refused {} after the role was converged (propagation budget {}s, {} retries; {message}): the tenant template does not grant the tenant its own data; the role's previous documents are put back",
                state
                    .role_age_seconds
                    .map_or_else(|| "an unknown time".to_string(), |a| format!("{a}s")),
                state.budget_seconds,
                state.retries,
            ),
        },
        Failed::OwnAccessRefused(message) => StepError::IsolationNotProven {
            tenant: tenant.to_string(),
            message: format!(
                "its own credentials were still refused {} after the role was created (propagation budget {}s, {} retries; {message}); check the role's inline policy, boundary and trust (`tenantctl audit`), then `tenantctl retry {tenant}`",
                state
                    .role_age_seconds
                    .map_or_else(|| "an unknown time".to_string(), |a| format!("{a}s")),
                state.budget_seconds,
                state.retries,
            ),
        },
        Failed::NotIsolated(message) if state.converged => StepError::IsolationNotProven {
            tenant: tenant.to_string(),
            message: format!(
                "{message}; the converged role's policy reaches beyond the tenant: the tenant template is wrong; the role's previous documents are put back"
            ),
        },
        Failed::NotIsolated(message) => StepError::IsolationNotProven {
            tenant: tenant.to_string(),
            message: format!(
                "{message}; the role's policy reaches beyond the tenant — fix the policy template, then `tenantctl retry {tenant}`"
            ),
        },
        Failed::Step(e) => e,
    }
}

/// The tenant's own resources, every call allowed; then its canary, every call refused.
/// The calls are the resource modules' own ([`resources::reach`]).
async fn prove(
    ctx: &Context,
    tenant: &TenantId,
    session: &TenantSession,
    probe_email: &str,
) -> Result<Vec<String>, Failed> {
    let mut checks = vec![];
    for whose in [Whose::Own, Whose::Canary] {
        let reach = Reach {
            session,
            actor: probe_email,
            own: Some(tenant),
            target: tenant,
            whose,
        };
        for attempt in resources::reach(ctx, &reach).await {
            let Attempt {
                action,
                resource,
                answer,
            } = attempt;
            match (whose, answer) {
                (Whose::Own, Answer::Allowed(_)) => checks.push(format!("allowed {action} {resource}")),
                (Whose::Own, Answer::Denied(detail)) => {
                    return Err(Failed::OwnAccessRefused(format!("{action} on {resource}: {detail}")));
                }
                (_, Answer::Wrong(detail)) => return Err(Failed::NotIsolated(detail)),
                (_, Answer::Failed(e)) => return Err(Failed::Step(e)),
                (_, Answer::Denied(_)) => checks.push(format!("denied {action} {resource}")),
                (_, Answer::Allowed(_)) => {
                    return Err(Failed::NotIsolated(format!(
                        "its credentials were allowed {action} on the canary {resource}"
                    )));
                }
            }
        }
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    #[test]
    fn own_refusals_are_lag_until_the_last_retry() {
        let lag = verdict(
            &acme(),
            &at(0, Some(3)),
            Failed::OwnAccessRefused("s3:PutObject: AccessDenied".into()),
        );
        assert_eq!(lag.name(), "IamNotPropagated");
        assert!(lag.is_transient());
        let last = verdict(
            &acme(),
            &at(PROPAGATION_RETRIES, Some(3)),
            Failed::OwnAccessRefused("s3:PutObject: AccessDenied".into()),
        );
        assert_eq!(last.name(), "IsolationNotProven");
        assert!(!last.is_transient());
        assert!(last.to_string().contains("tenant acme"), "{last}");
        assert!(last.to_string().contains("tenantctl retry acme"), "{last}");
    }

    fn at(retries: u32, role_age_seconds: Option<u64>) -> Propagation {
        Propagation {
            propagates: true,
            retries,
            role_age_seconds,
            budget_seconds: 120,
            converged: false,
        }
    }

    /// After a converge (rollout, repair) the budget and the advice are about the change:
    /// the previous documents go back, so `retry` is not what to do.
    #[test]
    fn after_a_converge_the_advice_is_about_the_template() {
        let converged = Propagation {
            converged: true,
            ..at(2, Some(120))
        };
        let own = verdict(&acme(), &converged, Failed::OwnAccessRefused("AccessDenied".into()));
        assert_eq!(own.name(), "IsolationNotProven");
        let text = own.to_string();
        assert!(text.contains("120s after the role was converged"), "{text}");
        assert!(
            text.contains("template does not grant the tenant its own data"),
            "{text}"
        );
        assert!(!text.contains("tenantctl retry"), "{text}");
        let lag = verdict(
            &acme(),
            &Propagation {
                converged: true,
                ..at(2, Some(119))
            },
            Failed::OwnAccessRefused("AccessDenied".into()),
        );
        assert_eq!(lag.name(), "IamNotPropagated");
        let wide = verdict(&acme(), &converged, Failed::NotIsolated("allowed on the canary".into()));
        assert!(wide.to_string().contains("the tenant template is wrong"), "{wide}");
        assert!(!wide.to_string().contains("tenantctl retry"), "{wide}");
    }

    /// Abac mode creates no IAM entity: a refusal of own access is a failed proof at the
    /// first attempt, naming the shared role and the tag map.
    #[test]
    fn without_a_tenant_role_a_refusal_is_final_at_once() {
        let state = Propagation {
            propagates: false,
            ..at(0, None)
        };
        let e = verdict(
            &acme(),
            &state,
            Failed::OwnAccessRefused("s3:PutObject: AccessDenied".into()),
        );
        assert_eq!(e.name(), "IsolationNotProven");
        assert!(e.to_string().contains("principal tag map"), "{e}");
        assert!(e.to_string().contains("tenantctl retry acme"), "{e}");
    }

    /// The deadline is the time since the role's creation, whatever the retry count.
    #[test]
    fn own_refusals_are_lag_until_the_budget_is_spent() {
        let refused = || Failed::OwnAccessRefused("GetCredentialsForIdentity: refused".into());
        assert_eq!(
            verdict(&acme(), &at(1, Some(119)), refused()).name(),
            "IamNotPropagated"
        );
        assert_eq!(verdict(&acme(), &at(1, None), refused()).name(), "IamNotPropagated");
        let spent = verdict(&acme(), &at(1, Some(120)), refused());
        assert_eq!(spent.name(), "IsolationNotProven");
        assert!(spent.to_string().contains("120s after the role was created"), "{spent}");
        assert!(spent.to_string().contains("propagation budget 120s"), "{spent}");
    }

    #[test]
    fn a_reachable_canary_fails_at_once() {
        let e = verdict(
            &acme(),
            &at(0, Some(0)),
            Failed::NotIsolated("allowed on the canary".into()),
        );
        assert_eq!(e.name(), "IsolationNotProven");
    }

    #[test]
    fn other_errors_keep_their_names() {
        let e = verdict(
            &acme(),
            &at(PROPAGATION_RETRIES, None),
            Failed::Step(StepError::Throttled {
                service: "s3",
                operation: "PutObject",
                message: "slow down".into(),
            }),
        );
        assert_eq!(e.name(), "Throttled");
    }
}
