//! `make bench`: the performance and scale figures of the product, measured side by side
//! on this machine, against the goals of the performance issue.

pub mod calls;
pub mod cold;
pub mod cost;
pub mod judge;
pub mod onboarding;
pub mod recorder;
pub mod report;
pub mod size;
pub mod stats;
pub mod throughput;
