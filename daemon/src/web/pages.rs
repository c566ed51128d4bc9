//! The HTML pages: tera templates built into the binary, each replaceable by a file of the same
//! name in `templates_dir`. Autoescaping is on for every `.html` template.

use std::path::Path;

const BUILT_IN: &[(&str, &str)] = &[
    ("base.html", include_str!("../../../templates/base.html")),
    ("login.html", include_str!("../../../templates/login.html")),
    (
        "signed_in.html",
        include_str!("../../../templates/signed_in.html"),
    ),
    (
        "logout.html",
        include_str!("../../../templates/logout.html"),
    ),
    (
        "logged_out.html",
        include_str!("../../../templates/logged_out.html"),
    ),
    ("error.html", include_str!("../../../templates/error.html")),
    (
        "second_factor.html",
        include_str!("../../../templates/second_factor.html"),
    ),
    ("enrol.html", include_str!("../../../templates/enrol.html")),
    (
        "email_enrol.html",
        include_str!("../../../templates/email_enrol.html"),
    ),
    (
        "recovery_codes.html",
        include_str!("../../../templates/recovery_codes.html"),
    ),
];
const STYLESHEET: &str = include_str!("../../../templates/postern.css");

#[derive(Debug)]
pub struct Pages {
    tera: tera::Tera,
    pub stylesheet: String,
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
        Ok(Self { tera, stylesheet })
    }

    pub fn render(&self, name: &str, context: &tera::Context) -> Result<String, String> {
        self.tera
            .render(name, context)
            .map_err(|e| format!("rendering {name}: {e:?}"))
    }
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
