//! `tenant-bench`: prints the performance table (`make bench` runs it after `make package`).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use tenant_bench::report::Report;
use tenant_bench::{calls, cold, onboarding, recorder, size, throughput};
use tenant_domain::MappingType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    /// 1: function cold init and peak RSS beside the floor, Python + boto3 and Node.js + SDK v3
    Cold,
    /// 2 and 4: one onboarding vs its floor, and its cost from the execution history
    Local,
    /// 3: concurrent onboardings (Rules and Token)
    Throughput,
    /// 5: deployment zip sizes
    Size,
    /// 6 and 7: the critical path of an onboarding per mapping type (moto's request log),
    /// and what 1,000 onboardings and an offboarding cost
    Calls,
    /// What running every function under its own template role costs per onboarding
    Enforcement,
}

/// Measures cold init, local onboarding against its floor, throughput, cost per
/// onboarding and deployment size, and prints them against the goals.
#[derive(Debug, Parser)]
#[command(name = "tenant-bench", version)]
struct Args {
    /// Where `make package` (cargo lambda) left `<function>/bootstrap.zip`.
    #[arg(long, default_value = "target/lambda")]
    lambda_dir: PathBuf,
    /// The floor's zip (`make bench` builds it with cargo lambda into target/lambda-floor).
    #[arg(long, default_value = "target/lambda-floor/floor/bootstrap.zip")]
    floor_zip: PathBuf,
    /// Node.js (≥ 20) for the SDK v3 peer.
    #[arg(long, default_value = "node")]
    node: PathBuf,
    /// The Node.js peer: `init.mjs` and its `npm ci`-installed node_modules.
    #[arg(long, default_value = "crates/bench/node")]
    node_dir: PathBuf,
    /// The template whose memory sizes the cost uses.
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// Python with boto3 (the project venv); also extracts the zips.
    #[arg(long, env = "TENANT_PYTHON", default_value = ".venv/bin/python")]
    python: PathBuf,
    /// Cold starts per binary (and of the Python baseline).
    #[arg(long, default_value_t = 20)]
    cold_runs: usize,
    /// Onboardings on the local stack, and as many in-process floors (at most 11: they
    /// share one Rules-type stack).
    #[arg(long, default_value_t = 7)]
    local_runs: usize,
    /// Concurrent Rules-type onboardings (the type's cap is 25).
    #[arg(long, default_value_t = 25)]
    rules_tenants: usize,
    /// Concurrent Token-type onboardings.
    #[arg(long, default_value_t = 100)]
    token_tenants: usize,
    /// Concurrent Abac-type onboardings (no per-tenant IAM entity, so no cap but the
    /// user pool's groups: pass 1000 for the scale run).
    #[arg(long, default_value_t = 100)]
    abac_tenants: usize,
    /// At most this many onboardings in flight in the throughput part (0: all at once);
    /// the 1,000-tenant Abac run needs a cap (e.g. 100).
    #[arg(long, default_value_t = 0)]
    in_flight: usize,
    /// Only these parts (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Part>,
    /// Print the whole report as JSON instead of the table.
    #[arg(long)]
    json: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scratch = std::env::temp_dir().join(format!("tenant-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    // SAFETY: no other thread exists yet (the runtime is built below). moto, started as
    // a child, reads where to keep its request recording from its environment.
    unsafe { std::env::set_var(recorder::FILE_ENV, scratch.join("moto-recording")) };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async_main(args, scratch))
}

async fn async_main(args: Args, scratch: PathBuf) -> anyhow::Result<()> {
    let want = |p: Part| args.only.is_empty() || args.only.contains(&p);
    let result = run(&args, &want, &scratch).await;
    let _ = std::fs::remove_dir_all(&scratch);
    let mut report = result?;
    report.evaluate();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", report.machine);
        print!("{}", report.table());
        print!("\n{}", report.details());
    }
    Ok(())
}

async fn run(args: &Args, want: &dyn Fn(Part) -> bool, scratch: &std::path::Path) -> anyhow::Result<Report> {
    let mut report = Report {
        machine: format!(
            "{} cores, {}, load average at start {} (other work on the machine slows every figure); goals from the performance issue",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            std::env::consts::ARCH,
            std::fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|l| l.split_whitespace().next().map(str::to_string))
                .unwrap_or_else(|| "unknown".into())
        ),
        ..Report::default()
    };
    let python = std::fs::canonicalize(&args.python)
        .map_err(|e| anyhow::anyhow!("{}: {e} (run `make venv`, or pass --python)", args.python.display()))?;
    if want(Part::Size) || want(Part::Cold) {
        report.packages = size::packages(&args.lambda_dir, &python, scratch)?;
    }
    if want(Part::Cold) {
        eprintln!("measuring cold init ({} runs each)…", args.cold_runs);
        let bins: Vec<_> = report
            .packages
            .iter()
            .map(|p| (p.function.clone(), p.binary.clone()))
            .collect();
        let floor = size::extract_bootstrap(&python, &args.floor_zip, &scratch.join("floor"))
            .with_context(|| format!("{} (make bench builds it)", args.floor_zip.display()))?;
        let peers = cold::Peers {
            floor: &floor,
            python: &python,
            node: &args.node,
            node_dir: &args.node_dir,
        };
        report.cold_init = Some(cold::measure(&bins, &peers, args.cold_runs, scratch).await?);
    }
    if !want(Part::Size) {
        report.packages.clear();
    }
    if want(Part::Local) {
        eprintln!(
            "measuring one onboarding on the local stack and its floor ({} runs each)…",
            args.local_runs
        );
        report.local_onboarding = Some(onboarding::measure(args.local_runs).await?);
        eprintln!(
            "measuring one onboarding per mapping type ({} runs each)…",
            args.local_runs
        );
        report.per_mode = onboarding::per_mode(args.local_runs).await?;
    }
    if want(Part::Enforcement) {
        eprintln!(
            "measuring onboardings with the admin key and with function roles ({} runs each)…",
            args.local_runs
        );
        report.enforcement = Some(onboarding::enforcement(args.local_runs).await?);
    }
    if want(Part::Throughput) {
        for (mapping, n) in [
            (MappingType::Rules, args.rules_tenants),
            (MappingType::Token, args.token_tenants),
            (MappingType::Abac, args.abac_tenants),
        ] {
            if n > 0 {
                eprintln!("onboarding {n} {mapping:?}-type tenants concurrently…");
                report
                    .throughput
                    .push(throughput::measure(mapping, n, args.in_flight).await?);
            }
        }
    }
    if want(Part::Calls) {
        for mapping in [MappingType::Rules, MappingType::Token, MappingType::Abac] {
            eprintln!("recording the AWS calls of a {mapping:?}-type onboarding and offboarding…");
            report.critical_paths.push(calls::measure(mapping).await?);
        }
    }
    if want(Part::Calls) || want(Part::Cold) {
        let template = std::fs::read_to_string(&args.template)
            .with_context(|| format!("reading {} for the memory sizes", args.template.display()))?;
        report.memory = Some(tenant_bench::cost::MemorySizes::parse(&template));
    }
    Ok(report)
}
