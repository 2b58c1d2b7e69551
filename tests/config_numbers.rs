//! Numbers in configs: an integer field accepts an integral number written as a float
//! (`"n": 1e5`, `"seed": 1.0`) and resolves exactly as the integer spelling does; a fraction
//! in an integer field is refused by name; a float field keeps -0.0 and accepts integers.

mod common;

use balnet::config::parse_json;
use balnet::hydro::config::{HydroConfig, HydroSetup};
use balnet::lif::config::{LifConfig, LifSetup};
use serde_json::{Value, json};

fn shipped(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("configs")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("shipped config")).unwrap()
}

/// How `spell` writes the numbers of a config.
#[derive(Clone, Copy)]
enum Spelling {
    /// Every integer as a float in scientific notation: 100000 -> 1e5, 25 -> 2.5e1, 0 -> 0e0.
    Scientific,
    /// Every integer with a decimal point: 100000 -> 100000.0.
    Decimal,
    /// Every integral float as an integer: 4.0 -> 4 (f64 fields given integers).
    Integers,
}

/// The JSON text of `v` with its numbers written as `how` says (everything else as usual).
fn spell(v: &Value, how: Spelling) -> String {
    match v {
        Value::Number(n) => match (how, n.as_u64(), n.as_f64()) {
            (Spelling::Scientific, Some(u), _) => format!("{:e}", u as f64),
            (Spelling::Decimal, Some(u), _) => format!("{u}.0"),
            (Spelling::Integers, None, Some(x))
                if x.fract() == 0.0 && x.abs() < 1e15 && !(x == 0.0 && x.is_sign_negative()) =>
            {
                format!("{}", x as i64)
            }
            _ => n.to_string(),
        },
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(|x| spell(x, how)).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, x)| format!("{}: {}", Value::from(k.as_str()), spell(x, how)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// The resolved setup, as JSON text (what run.json and checkpoints are built from).
fn hydro_resolved(text: &str) -> String {
    let c: HydroConfig = parse_json(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let s: HydroSetup = c.validate(false).unwrap_or_else(|e| panic!("{text}: {e}"));
    serde_json::to_string(&s).unwrap()
}

fn lif_resolved(text: &str) -> String {
    let c: LifConfig = parse_json(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let s: LifSetup = c.validate().unwrap_or_else(|e| panic!("{text}: {e}"));
    serde_json::to_string(&s).unwrap()
}

/// The shipped configs with every integer field given (top level and nested).
fn hydro_base() -> Value {
    let mut v = shipped("hydro_balanced.json");
    let o = v.as_object_mut().unwrap();
    o.insert("steps".into(), json!(4000));
    o.insert("replica".into(), json!(3));
    o.insert("replicas".into(), json!(2));
    o.insert("seed".into(), json!(12345));
    v
}

fn lif_base() -> Value {
    let mut v = shipped("lif_cond_k100.json");
    let o = v.as_object_mut().unwrap();
    o.insert("n_e".into(), json!(1000));
    o.insert("n_i".into(), json!(250));
    o.insert("K_X".into(), json!(120));
    o.insert("seed".into(), json!(0));
    o.insert(
        "record".into(),
        json!({"raster_neurons": 20, "vhist_bins": 50, "vhist_every": 10, "spikes": {"E": [0, 100], "I": [10, 250]}}),
    );
    v
}

#[test]
fn integral_floats_resolve_exactly_as_the_integers() {
    for (name, base, resolved) in [
        ("hydro", hydro_base(), hydro_resolved as fn(&str) -> String),
        ("lif", lif_base(), lif_resolved),
    ] {
        let plain = spell(&base, Spelling::Integers);
        let want = resolved(&base.to_string());
        for how in [Spelling::Scientific, Spelling::Decimal, Spelling::Integers] {
            let text = spell(&base, how);
            assert_eq!(resolved(&text), want, "{name}: {text}");
        }
        // The spellings differ where they should: the test is not comparing a text with
        // itself.
        let sci = spell(&base, Spelling::Scientific);
        assert!(sci.contains("e") && sci != plain, "{name}: {sci}");
    }
    // The examples of the issue, one field at a time, against the integer spelling.
    let hydro = |field: &str, text: &str, int: &str| {
        let mut base = hydro_base();
        base.as_object_mut().unwrap().remove(field);
        let put = |v: &str| {
            let mut t = base.to_string();
            t.truncate(t.len() - 1);
            format!("{t},\"{field}\":{v}}}")
        };
        assert_eq!(
            hydro_resolved(&put(text)),
            hydro_resolved(&put(int)),
            "{field}: {text}"
        );
    };
    hydro("n", "1e5", "100000");
    hydro("n", "100000.0", "100000");
    hydro("seed", "1.0", "1");
    hydro("seed", "1.844674407370955e19", "18446744073709549568");
    hydro("record_every", "5.0e1", "50");
    let s: HydroSetup = parse_json::<HydroConfig>(r#"{"model":"hydro","n":1e3,"steps":2e3}"#)
        .unwrap()
        .validate(false)
        .unwrap();
    assert_eq!((s.config.n, s.steps), (1000, 2000));
    let l: LifSetup = parse_json::<LifConfig>(r#"{"model":"lif","K":1e2,"n_e":8e2}"#)
        .unwrap()
        .validate()
        .unwrap();
    assert_eq!((l.k_e, l.n_e, l.n_i), (100, 800, 1000));
}

#[test]
fn a_fraction_in_an_integer_field_is_refused_by_name() {
    let err = |text: &str| -> String {
        let e = if text.contains("\"lif\"") {
            parse_json::<LifConfig>(text).map(|_| ()).unwrap_err()
        } else {
            parse_json::<HydroConfig>(text).map(|_| ()).unwrap_err()
        };
        assert_eq!(e.0.lines().count(), 1, "{e}");
        e.0
    };
    assert_eq!(
        err(r#"{"model":"hydro","n":1000.5}"#),
        "n = 1000.5: must be an integer at line 1 column 27"
    );
    assert_eq!(
        err(r#"{"model":"hydro","steps":2.5}"#),
        "steps = 2.5: must be an integer at line 1 column 28"
    );
    assert_eq!(
        err(r#"{"model":"hydro","seed":0.5}"#),
        "seed = 0.5: must be an integer at line 1 column 27"
    );
    assert_eq!(
        err(r#"{"model":"lif","K":1e-3}"#),
        "K = 0.001: must be an integer at line 1 column 23"
    );
    assert_eq!(
        err("{\"model\": \"lif\",\n \"record\": {\"raster_neurons\": 10.5}}"),
        "record.raster_neurons = 10.5: must be an integer at line 2 column 34"
    );
    assert_eq!(
        err(r#"{"model":"lif","n_e":1e30}"#),
        "n_e = 1e30: must be an integer in [0, 18446744073709551615] at line 1 column 25"
    );
    assert_eq!(
        err(r#"{"model":"lif","record":{"vhist_bins":1.5}}"#),
        "record.vhist_bins = 1.5: must be an integer at line 1 column 41"
    );
    assert_eq!(
        err(r#"{"model":"hydro","replicas":-0.0}"#),
        "replicas = -0: must be an integer (write 0) at line 1 column 32"
    );
    // 18446744073709551615 in float notation is 2^64 (the nearest f64): out of range.
    assert!(
        err(r#"{"model":"hydro","seed":1.8446744073709551615e19}"#).starts_with(
            "seed = 18446744073709552000: must be an integer in [0, 18446744073709551615]"
        )
    );
    // An integral float out of an integer field's range reads as that integer does.
    let unplaced = |e: String| e.split(" at line").next().unwrap().to_string();
    assert_eq!(
        unplaced(err(r#"{"model":"hydro","replicas":5e9}"#)),
        unplaced(err(r#"{"model":"hydro","replicas":5000000000}"#))
    );
    assert!(
        err(r#"{"model":"hydro","replicas":5e9}"#)
            .starts_with("field `replicas`: invalid value: integer `5000000000`, expected u32")
    );
    // The spike selection reads its ranges itself: its own message, and integral floats.
    assert!(
        err(r#"{"model":"lif","record":{"spikes":{"E":[0,1.5]}}}"#)
            .contains("must be \"all\" or an object")
    );
    let l = parse_json::<LifConfig>(r#"{"model":"lif","K":100,"record":{"spikes":{"E":[0,1e2]}}}"#)
        .unwrap()
        .validate()
        .unwrap();
    assert_eq!(l.spike_ranges(), Some([[0, 100], [1000, 1000]]));
}

#[test]
fn negative_zero_stays_a_float_and_float_fields_take_integers() {
    let h: HydroConfig =
        parse_json(r#"{"model":"hydro","theta":[-0.0,0.0],"m":[-0.0,-0.0],"x0_mean":[0,-0]}"#)
            .unwrap();
    assert!(h.theta[0] == 0.0 && h.theta[0].is_sign_negative());
    assert!(h.theta[1] == 0.0 && h.theta[1].is_sign_positive());
    let s = serde_json::to_value(h.validate(false).unwrap()).unwrap();
    assert_eq!(s["config"]["theta"].to_string(), "[-0.0,0.0]");
    assert_eq!(s["config"]["m"].to_string(), "[-0.0,-0.0]");
    let l: LifConfig = parse_json(r#"{"model":"lif","K":100,"neuron":{"e_e":-0.0}}"#).unwrap();
    assert!(l.neuron.e_e == 0.0 && l.neuron.e_e.is_sign_negative());
    let s = serde_json::to_value(l.validate().unwrap()).unwrap();
    assert_eq!(s["config"]["neuron"]["e_e"].to_string(), "-0.0");
    // Float fields given integers, at the top level, in arrays and in tagged variants.
    let l: LifConfig = parse_json(
        r#"{"model":"lif","K":100,"dt":1,"duration":100,"synapse":{"kind":"conductance","a":1,"g":20},"v0":{"kind":"gaussian","mean":-60,"sd":2}}"#,
    )
    .unwrap();
    assert_eq!((l.dt, l.duration), (1.0, 100.0));
    assert_eq!(
        l.synapse,
        balnet::lif::config::SynapseConfig::Conductance { a: 1.0, g: 20.0 }
    );
    let h: HydroConfig =
        parse_json(r#"{"model":"hydro","duration":4,"tau":[1,2],"J":[[1,2],[2,1]]}"#).unwrap();
    assert_eq!(
        (h.duration, h.tau, h.j),
        (4.0, [1.0, 2.0], [[1.0, 2.0], [2.0, 1.0]])
    );
}

#[test]
fn the_command_line_reads_integral_floats_and_names_a_fraction() {
    let dir = common::fresh_dir("balnet-numbers", "cli");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let good = write("good.json", r#"{"model":"hydro","n":1e3,"steps":2.0e3}"#);
    let out = common::balnet()
        .args([
            "run",
            good.to_str().unwrap(),
            "--dry-run",
            "--backend",
            "cpu",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("model H: n = 1000 per population, 1 replica(s), 2000 steps"),
        "{stdout}"
    );
    let bad = write("bad.json", "{\"model\": \"lif\",\n  \"K\": 100.5}");
    let out = common::balnet()
        .args(["run", bad.to_str().unwrap(), "--dry-run"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("K = 100.5: must be an integer at line 2 column 12"),
        "{stderr}"
    );
    // A sweep's grid values are read the same way.
    let sweep = write(
        "sweep.json",
        r#"{"base": {"model": "hydro", "steps": 10}, "grid": {"n": [1e3, 2000.0]}, "seeds": 1, "backend": "cpu"}"#,
    );
    let (spec, base) = balnet::sweep::load(&sweep).unwrap();
    let points = balnet::sweep::points(&spec, &base).unwrap();
    let ns: Vec<String> = points.iter().map(|p| p.config["n"].to_string()).collect();
    assert_eq!(ns, ["1000", "2000"]);
}
