//! What both models' configurations share: the typed configuration error, the JSON parser
//! that names the field path of every mistake, and [`fmt_value`], which prints a value for an
//! error message in bounded length (a 50 MB string or a 300-digit number is never echoed
//! whole).

/// A bad configuration: the CLI prints it on one line and exits with code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

pub(crate) fn bad(msg: impl Into<String>) -> ConfigError {
    ConfigError(msg.into())
}

/// Characters of a string value (or of one quoted piece of a parser message) kept in an
/// error message.
pub const MAX_VALUE_CHARS: usize = 40;
/// Characters of a whole parser message (before its position) kept in an error message.
const MAX_MESSAGE_CHARS: usize = 400;
/// Characters of a field path kept in an error message.
const MAX_PATH_CHARS: usize = 120;

/// The first `max` characters of `s`, with `…` and the full length in bytes when cut.
pub fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((cut, _)) => format!("{}… ({} bytes)", &s[..cut], s.len()),
    }
}

/// A value as printed in a configuration error.
pub trait FmtValue {
    fn fmt_value(&self) -> String;
}

/// A value for an error message, in bounded length: a number in at most ~24 characters (its
/// shortest round-trip form, in scientific notation where the plain one is long: 1e300, not
/// 301 digits), a string quoted and cut after [`MAX_VALUE_CHARS`] characters (with its length),
/// arrays and options element by element.
pub fn fmt_value<T: FmtValue + ?Sized>(v: &T) -> String {
    v.fmt_value()
}

impl FmtValue for f64 {
    fn fmt_value(&self) -> String {
        let plain = format!("{self}");
        if plain.len() <= 20 {
            plain
        } else {
            format!("{self:e}")
        }
    }
}

impl FmtValue for f32 {
    fn fmt_value(&self) -> String {
        (*self as f64).fmt_value()
    }
}

macro_rules! fmt_value_int {
    ($($t:ty),*) => {$(
        impl FmtValue for $t {
            fn fmt_value(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
fmt_value_int!(u8, u16, u32, u64, usize, i32, i64);

impl FmtValue for str {
    fn fmt_value(&self) -> String {
        match self.char_indices().nth(MAX_VALUE_CHARS) {
            None => format!("{self:?}"),
            Some((cut, _)) => format!("{:?}… ({} bytes)", &self[..cut], self.len()),
        }
    }
}

impl FmtValue for String {
    fn fmt_value(&self) -> String {
        self.as_str().fmt_value()
    }
}

impl<T: FmtValue> FmtValue for [T] {
    fn fmt_value(&self) -> String {
        let shown: Vec<String> = self.iter().take(8).map(FmtValue::fmt_value).collect();
        let more = if self.len() > 8 {
            format!(", … ({} elements)", self.len())
        } else {
            String::new()
        };
        format!("[{}{more}]", shown.join(", "))
    }
}

impl<T: FmtValue, const N: usize> FmtValue for [T; N] {
    fn fmt_value(&self) -> String {
        self.as_slice().fmt_value()
    }
}

impl<T: FmtValue> FmtValue for Option<T> {
    fn fmt_value(&self) -> String {
        match self {
            Some(v) => v.fmt_value(),
            None => "null".into(),
        }
    }
}

impl FmtValue for serde_json::Value {
    fn fmt_value(&self) -> String {
        use serde_json::Value;
        match self {
            Value::String(s) => s.fmt_value(),
            Value::Number(n) => match n.as_f64() {
                Some(x) if !(n.is_u64() || n.is_i64()) => x.fmt_value(),
                _ => shorten(&n.to_string(), MAX_VALUE_CHARS),
            },
            // Arrays and objects: their JSON text, cut (serialising a Value cannot fail).
            other => shorten(&other.to_string(), MAX_VALUE_CHARS),
        }
    }
}

/// A parser message in bounded length: every quoted piece (`"…"` with its escapes, or
/// `` `…` ``) longer than [`MAX_VALUE_CHARS`] is cut, and so is the whole message.
fn shorten_message(msg: &str) -> String {
    let mut out = String::new();
    let mut rest = msg;
    while let Some(start) = rest.find(['"', '`']) {
        let quote = rest.as_bytes()[start];
        out.push_str(&rest[..=start]);
        let body = &rest[start + 1..];
        // The closing quote: for `"` the first one not escaped by a backslash.
        let mut end = None;
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            if escaped {
                escaped = false;
            } else if c == '\\' && quote == b'"' {
                escaped = true;
            } else if c as u32 == quote as u32 {
                end = Some(i);
                break;
            }
        }
        let Some(end) = end else {
            out.push_str(&shorten(body, MAX_VALUE_CHARS));
            rest = "";
            break;
        };
        out.push_str(&shorten(&body[..end], MAX_VALUE_CHARS));
        out.push(quote as char);
        rest = &body[end + 1..];
        if out.len() > 4 * MAX_MESSAGE_CHARS {
            break;
        }
    }
    out.push_str(rest);
    shorten(&out, MAX_MESSAGE_CHARS)
}

/// A serde_json error in bounded length, with its position (line and column) kept whole.
pub fn json_error_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    match full.strip_suffix(&position) {
        Some(msg) if e.line() > 0 => format!("{}{position}", shorten_message(msg)),
        _ => shorten_message(&full),
    }
}

/// Parses a JSON config; unknown fields, wrong types and malformed JSON are errors that
/// name the field path and the position, in bounded length.
pub fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let msg = json_error_message(e.inner());
        if path == "." || path.is_empty() {
            bad(msg)
        } else {
            bad(format!(
                "field `{}`: {msg}",
                shorten_message(&shorten(&path, MAX_PATH_CHARS))
            ))
        }
    })
}

/// `Err("{name} = {value}: must be {range}")` unless `ok`.
pub(crate) fn require<T: FmtValue + ?Sized>(
    ok: bool,
    name: &str,
    value: &T,
    range: &str,
) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "{name} = {}: must be {range}",
            fmt_value(value)
        )))
    }
}

/// An integer field in `[lo, hi]`.
pub(crate) fn u64_in(name: &str, v: u64, lo: u64, hi: u64) -> Result<u64, ConfigError> {
    require(lo <= v && v <= hi, name, &v, &format!("in [{lo}, {hi}]"))?;
    Ok(v)
}

/// A u64 field that is used as a u32: in `[lo, hi]` with `hi <= u32::MAX`, never truncated.
pub(crate) fn u32_in(name: &str, v: u64, lo: u32, hi: u32) -> Result<u32, ConfigError> {
    Ok(u64_in(name, v, lo as u64, hi as u64)? as u32)
}

/// `x.round()` as a count (a number of steps, say) when `x` is finite and the rounded value
/// lies in `[lo, hi]` (checked in f64 before the conversion); else an error naming `what`,
/// the value and the range.
pub(crate) fn round_count(what: &str, x: f64, lo: u64, hi: u64) -> Result<u64, ConfigError> {
    let r = x.round();
    // hi as f64 may round up (2^64 - 1 -> 2^64); compare against it and convert only below.
    if !(r.is_finite() && r >= lo as f64 && r <= hi as f64 && r < 18_446_744_073_709_551_616.0) {
        return Err(bad(format!(
            "{what} = {}: must be in [{lo}, {hi}]",
            fmt_value(&x)
        )));
    }
    Ok((r as u64).clamp(lo, hi))
}

/// The model a config is for: its "model" field, `"hydro"` (model H) or `"lif"` (model L).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    Hydro,
    Lif,
}

impl Model {
    pub const ALL: [Model; 2] = [Model::Hydro, Model::Lif];

    /// The spelling in configs, run.json and checkpoints.
    pub fn name(self) -> &'static str {
        match self {
            Model::Hydro => "hydro",
            Model::Lif => "lif",
        }
    }

    /// "model H" or "model L", as the docs name them.
    pub fn label(self) -> &'static str {
        match self {
            Model::Hydro => "model H",
            Model::Lif => "model L",
        }
    }

    /// The model of a config's spelling (deserialisation), None for anything else.
    pub fn from_name(s: &str) -> Option<Model> {
        Model::ALL.into_iter().find(|m| m.name() == s)
    }
}

impl std::fmt::Display for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which model a config file is for, from its "model" field: "hydro" (model H) or "lif"
/// (model L); anything else is an error that names the value (shortened).
pub fn model_of(text: &str) -> Result<Model, ConfigError> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| bad(format!("malformed JSON: {}", json_error_message(&e))))?;
    match v.get("model") {
        None if !v.is_object() => Err(bad(format!(
            "expected a JSON object with a field `model`, got {}",
            fmt_value(&v)
        ))),
        None => Err(bad("missing field `model` (\"hydro\" or \"lif\")")),
        Some(serde_json::Value::String(s)) => Model::from_name(s).ok_or_else(|| {
            bad(format!(
                "model = {}: must be \"hydro\" (model H) or \"lif\" (model L)",
                fmt_value(s)
            ))
        }),
        Some(other) => Err(bad(format!(
            "field `model`: expected a string (\"hydro\" or \"lif\"), got {}",
            fmt_value(other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmt_value_is_bounded() {
        assert_eq!(fmt_value(&0.001), "0.001");
        assert_eq!(fmt_value(&-0.001), "-0.001");
        assert_eq!(fmt_value(&3.0), "3");
        assert_eq!(fmt_value(&1e300), "1e300");
        assert_eq!(fmt_value(&f64::NAN), "NaN");
        assert!(fmt_value(&(1.0 / 3.0)).len() <= 24);
        assert!(fmt_value(&-1.234_567_890_123_456_7e-300).len() <= 24);
        assert_eq!(fmt_value(&u64::MAX), "18446744073709551615");
        assert_eq!(fmt_value("hydro"), "\"hydro\"");
        let long = "x".repeat(50_000_000);
        let s = fmt_value(long.as_str());
        assert!(s.len() < 80 && s.contains("50000000 bytes"), "{s}");
        assert_eq!(fmt_value(&[1.0, 2.5]), "[1, 2.5]");
        assert_eq!(fmt_value(&Some(2u32)), "2");
        let v: serde_json::Value = serde_json::from_str(&format!("[\"{}\"]", long)).unwrap();
        assert!(fmt_value(&v).len() < 80);
        // Multi-byte characters are cut on a character boundary.
        assert!(fmt_value("é".repeat(100).as_str()).starts_with("\"éé"));
    }

    #[test]
    fn parser_errors_are_bounded() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct T {
            n: u64,
        }
        let big = "y".repeat(10_000_000);
        for text in [
            format!("{{\"n\": \"{big}\"}}"),
            format!("{{\"{big}\": 1}}"),
            format!("{{\"n\": 1{}}}", "0".repeat(400)),
            format!("{{\"n\": 1{}}}", "0".repeat(300)),
            format!("{{\"n\": [\"{big}\\\"\"]}}"),
            format!("\"{big}"),
        ] {
            let e = parse_json::<T>(&text).unwrap_err().0;
            assert!(e.len() < 600, "{} chars: {}", e.len(), &e[..200]);
            assert_eq!(e.lines().count(), 1);
            let m = model_of(&text).unwrap_err().0;
            assert!(m.len() < 600, "{} chars: {}", m.len(), &m[..200]);
        }
        let e = parse_json::<T>("{\"n\": -5}").unwrap_err().0;
        assert!(
            e.starts_with("field `n`: invalid value: integer `-5`"),
            "{e}"
        );
        assert!(e.ends_with("at line 1 column 8"), "{e}");
        let m = model_of(&format!("{{\"model\": \"{big}\"}}"))
            .unwrap_err()
            .0;
        assert!(m.len() < 200 && m.contains("must be \"hydro\""), "{m}");
        assert_eq!(model_of("{\"model\": \"lif\"}").unwrap(), Model::Lif);
        assert!(model_of("[1, 2]").unwrap_err().0.contains("JSON object"));
    }
}
