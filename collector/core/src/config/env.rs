//! `${env:VAR}` expansion, as the OTel Collector does it.
//!
//! Expansion applies to scalar values (never to keys). `$$` stands for a literal `$`;
//! `${env:VAR:-default}` gives a default; `${VAR}` is read as `${env:VAR}` (the Collector's default
//! scheme). A value made of one reference only is re-read as YAML, so `port: ${env:PORT}` is a
//! number. An unset variable expands to the empty string with a warning, as in the Collector.

use serde_yaml_ng::Value;

use super::error::{ConfigError, join_path};

/// The outcome of expanding a document.
#[derive(Debug, Default)]
pub struct Expansion {
    /// Variables that were not set.
    pub warnings: Vec<String>,
    /// References that could not be read.
    pub errors: Vec<ConfigError>,
}

/// Expands every reference in `value`, in place.
pub fn expand(
    value: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
    path: &str,
    out: &mut Expansion,
) {
    match value {
        Value::String(text) if text.contains('$') => {
            match expand_text(text, lookup, &mut out.warnings) {
                Ok((expanded, whole)) => {
                    *value = if whole {
                        reread_scalar(expanded)
                    } else {
                        Value::String(expanded)
                    }
                }
                Err(message) => out.errors.push(ConfigError::new(path, message)),
            }
        }
        Value::Sequence(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                expand(item, lookup, &join_path(path, &index.to_string()), out);
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let key = key
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{key:?}"));
                expand(item, lookup, &join_path(path, &key), out);
            }
        }
        Value::Tagged(tagged) => expand(&mut tagged.value, lookup, path, out),
        _ => {}
    }
}

/// Reads an expanded whole-value reference as a YAML scalar (number, bool) when it is one.
fn reread_scalar(text: String) -> Value {
    match serde_yaml_ng::from_str::<Value>(&text) {
        Ok(scalar @ (Value::Bool(_) | Value::Number(_))) => scalar,
        _ => Value::String(text),
    }
}

/// Expands one string; also says whether it was a single reference and nothing else.
fn expand_text(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<(String, bool), String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut references = 0;
    let mut literal = false;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        literal |= at > 0;
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            literal = true;
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| format!("unterminated reference in {text:?}: missing '}}'"))?;
            out.push_str(&resolve(&body[..end], lookup, warnings)?);
            references += 1;
            rest = &body[end + 1..];
        } else {
            out.push('$');
            literal = true;
            rest = after;
        }
    }
    literal |= !rest.is_empty();
    out.push_str(rest);
    Ok((out, references == 1 && !literal))
}

/// Resolves the inside of `${…}`.
fn resolve(
    reference: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<String, String> {
    let spec = match reference.split_once(':') {
        Some(("env", spec)) => spec,
        Some((scheme, _)) if scheme.chars().all(|c| c.is_ascii_alphanumeric()) => {
            return Err(format!(
                "unsupported provider {scheme:?} in ${{{reference}}}: only env is available"
            ));
        }
        _ => reference,
    };
    let (name, default) = match spec.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (spec, None),
    };
    let valid_name = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_name {
        return Err(format!(
            "invalid environment variable name {name:?} in ${{{reference}}}"
        ));
    }
    match (lookup(name), default) {
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.to_owned()),
        (None, None) => {
            warnings.push(format!("environment variable {name} is not set; ${{{reference}}} expands to an empty string"));
            Ok(String::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn run(yaml: &str) -> (Value, Expansion) {
        let mut value: Value = serde_yaml_ng::from_str(yaml).unwrap();
        let lookup = |name: &str| match name {
            "PORT" => Some("4317".to_owned()),
            "HOST" => Some("collector".to_owned()),
            _ => None,
        };
        let mut out = Expansion::default();
        expand(&mut value, &lookup, "", &mut out);
        (value, out)
    }

    #[test]
    fn whole_references_keep_their_yaml_type() {
        let (value, out) =
            run("a: ${env:PORT}\nb: ${env:HOST}:${PORT}\nc: x$$y\nd: ${env:NOPE:-7}\n");
        assert_eq!(value["a"], Value::Number(4317.into()));
        assert_eq!(value["b"], Value::String("collector:4317".into()));
        assert_eq!(value["c"], Value::String("x$y".into()));
        assert_eq!(value["d"], Value::Number(7.into()));
        assert!(out.warnings.is_empty() && out.errors.is_empty());
    }

    #[test]
    fn unset_variables_warn_and_bad_references_fail_with_their_path() {
        let (value, out) = run(
            "list: [ok, '${env:MISSING}']\nbad: ${env:1X}\nopen: ${env:PORT\nfile: ${file:/etc/x}\n",
        );
        assert_eq!(value["list"][1], Value::String(String::new()));
        assert_eq!(out.warnings.len(), 1);
        let paths: Vec<_> = out.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["bad", "open", "file"]);
    }

    /// Text made of the characters references are made of, and a few others.
    fn reference_soup() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec![
                "$", "{", "}", ":", "-", "env", "A", "_", "1", "x", " ", "é",
            ]),
            0..40,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        /// `${env:}` expansion over hostile text (`PROPTEST_CASES` inputs; 256 in CI): no panic,
        /// a value is never expanded again (no recursion, no blow-up), and text without `$` is
        /// itself.
        #[test]
        fn expansion_of_any_text_is_single_level_and_bounded(
            text in reference_soup(),
            value in reference_soup(),
        ) {
            let lookup = |_: &str| Some(value.clone());
            let mut warnings = Vec::new();
            if let Ok((expanded, _)) = expand_text(&text, &lookup, &mut warnings) {
                let references = text.matches("${").count();
                prop_assert!(expanded.len() <= text.len() + references * value.len());
                if !text.contains('$') {
                    prop_assert_eq!(&expanded, &text);
                }
            }
            prop_assert!(warnings.is_empty(), "every variable is set");
        }
    }
}
