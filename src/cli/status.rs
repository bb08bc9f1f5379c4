//! `redis-drill status`: the topology report of a running topology, or the
//! list of every running topology; with `--report`, the capacity planner's
//! report (rates sampled over `--interval-ms`, what-if figures).

use std::path::PathBuf;
use std::time::Duration;

use super::error::CliError;
use super::locate::{list_all, locate};
use super::output::print_json;
use crate::exit;
use crate::planner;
use crate::runtime::RuntimeKind;
use crate::status;

/// The topology report of a running topology: roles, slots, keys, memory.
#[derive(clap::Args, Debug)]
pub(crate) struct Status {
    /// Which topology (default: the only one that is up).
    #[arg(long)]
    name: Option<String>,
    /// Where nodes run: docker or process (default: $REDIS_DRILL_RUNTIME, else docker when an engine answers, else process).
    #[arg(long, value_enum)]
    runtime: Option<RuntimeKind>,
    /// List every running topology instead.
    #[arg(long)]
    all: bool,
    /// The capacity planner's report instead, as md, html or json: per node,
    /// shard and region, keys per slot, headroom, ops/s over the interval,
    /// replication lag, fill times and a reshard plan that evens out memory.
    #[arg(long, value_enum, conflicts_with = "all")]
    report: Option<ReportFormat>,
    /// With --report: the time between the two samples rates come from, ms.
    /// At least 100 (a shorter one measures mostly noise).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(100..=600_000))]
    interval_ms: u64,
    /// With --report: write it to this file instead of stdout.
    #[arg(long, requires = "report")]
    out: Option<PathBuf>,
    /// With --report: the runs folder (as `run --out`) whose newest reshard
    /// drill's keys/s times the reshard plan.
    #[arg(long, default_value = "runs")]
    runs: PathBuf,
}

/// The renderings of the planner's report.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ReportFormat {
    Md,
    /// A self-contained page with charts.
    Html,
    Json,
}

impl Status {
    /// Print the located topology's status, the planner's report with `--report`, or one line
    /// per running topology with `--all`.
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        if self.all {
            return list(self.runtime, json).await;
        }
        let (_rt, d) = locate(self.runtime, self.name.as_deref()).await?;
        if let Some(format) = self.report {
            let rate = planner::newest_reshard(&self.runs);
            let interval = Duration::from_millis(self.interval_ms);
            let r = planner::collect_planner(&d, interval, rate).await;
            let text = match format {
                ReportFormat::Md => planner::render_markdown(&r),
                ReportFormat::Html => planner::render_html(&r),
                ReportFormat::Json => {
                    serde_json::to_string_pretty(&r).expect("reports serialize") + "\n"
                }
            };
            match &self.out {
                Some(path) => {
                    std::fs::write(path, text).map_err(|source| CliError::WriteFile {
                        path: path.clone(),
                        source,
                    })?;
                    crate::note!("capacity report: {}", path.display());
                }
                None => crate::out!("{text}"),
            }
            return Ok(exit::SUCCESS);
        }
        let report = status::collect(&d).await;
        if json {
            print_json(&report);
        } else {
            crate::out!("{}", report.render_text());
        }
        Ok(exit::SUCCESS)
    }
}

/// `status --all`: one line per running topology.
async fn list(runtime: Option<RuntimeKind>, json: bool) -> Result<i32, CliError> {
    let list = list_all(runtime).await?;
    if json {
        print_json(&list);
    } else if list.is_empty() {
        crate::outln!("nothing is up");
    } else {
        for d in &list {
            crate::outln!(
                "{:<24} {:<8} {} nodes  run id {}",
                d.name,
                d.runtime,
                d.nodes.len(),
                d.run_id
            );
        }
    }
    Ok(exit::SUCCESS)
}
