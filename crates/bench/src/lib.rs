//! `make bench`: the performance and scale figures of the product, measured side by side
//! on this machine, against the goals of the performance issue.

pub mod cold;
pub mod onboarding;
pub mod report;
pub mod size;
pub mod stats;
pub mod throughput;
