//! `tojson` exactly like transformers' chat-template filter, which is Python's
//! `json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`:
//! no HTML escaping, `", "`/`": "` separators (`","` after items when indenting), Python float
//! repr, `NaN`/`Infinity`, non-ASCII kept unless `ensure_ascii`.

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Error, ErrorKind};

/// Options of `json.dumps` that HF's filter forwards.
#[derive(Debug, Clone)]
pub(crate) struct DumpOptions {
    pub ensure_ascii: bool,
    /// `None`: single line. `Some(s)`: newline + `s` repeated per level (Python accepts an int
    /// number of spaces or a string).
    pub indent: Option<String>,
    pub item_separator: String,
    pub key_separator: String,
    pub sort_keys: bool,
}

impl Default for DumpOptions {
    fn default() -> Self {
        Self {
            ensure_ascii: false,
            indent: None,
            item_separator: ", ".into(),
            key_separator: ": ".into(),
            sort_keys: false,
        }
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// The `tojson` filter: `tojson(x, ensure_ascii=False, indent=None, separators=None,
/// sort_keys=False)`, positional in that (HF's) order or by keyword.
pub(crate) fn tojson_filter(
    value: &Value,
    args: &[Value],
    kwargs: Kwargs,
) -> Result<String, Error> {
    let positional = args;
    const NAMES: [&str; 4] = ["ensure_ascii", "indent", "separators", "sort_keys"];
    if positional.len() > NAMES.len() {
        return Err(Error::new(
            ErrorKind::TooManyArguments,
            "tojson takes at most 4 arguments (ensure_ascii, indent, separators, sort_keys)",
        ));
    }
    let mut slots: [Option<Value>; 4] = Default::default();
    for (slot, v) in slots.iter_mut().zip(positional) {
        *slot = Some(v.clone());
    }
    for (i, name) in NAMES.iter().enumerate() {
        if kwargs.has(name) {
            if slots[i].is_some() {
                return Err(invalid(format!("tojson got multiple values for {name}")));
            }
            slots[i] = Some(kwargs.get::<Value>(name)?);
        }
    }
    kwargs.assert_all_used()?;
    let [ensure_ascii, indent, separators, sort_keys] = slots;
    let mut opts = DumpOptions {
        ensure_ascii: ensure_ascii.is_some_and(|v| v.is_true()),
        sort_keys: sort_keys.is_some_and(|v| v.is_true()),
        ..DumpOptions::default()
    };
    if let Some(indent) = indent.filter(|v| !v.is_none() && !v.is_undefined()) {
        opts.indent = Some(match indent.kind() {
            ValueKind::String => indent.as_str().unwrap_or_default().to_string(),
            ValueKind::Number => {
                let n = i64::try_from(indent.clone())
                    .map_err(|_| invalid("tojson indent must be an integer or a string"))?;
                " ".repeat(n.max(0) as usize)
            }
            _ => return Err(invalid("tojson indent must be an integer or a string")),
        });
        opts.item_separator = ",".into();
    }
    if let Some(seps) = separators.filter(|v| !v.is_none() && !v.is_undefined()) {
        let parts: Vec<Value> = seps
            .try_iter()
            .map_err(|_| invalid("tojson separators must be a pair of strings"))?
            .collect();
        match parts.as_slice() {
            [a, b] if a.as_str().is_some() && b.as_str().is_some() => {
                opts.item_separator = a.as_str().unwrap_or_default().to_string();
                opts.key_separator = b.as_str().unwrap_or_default().to_string();
            }
            _ => return Err(invalid("tojson separators must be a pair of strings")),
        }
    }
    dumps(value, &opts)
}

/// Serializes a template value as Python's `json.dumps` would.
pub(crate) fn dumps(value: &Value, opts: &DumpOptions) -> Result<String, Error> {
    let mut out = String::new();
    write_value(&mut out, value, opts, 0)?;
    Ok(out)
}

fn newline_indent(out: &mut String, opts: &DumpOptions, depth: usize) {
    if let Some(indent) = &opts.indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(indent);
        }
    }
}

const MAX_DEPTH: usize = 512;

fn write_value(
    out: &mut String,
    value: &Value,
    opts: &DumpOptions,
    depth: usize,
) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return Err(invalid("tojson: value nested too deeply"));
    }
    match value.kind() {
        ValueKind::Undefined => return Err(invalid("tojson: Undefined is not JSON serializable")),
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => write_number(out, value)?,
        ValueKind::String => {
            write_string(out, value.as_str().unwrap_or_default(), opts.ensure_ascii)
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&opts.item_separator);
                }
                newline_indent(out, opts, depth + 1);
                write_value(out, item, opts, depth + 1)?;
            }
            newline_indent(out, opts, depth);
            out.push(']');
        }
        ValueKind::Map => {
            let mut entries: Vec<(String, Value)> = Vec::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                entries.push((map_key(&key)?, item));
            }
            if opts.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(&b.0));
            }
            if entries.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(&opts.item_separator);
                }
                newline_indent(out, opts, depth + 1);
                write_string(out, k, opts.ensure_ascii);
                out.push_str(&opts.key_separator);
                write_value(out, v, opts, depth + 1)?;
            }
            newline_indent(out, opts, depth);
            out.push('}');
        }
        kind => {
            return Err(invalid(format!(
                "tojson: a {kind} is not JSON serializable"
            )));
        }
    }
    Ok(())
}

/// Python converts str/int/float/bool/None keys to strings; anything else is a TypeError.
fn map_key(key: &Value) -> Result<String, Error> {
    match key.kind() {
        ValueKind::String => Ok(key.as_str().unwrap_or_default().to_string()),
        ValueKind::None => Ok("null".into()),
        ValueKind::Bool => Ok(if key.is_true() { "true" } else { "false" }.into()),
        ValueKind::Number => {
            let mut s = String::new();
            write_number(&mut s, key)?;
            Ok(s)
        }
        kind => Err(invalid(format!(
            "tojson: keys must be str, int, float, bool or None, not {kind}"
        ))),
    }
}

fn write_number(out: &mut String, value: &Value) -> Result<(), Error> {
    // Serialize tells integers and floats apart, which Value's public API does not.
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Number(n)) if !n.is_f64() => out.push_str(&n.to_string()),
        Ok(serde_json::Value::Number(n)) => out.push_str(&py_float_repr(n.as_f64().unwrap_or(0.0))),
        // Non-finite floats serialize to null in serde_json; recover them from the value.
        Ok(serde_json::Value::Null) => {
            let f = f64::try_from(value.clone()).unwrap_or(f64::NAN);
            out.push_str(&py_float_repr(f));
        }
        // 128-bit integers beyond serde_json's range: their display is already exact.
        _ => out.push_str(&value.to_string()),
    }
    Ok(())
}

/// Python's `repr(float)`: shortest round-trip digits, fixed notation for exponents in
/// [-4, 16), otherwise `d.ddde+XX`; always a `.0` on integral values.
pub(crate) fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // `{:e}` gives the shortest round-trip digits: "1.2345e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if negative { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        format!("{sign}{body}")
    } else {
        let rest = &digits[1..];
        let m = if rest.is_empty() {
            digits[..1].to_string()
        } else {
            format!("{}.{}", &digits[..1], rest)
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{esign}{:02}", exp.abs())
    }
}

fn write_string(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if ensure_ascii && !c.is_ascii() => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        for (f, want) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345.0, "123456789012345.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1.25e-7, "1.25e-07"),
            (1e100, "1e+100"),
            (f64::INFINITY, "Infinity"),
        ] {
            assert_eq!(py_float_repr(f), want, "{f}");
        }
    }

    #[test]
    fn dumps_like_python() {
        let v = Value::from(minijinja::value::Serde(serde_json::json!({
            "b": [1, 2.0, true, null, "x\"<&>'é\n"], "a": {}, "c": []
        })));
        let got = dumps(&v, &DumpOptions::default()).unwrap();
        assert_eq!(
            got,
            r#"{"b": [1, 2.0, true, null, "x\"<&>'é\n"], "a": {}, "c": []}"#
        );
        let opts = DumpOptions {
            indent: Some("  ".into()),
            item_separator: ",".into(),
            sort_keys: true,
            ensure_ascii: true,
            ..DumpOptions::default()
        };
        let got = dumps(&v, &opts).unwrap();
        assert_eq!(
            got,
            "{\n  \"a\": {},\n  \"b\": [\n    1,\n    2.0,\n    true,\n    null,\n    \"x\\\"<&>'\\u00e9\\n\"\n  ],\n  \"c\": []\n}"
        );
    }
}
