//! Batched replicas (model H): replica r of a batched run is bit for bit the single run with
//! `replica: r` on the same backend (CPU: rayon over replicas; GPU: one batch of dispatches).

mod common;

fn run(cfg: &str, out: &std::path::Path, backend: &str) {
    let dir = out.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(format!(
        "{}.json",
        out.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&p, cfg).unwrap();
    let o = common::balnet()
        .args([
            "run",
            p.to_str().unwrap(),
            "--backend",
            backend,
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn replica_r_equals_single_run_r(backend: &str) {
    let d = common::fresh_dir("balnet-replicas", backend);
    for coupling in ["independent", "shared"] {
        let base = format!(
            r#""model":"hydro","n":1500,"duration":0.6,"record_every":20,"coupling":"{coupling}""#
        );
        let batch = d.join(format!("batch_{coupling}"));
        run(
            &format!("{{{base},\"replica\":3,\"replicas\":5}}"),
            &batch,
            backend,
        );
        for r in [3u32, 5, 7] {
            let single = d.join(format!("single_{coupling}_{r}"));
            run(&format!("{{{base},\"replica\":{r}}}"), &single, backend);
            let a = std::fs::read(single.join("moments.csv")).unwrap();
            let b = std::fs::read(batch.join(format!("replica_{r}/moments.csv"))).unwrap();
            assert!(
                a == b,
                "{backend} {coupling}: replica {r} differs from its single run"
            );
        }
        // Different replicas are different networks.
        let r3 = std::fs::read(batch.join("replica_3/moments.csv")).unwrap();
        let r4 = std::fs::read(batch.join("replica_4/moments.csv")).unwrap();
        assert!(r3 != r4);
    }
}

#[test]
fn replica_r_of_a_batch_equals_the_single_run_r_cpu() {
    replica_r_equals_single_run_r("cpu");
}

#[test]
fn replica_r_of_a_batch_equals_the_single_run_r_gpu() {
    if common::gpu().is_none() {
        return;
    }
    replica_r_equals_single_run_r("gpu");
}
