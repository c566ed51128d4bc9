//! `POSTERN_*` environment variables override config keys: `POSTERN_HTTP_LISTEN` sets
//! `http.listen`, `POSTERN_STATE_DIR` sets `state_dir`. The set of names is derived from the
//! config's own keys, so an unknown `POSTERN_*` variable is a typo and is refused.

use super::{Config, ConfigError};

/// The variable name for a dotted key: `http.listen` → `POSTERN_HTTP_LISTEN`.
pub fn variable_name(key: &str) -> String {
    format!("POSTERN_{}", key.replace('.', "_").to_uppercase())
}

pub fn apply_overrides(
    table: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let defaults = serde_json::to_value(Config::default()).unwrap_or_default();
    let mut keys = Vec::new();
    leaf_keys(&defaults, String::new(), &mut keys);

    for (name, value) in vars {
        if !name.starts_with("POSTERN_") {
            continue;
        }
        let Some((key, default)) = keys.iter().find(|(key, _)| variable_name(key) == name) else {
            let known: Vec<String> = keys.iter().map(|(key, _)| variable_name(key)).collect();
            return Err(ConfigError::Env {
                name,
                message: format!(
                    "not a Postern setting; known variables: {}",
                    known.join(", ")
                ),
            });
        };
        let typed = typed_value(default, &value).map_err(|message| ConfigError::Env {
            name: name.clone(),
            message,
        })?;
        set_path(table, key, typed).map_err(|message| ConfigError::Env { name, message })?;
    }
    Ok(())
}

fn leaf_keys(
    value: &serde_json::Value,
    prefix: String,
    out: &mut Vec<(String, serde_json::Value)>,
) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaf_keys(child, path, out);
            }
        }
        leaf => out.push((prefix, leaf.clone())),
    }
}

/// Gives the variable's text the type of the key's default, so `POSTERN_X=8` sets a number.
fn typed_value(default: &serde_json::Value, text: &str) -> Result<toml::Value, String> {
    match default {
        serde_json::Value::Bool(_) => text
            .parse::<bool>()
            .map(toml::Value::Boolean)
            .map_err(|_| format!("`{text}` is not true or false")),
        serde_json::Value::Number(_) => text
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| format!("`{text}` is not a whole number")),
        serde_json::Value::Array(_) => Ok(toml::Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| toml::Value::String(item.to_owned()))
                .collect(),
        )),
        _ => Ok(toml::Value::String(text.to_owned())),
    }
}

fn set_path(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap_or(key);
    let mut current = table;
    for part in parts {
        let entry = current
            .entry(part.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("the config file has `{part}` as a value, not a table"))?;
    }
    current.insert(last.to_owned(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn variables_override_the_file() {
        let mut table: toml::Table = "[http]\nlisten = \"127.0.0.1:1\"\n".parse().unwrap();
        apply_overrides(
            &mut table,
            vars(&[
                ("POSTERN_HTTP_LISTEN", "127.0.0.1:2"),
                ("POSTERN_STATE_DIR", "/tmp/x"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(table["http"]["listen"].as_str(), Some("127.0.0.1:2"));
        assert_eq!(table["state_dir"].as_str(), Some("/tmp/x"));
    }

    #[test]
    fn an_unknown_variable_is_a_typo() {
        let mut table = toml::Table::new();
        let err = apply_overrides(&mut table, vars(&[("POSTERN_HTTP_LISTN", "x")])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("POSTERN_HTTP_LISTN") && text.contains("POSTERN_HTTP_LISTEN"),
            "{text}"
        );
    }
}
