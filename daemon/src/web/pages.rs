//! The HTML pages: tera templates built into the binary, each replaceable by a file of the same
//! name in `templates_dir`. Autoescaping is on for every `.html` template.

use std::path::Path;

/// Each built-in template, by file name, compiled in from `templates/`.
macro_rules! built_in {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../templates/", $name)))),*]
    };
}

const BUILT_IN: &[(&str, &str)] = built_in![
    "base.html",
    "login.html",
    "logout.html",
    "logged_out.html",
    "error.html",
    "second_factor.html",
    "emailed_code.html",
    "password_after_code.html",
    "enrol.html",
    "email_enrol.html",
    "enrol_passkey.html",
    "approve.html",
    "welcome.html",
    "forgot.html",
    "recovery_codes.html",
    "account.html",
    "account_enrol.html",
    "consent.html",
];
const STYLESHEET: &str = include_str!("../../../templates/postern.css");
const PASSKEY_SCRIPT: &str = include_str!("../../../templates/passkey.js");

#[derive(Debug)]
pub struct Pages {
    tera: tera::Tera,
    pub stylesheet: String,
    /// The one script: WebAuthn calls for the passkey forms.
    pub passkey_script: String,
}

impl Pages {
    /// Loads the built-in templates, replaced by any of the same name in `dir` (if not empty).
    pub fn load(dir: &Path) -> Result<Self, String> {
        let mut tera = tera::Tera::new();
        tera.autoescape_on([".html"]);
        let override_of = |name: &str| -> Result<Option<String>, String> {
            if dir.as_os_str().is_empty() {
                return Ok(None);
            }
            match std::fs::read_to_string(dir.join(name)) {
                Ok(text) => Ok(Some(text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(format!("templates_dir: cannot read {name}: {e}")),
            }
        };
        let mut templates = Vec::new();
        for (name, built_in) in BUILT_IN {
            templates.push((
                *name,
                override_of(name)?.unwrap_or_else(|| (*built_in).to_owned()),
            ));
        }
        tera.add_raw_templates(templates)
            .map_err(|e| format!("templates: {e}"))?;
        let stylesheet = override_of("postern.css")?.unwrap_or_else(|| STYLESHEET.to_owned());
        let passkey_script =
            override_of("passkey.js")?.unwrap_or_else(|| PASSKEY_SCRIPT.to_owned());
        Ok(Self {
            tera,
            stylesheet,
            passkey_script,
        })
    }

    pub fn render(&self, name: &str, context: &tera::Context) -> Result<String, String> {
        self.tera
            .render(name, context)
            .map_err(|e| format!("rendering {name}: {e:?}"))
    }
}

/// The passkey ceremony a page offers, if any: the challenge's id for its form and the
/// options for `passkey.js`; both absent when there is none.
pub fn offer_passkey(
    context: &mut tera::Context,
    started: Option<&crate::engine::passkeys::Started>,
) {
    context.insert("passkey_challenge", &started.map(|s| &s.challenge));
    context.insert("passkey_options", &started.map(|s| s.options.to_string()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_pages_render_and_escape() {
        let pages = Pages::load(Path::new("")).unwrap();
        let mut context = tera::Context::new();
        context.insert("csrf", "t");
        context.insert("flow", "f");
        context.insert("username", "<script>alert(1)</script>");
        context.insert("client_name", "Wiki");
        context.insert("error", "");
        let html = pages.render("login.html", &context).unwrap();
        assert!(html.contains("to continue to <strong>Wiki</strong>"));
        assert!(!html.contains("<script>alert(1)"), "{html}");
    }

    #[test]
    fn the_account_page_renders() {
        let pages = Pages::load(Path::new("")).unwrap();
        let mut context = tera::Context::new();
        context.insert("csrf", "t");
        context.insert("username", "alice");
        context.insert("mfa_enabled", &true);
        context.insert("mfa_method_label", &Some("email codes"));
        context.insert("mfa_required", &false);
        context.insert("recovery_codes_left", &3);
        context.insert(
            "offered",
            &vec![serde_json::json!({"id": "totp", "label": "an app"})],
        );
        context.insert(
            "devices",
            &vec![serde_json::json!({
                "id": "ab",
                "label": "Firefox",
                "first_remembered": "yesterday",
                "remembered_from": null,
                "last_used": "today"
            })],
        );
        context.insert("remember_window", "1 day");
        context.insert(
            "consents",
            &vec![serde_json::json!({
                "client_id": "c1",
                "client_name": "Wiki",
                "scopes": "openid email",
                "granted": "today"
            })],
        );
        context.insert("error", &None::<String>);
        context.insert("notice", &None::<String>);
        context.insert("new_codes", &Vec::<String>::new());
        context.insert(
            "sessions",
            &vec![serde_json::json!({
                "browser": "Chrome on Linux",
                "source": "127.0.0.1",
                "started": "today",
                "this_browser": true
            })],
        );
        let html = pages.render("account.html", &context).unwrap();
        assert!(
            html.contains("Switch to an app") && html.contains("Firefox") && html.contains("Wiki"),
            "{html}"
        );
    }

    #[test]
    fn a_template_in_templates_dir_replaces_the_built_in_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("error.html"), "custom {{ title }}").unwrap();
        let pages = Pages::load(dir.path()).unwrap();
        let mut context = tera::Context::new();
        context.insert("title", "Oops");
        context.insert("message", "");
        assert_eq!(pages.render("error.html", &context).unwrap(), "custom Oops");
    }
}
