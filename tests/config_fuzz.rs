//! Property test of the config front door: mutated configs of both models (every model file
//! in configs/, with fields deleted or set to huge, negative, zero, NaN-like, wrong-type or
//! very long values, unknown keys at any depth, truncated text, random JSON) must parse and
//! validate without a panic, within a time bound, and any error must be one bounded line.
//! Validation only (model H's validate solves its theory's steady state; model L's
//! self-consistent theory, which `run` also computes, is included): no simulation runs.
//!
//! The out-of-suite driver that runs the real binary on such inputs is scripts/fuzz_cli.py.

use balnet::config::{ConfigError, parse_json};
use balnet::hydro::config::HydroConfig;
use balnet::lif::config::LifConfig;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

/// Cases per model (2000 in about 10 s of release build); `PROPTEST_CASES=100000` runs more.
const CASES: u32 = 2000;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CASES)
}
/// Time bound of one case: parse, validate and (model L) the self-consistent theory.
const CASE_BOUND: Duration = Duration::from_secs(2);
/// Longest acceptable error message.
const MAX_MESSAGE: usize = 800;

fn bases(model: &str) -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut out = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("configs/")
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names {
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        if let Ok(v) = serde_json::from_str::<Value>(&text)
            && v.get("model").and_then(Value::as_str) == Some(model)
        {
            out.push(v);
        }
    }
    assert!(!out.is_empty(), "no {model} config in {}", dir.display());
    out
}

/// A value to put into a field: special numbers, wrong types, long strings, nested junk.
#[derive(Clone, Debug)]
enum Val {
    Json(Value),
    /// Written verbatim into the text (numbers beyond what f64/serde_json's Value hold).
    Raw(String),
    /// A string of this many repeated characters.
    Long(char, usize),
    /// The field's own number times 10^k (k in -12..12).
    Scale(i32),
    Negate,
}

fn val() -> impl Strategy<Value = Val> {
    let specials = prop_oneof![
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(-0.0)),
        Just(json!(1)),
        Just(json!(u32::MAX)),
        Just(json!(u32::MAX as u64 + 1)),
        Just(json!(1u64 << 63)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(1e300)),
        Just(json!(-1e300)),
        Just(json!(1e-300)),
        Just(json!(5e-324)),
        Just(json!(f64::MAX)),
        Just(json!(1e6)),
        Just(json!(1e-6)),
        Just(json!(0.5)),
        Just(json!("NaN")),
        Just(json!("inf")),
        Just(json!("")),
        Just(json!(true)),
        Just(Value::Null),
        Just(json!([])),
        Just(json!({})),
        Just(json!([[[]]])),
        Just(json!([1, 2, 3])),
        Just(json!({"kind": "uniform"})),
        Just(json!({"kind": "one_step", "extra": {"deep": [1]}})),
        Just(json!("fixed_indegree")),
        Just(json!("pairwise")),
        Just(json!("lumped")),
        Just(json!(["mean", "mean"])),
    ];
    prop_oneof![
        4 => specials.prop_map(Val::Json),
        2 => any::<f64>().prop_map(|x| Val::Json(json!(x))),
        2 => any::<u64>().prop_map(|x| Val::Json(json!(x))),
        1 => any::<i64>().prop_map(|x| Val::Json(json!(x))),
        1 => (-320i32..310).prop_map(|e| Val::Json(json!(10f64.powi(e)))),
        1 => prop_oneof![Just(20usize), Just(300), Just(5000)].prop_map(|n| Val::Raw(format!("1{}", "0".repeat(n)))),
        1 => prop_oneof![Just("1e400"), Just("-1e999"), Just("1e-400")].prop_map(|s| Val::Raw(s.to_string())),
        1 => (prop_oneof![Just('x'), Just('é'), Just('"'), Just('\\')], prop_oneof![Just(41usize), Just(1000), Just(200_000)])
            .prop_map(|(c, n)| Val::Long(c, n)),
        3 => (-12i32..12).prop_map(Val::Scale),
        1 => Just(Val::Negate),
    ]
}

/// One change to a config; indices pick among the config's paths (modulo their number).
#[derive(Clone, Debug)]
enum Mutation {
    Delete(usize),
    Set(usize, Val),
    /// A field the model knows (present or not), by index into its list.
    SetKnown(usize, Val),
    /// An unknown key in one of the config's objects.
    Unknown(usize, usize, Val),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => any::<usize>().prop_map(Mutation::Delete),
        4 => (any::<usize>(), val()).prop_map(|(i, v)| Mutation::Set(i, v)),
        3 => (any::<usize>(), val()).prop_map(|(i, v)| Mutation::SetKnown(i, v)),
        2 => (any::<usize>(), any::<usize>(), val()).prop_map(|(i, k, v)| Mutation::Unknown(i, k, v)),
    ]
}

#[derive(Clone, Debug)]
struct Case {
    base: usize,
    mutations: Vec<Mutation>,
    /// Cut the text to this fraction of its length (None: whole).
    truncate: Option<f64>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<usize>(),
        prop::collection::vec(mutation(), 1..5),
        prop_oneof![8 => Just(None), 1 => (0.0..1.0f64).prop_map(Some)],
    )
        .prop_map(|(base, mutations, truncate)| Case {
            base,
            mutations,
            truncate,
        })
}

const HYDRO_FIELDS: &[&str] = &[
    "model",
    "n",
    "dt",
    "duration",
    "steps",
    "tau",
    "nu_max",
    "beta",
    "theta",
    "J",
    "h",
    "rates",
    "m",
    "x0_mean",
    "x0_sd",
    "coupling",
    "seed",
    "record_every",
    "record",
    "save_state",
    "replica",
    "replicas",
];
const LIF_FIELDS: &[&str] = &[
    "model",
    "n_e",
    "n_i",
    "neuron",
    "neuron_e",
    "neuron_i",
    "synapse",
    "K",
    "gamma",
    "K_X",
    "nu_x",
    "connectivity",
    "cv_k",
    "delay",
    "integrator",
    "dt",
    "duration",
    "warmup",
    "seed",
    "v0",
    "record",
];
const UNKNOWN_KEYS: &[&str] = &["bogus", "Model", "n ", "kind2", ""];

/// Every path (object keys and array indices) of a JSON value, the root excluded.
fn paths(v: &Value, prefix: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                prefix.push(PathStep::Key(k.clone()));
                out.push(prefix.clone());
                paths(x, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                prefix.push(PathStep::Index(i));
                out.push(prefix.clone());
                paths(x, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn get_mut<'a>(v: &'a mut Value, path: &[PathStep]) -> Option<&'a mut Value> {
    let mut node = v;
    for s in path {
        node = match s {
            PathStep::Key(k) => node.get_mut(k.as_str())?,
            PathStep::Index(i) => node.get_mut(*i)?,
        };
    }
    Some(node)
}

/// The value for `v` at a field currently holding `old`; raw numbers go into `raws` and are
/// spliced into the text later.
fn realise(v: &Val, old: Option<&Value>, raws: &mut Vec<String>) -> Value {
    match v {
        Val::Json(j) => j.clone(),
        Val::Raw(s) => {
            raws.push(s.clone());
            json!(format!("__RAW{}__", raws.len() - 1))
        }
        Val::Long(c, n) => json!(c.to_string().repeat(*n)),
        Val::Scale(k) => match old.and_then(Value::as_f64) {
            Some(x) => json!(x * 10f64.powi(*k)),
            None => json!(10f64.powi(*k)),
        },
        Val::Negate => match old {
            Some(Value::Number(n)) if n.is_u64() => json!(-(n.as_u64().unwrap() as i128) as f64),
            Some(o) if o.is_number() => json!(-o.as_f64().unwrap()),
            _ => json!(-1),
        },
    }
}

fn mutated_text(model: &str, bases: &[Value], c: &Case) -> String {
    let mut cfg = bases[c.base % bases.len()].clone();
    let fields = if model == "hydro" {
        HYDRO_FIELDS
    } else {
        LIF_FIELDS
    };
    let mut raws = Vec::new();
    for m in &c.mutations {
        let mut all = Vec::new();
        paths(&cfg, &mut Vec::new(), &mut all);
        match m {
            Mutation::Delete(i) if !all.is_empty() => {
                let p = &all[i % all.len()];
                let (last, parent) = p.split_last().unwrap();
                if let Some(node) = get_mut(&mut cfg, parent) {
                    match (node, last) {
                        (Value::Object(o), PathStep::Key(k)) => {
                            o.remove(k);
                        }
                        (Value::Array(a), PathStep::Index(i)) if *i < a.len() => {
                            a.remove(*i);
                        }
                        _ => {}
                    }
                }
            }
            Mutation::Set(i, v) if !all.is_empty() => {
                let p = &all[i % all.len()];
                if let Some(node) = get_mut(&mut cfg, p) {
                    let new = realise(v, Some(node), &mut raws);
                    *node = new;
                }
            }
            Mutation::SetKnown(i, v) => {
                let name = fields[i % fields.len()];
                if let Value::Object(o) = &mut cfg {
                    let new = realise(v, o.get(name), &mut raws);
                    o.insert(name.to_string(), new);
                }
            }
            Mutation::Unknown(i, k, v) => {
                let mut objs: Vec<Vec<PathStep>> = vec![Vec::new()];
                objs.extend(
                    all.iter()
                        .filter(|p| matches!(get_mut(&mut cfg.clone(), p), Some(Value::Object(_))))
                        .cloned(),
                );
                let p = objs[i % objs.len()].clone();
                let new = realise(v, None, &mut raws);
                if let Some(Value::Object(o)) = get_mut(&mut cfg, &p) {
                    o.insert(UNKNOWN_KEYS[k % UNKNOWN_KEYS.len()].to_string(), new);
                }
            }
            _ => {}
        }
    }
    if !cfg.is_object() {
        let mut m = Map::new();
        m.insert("model".into(), json!(model));
        m.insert("x".into(), cfg);
        cfg = Value::Object(m);
    }
    let mut text = cfg.to_string();
    for (i, r) in raws.iter().enumerate() {
        text = text.replace(&format!("\"__RAW{i}__\""), r);
    }
    if let Some(f) = c.truncate {
        let mut cut = (text.len() as f64 * f) as usize;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

fn check_error(text: &str, e: &ConfigError) -> Result<(), TestCaseError> {
    prop_assert!(
        e.0.len() <= MAX_MESSAGE && !e.0.contains('\n'),
        "error of {} characters for {}: {}",
        e.0.len(),
        &text[..text.len().min(300)],
        &e.0[..e.0.len().min(300)]
    );
    Ok(())
}

fn check_hydro(text: &str) -> Result<(), TestCaseError> {
    let t0 = Instant::now();
    match parse_json::<HydroConfig>(text) {
        Err(e) => check_error(text, &e)?,
        Ok(cfg) => {
            for force in [false, true] {
                match cfg.clone().validate(force) {
                    Err(e) => check_error(text, &e)?,
                    Ok(s) => {
                        // What run derives from a valid setup: sizes that fit their types.
                        prop_assert!(s.steps >= 1 && s.steps < u32::MAX as u64);
                        prop_assert!(s.config.record_every <= u32::MAX as u64);
                        prop_assert!(s.h.iter().chain(&s.rates).all(|x| x.is_finite()));
                        prop_assert!(s.warnings.iter().all(|w| w.len() <= MAX_MESSAGE));
                    }
                }
            }
        }
    }
    prop_assert!(
        t0.elapsed() < CASE_BOUND,
        "{:?} for {}",
        t0.elapsed(),
        &text[..text.len().min(300)]
    );
    Ok(())
}

fn check_lif(text: &str) -> Result<(), TestCaseError> {
    let t0 = Instant::now();
    match parse_json::<LifConfig>(text) {
        Err(e) => check_error(text, &e)?,
        Ok(cfg) => match cfg.validate() {
            Err(e) => check_error(text, &e)?,
            Ok(s) => {
                prop_assert!(s.n_e >= 1 && s.n_i >= 1);
                prop_assert!(s.n_e as u64 + s.n_i as u64 <= balnet::lif::config::LIF_MAX_NEURONS);
                prop_assert!(s.steps >= 1 && s.steps + s.warmup_steps < u32::MAX as u64);
                prop_assert!(s.delay_slots >= 2);
                // The theory that `run` computes for every setup.
                let _ = balnet::lif::theory::self_consistent(&s);
            }
        },
    }
    prop_assert!(
        t0.elapsed() < CASE_BOUND,
        "{:?} for {}",
        t0.elapsed(),
        &text[..text.len().min(300)]
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn hydro_configs_never_panic_and_answer_in_bounded_time(c in case()) {
        let text = mutated_text("hydro", &bases("hydro"), &c);
        check_hydro(&text)?;
    }

    #[test]
    fn lif_configs_never_panic_and_answer_in_bounded_time(c in case()) {
        let text = mutated_text("lif", &bases("lif"), &c);
        check_lif(&text)?;
    }

    #[test]
    fn random_json_never_panics(v in random_json()) {
        let text = v.to_string();
        check_hydro(&text)?;
        check_lif(&text)?;
        let _ = balnet::config::model_of(&text);
    }
}

fn random_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>().prop_map(|x| json!(x)),
        any::<u64>().prop_map(|x| json!(x)),
        "[a-z_]{0,12}".prop_map(Value::String),
    ];
    let keys = prop_oneof![
        prop::sample::select(HYDRO_FIELDS.to_vec()),
        prop::sample::select(LIF_FIELDS.to_vec()),
        Just("kind"),
    ];
    leaf.prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

#[test]
fn the_shipped_configs_validate() {
    for v in bases("hydro") {
        let c: HydroConfig = parse_json(&v.to_string()).unwrap();
        c.validate(false).unwrap();
    }
    for v in bases("lif") {
        let c: LifConfig = parse_json(&v.to_string()).unwrap();
        c.validate().unwrap();
    }
}
