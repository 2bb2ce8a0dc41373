//! Creates in the emulator what `template.yaml` creates in AWS, from the same state
//! machine file and the same substitution names.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use aws_sdk_cognitoidentity::types::CognitoIdentityProvider;
use aws_sdk_cognitoidentityprovider::types::{ExplicitAuthFlowsType, PasswordPolicyType, UserPoolPolicyType};
use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
use tenant_domain::MappingType;
use tenant_domain::policy::boundary_policy;
use tenant_steps::{Clients, Settings, Step};

use crate::lambda_endpoint::function_arn;
use crate::{ACCOUNT_ID, REGION};

/// The state machine definitions, embedded so the binary needs no checkout.
pub const ONBOARDING_ASL: &str = include_str!("../../../statemachine/onboarding.asl.json");
pub const OFFBOARDING_ASL: &str = include_str!("../../../statemachine/offboarding.asl.json");
pub const ROLLOUT_ASL: &str = include_str!("../../../statemachine/rollout.asl.json");

pub const TABLE: &str = "tenants";
pub const BUCKET: &str = "tenant-data";
pub const BOUNDARY_POLICY: &str = "tenant-permissions-boundary";
pub const ONBOARDING_STATE_MACHINE: &str = "tenant-onboarding";
pub const OFFBOARDING_STATE_MACHINE: &str = "tenant-offboarding";
pub const ROLLOUT_STATE_MACHINE: &str = "tenant-rollout";
pub const EVENT_BUS: &str = "tenant-events";
/// moto's EventBridge delivers to SQS (not to Lambda): the rule that targets the signup
/// events function in AWS targets this queue, which the stack polls into the same handler.
pub const SIGNUP_REQUESTS_QUEUE: &str = "tenant-signup-requests";
pub const SIGNUP_REQUESTED_RULE: &str = "tenant-signup-requested";

#[derive(Debug, Clone)]
pub struct Options {
    /// The Wait state's seconds (10 in `template.yaml`; 0–1 locally).
    pub iam_wait_seconds: u32,
    pub mapping_type: MappingType,
    /// Run the Verify step's proof (on by default, like `template.yaml`'s `Verify`).
    pub verify: bool,
    /// Verify's propagation budget (`template.yaml`'s `PropagationBudgetSeconds`).
    pub propagation_budget_seconds: u64,
    /// Simulated IAM propagation: the emulator refuses identity-pool credentials for a
    /// role younger than this (0: none).
    pub simulated_propagation_seconds: f64,
    /// Run every function under its own role from the template (on by default).
    pub function_roles: bool,
    /// The template the function roles come from (default: the repository's).
    pub template: Option<std::path::PathBuf>,
    /// The tenant permission template (`template.yaml`'s `TenantPolicyTemplate`).
    pub tenant_template: tenant_domain::template::TenantTemplate,
    /// How the page signs up (template.yaml's `SignupMode`).
    pub signup_mode: tenant_steps::signup::Mode,
    /// How long a held signup keeps its id (template.yaml's `SignupRequestLifetimeSeconds`).
    pub signup_lifetime_seconds: u64,
    /// The page's per-email and per-source limits (template.yaml's `SignupLimitPerEmail` /
    /// `SignupLimitPerSource`). Off by default in process, so tests that sign up many
    /// times are not limited unless they mean to be; `local up` passes the template's.
    pub signup_limit_per_email: tenant_domain::limit::Limit,
    pub signup_limit_per_source: tenant_domain::limit::Limit,
    /// Enforce the request-rate quotas of the calls onboarding makes in the emulator
    /// (`TENANT_MOTO_RATE_LIMITS`, see the extension's `ratelimit.py`); on by default, as
    /// AWS enforces them: onboarding must ride the throttling out.
    pub rate_limits: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            iam_wait_seconds: 1,
            mapping_type: MappingType::Rules,
            verify: true,
            propagation_budget_seconds: tenant_steps::config::DEFAULT_PROPAGATION_BUDGET_SECONDS,
            simulated_propagation_seconds: 0.0,
            function_roles: true,
            template: None,
            tenant_template: Default::default(),
            // Open until the demo, the browser and hostile tests take the code step.
            signup_mode: tenant_steps::signup::Mode::Open,
            signup_lifetime_seconds: tenant_steps::config::DEFAULT_SIGNUP_LIFETIME_SECONDS,
            signup_limit_per_email: tenant_domain::limit::Limit::OFF,
            signup_limit_per_source: tenant_domain::limit::Limit::OFF,
            rate_limits: true,
        }
    }
}

/// The request-rate quotas the emulator enforces when `rate_limits` is on, as
/// (service, operation, requests per second): the same table as the extension's
/// `ratelimit.QUOTAS` (a contract test holds the two alike).
pub const RATE_QUOTAS: [(&str, &str, f64); 3] = [
    ("cognito-idp", "CreateGroup", 5.0),
    ("cognito-idp", "AdminAddUserToGroup", 25.0),
    ("cognito-identity", "GetId", 25.0),
];

#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub settings: Settings,
    pub onboarding_state_machine_arn: String,
    pub offboarding_state_machine_arn: String,
    pub rollout_state_machine_arn: String,
    /// The queue the `TenantSignupRequested` rule delivers to.
    pub signup_requests_queue_url: String,
}

/// The `DefinitionSubstitutions` the template passes, with local values.
pub fn substitutions(options: &Options) -> BTreeMap<String, String> {
    let mut subs: BTreeMap<String, String> = Step::ALL
        .into_iter()
        .map(|s| (s.substitution().to_string(), function_arn(s)))
        .collect();
    // As the template: Abac mode creates no IAM entity per tenant, so nothing to wait for.
    let wait = if options.mapping_type.has_tenant_role() {
        options.iam_wait_seconds
    } else {
        0
    };
    subs.insert("IamPropagationSeconds".into(), wait.to_string());
    subs
}

/// The shared role's name: the template's logical id, as CloudFormation would begin it
/// (upper case, so no tenant id's role name can be it).
pub const SHARED_ROLE: &str = "TenantAbacRole";

/// Abac mode, as the template's `TenantAbacRole`, `IdentityPoolRoleAttachment` and
/// `TenantPrincipalTags`: the shared tenant role under the boundary, the pool's default
/// authenticated role, and the map of the ID token's `tenant_id` claim to the `tenant`
/// session tag.
async fn shared_role(clients: &Clients, settings: &Settings) -> anyhow::Result<()> {
    let arn = ensure_shared_role(clients, settings).await?;
    make_shared_role_default(clients, settings, &arn).await
}

/// The shared tenant role and the principal tag map, as the template has them in every
/// mode (`TenantAbacRole`, `TenantPrincipalTags`): created, or converged when they exist.
/// The pool's default role is not changed (only Abac mode hands the shared role out).
/// Returns the role's ARN.
pub async fn ensure_shared_role(clients: &Clients, settings: &Settings) -> anyhow::Result<String> {
    let trust = tenant_domain::policy::trust_policy(&settings.identity_pool_id).to_string();
    let created = clients
        .iam
        .create_role()
        .role_name(SHARED_ROLE)
        .path(tenant_domain::names::ROLE_PATH)
        .permissions_boundary(&settings.boundary_arn)
        .assume_role_policy_document(&trust)
        .send()
        .await;
    let arn = match created {
        Ok(role) => role.role().map(|r| r.arn().to_string()).context("role has no ARN")?,
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_entity_already_exists_exception()) =>
        {
            clients
                .iam
                .update_assume_role_policy()
                .role_name(SHARED_ROLE)
                .policy_document(&trust)
                .send()
                .await
                .context("converging the shared tenant role's trust")?;
            clients
                .iam
                .put_role_permissions_boundary()
                .role_name(SHARED_ROLE)
                .permissions_boundary(&settings.boundary_arn)
                .send()
                .await
                .context("converging the shared tenant role's boundary")?;
            let got = clients
                .iam
                .get_role()
                .role_name(SHARED_ROLE)
                .send()
                .await
                .context("reading the shared tenant role")?;
            got.role().map(|r| r.arn().to_string()).context("role has no ARN")?
        }
        Err(e) => return Err(anyhow::Error::from(e).context("creating the shared tenant role")),
    };
    clients
        .iam
        .put_role_policy()
        .role_name(SHARED_ROLE)
        .policy_name(tenant_domain::names::INLINE_POLICY_NAME)
        .policy_document(settings.shared_policy().to_json())
        .send()
        .await
        .context("putting the shared tenant policy")?;
    clients
        .identity
        .set_principal_tag_attribute_map()
        .identity_pool_id(&settings.identity_pool_id)
        .identity_provider_name(settings.user_pool_provider())
        .use_defaults(false)
        .principal_tags(tenant_domain::policy::PRINCIPAL_TAG, tenant_domain::claim::CLAIM)
        .send()
        .await
        .context("mapping the tenant_id claim to the tenant tag")?;
    Ok(arn)
}

/// What the stack update to `MappingType=Abac` does to the pool: the attachment's
/// authenticated role becomes the shared one, and (CloudFormation calls
/// SetIdentityPoolRoles without them) the role mappings are reset.
pub async fn make_shared_role_default(clients: &Clients, settings: &Settings, arn: &str) -> anyhow::Result<()> {
    clients
        .identity
        .set_identity_pool_roles()
        .identity_pool_id(&settings.identity_pool_id)
        .roles("authenticated", arn)
        .send()
        .await
        .context("setting the pool's authenticated role")?;
    Ok(())
}

/// Fills `${Name}` placeholders like CloudFormation's `DefinitionSubstitutions`; a
/// placeholder without a value is an error rather than a broken definition.
pub fn substitute(definition: &str, subs: &BTreeMap<String, String>) -> anyhow::Result<String> {
    let mut out = definition.to_string();
    for (k, v) in subs {
        out = out.replace(&format!("${{{k}}}"), v);
    }
    if let Some(start) = out.find("${") {
        let end = out[start..].find('}').map_or(out.len(), |e| start + e + 1);
        bail!("state machine placeholder {} has no substitution", &out[start..end]);
    }
    serde_json::from_str::<serde_json::Value>(&out)
        .context("state machine definition is not valid JSON after substitution")?;
    Ok(out)
}

/// The event bus, and the `TenantSignupRequested` rule with its target (the queue).
async fn signup_events(clients: &Clients, sqs: &aws_sdk_sqs::Client) -> anyhow::Result<String> {
    clients
        .events
        .create_event_bus()
        .name(EVENT_BUS)
        .send()
        .await
        .context("creating the event bus")?;
    let queue_url = sqs
        .create_queue()
        .queue_name(SIGNUP_REQUESTS_QUEUE)
        .send()
        .await
        .context("creating the signup requests queue")?
        .queue_url()
        .context("queue has no URL")?
        .to_string();
    clients
        .events
        .put_rule()
        .name(SIGNUP_REQUESTED_RULE)
        .event_bus_name(EVENT_BUS)
        .event_pattern(signup_requested_pattern())
        .send()
        .await
        .context("creating the signup requested rule")?;
    clients
        .events
        .put_targets()
        .rule(SIGNUP_REQUESTED_RULE)
        .event_bus_name(EVENT_BUS)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("signup-events")
                .arn(format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{SIGNUP_REQUESTS_QUEUE}"))
                .build()?,
        )
        .send()
        .await
        .context("targeting the signup requests queue")?;
    Ok(queue_url)
}

/// The rule's pattern, as `template.yaml` writes it.
pub fn signup_requested_pattern() -> String {
    serde_json::json!({ "detail-type": [tenant_steps::events::TENANT_SIGNUP_REQUESTED] }).to_string()
}

pub async fn run(clients: &Clients, sqs: &aws_sdk_sqs::Client, options: &Options) -> anyhow::Result<Bootstrap> {
    let ddb = &clients.ddb;
    ddb.create_table()
        .table_name(TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(tenant_steps::record::attr::TENANT_ID)
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(tenant_steps::record::attr::TENANT_ID)
                .key_type(KeyType::Hash)
                .build()?,
        )
        .send()
        .await
        .context("creating the tenants table")?;
    // As template.yaml's TimeToLiveSpecification: held signups are deleted some time after
    // they expire (the product treats them as gone from the moment they expire).
    ddb.update_time_to_live()
        .table_name(TABLE)
        .time_to_live_specification(
            aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                .attribute_name(tenant_steps::record::attr::SIGNUP_EXPIRES_AT)
                .enabled(true)
                .build()?,
        )
        .send()
        .await
        .context("enabling the tenants table's TTL")?;

    clients
        .s3
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .context("creating the tenant bucket")?;

    let pool = clients
        .idp
        .create_user_pool()
        .pool_name("tenants")
        .username_attributes(aws_sdk_cognitoidentityprovider::types::UsernameAttributeType::Email)
        .auto_verified_attributes(aws_sdk_cognitoidentityprovider::types::VerifiedAttributeType::Email)
        .policies(
            UserPoolPolicyType::builder()
                .password_policy(
                    PasswordPolicyType::builder()
                        .minimum_length(12)
                        .require_lowercase(true)
                        .require_uppercase(true)
                        .require_numbers(true)
                        .require_symbols(true)
                        .build(),
                )
                .build(),
        )
        // As template.yaml's LambdaConfig: every token carries the tenant_id claim, and the
        // post-confirmation trigger starts a verified signup's onboarding.
        .lambda_config(
            aws_sdk_cognitoidentityprovider::types::LambdaConfigType::builder()
                .pre_token_generation_config(
                    aws_sdk_cognitoidentityprovider::types::PreTokenGenerationVersionConfigType::builder()
                        .lambda_arn(crate::lambda_endpoint::pre_token_function_arn())
                        .lambda_version(
                            aws_sdk_cognitoidentityprovider::types::PreTokenGenerationLambdaVersionType::V20,
                        )
                        .build()
                        .context("pre-token-generation config")?,
                )
                .post_confirmation(crate::lambda_endpoint::post_confirmation_arn())
                .build(),
        )
        // The attributes the page sets at SignUp.
        .set_schema(Some(
            [
                tenant_steps::signup::TENANT_ID_ATTRIBUTE,
                tenant_steps::signup::COMPANY_NAME_ATTRIBUTE,
            ]
            .iter()
            .map(|a| {
                aws_sdk_cognitoidentityprovider::types::SchemaAttributeType::builder()
                    .name(a.trim_start_matches("custom:"))
                    .attribute_data_type(aws_sdk_cognitoidentityprovider::types::AttributeDataType::String)
                    .mutable(false)
                    .build()
            })
            .collect(),
        ))
        .send()
        .await
        .context("creating the user pool")?;
    let user_pool_id = pool
        .user_pool()
        .and_then(|p| p.id())
        .context("user pool has no id")?
        .to_string();
    let client = clients
        .idp
        .create_user_pool_client()
        .user_pool_id(&user_pool_id)
        .client_name("tenant-app")
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowAdminUserPasswordAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowUserPasswordAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
        .send()
        .await
        .context("creating the app client")?;
    let client_id = client
        .user_pool_client()
        .and_then(|c| c.client_id())
        .context("app client has no id")?
        .to_string();

    let identity = clients
        .identity
        .create_identity_pool()
        .identity_pool_name("tenants")
        .allow_unauthenticated_identities(false)
        // Only the enhanced flow: the basic flow would let any signed-in user assume any
        // role the pool is trusted by.
        .allow_classic_flow(false)
        .cognito_identity_providers(
            CognitoIdentityProvider::builder()
                .provider_name(format!("cognito-idp.{REGION}.amazonaws.com/{user_pool_id}"))
                .client_id(&client_id)
                .server_side_token_check(true)
                .build(),
        )
        .send()
        .await
        .context("creating the identity pool")?;
    let identity_pool_id = identity.identity_pool_id().to_string();

    let mut settings = Settings {
        table: TABLE.into(),
        bucket: BUCKET.into(),
        user_pool_id,
        user_pool_client_id: client_id,
        identity_pool_id,
        boundary_arn: String::new(),
        mapping_type: options.mapping_type,
        partition: "aws".into(),
        region: REGION.into(),
        account_id: ACCOUNT_ID.into(),
        event_bus: EVENT_BUS.into(),
        verify: options.verify,
        propagation_budget_seconds: options.propagation_budget_seconds,
        tenant_template: options.tenant_template.clone(),
        signup_lifetime_seconds: options.signup_lifetime_seconds,
        signup_limit_per_email: options.signup_limit_per_email,
        signup_limit_per_source: options.signup_limit_per_source,
    };
    let boundary = clients
        .iam
        .create_policy()
        .policy_name(BOUNDARY_POLICY)
        .description("Caps every tenant role at the tenants' namespace")
        .policy_document(boundary_policy(&settings.deployment()).to_json())
        .send()
        .await
        .context("creating the permissions boundary")?;
    settings.boundary_arn = boundary
        .policy()
        .and_then(|p| p.arn())
        .context("boundary has no ARN")?
        .to_string();

    if options.mapping_type == MappingType::Abac {
        shared_role(clients, &settings).await?;
    }

    let states_role = clients
        .iam
        .create_role()
        .role_name("tenant-onboarding-states")
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"states.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .context("creating the state machine role")?;
    let states_role_arn = states_role
        .role()
        .map(|r| r.arn().to_string())
        .context("role has no ARN")?;

    let mut arns = vec![];
    for (name, asl) in [
        (ONBOARDING_STATE_MACHINE, ONBOARDING_ASL),
        (OFFBOARDING_STATE_MACHINE, OFFBOARDING_ASL),
        (ROLLOUT_STATE_MACHINE, ROLLOUT_ASL),
    ] {
        let sm = clients
            .sfn
            .create_state_machine()
            .name(name)
            .definition(substitute(asl, &substitutions(options))?)
            .role_arn(&states_role_arn)
            .send()
            .await
            .with_context(|| format!("creating state machine {name}"))?;
        arns.push(sm.state_machine_arn().to_string());
    }
    let [
        onboarding_state_machine_arn,
        offboarding_state_machine_arn,
        rollout_state_machine_arn,
    ]: [String; 3] = arns
        .try_into()
        .map_err(|_| anyhow::anyhow!("three state machines were created"))?;
    let signup_requests_queue_url = signup_events(clients, sqs).await?;
    Ok(Bootstrap {
        settings,
        onboarding_state_machine_arn,
        offboarding_state_machine_arn,
        rollout_state_machine_arn,
        signup_requests_queue_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_of_the_asl_file_is_substituted() {
        let out = substitute(ONBOARDING_ASL, &substitutions(&Options::default())).unwrap();
        assert!(out.contains(":function:tenant-create-role"));
        assert!(out.contains("States.StringToJson('1')"));
        let abac = Options {
            mapping_type: MappingType::Abac,
            ..Options::default()
        };
        let out = substitute(ONBOARDING_ASL, &substitutions(&abac)).unwrap();
        assert!(out.contains("States.StringToJson('0')"), "Abac mode waits for nothing");
        let out = substitute(OFFBOARDING_ASL, &substitutions(&Options::default())).unwrap();
        assert!(out.contains(":function:tenant-delete-role"));
    }

    /// Every Task has a Retry on the transient names and, in onboarding, a Catch.
    #[test]
    fn every_task_retries_transient_errors() {
        for asl in [ONBOARDING_ASL, OFFBOARDING_ASL, ROLLOUT_ASL] {
            let doc: serde_json::Value = serde_json::from_str(asl).unwrap();
            for (name, state) in &all_states(&doc) {
                if state["Type"] != "Task" {
                    continue;
                }
                let retried: Vec<&str> = state["Retry"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|r| r["ErrorEquals"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()))
                    .collect();
                for transient in tenant_steps::StepError::TRANSIENT {
                    assert!(retried.contains(&transient), "{name} does not retry {transient}");
                }
                assert!(!retried.contains(&"States.ALL"), "{name} retries everything");
                assert!(
                    state["Catch"].as_array().is_some_and(|c| !c.is_empty()),
                    "{name} has no Catch"
                );
            }
        }
    }

    /// Every state of a definition, those inside a Map's processor or a Parallel's
    /// branches included.
    fn all_states(doc: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
        let mut out = vec![];
        for (name, state) in doc["States"].as_object().unwrap() {
            out.push((name.clone(), state.clone()));
            for inner in [&state["ItemProcessor"], &state["Iterator"]] {
                if inner.is_object() {
                    out.extend(all_states(inner));
                }
            }
            for branch in state["Branches"].as_array().into_iter().flatten() {
                out.extend(all_states(branch));
            }
        }
        out
    }

    /// Every name in `ErrorEquals` in the ASL files.
    fn error_names(asl: &str) -> std::collections::BTreeSet<String> {
        let doc: serde_json::Value = serde_json::from_str(asl).unwrap();
        let mut out = std::collections::BTreeSet::new();
        for (_, state) in &all_states(&doc) {
            for handler in ["Retry", "Catch"] {
                for h in state[handler].as_array().into_iter().flatten() {
                    out.extend(
                        h["ErrorEquals"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|e| e.as_str().unwrap().to_string()),
                    );
                }
            }
        }
        out
    }

    /// The ASL files and `StepError` agree both ways: every name the state machines match
    /// on is a variant (or the Lambda service's, the runtime's or Step Functions' own), and
    /// every variant is named exactly when the state machine must treat it specially
    /// (retried, or refused without compensation); the rest fall to `States.ALL`.
    #[test]
    fn state_machine_error_names_are_step_errors_and_back() {
        use tenant_steps::StepError;
        let named: std::collections::BTreeSet<String> = [ONBOARDING_ASL, OFFBOARDING_ASL, ROLLOUT_ASL]
            .into_iter()
            .flat_map(error_names)
            .collect();
        for n in &named {
            assert!(
                StepError::NAMES.contains(&n.as_str())
                    || n == tenant_steps::error::PAYLOAD_UNREADABLE
                    || n.starts_with("Lambda.")
                    || n.starts_with("States."),
                "the state machines match on {n}, which no step reports"
            );
        }
        for n in StepError::NAMES {
            let special = StepError::TRANSIENT.contains(n) || StepError::REFUSED.contains(n);
            assert_eq!(
                named.contains(*n),
                special,
                "{n}: named in ErrorEquals must mean retried or refused (StepError::TRANSIENT / REFUSED)"
            );
        }
        // The refusals are exactly what the first step's non-compensating Catches name.
        let doc: serde_json::Value = serde_json::from_str(ONBOARDING_ASL).unwrap();
        let refused: std::collections::BTreeSet<&str> = doc["States"]["RecordProvisioning"]["Catch"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["Next"] == "Refused" || c["Next"] == "RecordRefused")
            .flat_map(|c| c["ErrorEquals"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()))
            .filter(|n| *n != tenant_steps::error::PAYLOAD_UNREADABLE)
            .collect();
        assert_eq!(refused, StepError::REFUSED.into_iter().collect());
    }

    /// A request the runtime cannot even read is refused before anything is created.
    #[test]
    fn unreadable_payloads_are_refused_up_front() {
        let doc: serde_json::Value = serde_json::from_str(ONBOARDING_ASL).unwrap();
        let refused = doc["States"]["RecordProvisioning"]["Catch"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["Next"] == "Refused")
            .expect("a refusal Catch");
        let names: Vec<&str> = refused["ErrorEquals"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e.as_str())
            .collect();
        assert!(names.contains(&tenant_steps::error::PAYLOAD_UNREADABLE), "{names:?}");
        assert!(names.contains(&"InvalidInput") && names.contains(&"InvalidTenantId"));
    }

    /// The Verify step turns a refusal into a failed proof exactly when the state machine
    /// would not retry `IamNotPropagated` again.
    #[test]
    fn verify_retries_propagation_as_often_as_the_step_expects() {
        let doc: serde_json::Value = serde_json::from_str(ONBOARDING_ASL).unwrap();
        let verify = &doc["States"]["Verify"];
        let retrier = verify["Retry"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| {
                r["ErrorEquals"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e == "IamNotPropagated")
            })
            .expect("Verify retries IamNotPropagated");
        assert_eq!(
            retrier["MaxAttempts"].as_u64(),
            Some(u64::from(tenant_steps::verify::PROPAGATION_RETRIES))
        );
        assert_eq!(verify["Parameters"]["retry_count.$"], "$$.State.RetryCount");
        assert_eq!(doc["States"]["RebuildRoleMappings"]["Next"], "Verify");
        assert_eq!(verify["Next"], "RecordActive");
    }

    #[test]
    fn a_missing_substitution_is_an_error() {
        let err = substitute(r#"{"a": "${Nope}"}"#, &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("${Nope}"));
    }

    fn placeholders(asl: &str) -> std::collections::BTreeSet<String> {
        asl.split("${")
            .skip(1)
            .filter_map(|rest| rest.split_once('}'))
            .map(|(k, _)| k.to_string())
            .collect()
    }

    /// Each state machine in template.yaml gets exactly the substitutions its ASL file
    /// uses, and may invoke exactly the functions it names.
    #[test]
    fn the_template_passes_each_state_machine_its_substitutions() {
        let template = include_str!("../../../template.yaml");
        for (logical, asl) in [
            ("OnboardingStateMachine", ONBOARDING_ASL),
            ("OffboardingStateMachine", OFFBOARDING_ASL),
            ("RolloutStateMachine", ROLLOUT_ASL),
        ] {
            let start = template.find(&format!("  {logical}:\n")).expect(logical);
            let block = &template[start..];
            let block = &block[..block.find("\n\n").unwrap_or(block.len())];
            let used = placeholders(asl);
            for key in &used {
                assert!(
                    block.contains(&format!("        {key}: ")),
                    "{logical} lacks substitution {key}"
                );
                if let Some(function) = key.strip_suffix("Arn") {
                    assert!(
                        block.contains(&format!("FunctionName: !Ref {function} ")),
                        "{logical} cannot invoke {function}"
                    );
                }
            }
            let invokable = block.matches("LambdaInvokePolicy").count();
            let functions = used.iter().filter(|k| k.ends_with("FunctionArn")).count();
            assert_eq!(
                invokable, functions,
                "{logical} may invoke functions its definition does not use"
            );
            for key in &used {
                assert!(
                    substitutions(&Options::default()).contains_key(key),
                    "bootstrap lacks {key}"
                );
            }
        }
    }

    /// Every step's function in template.yaml runs that step: a wrong TENANT_STEP would
    /// run one step's code under another step's role.
    #[test]
    fn each_template_function_runs_its_own_step() {
        let template = include_str!("../../../template.yaml");
        for step in Step::ALL {
            let logical = step.substitution().trim_end_matches("Arn");
            let start = template
                .find(&format!("  {logical}:\n"))
                .unwrap_or_else(|| panic!("{logical} missing"));
            let block = &template[start..];
            let block = &block[..block.find("\n\n").unwrap_or(block.len())];
            assert!(
                block.contains("        Binary: step\n"),
                "{logical} does not run the step binary"
            );
            assert!(
                block.contains(&format!("TENANT_STEP: {}\n", step.name())),
                "{logical} runs another step"
            );
        }
    }
}
