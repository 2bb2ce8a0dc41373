//! The onboarding steps: each one an idempotent async function over AWS SDK clients,
//! plus the glue that runs a step as a Lambda handler.
//!
//! Lambda binaries (`tenant-functions`) and the local Lambda endpoint
//! (`tenant-localstack`) both call [`dispatch::run`], so the code the state machine
//! runs locally is the code it runs in AWS.

pub mod aws;
pub mod config;
pub mod converge;
pub mod dispatch;
pub mod error;
pub mod events;
pub mod input;
pub mod inspect;
pub mod lambda;
pub mod launch;
pub mod mapping;
pub mod metrics;
pub mod migrate;
pub mod ownership;
pub mod probe;
pub mod record;
pub mod resources;
pub mod rollout;
pub mod signup;
pub mod steps;
pub mod teardown;
pub mod token;
pub mod users;
pub mod verify;

pub use aws::Clients;
pub use config::Settings;
pub use dispatch::Step;
pub use error::StepError;
pub use input::StepInput;

/// What every step needs: settings and clients, built once per process.
#[derive(Clone, Debug)]
pub struct Context {
    pub settings: Settings,
    pub clients: Clients,
}

impl Context {
    /// A context whose clients have no HTTP client and settings of placeholders: for tests
    /// of what must be answered before any AWS call (a call that gets through fails with
    /// `ServiceUnavailable`).
    pub fn offline() -> Context {
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let settings = Settings::from_lookup(|k| match k {
            config::env::MAPPING_TYPE
            | config::env::VERIFY
            | config::env::PROPAGATION_BUDGET_SECONDS
            | config::env::POLICY_TEMPLATE
            | config::env::SIGNUP_LIFETIME_SECONDS
            | config::env::SIGNUP_LIMIT_PER_EMAIL
            | config::env::SIGNUP_LIMIT_PER_SOURCE => None,
            _ => Some("unused".into()),
        })
        .expect("placeholder settings are complete");
        Context {
            settings,
            clients: Clients::new(&config),
        }
    }
}
