//! The figures against the goals, as one table (or JSON). A goal that is missed
//! is printed as missed.

use serde::Serialize;

use crate::calls::CriticalPath;
use crate::cold::ColdInit;
use crate::cost::MemorySizes;
use crate::judge::CostReport;
use crate::onboarding::LocalOnboarding;
use crate::size::Package;
use crate::throughput::Throughput;

/// Cold init of step and signup: at most this many times the floor's.
pub const FLOOR_RATIO_GOAL: f64 = 1.5;
/// At least this many times faster than Python + boto3, and than Node.js + SDK v3.
pub const PYTHON_SPEEDUP_GOAL: f64 = 30.0;
pub const NODE_SPEEDUP_GOAL: f64 = 10.0;
/// Peak RSS at most this fraction of either peer's.
pub const PEER_RSS_GOAL: f64 = 0.25;
pub const LOCAL_OVERHEAD_GOAL: f64 = 1.5;
pub const TRANSITIONS_GOAL: usize = 20;
pub const INVOCATIONS_GOAL: usize = 8;
/// 4 MB, decimal: the stricter reading.
pub const ZIP_GOAL_BYTES: u64 = 4_000_000;

/// `a / b` of two medians, and whether it is within `at_most` (a ratio goal such as
/// "≤ 1.5× the floor" or "≤ ¼ of the peer's RSS").
pub fn within(a: f64, b: f64, at_most: f64) -> (f64, bool) {
    let r = a / b;
    (r, r.is_finite() && r <= at_most)
}

/// How many times faster `ours` is than `theirs`, and whether that is at least `goal`.
pub fn faster(ours: f64, theirs: f64, goal: f64) -> (f64, bool) {
    let s = theirs / ours;
    (s, s.is_finite() && s >= goal)
}

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
    /// One onboarding per mapping type, side by side.
    pub per_mode: Vec<crate::onboarding::ModeLatency>,
    pub enforcement: Option<crate::onboarding::Enforcement>,
    pub throughput: Vec<Throughput>,
    pub packages: Vec<Package>,
    pub critical_paths: Vec<CriticalPath>,
    /// The template's memory sizes the cost uses.
    pub memory: Option<MemorySizes>,
    pub cost: Vec<CostReport>,
    pub checks: Vec<Check>,
}

fn mb(bytes: f64) -> String {
    format!("{:.2} MB", bytes / 1e6)
}

impl Report {
    pub fn evaluate(&mut self) {
        let mut checks = vec![];
        if let Some(c) = &self.cold_init {
            checks.extend(cold_checks(c));
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
        if !self.per_mode.is_empty() {
            let figures: Vec<String> = self
                .per_mode
                .iter()
                .map(|m| format!("{:?} {:.0} ms", m.mapping_type, m.ms.p50))
                .collect();
            checks.push(Check {
                section: "2 local onboarding",
                measure: format!(
                    "one tenant per mapping type, own stack each (p50 of {})",
                    self.per_mode[0].runs
                ),
                figure: figures.join(", "),
                goal: "—".into(),
                met: None,
            });
        }
        for t in &self.throughput {
            checks.push(Check {
                section: "3 throughput",
                measure: if t.in_flight == 0 {
                    format!("{} {} tenants concurrently", t.tenants, t.mapping_type)
                } else {
                    format!("{} {} tenants, {} at a time", t.tenants, t.mapping_type, t.in_flight)
                },
                figure: format!(
                    "wall {:.1} s; per tenant p50 {:.1} s, p95 {:.1} s",
                    t.wall_s, t.per_tenant_s.p50, t.per_tenant_s.p95
                ),
                goal: "—".into(),
                met: None,
            });
            checks.push(Check {
                section: "3 throughput",
                measure: format!("{} {} tenants: onboardings per second", t.tenants, t.mapping_type),
                figure: match &t.ceiling_per_s {
                    Some((c, by)) => format!(
                        "{:.2}/s = {:.0}% of the rate-limit ceiling {c:.2}/s (set by {by})",
                        t.tenants_per_s,
                        100.0 * t.tenants_per_s / c
                    ),
                    None => format!("{:.2}/s (emulator rate limits off)", t.tenants_per_s),
                },
                goal: "≤ ceiling".into(),
                met: t.ceiling_per_s.as_ref().map(|(c, _)| t.tenants_per_s <= *c * 1.05),
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
            checks.push(Check {
                section: "3 throughput",
                measure: format!("{} {}: check-isolation on a sample", t.tenants, t.mapping_type),
                figure: format!(
                    "{}/{} checks hold{}",
                    t.isolation_held,
                    t.isolation_checks,
                    t.isolation_failures
                        .first()
                        .map_or(String::new(), |f| format!("; first failure: {f}"))
                ),
                goal: "all".into(),
                met: Some(t.isolation_checks > 0 && t.isolation_held == t.isolation_checks),
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
        self.cost = self.costs();
        checks.extend(crate::judge::path_checks(&self.critical_paths));
        checks.extend(crate::judge::cost_checks(
            &self.cost,
            self.cold_init.as_ref(),
            self.memory.as_ref(),
        ));
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
            for s in [&c.floor, &c.python, &c.node].into_iter().chain(&c.functions) {
                out.push_str(&format!(
                    "  {:<38} {:>7.1} {:>7.1} {:>7.1} {:>7.1}   {}\n",
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
        out.push_str(&crate::judge::details(&self.critical_paths, &self.cost));
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

impl Report {
    fn costs(&self) -> Vec<CostReport> {
        crate::judge::costs(&self.critical_paths, self.memory.as_ref(), self.cold_init.as_ref())
    }
}

fn cold_checks(c: &ColdInit) -> Vec<Check> {
    let mut checks = vec![];
    let (floor, py, node) = (&c.floor, &c.python, &c.node);
    let runs = c.runs;
    for f in &c.functions {
        let ms = f.init_ms.p50;
        let (r, met) = within(ms, floor.init_ms.p50, FLOOR_RATIO_GOAL);
        checks.push(Check {
            section: "1 cold init",
            measure: format!("{} start → first poll vs the floor (p50 of {runs})", f.name),
            figure: format!("{ms:.1} ms vs {:.1} ms floor: {r:.2}×", floor.init_ms.p50),
            goal: format!("≤ {FLOOR_RATIO_GOAL}× the floor"),
            met: Some(met),
        });
        for (peer, goal) in [(py, PYTHON_SPEEDUP_GOAL), (node, NODE_SPEEDUP_GOAL)] {
            let (x, met) = faster(ms, peer.init_ms.p50, goal);
            checks.push(Check {
                section: "1 cold init",
                measure: format!("{} vs {}", f.name, peer.name),
                figure: format!("{ms:.1} ms vs {:.0} ms: {x:.1}× faster", peer.init_ms.p50),
                goal: format!("≥ {goal:.0}× faster"),
                met: Some(met),
            });
        }
        let rss = f.peak_rss_kib.p50;
        let (r, _) = within(rss, floor.peak_rss_kib.p50, f64::INFINITY);
        checks.push(Check {
            section: "1 cold init",
            measure: format!("{} peak RSS vs the floor", f.name),
            figure: format!(
                "{} vs {} floor: {r:.2}×",
                mb(rss * 1024.0),
                mb(floor.peak_rss_kib.p50 * 1024.0)
            ),
            goal: "—".into(),
            met: None,
        });
        for peer in [py, node] {
            let (r, met) = within(rss, peer.peak_rss_kib.p50, PEER_RSS_GOAL);
            checks.push(Check {
                section: "1 cold init",
                measure: format!("{} peak RSS vs {}", f.name, peer.name),
                figure: format!(
                    "{} vs {}: {r:.2}×",
                    mb(rss * 1024.0),
                    mb(peer.peak_rss_kib.p50 * 1024.0)
                ),
                goal: format!("≤ {PEER_RSS_GOAL}×"),
                met: Some(met),
            });
        }
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cold::Subject;
    use crate::stats::Summary;

    fn subject(name: &str, ms: f64, rss_kib: f64) -> Subject {
        Subject {
            name: name.into(),
            init_ms: Summary::of(&[ms]),
            peak_rss_kib: Summary::of(&[rss_kib]),
        }
    }

    #[test]
    fn ratio_and_speedup_judging() {
        assert_eq!(within(12.0, 8.0, 1.5), (1.5, true));
        assert!(!within(12.1, 8.0, 1.5).1);
        assert!(!within(1.0, 0.0, 1.5).1, "a zero floor judges nothing met");
        assert_eq!(faster(10.0, 300.0, 30.0), (30.0, true));
        assert!(!faster(10.0, 299.0, 30.0).1);
    }

    /// Each function gets floor, Python and Node.js checks, judged on the medians.
    #[test]
    fn cold_goals_against_floor_and_peers() {
        let c = ColdInit {
            runs: 1,
            floor: subject("floor", 5.0, 4000.0),
            python: subject("python", 330.0, 60000.0),
            node: subject("node", 90.0, 40000.0),
            functions: vec![subject("step", 9.0, 10000.0), subject("signup", 7.0, 8000.0)],
        };
        let checks = cold_checks(&c);
        assert_eq!(checks.len(), 12);
        let met = |f: &str, m: &str| {
            checks
                .iter()
                .find(|k| k.measure.starts_with(f) && k.measure.contains(m))
                .unwrap_or_else(|| panic!("no check {f} {m}"))
                .met
        };
        // 9 / 5 = 1.8× the floor: missed; 7 / 5 = 1.4×: met.
        assert_eq!(met("step start", "floor"), Some(false));
        assert_eq!(met("signup start", "floor"), Some(true));
        // 330 / 9 = 36.7× ≥ 30; 90 / 9 = 10× ≥ 10.
        assert_eq!(met("step vs", "python"), Some(true));
        assert_eq!(met("step vs", "node"), Some(true));
        // RSS 10000 / 40000 = 0.25 of Node.js: met at the boundary; vs the floor: no goal.
        assert_eq!(met("step peak RSS vs", "node"), Some(true));
        assert_eq!(met("step peak RSS vs", "floor"), None);
    }

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
