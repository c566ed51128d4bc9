//! Request parameters, as OAuth wants them read: each at most once (RFC 6749 §3.1), empty
//! values treated as absent.

use super::error::OAuthError;
use axum::extract::Form;
use axum::extract::rejection::FormRejection;
use std::collections::HashMap;

/// A form body as the OAuth endpoints extract it.
pub type FormBody = Result<Form<Vec<(String, String)>>, FormRejection>;

/// Reads an OAuth endpoint's form body. A body that cannot be read (wrong content type, too
/// large, not UTF-8) or repeats a parameter is `invalid_request`, with the rejection's status.
pub fn from_form(form: FormBody) -> Result<Params, OAuthError> {
    match form {
        Ok(Form(pairs)) => Params::from_pairs(pairs).map_err(OAuthError::invalid_request),
        Err(rejection) => {
            let mut error = OAuthError::invalid_request(rejection.body_text());
            error.status = rejection.status();
            Err(error)
        }
    }
}

#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Collects pairs; a repeated parameter is an error naming it.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, String> {
        let mut map = HashMap::new();
        for (key, value) in pairs {
            if map.insert(key.clone(), value).is_some() {
                return Err(format!("parameter `{key}` appears more than once"));
            }
        }
        Ok(Self(map))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn take(&mut self, key: &str) -> Option<String> {
        self.0.remove(key).filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_are_absent() {
        let pairs = |list: &[(&str, &str)]| {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(
            Params::from_pairs(pairs(&[("a", "1"), ("a", "2")]))
                .unwrap_err()
                .contains("`a`")
        );
        let params = Params::from_pairs(pairs(&[("a", ""), ("b", "x")])).unwrap();
        assert_eq!((params.get("a"), params.get("b")), (None, Some("x")));
    }
}
