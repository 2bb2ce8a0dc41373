//! The pure core of tenant onboarding: everything here is a function of its inputs.
//!
//! Steps, the CLI and the local stack all derive names, policies, role mappings and
//! status transitions from this crate, so compensation and offboarding can always
//! recompute what onboarding created even when a step's output was lost.

pub mod canary;
pub mod claim;
pub mod contact;
pub mod glob;
pub mod limit;
pub mod mapping;
pub mod names;
pub mod percent;
pub mod policy;
pub mod policy_compare;
pub mod role_access;
pub mod rollout;
pub mod signup;
pub mod status;
pub mod template;
pub mod tenant_id;

pub use mapping::{MappingError, MappingRule, MappingType, ProviderMapping};
pub use names::TenantNames;
pub use policy::Deployment;
pub use status::Status;
pub use tenant_id::{TenantId, TenantIdError};
