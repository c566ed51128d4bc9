//! What a message says: a plain-text and an HTML part rendered from tera templates in
//! `templates/mail/`, each replaceable by a file of the same name under `templates_dir`
//! (`templates_dir/mail/code.txt`, say). The HTML is autoescaped; the text is not.

use std::path::Path;

/// Each built-in mail template, by name, compiled in from `templates/mail/`.
macro_rules! built_in {
    ($($name:literal),* $(,)?) => {
        &[$((concat!("mail/", $name), include_str!(concat!("../../../templates/mail/", $name)))),*]
    };
}

const BUILT_IN: &[(&str, &str)] = built_in![
    "base.html",
    "code.txt",
    "code.html",
    "invitation.txt",
    "invitation.html",
    "notice.txt",
    "notice.html",
];

/// Which message: names the pair of templates (`mail/NAME.txt`, `mail/NAME.html`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An emailed one-time code (sign-in, enrolment, password reset).
    Code,
    Invitation,
    /// A security notice: something about how the user signs in changed.
    Notice,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Invitation => "invitation",
            Self::Notice => "notice",
        }
    }
}

/// A message to one user before it is rendered. `subject` may say `{site}`, which becomes the
/// site's name; the templates get `site_name`, `issuer` and `subject` besides `context`.
#[derive(Debug)]
pub struct Letter {
    pub kind: Kind,
    pub subject: String,
    pub context: tera::Context,
}

impl Letter {
    pub fn new(kind: Kind, subject: impl Into<String>) -> Self {
        Self {
            kind,
            subject: subject.into(),
            context: tera::Context::new(),
        }
    }

    /// Adds a value the templates use.
    pub fn with(mut self, key: &'static str, value: impl serde::Serialize) -> Self {
        self.context.insert(key, &value);
        self
    }
}

/// Text lines are wrapped to this width: a mail with a line of 76 characters or more goes out
/// quoted-printable, which breaks words across lines for anyone reading it raw.
const WRAP_AT: usize = 72;

/// Wraps each line longer than `width` at spaces, keeping its indentation. A word longer than
/// the width (a link) stays whole on a line of its own.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        if body.chars().count() <= width {
            out.push_str(line);
            continue;
        }
        let indent: String = body.chars().take_while(|c| *c == ' ').collect();
        let mut current = indent.clone();
        for word in body.split(' ').filter(|w| !w.is_empty()) {
            if current.len() > indent.len()
                && current.chars().count() + 1 + word.chars().count() > width
            {
                out.push_str(&current);
                out.push('\n');
                current = indent.clone();
            }
            if current.len() > indent.len() {
                current.push(' ');
            }
            current.push_str(word);
        }
        out.push_str(&current);
        out.push_str(newline);
    }
    out
}

/// A letter, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug)]
pub struct Letters {
    tera: tera::Tera,
}

impl Letters {
    /// Loads the built-in templates, replaced by any of the same name under `dir` (if not
    /// empty). A template that is there but unreadable or invalid stops the daemon at start.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let mut tera = tera::Tera::new();
        tera.autoescape_on([".html"]);
        let mut templates = Vec::new();
        for (name, built_in) in BUILT_IN {
            let text = if dir.as_os_str().is_empty() {
                None
            } else {
                match std::fs::read_to_string(dir.join(name)) {
                    Ok(text) => Some(text),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => return Err(format!("templates_dir: cannot read {name}: {e}")),
                }
            };
            templates.push((*name, text.unwrap_or_else(|| (*built_in).to_owned())));
        }
        tera.add_raw_templates(templates)
            .map_err(|e| format!("mail templates: {e}"))?;
        Ok(Self { tera })
    }

    pub fn render(
        &self,
        letter: &Letter,
        site_name: &str,
        issuer: &str,
    ) -> Result<Rendered, String> {
        let subject = letter.subject.replace("{site}", site_name);
        let mut context = letter.context.clone();
        context.insert("site_name", site_name);
        context.insert("issuer", issuer);
        context.insert("subject", &subject);
        let render = |extension: &str| {
            let name = format!("mail/{}.{extension}", letter.kind.name());
            self.tera
                .render(&name, &context)
                .map_err(|e| format!("rendering {name}: {e:?}"))
        };
        Ok(Rendered {
            text: wrap(&render("txt")?, WRAP_AT),
            html: render("html")?,
            subject,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_letter() -> Letter {
        Letter::new(Kind::Code, "Your {site} sign-in code")
            .with("name", "<b>Alice</b>")
            .with("why", "to finish signing in")
            .with("code", "123456")
            .with("minutes", 15)
    }

    #[test]
    fn every_kind_renders_both_parts_and_escapes_only_the_html() {
        let letters = Letters::load(Path::new("")).unwrap();
        let rendered = letters
            .render(&code_letter(), "Acme", "https://id.acme.test")
            .unwrap();
        assert_eq!(rendered.subject, "Your Acme sign-in code");
        assert!(
            rendered.text.contains("Hello <b>Alice</b>,"),
            "{}",
            rendered.text
        );
        assert!(
            rendered.text.contains("\n    123456\n"),
            "{}",
            rendered.text
        );
        assert!(rendered.html.contains("Hello &lt;b&gt;Alice&lt;/b&gt;,"));
        assert!(rendered.html.contains("123456") && rendered.html.contains("Acme"));
        for part in [&rendered.text, &rendered.html] {
            assert!(
                !part.contains("https://"),
                "a code's mail carries no link for a scanner to open: {part}"
            );
        }
        for kind in [Kind::Invitation, Kind::Notice] {
            let letter = Letter::new(kind, "s")
                .with("name", "Alice")
                .with("username", "alice")
                .with("code", "BCDF-GHJK-LMNP")
                .with("lifetime", "3 days")
                .with("when", "today")
                .with("what", "your password was changed")
                .with("by", "on the web")
                .with("source", "127.0.0.1");
            let rendered = letters
                .render(&letter, "Acme", "https://id.acme.test")
                .unwrap();
            assert!(rendered.text.contains("Acme") && rendered.html.contains("Acme"));
        }
    }

    #[test]
    fn long_lines_are_wrapped_at_spaces_keeping_indentation() {
        let long = "word ".repeat(30);
        let wrapped = wrap(&format!("short\n  {long}\n{}\nend", "x".repeat(90)), 20);
        for line in wrapped.lines().filter(|l| !l.starts_with('x')) {
            assert!(line.chars().count() <= 20, "{line:?}");
        }
        assert!(wrapped.starts_with("short\n  word word word"), "{wrapped}");
        assert!(
            wrapped
                .lines()
                .skip(1)
                .take(2)
                .all(|l| l.starts_with("  word"))
        );
        assert!(wrapped.contains(&format!("\n{}\nend", "x".repeat(90))));
        assert_eq!(wrapped.split_whitespace().count(), 1 + 30 + 2);
    }

    #[test]
    fn a_template_in_templates_dir_replaces_the_built_in_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("mail")).unwrap();
        std::fs::write(dir.path().join("mail/code.txt"), "Code: {{ code }}").unwrap();
        let letters = Letters::load(dir.path()).unwrap();
        let rendered = letters.render(&code_letter(), "Acme", "https://x").unwrap();
        assert_eq!(rendered.text, "Code: 123456");
        assert!(
            rendered.html.contains("123456"),
            "the HTML part stays built in"
        );
    }

    #[test]
    fn a_broken_template_is_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("mail")).unwrap();
        std::fs::write(dir.path().join("mail/notice.html"), "{% if %}").unwrap();
        let error = Letters::load(dir.path()).unwrap_err();
        assert!(error.contains("mail templates"), "{error}");
    }
}
