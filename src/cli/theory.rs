//! `balnet theory`.

use balnet::app::theory::TheoryReport;
use balnet::app::{ConfigRequest, Spelling};
use std::path::PathBuf;
use std::process::ExitCode;

pub fn theory(config: PathBuf, n: Option<u64>, out: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let req = ConfigRequest::path(config);
    match balnet::app::theory::theory(&req, n, out.as_deref(), Spelling::Cli)? {
        TheoryReport::Lif(t) => {
            println!(
                "self-consistent state (identical E and I neurons): rate {:.4} Hz, ISI CV {:.4}, mu {:.3} mV, sigma {:.3} mV, effective tau {:.4} ms",
                t.rate_hz, t.cv, t.mu_mv, t.sigma_mv, t.tau_ms
            );
            if let Some(o) = out {
                println!(
                    "wrote {} and {}",
                    o.join("theory.json").display(),
                    o.join("pv.csv").display()
                );
            }
        }
        TheoryReport::Hydro { steady: ss, n } => {
            for (a, name) in ["E", "I"].iter().enumerate() {
                print!(
                    "{name}: rate {:.6}, mean {:.6}, var {:.6}; first-order coefficients delta {:.5}, m1 {:.5}, v1 {:.5}, k1 {:.5}",
                    ss.rate[a], ss.mu[a], ss.var[a], ss.delta[a], ss.m1[a], ss.v1[a], ss.k1[a]
                );
                if let Some(n) = n {
                    let [rate, mean, var] = TheoryReport::at_n(&ss, a, n);
                    print!("; at n = {n}: rate {rate:.6}, mean {mean:.6}, var {var:.6}");
                }
                println!();
            }
            if let Some(o) = out {
                println!("wrote {}", o.join("theory.csv").display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
