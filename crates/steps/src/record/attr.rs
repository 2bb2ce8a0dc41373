//! Attribute names of a tenant record, one place for every reader and writer of the table
//! (the store, the mapping lock, the local stack's table, the teardown).

/// The table's partition key.
pub const TENANT_ID: &str = "tenant_id";
pub const STATUS: &str = "status";
/// The execution that owns the record; writes of onboarding are conditional on it.
pub const EXECUTION: &str = "execution";
pub const ATTEMPT: &str = "attempt";
/// The tenant's company name and admin email, as signup, events, the execution input and
/// `tenantctl onboard` name them.
pub const COMPANY_NAME: &str = "company_name";
pub const ADMIN_EMAIL: &str = "admin_email";
/// Where records written by an earlier version keep the same two fields: read when the new
/// attribute is absent, never written (see `TenantRecord::from_item`).
pub const PREVIOUS_COMPANY_NAME: &str = "display_name";
pub const PREVIOUS_ADMIN_EMAIL: &str = "email";
/// Which entry point created the record (signup, event, CLI).
pub const SOURCE: &str = "source";
pub const MAPPED: &str = "mapped";
pub const ROLE_ARN: &str = "role_arn";
pub const FAILED_STEP: &str = "failed_step";
pub const ERROR_NAME: &str = "error_name";
pub const ERROR_MESSAGE: &str = "error_message";
pub const REMAINING: &str = "remaining";
/// Why a rollback failed (written with ROLLBACK_FAILED).
pub const ROLLBACK_ERROR: &str = "rollback_error";
pub const RETAIN_DATA: &str = "retain_data";
/// The template version (`TenantTemplate::version`) the tenant's documents were last
/// rendered from and proven with: written by RecordActive and by a converge.
pub const TEMPLATE_VERSION: &str = "template_version";
/// The role's documents before the last repair (JSON of `role::RoleDocuments`), written
/// before anything is changed so that a failed proof, or an operator, can put them back.
pub const PREVIOUS_DOCUMENTS: &str = "previous_documents";
/// Which converge (a repair, a rollout's tenant) wrote `previous_documents`: a retried
/// converge finds its own and does not overwrite them with what it already changed.
pub const PREVIOUS_BY: &str = "previous_by";
pub const CREATED_AT: &str = "created_at";
pub const UPDATED_AT: &str = "updated_at";
/// When a held signup (PENDING_APPROVAL) stops holding its id, in epoch seconds: the
/// table's TTL attribute. Not the lock's `expires_at`, so TTL never deletes a lease item;
/// removed on approval, so TTL never deletes a tenant.
pub const SIGNUP_EXPIRES_AT: &str = "signup_expires_at";

/// The role-mapping lock item (key `LOCK_KEY`): who holds it and until when.
pub const LOCK_OWNER: &str = "owner";
pub const LOCK_EXPIRES_AT: &str = "expires_at";

/// Keys inside a per-attempt map (`attempt_{n}_started`, `attempt_{n}_ended`).
pub const STARTED_AT: &str = "started_at";
pub const ENDED_AT: &str = "ended_at";

/// The attribute holding attempt `n`'s start.
pub fn started(attempt: u32) -> String {
    format!("attempt_{attempt}_started")
}

/// The attribute holding attempt `n`'s end.
pub fn ended(attempt: u32) -> String {
    format!("attempt_{attempt}_ended")
}
