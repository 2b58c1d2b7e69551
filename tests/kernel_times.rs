//! Kernel times (issue 14): on an adapter with timestamp queries every GPU run reports the
//! device time per dispatch kind, and timing a few steps per chunk (one pass per dispatch)
//! changes no result bit against the same run untimed (`BALNET_KERNEL_TIMES=off`).

mod common;

use balnet::device::gpu::{GpuContext, GpuOptions};
use balnet::device::timing::KernelTimes;
use balnet::device::{Device, GpuRunInfo};
use balnet::hydro::config::HydroConfig;
use balnet::progress::Quiet;
use std::sync::Arc;

/// The base context's options with kernel times on or off.
fn context(base: &GpuContext, kernel_times: bool) -> Arc<GpuContext> {
    GpuContext::open(GpuOptions {
        layout: base.layout_requested,
        max_binding_bytes: balnet::device::gpu::max_binding_override().expect("binding env"),
        kernel_times,
    })
    .expect("gpu context")
}

fn times(info: Option<GpuRunInfo>) -> KernelTimes {
    info.expect("gpu info")
        .kernel_times
        .expect("kernel times after a run")
}

fn kind<'a>(t: &'a KernelTimes, k: &str) -> &'a balnet::device::timing::KernelTime {
    t.kinds
        .iter()
        .find(|x| x.kind == k)
        .unwrap_or_else(|| panic!("no {k} in {t:?}"))
}

#[test]
fn hydro_kernel_times_and_the_same_bits_untimed() {
    let Some(base) = common::gpu() else { return };
    // 560 steps recorded every 7: chunks end on record steps, so the timed last steps of a
    // chunk hold an update_record dispatch.
    let cfg = HydroConfig {
        n: 4000,
        steps: Some(560),
        record_every: 7,
        ..HydroConfig::default()
    };
    let mut out = Vec::new();
    for timed in [true, false] {
        let ctx = context(&base, timed);
        assert_eq!(ctx.timestamps, timed && base.report.timestamp_query);
        let device = Device::Gpu(ctx.clone());
        let mut sim =
            balnet::hydro::sim::Simulation::new(cfg.clone().validate(true).unwrap(), &device)
                .expect("simulation");
        sim.run_to_end(&mut Quiet).expect("run");
        let t = times(sim.gpu_info());
        if timed && !ctx.timestamps {
            common::skip_unless_allowed(
                "TIMESTAMPS",
                "the adapter has no timestamp queries: the device-time assertions",
            );
        }
        if ctx.timestamps {
            assert_eq!(t.source, "timestamp queries");
            let (u, ur, f) = (
                kind(&t, "update"),
                kind(&t, "update_record"),
                kind(&t, "finalize"),
            );
            // One update (plain or recording) and one finalize per timed step.
            assert_eq!(u.dispatches + ur.dispatches, f.dispatches, "{t:?}");
            assert!(f.dispatches > 0 && f.dispatches <= 560);
            for k in [u, ur, f] {
                assert!(k.total_ms > 0.0 && k.mean_us > 0.0, "{t:?}");
                let mean = k.total_ms * 1e3 / k.dispatches as f64;
                assert!((k.mean_us - mean).abs() <= 1e-9 * mean, "{t:?}");
            }
            // Device time of the timed steps is at most the wall time of all the stepping.
            let device_s: f64 = t.kinds.iter().map(|k| k.total_ms).sum::<f64>() * 1e-3;
            assert!(
                device_s <= sim.stepping_seconds(),
                "{device_s} vs {}",
                sim.stepping_seconds()
            );
        } else {
            assert_eq!(t.source, "wall clock");
            assert_eq!(t.kinds[0].dispatches, 560);
        }
        out.push((
            serde_json::to_string(sim.records(0)).unwrap(),
            sim.state(0)
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>(),
        ));
    }
    assert!(out[0].0 == out[1].0, "records differ timed vs untimed");
    assert!(out[0].1 == out[1].1, "state differs timed vs untimed");
}

#[test]
fn lif_kernel_times_and_the_same_bits_untimed() {
    let Some(base) = common::gpu() else { return };
    // 250 ms of 0.05 ms steps: chunks of 1000 steps, V sampled on some timed steps.
    let setup = common::lif_setup(|c| {
        c.warmup = 50.0;
        c.duration = 200.0;
    });
    let steps = setup.warmup_steps + setup.steps;
    let mut out = Vec::new();
    for timed in [true, false] {
        let ctx = context(&base, timed);
        let device = Device::Gpu(ctx.clone());
        let mut sim = balnet::lif::sim::Simulation::new(setup.clone(), &device).expect("sim");
        sim.run_to_end(&mut Quiet).expect("run");
        let t = times(sim.gpu_info());
        if timed && !ctx.timestamps {
            common::skip_unless_allowed(
                "TIMESTAMPS",
                "the adapter has no timestamp queries: the device-time assertions",
            );
        }
        if ctx.timestamps {
            assert_eq!(t.source, "timestamp queries");
            let step = kind(&t, "step");
            let flush = kind(&t, "flush");
            let step_v = t
                .kinds
                .iter()
                .find(|k| k.kind == "step_v")
                .map_or(0, |k| k.dispatches);
            // Each chunk times its first steps and their flush.
            let chunks = steps.div_ceil(1000);
            assert_eq!(flush.dispatches, chunks, "{t:?}");
            assert_eq!(step.dispatches + step_v, 4 * chunks, "{t:?}");
            assert!(step.total_ms > 0.0 && flush.total_ms > 0.0, "{t:?}");
        } else {
            assert_eq!(t.source, "wall clock");
        }
        let r = sim.recording().expect("recording");
        out.push(format!(
            "{:?} {:?} {:?} {:?}",
            r.bins, r.vhist, r.raster, r.neurons
        ));
    }
    assert!(out[0] == out[1], "recordings differ timed vs untimed");
}

#[test]
fn wall_clock_fallback_and_merging() {
    let w = KernelTimes::wall(2.0, 1000);
    assert_eq!(w.source, "wall clock");
    assert!((w.kinds[0].mean_us - 2000.0).abs() < 1e-9);
    let m = KernelTimes::merged(vec![w.clone(), w.clone()]).unwrap();
    assert_eq!(m.kinds[0].dispatches, 2000);
    assert!((m.kinds[0].total_ms - 4000.0).abs() < 1e-9);
    assert!((m.kinds[0].mean_us - 2000.0).abs() < 1e-9);
    assert!(KernelTimes::merged(Vec::new()).is_none());
}
