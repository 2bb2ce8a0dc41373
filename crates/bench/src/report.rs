//! The figures against the goals, as one table (or JSON). A goal that is missed
//! is printed as missed.

use serde::Serialize;

use crate::cold::ColdInit;
use crate::onboarding::LocalOnboarding;
use crate::size::Package;
use crate::throughput::Throughput;

pub const COLD_SPEEDUP_GOAL: f64 = 20.0;
pub const COLD_RSS_GOAL: f64 = 0.25;
pub const LOCAL_OVERHEAD_GOAL: f64 = 1.5;
pub const TRANSITIONS_GOAL: usize = 20;
pub const INVOCATIONS_GOAL: usize = 8;
/// 4 MB, decimal: the stricter reading.
pub const ZIP_GOAL_BYTES: u64 = 4_000_000;

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub section: &'static str,
    pub measure: String,
    pub figure: String,
    pub goal: String,
    /// `None` where there is no goal to meet, only a figure.
    pub met: Option<bool>,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub machine: String,
    pub cold_init: Option<ColdInit>,
    pub local_onboarding: Option<LocalOnboarding>,
    pub enforcement: Option<crate::onboarding::Enforcement>,
    pub throughput: Vec<Throughput>,
    pub packages: Vec<Package>,
    pub checks: Vec<Check>,
}

fn mb(bytes: f64) -> String {
    format!("{:.2} MB", bytes / 1e6)
}

impl Report {
    pub fn evaluate(&mut self) {
        let mut checks = vec![];
        if let Some(c) = &self.cold_init {
            let py = &c.python;
            for f in &c.functions {
                let speedup = py.init_ms.p50 / f.init_ms.p50;
                checks.push(Check {
                    section: "1 cold init",
                    measure: format!("{} start → first poll (p50 of {})", f.name, c.runs),
                    figure: format!(
                        "{:.1} ms vs {:.0} ms python: {speedup:.0}× faster",
                        f.init_ms.p50, py.init_ms.p50
                    ),
                    goal: format!("≥ {COLD_SPEEDUP_GOAL:.0}× faster"),
                    met: Some(speedup >= COLD_SPEEDUP_GOAL),
                });
                let rss = f.peak_rss_kib.p50 / py.peak_rss_kib.p50;
                checks.push(Check {
                    section: "1 cold init",
                    measure: format!("{} peak RSS", f.name),
                    figure: format!(
                        "{} vs {} python: {rss:.2}×",
                        mb(f.peak_rss_kib.p50 * 1024.0),
                        mb(py.peak_rss_kib.p50 * 1024.0)
                    ),
                    goal: format!("≤ {COLD_RSS_GOAL}×"),
                    met: Some(rss <= COLD_RSS_GOAL),
                });
            }
        }
        if let Some(l) = &self.local_onboarding {
            let ratio = l.stack_ms.p50 / l.floor_ms.p50;
            checks.push(Check {
                section: "2 local onboarding",
                measure: format!("one tenant, state machine vs floor (p50 of {})", l.runs),
                figure: format!("{:.0} ms vs {:.0} ms: {ratio:.2}×", l.stack_ms.p50, l.floor_ms.p50),
                goal: format!("≤ {LOCAL_OVERHEAD_GOAL}×"),
                met: Some(ratio <= LOCAL_OVERHEAD_GOAL),
            });
            checks.push(Check {
                section: "4 cost",
                measure: "state transitions per onboarding".into(),
                figure: l.cost.state_transitions.to_string(),
                goal: format!("≤ {TRANSITIONS_GOAL}"),
                met: Some(l.cost.state_transitions <= TRANSITIONS_GOAL),
            });
            checks.push(Check {
                section: "4 cost",
                measure: "Lambda invocations per onboarding".into(),
                figure: l.cost.lambda_invocations.to_string(),
                goal: format!("≤ {INVOCATIONS_GOAL}"),
                met: Some(l.cost.lambda_invocations <= INVOCATIONS_GOAL),
            });
        }
        for t in &self.throughput {
            checks.push(Check {
                section: "3 throughput",
                measure: format!("{} {} tenants concurrently", t.tenants, t.mapping_type),
                figure: format!(
                    "wall {:.1} s; per tenant p50 {:.1} s, p95 {:.1} s",
                    t.wall_s, t.per_tenant_s.p50, t.per_tenant_s.p95
                ),
                goal: "—".into(),
                met: None,
            });
            checks.push(Check {
                section: "3 throughput",
                measure: format!("{} {}: succeeded and fully mapped", t.tenants, t.mapping_type),
                figure: format!(
                    "{}/{} succeeded, {}/{} complete",
                    t.succeeded, t.tenants, t.complete, t.tenants
                ),
                goal: "all".into(),
                met: Some(t.succeeded == t.tenants && t.complete == t.tenants),
            });
        }
        for p in &self.packages {
            checks.push(Check {
                section: "5 size",
                measure: format!("{} deployment zip ({})", p.function, p.arch),
                figure: format!("{} (binary {})", mb(p.zip_bytes as f64), mb(p.binary_bytes as f64)),
                goal: format!("≤ {}", mb(ZIP_GOAL_BYTES as f64)),
                met: Some(p.zip_bytes <= ZIP_GOAL_BYTES),
            });
        }
        self.checks = checks;
    }

    pub fn table(&self) -> String {
        let head = ["", "measure", "figure", "goal", "result"];
        let rows: Vec<[String; 5]> = self
            .checks
            .iter()
            .map(|c| {
                [
                    c.section.to_string(),
                    c.measure.clone(),
                    c.figure.clone(),
                    c.goal.clone(),
                    match c.met {
                        Some(true) => "met".into(),
                        Some(false) => "MISSED".into(),
                        None => "".into(),
                    },
                ]
            })
            .collect();
        let mut widths = head.map(|h| h.chars().count());
        for r in &rows {
            for (w, cell) in widths.iter_mut().zip(r) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: [&str; 5]| {
            let mut s = String::from("|");
            for (cell, w) in cells.iter().zip(widths) {
                s.push_str(&format!(" {cell}{} |", " ".repeat(w - cell.chars().count())));
            }
            s.push('\n');
            s
        };
        let mut out = line(head);
        out.push('|');
        for w in widths {
            out.push_str(&format!("{}|", "-".repeat(w + 2)));
        }
        out.push('\n');
        for r in &rows {
            out.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4]]));
        }
        out
    }

    pub fn details(&self) -> String {
        let mut out = String::new();
        if let Some(e) = &self.enforcement {
            out.push_str(&format!(
                "function roles, {} onboardings each (ms p50 / max): admin key {:.0} / {:.0}; own roles {:.0} / {:.0}; cost {:+.0} ms per onboarding, {:+.0} ms at stack start\n",
                e.runs,
                e.admin_ms.p50,
                e.admin_ms.max,
                e.function_roles_ms.p50,
                e.function_roles_ms.max,
                e.function_roles_ms.p50 - e.admin_ms.p50,
                e.extra_start_ms
            ));
        }
        if let Some(c) = &self.cold_init {
            out.push_str(&format!(
                "cold init, {} runs each (ms: min / p50 / p95 / max; peak RSS p50):\n",
                c.runs
            ));
            for s in std::iter::once(&c.python).chain(&c.functions) {
                out.push_str(&format!(
                    "  {:<28} {:>7.1} {:>7.1} {:>7.1} {:>7.1}   {}\n",
                    s.name,
                    s.init_ms.min,
                    s.init_ms.p50,
                    s.init_ms.p95,
                    s.init_ms.max,
                    mb(s.peak_rss_kib.p50 * 1024.0)
                ));
            }
        }
        if let Some(l) = &self.local_onboarding {
            out.push_str(&format!(
                "local onboarding (ms: min / p50 / max): state machine {:.0} / {:.0} / {:.0}; floor {:.0} / {:.0} / {:.0}\n",
                l.stack_ms.min, l.stack_ms.p50, l.stack_ms.max, l.floor_ms.min, l.floor_ms.p50, l.floor_ms.max
            ));
            out.push_str(&format!("  floor steps: {}\n", l.floor_steps.join(" → ")));
            out.push_str(&format!(
                "  the StartExecution call alone: p50 {:.0} ms\n",
                l.start_execution_ms.p50
            ));
            let b = &l.breakdown;
            out.push_str(&format!(
                "  last execution: {:.0} ms from StartExecution to its first history event; {:.0} ms first to last event \
                 ({:.0} ms inside Lambda tasks, {:.0} ms between them); {:.0} ms until the caller saw it end\n",
                b.before_first_event_ms, b.execution_ms, b.in_tasks_ms, b.between_states_ms, b.after_last_event_ms
            ));
            for t in &b.tasks {
                out.push_str(&format!(
                    "    {:<20} {:>5.0} ms as a Lambda task, {} in the floor\n",
                    t.state,
                    t.in_state_machine_ms,
                    t.in_floor_ms.map_or("—".to_string(), |ms| format!("{ms:.0} ms"))
                ));
            }
            for g in &b.largest_gaps {
                out.push_str(&format!("    {:.0} ms between {} and {}\n", g.ms, g.after, g.before));
            }
            out.push_str(&format!("  states entered: {}\n", l.cost.states.join(" → ")));
        }
        for t in &self.throughput {
            if !t.incomplete.is_empty() {
                out.push_str(&format!("{} {} incomplete:\n", t.tenants, t.mapping_type));
                for m in t.incomplete.iter().take(20) {
                    out.push_str(&format!("  {m}\n"));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(bytes: u64) -> Package {
        Package {
            function: "step".into(),
            zip: "target/lambda/step/bootstrap.zip".into(),
            zip_bytes: bytes,
            binary: "bootstrap".into(),
            binary_bytes: bytes * 2,
            arch: "x86_64".into(),
        }
    }

    /// A goal that is missed is printed as missed; one that is met, as met.
    #[test]
    fn missed_goals_are_printed_missed() {
        let mut report = Report {
            packages: vec![package(4_000_001), package(3_999_999)],
            ..Report::default()
        };
        report.evaluate();
        let met: Vec<_> = report.checks.iter().map(|c| c.met).collect();
        assert_eq!(met, [Some(false), Some(true)]);
        let table = report.table();
        assert!(table.contains("MISSED"), "{table}");
        assert!(table.contains("| met "), "{table}");
        assert!(table.contains("4.00 MB (binary 8.00 MB)"), "{table}");
    }
}
