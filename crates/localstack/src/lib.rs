//! The whole product on one machine, no AWS account: moto (with the project's extension)
//! as the AWS emulator, a local Lambda Invoke endpoint that runs the same step handlers
//! as the Lambda binaries, and a bootstrap that creates what `template.yaml` creates.

pub mod background;
pub mod bootstrap;
pub mod events;
pub mod fault_api;
pub mod function_roles;
pub mod lambda_endpoint;
pub mod mailbox;
pub mod moto;
pub mod policy_documents;
pub mod stack;

pub use bootstrap::{Bootstrap, Options, RATE_QUOTAS};
pub use stack::LocalStack;

/// moto's default account and the region the local stack uses.
pub const ACCOUNT_ID: &str = "123456789012";
pub const REGION: &str = "us-east-1";
