//! Deployment settings, read from the environment in Lambda (set by `template.yaml`) and
//! built by the bootstrap on the local stack.

use tenant_domain::limit::Limit;
use tenant_domain::template::TenantTemplate;
use tenant_domain::{Deployment, MappingType};

use crate::StepError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub table: String,
    pub bucket: String,
    pub user_pool_id: String,
    pub user_pool_client_id: String,
    pub identity_pool_id: String,
    pub boundary_arn: String,
    pub mapping_type: MappingType,
    pub partition: String,
    pub region: String,
    pub account_id: String,
    /// The EventBridge bus `TenantOnboarded` / `TenantOnboardingFailed` go to.
    pub event_bus: String,
    /// Run the isolation proof (the Verify step) at the end of onboarding; on by default.
    pub verify: bool,
    /// How long after the tenant role's creation Verify keeps taking a refusal of the
    /// tenant's own access for IAM propagation (`IamNotPropagated`, retried).
    pub propagation_budget_seconds: u64,
    /// The tenant permission template (`template.yaml`'s `TenantPolicyTemplate`; the
    /// default when empty), checked against this deployment's boundary at load.
    pub tenant_template: TenantTemplate,
    /// How long a signup held for an operator (PENDING_APPROVAL) keeps its id: after it the
    /// id is free, whether or not DynamoDB's TTL has deleted the item yet.
    pub signup_lifetime_seconds: u64,
    /// Valid sign-ups the page admits per email address and per source address in a
    /// window (`SignupLimitPerEmail` / `SignupLimitPerSource`); over it, 429.
    pub signup_limit_per_email: Limit,
    pub signup_limit_per_source: Limit,
}

/// Environment variable names shared by `template.yaml`, the bootstrap's env file and
/// `tenantctl`.
pub mod env {
    pub const TABLE: &str = "TENANT_TABLE";
    pub const BUCKET: &str = "TENANT_BUCKET";
    pub const USER_POOL_ID: &str = "TENANT_USER_POOL_ID";
    pub const USER_POOL_CLIENT_ID: &str = "TENANT_USER_POOL_CLIENT_ID";
    pub const IDENTITY_POOL_ID: &str = "TENANT_IDENTITY_POOL_ID";
    pub const BOUNDARY_ARN: &str = "TENANT_BOUNDARY_ARN";
    pub const MAPPING_TYPE: &str = "TENANT_MAPPING_TYPE";
    pub const PARTITION: &str = "TENANT_PARTITION";
    pub const REGION: &str = "AWS_REGION";
    pub const ACCOUNT_ID: &str = "TENANT_ACCOUNT_ID";
    pub const STATE_MACHINE_ARN: &str = "TENANT_ONBOARDING_STATE_MACHINE_ARN";
    pub const OFFBOARDING_STATE_MACHINE_ARN: &str = "TENANT_OFFBOARDING_STATE_MACHINE_ARN";
    pub const ROLLOUT_STATE_MACHINE_ARN: &str = "TENANT_ROLLOUT_STATE_MACHINE_ARN";
    pub const EVENT_BUS: &str = "TENANT_EVENT_BUS";
    /// Which handler the signup binary serves: `http` (the form's API) or `events`.
    pub const SIGNUP_HANDLER: &str = "TENANT_SIGNUP_HANDLER";
    pub const VERIFY: &str = "TENANT_VERIFY";
    pub const PROPAGATION_BUDGET_SECONDS: &str = "TENANT_PROPAGATION_BUDGET_SECONDS";
    /// The tenant permission template's JSON text; unset or empty: the default.
    pub const POLICY_TEMPLATE: &str = "TENANT_POLICY_TEMPLATE";
    pub const SIGNUP_LIFETIME_SECONDS: &str = "TENANT_SIGNUP_LIFETIME_SECONDS";
    pub const SIGNUP_LIMIT_PER_EMAIL: &str = "TENANT_SIGNUP_LIMIT_PER_EMAIL";
    pub const SIGNUP_LIMIT_PER_SOURCE: &str = "TENANT_SIGNUP_LIMIT_PER_SOURCE";
}

/// `template.yaml`'s `SignupLimitPerEmail` / `SignupLimitPerSource` defaults.
pub const DEFAULT_SIGNUP_LIMIT_PER_EMAIL: Limit = Limit {
    max: 5,
    window_seconds: 3600,
};
pub const DEFAULT_SIGNUP_LIMIT_PER_SOURCE: Limit = Limit {
    max: 20,
    window_seconds: 3600,
};

/// `template.yaml`'s `SignupRequestLifetimeSeconds` default: two days.
pub const DEFAULT_SIGNUP_LIFETIME_SECONDS: u64 = 2 * 24 * 3600;

/// `template.yaml`'s `PropagationBudgetSeconds` default.
pub const DEFAULT_PROPAGATION_BUDGET_SECONDS: u64 = 120;

impl Settings {
    pub fn from_env() -> Result<Self, StepError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, StepError> {
        let need = |k: &str| {
            get(k)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| StepError::Misconfigured {
                    message: format!("environment variable {k} is not set"),
                })
        };
        let mapping_type = match get(env::MAPPING_TYPE) {
            None => MappingType::Rules,
            Some(raw) => raw.parse().map_err(|message| StepError::Misconfigured { message })?,
        };
        let verify = match get(env::VERIFY).as_deref().map(str::trim) {
            None | Some("") | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(StepError::Misconfigured {
                    message: format!("{}={other:?} is not a switch; use true or false", env::VERIFY),
                });
            }
        };
        let propagation_budget_seconds = match get(env::PROPAGATION_BUDGET_SECONDS).as_deref().map(str::trim) {
            None | Some("") => DEFAULT_PROPAGATION_BUDGET_SECONDS,
            Some(raw) => raw.parse().map_err(|_| StepError::Misconfigured {
                message: format!("{}={raw:?} is not a number of seconds", env::PROPAGATION_BUDGET_SECONDS),
            })?,
        };
        let signup_lifetime_seconds = match get(env::SIGNUP_LIFETIME_SECONDS).as_deref().map(str::trim) {
            None | Some("") => DEFAULT_SIGNUP_LIFETIME_SECONDS,
            Some(raw) => raw.parse().map_err(|_| StepError::Misconfigured {
                message: format!("{}={raw:?} is not a number of seconds", env::SIGNUP_LIFETIME_SECONDS),
            })?,
        };
        let limit = |k: &str, default: Limit| match get(k).as_deref().map(str::trim) {
            None | Some("") => Ok(default),
            Some(raw) => raw.parse().map_err(|e| StepError::Misconfigured {
                message: format!("{k}: {e}"),
            }),
        };
        let signup_limit_per_email = limit(env::SIGNUP_LIMIT_PER_EMAIL, DEFAULT_SIGNUP_LIMIT_PER_EMAIL)?;
        let signup_limit_per_source = limit(env::SIGNUP_LIMIT_PER_SOURCE, DEFAULT_SIGNUP_LIMIT_PER_SOURCE)?;
        let tenant_template = match get(env::POLICY_TEMPLATE).filter(|t| !t.trim().is_empty()) {
            None => TenantTemplate::default(),
            Some(text) => TenantTemplate::parse(&text).map_err(|e| StepError::Misconfigured {
                message: format!("{}: {e}", env::POLICY_TEMPLATE),
            })?,
        };
        let settings = Settings {
            table: need(env::TABLE)?,
            bucket: need(env::BUCKET)?,
            user_pool_id: need(env::USER_POOL_ID)?,
            user_pool_client_id: need(env::USER_POOL_CLIENT_ID)?,
            identity_pool_id: need(env::IDENTITY_POOL_ID)?,
            boundary_arn: need(env::BOUNDARY_ARN)?,
            mapping_type,
            partition: get(env::PARTITION).unwrap_or_else(|| "aws".into()),
            region: need(env::REGION)?,
            account_id: need(env::ACCOUNT_ID)?,
            event_bus: need(env::EVENT_BUS)?,
            verify,
            propagation_budget_seconds,
            tenant_template,
            signup_lifetime_seconds,
            signup_limit_per_email,
            signup_limit_per_source,
        };
        // Sample values passed at parse; the deployment's own must pass too.
        settings
            .tenant_template
            .check_boundary(&settings.deployment())
            .map_err(|e| StepError::Misconfigured {
                message: format!("{}: {e}", env::POLICY_TEMPLATE),
            })?;
        Ok(settings)
    }

    /// The same settings as `KEY=value` pairs, for env files and child processes.
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            (env::TABLE, self.table.clone()),
            (env::BUCKET, self.bucket.clone()),
            (env::USER_POOL_ID, self.user_pool_id.clone()),
            (env::USER_POOL_CLIENT_ID, self.user_pool_client_id.clone()),
            (env::IDENTITY_POOL_ID, self.identity_pool_id.clone()),
            (env::BOUNDARY_ARN, self.boundary_arn.clone()),
            (env::MAPPING_TYPE, format!("{:?}", self.mapping_type)),
            (env::PARTITION, self.partition.clone()),
            (env::REGION, self.region.clone()),
            (env::ACCOUNT_ID, self.account_id.clone()),
            (env::EVENT_BUS, self.event_bus.clone()),
            (env::VERIFY, self.verify.to_string()),
            (
                env::PROPAGATION_BUDGET_SECONDS,
                self.propagation_budget_seconds.to_string(),
            ),
            (env::SIGNUP_LIFETIME_SECONDS, self.signup_lifetime_seconds.to_string()),
            (env::SIGNUP_LIMIT_PER_EMAIL, self.signup_limit_per_email.to_string()),
            (env::SIGNUP_LIMIT_PER_SOURCE, self.signup_limit_per_source.to_string()),
        ];
        if self.tenant_template != TenantTemplate::default() {
            out.push((env::POLICY_TEMPLATE, self.tenant_template.unrendered().to_string()));
        }
        out
    }

    pub fn deployment(&self) -> Deployment {
        Deployment {
            partition: self.partition.clone(),
            region: self.region.clone(),
            account_id: self.account_id.clone(),
            bucket: self.bucket.clone(),
            identity_pool_id: self.identity_pool_id.clone(),
        }
    }

    /// The tenant role's inline policy under this deployment's template.
    pub fn tenant_policy(&self, tenant: &tenant_domain::TenantId) -> tenant_domain::policy::PolicyDocument {
        self.tenant_template.render(tenant, &self.deployment())
    }

    /// The version of everything this deployment renders for a tenant: written on the
    /// record and tagged on the role, so a tenant behind it can be found.
    pub fn template_version(&self) -> String {
        self.tenant_template.version(self.mapping_type)
    }

    /// Abac mode's shared tenant role policy, from the deployment's template.
    pub fn shared_policy(&self) -> tenant_domain::policy::PolicyDocument {
        self.tenant_template.render_shared(&self.deployment())
    }

    /// The user pool as an identity provider of the identity pool, without the app
    /// client: the name principal tag maps are keyed on.
    pub fn user_pool_provider(&self) -> String {
        format!("cognito-idp.{}.amazonaws.com/{}", self.region, self.user_pool_id)
    }

    pub fn provider_name(&self) -> String {
        tenant_domain::mapping::provider_name(&self.region, &self.user_pool_id, &self.user_pool_client_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn sample() -> Settings {
        Settings {
            table: "t".into(),
            bucket: "b".into(),
            user_pool_id: "us-east-1_x".into(),
            user_pool_client_id: "c".into(),
            identity_pool_id: "us-east-1:i".into(),
            boundary_arn: "arn:aws:iam::1:policy/b".into(),
            mapping_type: MappingType::Token,
            partition: "aws".into(),
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            event_bus: "tenant-events".into(),
            verify: false,
            propagation_budget_seconds: 45,
            tenant_template: TenantTemplate::default(),
            signup_lifetime_seconds: 90,
            signup_limit_per_email: Limit::OFF,
            signup_limit_per_source: Limit {
                max: 7,
                window_seconds: 60,
            },
        }
    }

    #[test]
    fn env_round_trip() {
        let s = sample();
        let map: HashMap<_, _> = s.to_env().into_iter().collect();
        let back = Settings::from_lookup(|k| map.get(k).cloned()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn verification_is_on_unless_switched_off() {
        let s = sample();
        let mut map: HashMap<_, _> = s.to_env().into_iter().collect();
        map.remove(env::VERIFY);
        assert!(Settings::from_lookup(|k| map.get(k).cloned()).unwrap().verify);
        map.insert(env::VERIFY, "yes".into());
        let err = Settings::from_lookup(|k| map.get(k).cloned()).unwrap_err();
        assert!(err.to_string().contains("TENANT_VERIFY"), "{err}");
    }

    #[test]
    fn a_tenant_template_round_trips_and_a_broken_one_is_refused_by_name() {
        let mut s = sample();
        let mut doc: serde_json::Value = serde_json::from_str(tenant_domain::template::DEFAULT_TEMPLATE).unwrap();
        doc["Statement"][2]["Sid"] = "Secrets".into();
        s.tenant_template = TenantTemplate::parse(&doc.to_string()).unwrap();
        let map: HashMap<_, _> = s.to_env().into_iter().collect();
        assert_eq!(Settings::from_lookup(|k| map.get(k).cloned()).unwrap(), s);
        // The default is not written out, and an empty value means the default.
        assert!(!sample().to_env().iter().any(|(k, _)| *k == env::POLICY_TEMPLATE));
        let mut map: HashMap<_, _> = sample().to_env().into_iter().collect();
        map.insert(env::POLICY_TEMPLATE, " ".into());
        assert_eq!(Settings::from_lookup(|k| map.get(k).cloned()).unwrap(), sample());
        doc["Statement"][2]["Resource"] =
            "arn:{partition}:secretsmanager:{region}:{account}:secret:tenants/{tenant}*".into();
        map.insert(env::POLICY_TEMPLATE, doc.to_string());
        let err = Settings::from_lookup(|k| map.get(k).cloned()).unwrap_err();
        assert_eq!(err.name(), "Misconfigured");
        assert_eq!(
            err.to_string(),
            "misconfigured: TENANT_POLICY_TEMPLATE: the tenant template's statement Secrets: \"arn:{partition}:secretsmanager:{region}:{account}:secret:tenants/{tenant}*\" does not end the tenant id with a delimiter: write tenants/{tenant}/..., never tenants/{tenant}*"
        );
    }

    #[test]
    fn missing_variable_is_named() {
        let err = Settings::from_lookup(|_| None).unwrap_err();
        assert_eq!(err.name(), "Misconfigured");
        assert!(err.to_string().contains("TENANT_TABLE"));
    }
}
