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
/// name the field path and the position, in bounded length. Integer fields accept integral
/// numbers written as floats (`"n": 1e5`, `"seed": 1.0`); a fraction in an integer field is
/// an error in the configs' own form, `n = 1000.5: must be an integer at line 1 column 12`.
pub fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(integral::De(de)).map_err(|e| {
        let path = e.path().to_string();
        let top = path == "." || path.is_empty();
        let shown_path = shorten_message(&shorten(&path, MAX_PATH_CHARS));
        if let Some(msg) = not_an_integer(e.inner(), if top { "value" } else { &shown_path }) {
            return bad(msg);
        }
        let msg = json_error_message(e.inner());
        if top {
            bad(msg)
        } else {
            bad(format!("field `{shown_path}`: {msg}"))
        }
    })
}

/// serde's refusal of a float in an integer field (`invalid type: floating point `1000.5`,
/// expected u64`, what an integer field says of a number that [`integral`] left a float),
/// as `{name} = 1000.5: must be an integer` (or, for an integer out of the type's range,
/// `must be an integer in [lo, hi]`), with the position; `None` for any other error.
fn not_an_integer(e: &serde_json::Error, name: &str) -> Option<String> {
    let full = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    let (msg, position) = match full.strip_suffix(&position) {
        Some(msg) if e.line() > 0 => (msg, position.as_str()),
        _ => (full.as_str(), ""),
    };
    let (value, ty) = msg
        .strip_prefix("invalid type: floating point `")?
        .split_once("`, expected ")?;
    let x: f64 = value.parse().ok()?;
    let range = match ty {
        "u8" => format!("[0, {}]", u8::MAX),
        "u16" => format!("[0, {}]", u16::MAX),
        "u32" => format!("[0, {}]", u32::MAX),
        "u64" => format!("[0, {}]", u64::MAX),
        "usize" => format!("[0, {}]", usize::MAX),
        "i8" => format!("[{}, {}]", i8::MIN, i8::MAX),
        "i16" => format!("[{}, {}]", i16::MIN, i16::MAX),
        "i32" => format!("[{}, {}]", i32::MIN, i32::MAX),
        "i64" => format!("[{}, {}]", i64::MIN, i64::MAX),
        "isize" => format!("[{}, {}]", isize::MIN, isize::MAX),
        _ => return None,
    };
    let rule = if x == 0.0 {
        // -0.0: integral, but a float (it would print as 0).
        "an integer (write 0)".to_string()
    } else if x.is_finite() && x.fract() == 0.0 {
        format!("an integer in {range}")
    } else {
        "an integer".to_string()
    };
    Some(format!(
        "{name} = {}: must be {rule}{position}",
        fmt_value(&x)
    ))
}

/// A count given on the command line (--n, --steps, --seed): a non-negative integer, in
/// integer digits or, as in the configs, in float notation when the value is integral
/// (`1000000`, `1e6`, `1.0e6`, `2.5e3`). Exact: the decimal is read digit by digit, never
/// through an f64, so every u64 is accepted as written. Fractions, negative numbers, values
/// above u64::MAX and anything that is not a number are refused with a one-line message.
pub fn parse_integral_u64(s: &str) -> Result<u64, String> {
    let shown = shorten(s, MAX_VALUE_CHARS);
    let not_a_number =
        || format!("{shown:?} is not a number: expected an integer such as 1000000, 1e6 or 1.0e6");
    let t = s.trim();
    let (negative, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits_only = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits_only(int) || !digits_only(frac) {
        return Err(not_a_number());
    }
    // The exponent, saturated far beyond any u64 (20 digits) either way.
    let exponent: i64 = match exponent {
        None => 0,
        Some(e) => {
            let (sign, body) = match e.strip_prefix('-') {
                Some(b) => (-1, b),
                None => (1, e.strip_prefix('+').unwrap_or(e)),
            };
            if body.is_empty() || !digits_only(body) {
                return Err(not_a_number());
            }
            sign * body.parse::<i64>().unwrap_or(1_000_000).min(1_000_000)
        }
    };
    // value = digits x 10^scale, with the digits' leading and trailing zeros taken out.
    let all = format!("{int}{frac}");
    let mut digits = all.trim_start_matches('0');
    let mut scale = exponent - frac.len() as i64;
    if digits.is_empty() {
        return Ok(0);
    }
    let trimmed = digits.trim_end_matches('0');
    scale += (digits.len() - trimmed.len()) as i64;
    digits = trimmed;
    if scale < 0 {
        return Err(format!("{shown} is not an integer"));
    }
    if negative {
        return Err(format!("{shown} is negative: must be an integer >= 0"));
    }
    let too_large = || format!("{shown} is too large: must be at most {}", u64::MAX);
    if digits.len() as i64 + scale > 20 {
        return Err(too_large());
    }
    let mut v: u128 = digits.parse().map_err(|_| not_a_number())?;
    for _ in 0..scale {
        v *= 10;
    }
    u64::try_from(v).map_err(|_| too_large())
}

/// The JSON parser's view of numbers: a number written with a fraction or an exponent
/// (`1e6`, `1000.0`) whose value is an integer is handed to the config types as that
/// integer, so integer fields accept it (`"n": 1e5` is `"n": 100000`). Float fields read the
/// integer back as the same f64, bit for bit (the conversion is exact both ways), and `-0.0`,
/// integral but not an integer, stays a float. Everything else passes through unchanged, so
/// serde's errors keep their field paths and positions.
mod integral {
    use serde::de::{self, DeserializeSeed, Deserializer, Visitor};
    use std::fmt;

    /// `x` as an integer when it is one exactly: in [0, 2^64) as a u64, in [-2^63, 0) as an
    /// i64; `None` for fractions, -0.0, non-finite values and integers beyond those ranges.
    pub(super) fn as_integer(x: f64) -> Option<Result<u64, i64>> {
        const TWO_64: f64 = 18_446_744_073_709_551_616.0;
        const TWO_63: f64 = 9_223_372_036_854_775_808.0;
        if !x.is_finite() || x.fract() != 0.0 || (x == 0.0 && x.is_sign_negative()) {
            None
        } else if (0.0..TWO_64).contains(&x) {
            Some(Ok(x as u64))
        } else if (-TWO_63..0.0).contains(&x) {
            Some(Err(x as i64))
        } else {
            None
        }
    }

    /// A deserializer whose visitors see integral floats as integers.
    pub(super) struct De<D>(pub D);
    struct V<X>(X);
    struct Seed<S>(S);
    struct Access<A>(A);

    macro_rules! forward {
        ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
            fn $method<X: Visitor<'de>>(self, $($arg: $ty,)* visitor: X) -> Result<X::Value, D::Error> {
                self.0.$method($($arg,)* V(visitor))
            }
        )*};
    }

    impl<'de, D: Deserializer<'de>> Deserializer<'de> for De<D> {
        type Error = D::Error;
        forward! {
            deserialize_any();
            deserialize_bool();
            deserialize_i8();
            deserialize_i16();
            deserialize_i32();
            deserialize_i64();
            deserialize_i128();
            deserialize_u8();
            deserialize_u16();
            deserialize_u32();
            deserialize_u64();
            deserialize_u128();
            deserialize_f32();
            deserialize_f64();
            deserialize_char();
            deserialize_str();
            deserialize_string();
            deserialize_bytes();
            deserialize_byte_buf();
            deserialize_option();
            deserialize_unit();
            deserialize_unit_struct(name: &'static str);
            deserialize_newtype_struct(name: &'static str);
            deserialize_seq();
            deserialize_tuple(len: usize);
            deserialize_tuple_struct(name: &'static str, len: usize);
            deserialize_map();
            deserialize_struct(name: &'static str, fields: &'static [&'static str]);
            deserialize_enum(name: &'static str, variants: &'static [&'static str]);
            deserialize_identifier();
            deserialize_ignored_any();
        }

        fn is_human_readable(&self) -> bool {
            self.0.is_human_readable()
        }
    }

    macro_rules! pass {
        ($($method:ident($ty:ty);)*) => {$(
            fn $method<E: de::Error>(self, v: $ty) -> Result<X::Value, E> {
                self.0.$method(v)
            }
        )*};
    }

    impl<'de, X: Visitor<'de>> Visitor<'de> for V<X> {
        type Value = X::Value;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            self.0.expecting(f)
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<X::Value, E> {
            match as_integer(v) {
                Some(Ok(u)) => self.0.visit_u64(u),
                Some(Err(i)) => self.0.visit_i64(i),
                None => self.0.visit_f64(v),
            }
        }

        pass! {
            visit_bool(bool);
            visit_i8(i8);
            visit_i16(i16);
            visit_i32(i32);
            visit_i64(i64);
            visit_i128(i128);
            visit_u8(u8);
            visit_u16(u16);
            visit_u32(u32);
            visit_u64(u64);
            visit_u128(u128);
            visit_f32(f32);
            visit_char(char);
            visit_str(&str);
            visit_borrowed_str(&'de str);
            visit_string(String);
            visit_bytes(&[u8]);
            visit_borrowed_bytes(&'de [u8]);
            visit_byte_buf(Vec<u8>);
        }

        fn visit_none<E: de::Error>(self) -> Result<X::Value, E> {
            self.0.visit_none()
        }

        fn visit_unit<E: de::Error>(self) -> Result<X::Value, E> {
            self.0.visit_unit()
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<X::Value, D::Error> {
            self.0.visit_some(De(d))
        }

        fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<X::Value, D::Error> {
            self.0.visit_newtype_struct(De(d))
        }

        fn visit_seq<A: de::SeqAccess<'de>>(self, a: A) -> Result<X::Value, A::Error> {
            self.0.visit_seq(Access(a))
        }

        fn visit_map<A: de::MapAccess<'de>>(self, a: A) -> Result<X::Value, A::Error> {
            self.0.visit_map(Access(a))
        }

        fn visit_enum<A: de::EnumAccess<'de>>(self, a: A) -> Result<X::Value, A::Error> {
            self.0.visit_enum(Access(a))
        }
    }

    impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<S> {
        type Value = S::Value;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
            self.0.deserialize(De(d))
        }
    }

    impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for Access<A> {
        type Error = A::Error;

        fn next_element_seed<T: DeserializeSeed<'de>>(
            &mut self,
            seed: T,
        ) -> Result<Option<T::Value>, A::Error> {
            self.0.next_element_seed(Seed(seed))
        }

        fn size_hint(&self) -> Option<usize> {
            self.0.size_hint()
        }
    }

    impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for Access<A> {
        type Error = A::Error;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, A::Error> {
            self.0.next_key_seed(Seed(seed))
        }

        fn next_value_seed<T: DeserializeSeed<'de>>(
            &mut self,
            seed: T,
        ) -> Result<T::Value, A::Error> {
            self.0.next_value_seed(Seed(seed))
        }

        fn size_hint(&self) -> Option<usize> {
            self.0.size_hint()
        }
    }

    impl<'de, A: de::EnumAccess<'de>> de::EnumAccess<'de> for Access<A> {
        type Error = A::Error;
        type Variant = Access<A::Variant>;

        fn variant_seed<T: DeserializeSeed<'de>>(
            self,
            seed: T,
        ) -> Result<(T::Value, Self::Variant), A::Error> {
            let (v, variant) = self.0.variant_seed(Seed(seed))?;
            Ok((v, Access(variant)))
        }
    }

    impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for Access<A> {
        type Error = A::Error;

        fn unit_variant(self) -> Result<(), A::Error> {
            self.0.unit_variant()
        }

        fn newtype_variant_seed<T: DeserializeSeed<'de>>(
            self,
            seed: T,
        ) -> Result<T::Value, A::Error> {
            self.0.newtype_variant_seed(Seed(seed))
        }

        fn tuple_variant<X: Visitor<'de>>(
            self,
            len: usize,
            visitor: X,
        ) -> Result<X::Value, A::Error> {
            self.0.tuple_variant(len, V(visitor))
        }

        fn struct_variant<X: Visitor<'de>>(
            self,
            fields: &'static [&'static str],
            visitor: X,
        ) -> Result<X::Value, A::Error> {
            self.0.struct_variant(fields, V(visitor))
        }
    }
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

/// The overrides a front end offers on top of a config.
#[derive(Clone, Copy, Debug, Default)]
pub struct Overrides {
    /// Neurons per population (model H only).
    pub n: Option<u64>,
    /// Number of steps (model H), or of recorded steps (model L: duration = steps dt).
    pub steps: Option<u64>,
    pub seed: Option<u64>,
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

    #[derive(Debug, PartialEq, serde::Deserialize, serde::Serialize)]
    #[serde(deny_unknown_fields)]
    struct Counts {
        n: u64,
        k: Option<u32>,
        x: f64,
        #[serde(default)]
        inner: Vec<Inner>,
    }

    #[derive(Debug, PartialEq, serde::Deserialize, serde::Serialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        m: u64,
    }

    #[test]
    fn integral_floats_are_integers() {
        let c: Counts =
            parse_json(r#"{"n": 1e6, "k": 1.0e3, "x": 2, "inner": [{"m": 2.5e1}]}"#).unwrap();
        assert_eq!(
            c,
            Counts {
                n: 1_000_000,
                k: Some(1000),
                x: 2.0,
                inner: vec![Inner { m: 25 }]
            }
        );
        let c: Counts =
            parse_json(r#"{"n": 1.8446744073709550e19, "k": null, "x": -0.0}"#).unwrap();
        assert_eq!(c.n, 18_446_744_073_709_549_568);
        assert!(c.x == 0.0 && c.x.is_sign_negative());
        assert_eq!(serde_json::to_string(&c.x).unwrap(), "-0.0");
        // A float field reads an integral float bit for bit.
        for x in [1e300_f64, -1e300, 1e19, -(2f64.powi(63)), 123456789.0, 0.0] {
            let c: Counts = parse_json(&format!(r#"{{"n": 1, "x": {x:e}}}"#)).unwrap();
            assert_eq!(c.x.to_bits(), x.to_bits(), "{x:e}");
        }
        // A free-form Value: integral floats become integers, -0.0 stays a float.
        let v: serde_json::Value = parse_json("[1e3, 1.5, -0.0, -2.0, 0.0]").unwrap();
        assert_eq!(v.to_string(), "[1000,1.5,-0.0,-2,0]");
        assert_eq!(integral::as_integer(-0.0), None);
        assert_eq!(integral::as_integer(1.8446744073709552e19), None);
        assert_eq!(integral::as_integer(-(2f64.powi(63))), Some(Err(i64::MIN)));
    }

    #[test]
    fn a_fraction_in_an_integer_field_is_named() {
        let e = |t: &str| parse_json::<Counts>(t).unwrap_err().0;
        assert_eq!(
            e(r#"{"n": 1000.5, "x": 1}"#),
            "n = 1000.5: must be an integer at line 1 column 12"
        );
        assert_eq!(
            e(r#"{"n": 1, "k": 2.5e-1, "x": 1}"#),
            "k = 0.25: must be an integer at line 1 column 20"
        );
        assert_eq!(
            e(r#"{"n": 1, "x": 1, "inner": [{"m": 1}, {"m": 1e-300}]}"#),
            "inner[1].m = 1e-300: must be an integer at line 1 column 49"
        );
        assert_eq!(
            e(r#"{"n": 1e20, "x": 1}"#),
            "n = 1e20: must be an integer in [0, 18446744073709551615] at line 1 column 10"
        );
        assert_eq!(
            e(r#"{"n": 1, "k": 1e10, "x": 1}"#),
            "field `k`: invalid value: integer `10000000000`, expected u32 at line 1 column 18"
        );
        assert_eq!(
            e(r#"{"n": -0.0, "x": 1}"#),
            "n = -0: must be an integer (write 0) at line 1 column 10"
        );
        let m = e(r#"{"n": -1.0, "x": 1}"#);
        assert!(
            m.starts_with("field `n`: invalid value: integer `-1`"),
            "{m}"
        );
        assert_eq!(
            parse_json::<u64>("2.5").unwrap_err().0,
            "value = 2.5: must be an integer at line 1 column 3"
        );
    }

    #[test]
    fn integral_u64_from_the_command_line() {
        for (s, v) in [
            ("1000000", 1_000_000),
            ("1e6", 1_000_000),
            ("1.0e6", 1_000_000),
            ("1E6", 1_000_000),
            ("2.5e3", 2500),
            ("1000e-3", 1),
            ("0", 0),
            ("0.0", 0),
            ("+7", 7),
            ("-0", 0),
            ("1.", 1),
            ("18446744073709551615", u64::MAX),
            ("1.8446744073709551615e19", u64::MAX),
            ("1e19", 10_000_000_000_000_000_000),
            ("0e999999999999", 0),
        ] {
            assert_eq!(parse_integral_u64(s), Ok(v), "{s}");
        }
        let max = u64::MAX;
        for (s, msg) in [
            ("1000.5", "1000.5 is not an integer".to_string()),
            ("1e-1", "1e-1 is not an integer".into()),
            ("-1", "-1 is negative: must be an integer >= 0".into()),
            ("-1e3", "-1e3 is negative: must be an integer >= 0".into()),
            (
                "18446744073709551616",
                format!("18446744073709551616 is too large: must be at most {max}"),
            ),
            ("1e20", format!("1e20 is too large: must be at most {max}")),
            (
                "1e999999999999",
                format!("1e999999999999 is too large: must be at most {max}"),
            ),
        ] {
            assert_eq!(parse_integral_u64(s).unwrap_err(), msg, "{s}");
        }
        for s in [
            "1e6.5", "", "e6", ".", "1e", "abc", "1_000", "0x10", "1e+-3", "inf", "NaN", "1 000",
        ] {
            let m = parse_integral_u64(s).unwrap_err();
            assert!(
                m.ends_with(" is not a number: expected an integer such as 1000000, 1e6 or 1.0e6"),
                "{s}: {m}"
            );
        }
        assert_eq!(
            parse_integral_u64("1e6.5").unwrap_err(),
            "\"1e6.5\" is not a number: expected an integer such as 1000000, 1e6 or 1.0e6"
        );
        let long = "9".repeat(10_000);
        assert!(parse_integral_u64(&long).unwrap_err().len() < 200);
        assert!(parse_integral_u64(&format!("{long}.5")).unwrap_err().len() < 200);
    }
}
