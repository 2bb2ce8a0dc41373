//! Signup: the public form's API and the `TenantSignupRequested` event, one validation
//! (`tenant_domain::signup::validate`) and one start path ([`submit`]) for both.
//!
//! - `GET /` the page; `POST /signup` records the tenant PENDING (only where no record
//!   exists) and starts its onboarding: 202, the same request again is the same tenant,
//!   a taken id is 409, invalid fields are 400 naming each one;
//! - `GET /signup/{id}` the coarse status the page polls.
//!
//! Transport-neutral so the Lambda (API Gateway HTTP API) and the local stack share it.
//! One file per job: [`submit`] the start path, `http` the routes and bodies, `json`
//! the duplicate-key check, `progress` what the page polls, `event` the EventBridge entry,
//! `confirmed` the user pool's post-confirmation trigger (verify mode).

mod confirmed;
mod event;
mod http;
mod json;
pub mod limits;
mod progress;
mod submit;
mod verify;

pub use confirmed::{COMPANY_NAME_ATTRIBUTE, TENANT_ID_ATTRIBUTE, handle_post_confirmation};
pub use event::handle_event;
pub use http::{MAX_BODY, Request, Response, handle, handle_mode};
pub use progress::{Progress, progress};
pub use submit::{SignupOutcome, Source, held_by, hold, submit};
pub use verify::{MODE_ENV, Mode};
