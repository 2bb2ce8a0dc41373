//! End-to-end tests on the local stack: each test starts moto (with the project's
//! extension) and the local Lambda endpoint on free ports, bootstraps what
//! `template.yaml` creates, drives the real state machine and checks the emulator through
//! the SDK. Needs the virtualenv that `make test` creates (or TENANT_PYTHON).

mod abac;
mod claims;
mod concurrency;
mod failures;
// Shared with the `tenantctl` package's tests, which use parts this suite does not.
#[allow(dead_code)]
mod helpers;
mod isolation;
mod onboarding;
mod permissions;
mod recovery;
mod signup;
mod trust;
mod verify;
