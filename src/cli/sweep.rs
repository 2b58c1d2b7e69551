//! `balnet sweep`: a sweep through `balnet::app::sweep`, with one line per finished point.

use super::EXIT_INTERRUPTED;
use balnet::app::Spelling;
use balnet::app::sweep::{self, SweepSource};
use balnet::progress::{CancelToken, Status};
use std::path::PathBuf;
use std::process::ExitCode;

pub fn sweep(
    path: PathBuf,
    out: Option<PathBuf>,
    shard: Option<String>,
    dry_run: bool,
    merge: bool,
    jobs: usize,
    stop: &CancelToken,
) -> anyhow::Result<ExitCode> {
    let source = SweepSource::Path(path);
    let loaded = sweep::load(&source, None)?;
    let out = out.unwrap_or_else(|| sweep::default_out(&source));
    let shard = sweep::parse_shard(shard.as_deref())?;
    let report_line = |written: bool| {
        if written {
            println!(
                "convergence report: {} and {}",
                out.join("convergence.csv").display(),
                out.join("convergence.png").display()
            );
        }
    };
    if merge {
        let rows = sweep::merge(&loaded, &out)?;
        println!(
            "{} runs of {} in {}",
            rows,
            loaded.points.len(),
            out.join("summary.csv").display()
        );
        report_line(loaded.convergence);
        return Ok(ExitCode::SUCCESS);
    }
    if dry_run {
        for plan in sweep::plan(&loaded, &out, shard) {
            let p = plan.point;
            let params: Vec<String> = p.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let mem = match &plan.memory {
                Ok(b) => format!("{:.1} MB", b / 1e6),
                Err(e) => format!("invalid: {e}"),
            };
            let status = plan.status.map_or("new", Status::name);
            println!(
                "{} {} seed={} memory {mem} status {status}",
                p.id,
                params.join(" "),
                p.seed
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let total = sweep::shard_len(&loaded, shard);
    let mut done = 0;
    let mut on_point = |p: &balnet::sweep::Point, r: &anyhow::Result<bool>, st: Option<Status>| {
        done += 1;
        match r {
            Ok(true) if st == Some(Status::Interrupted) => {
                eprintln!("[{done}/{total}] {} interrupted", p.id)
            }
            Ok(true) => eprintln!("[{done}/{total}] {} complete", p.id),
            Ok(false) => eprintln!("[{done}/{total}] {} already complete, skipped", p.id),
            Err(e) => eprintln!("[{done}/{total}] {} failed: {e:#}", p.id),
        }
    };
    let devices = sweep::open(&loaded, jobs, stop, Spelling::Cli)?;
    if let Some(n) = &devices.note {
        eprintln!("note: {n}");
    }
    let o = sweep::run(&loaded, &out, shard, jobs, &devices, &mut on_point)?;
    let rep = o.report;
    println!(
        "{} ran, {} skipped (complete), {} failed; summary in {}",
        rep.ran,
        rep.skipped,
        rep.failed,
        out.join("summary.csv").display()
    );
    if o.interrupted {
        println!("interrupted: rerun the same command to finish the remaining points");
    }
    report_line(o.convergence);
    Ok(if rep.failed > 0 {
        ExitCode::from(1)
    } else if o.interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else {
        ExitCode::SUCCESS
    })
}
