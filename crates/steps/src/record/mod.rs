//! The tenant record in DynamoDB: what it holds (`model`), the names of its attributes
//! (`attr`), and the conditional writes that move it (`store`).
//!
//! Writes are conditional: status changes on the status model's allowed predecessors, and
//! every write of onboarding and compensation on the execution that owns the record, so a
//! stale execution can never overwrite a newer attempt. Offboarding takes ownership of a
//! settled record (`take_over`), or of a stuck one whose owner the caller has checked is
//! gone.

pub mod attr;
mod model;
mod store;

pub use model::{AttemptRecord, Changes, TenantRecord, now};
// Attribute values and the table's name in errors, for the other items of the table.
pub(crate) use model::{n, s};
pub(crate) use store::table;
pub use store::{
    Claim, Decided, approve, claim, get, hold, keep_previous_documents, list, put_pending, reject, set_mapped,
    set_on_active, set_pending_execution, start_attempt, take_over, transition,
};

/// The role-mapping lock lives in the tenants table under a key no tenant id can take.
pub const LOCK_KEY: &str = "#role-mapping-lock";
