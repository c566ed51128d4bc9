//! Which module may import which, checked by a test: a rule that lives only in a diagram is
//! broken by the first hurried change. See `docs/architecture.md`.

/// For each layer (a folder or file under `src/`), the modules it must never name.
#[cfg(test)]
const FORBIDDEN: &[(&str, &[&str])] = &[
    // Records are plain data: no storage, no policy, no doors.
    (
        "model",
        &[
            "store",
            "engine",
            "factors",
            "web",
            "oidc",
            "pam_door",
            "admin_door",
            "mail",
            "context",
            "audit",
            "metrics",
        ],
    ),
    // The store knows records, not who uses them, so another backend can take its place.
    (
        "store",
        &[
            "engine",
            "factors",
            "web",
            "oidc",
            "pam_door",
            "admin_door",
            "mail",
            "context",
            "audit",
            "metrics",
        ],
    ),
    // Factors check one credential each; the engine decides what a sign-in needs.
    (
        "factors",
        &["engine", "web", "oidc", "pam_door", "admin_door", "context"],
    ),
    // The engine decides; doors only render what it decides.
    ("engine", &["web", "oidc", "pam_door", "admin_door"]),
];

#[cfg(test)]
mod tests {
    use super::FORBIDDEN;
    use std::path::{Path, PathBuf};

    fn rust_files(path: &Path, found: &mut Vec<PathBuf>) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).unwrap() {
                rust_files(&entry.unwrap().path(), found);
            }
        } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
            found.push(path.to_owned());
        }
    }

    #[test]
    fn no_layer_imports_what_is_above_it() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut broken = Vec::new();
        for (layer, forbidden) in FORBIDDEN {
            let mut files = Vec::new();
            rust_files(&src.join(layer), &mut files);
            rust_files(&src.join(format!("{layer}.rs")), &mut files);
            assert!(!files.is_empty(), "no source for layer {layer}");
            for file in files {
                let text = std::fs::read_to_string(&file).unwrap();
                for (number, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or_default();
                    for module in *forbidden {
                        if code.contains(&format!("crate::{module}::"))
                            || code.contains(&format!("crate::{module};"))
                            || code.contains(&format!("crate::{module}}}"))
                        {
                            broken.push(format!(
                                "{}:{}: {layer} names crate::{module}",
                                file.strip_prefix(&src).unwrap().display(),
                                number + 1
                            ));
                        }
                    }
                }
            }
        }
        assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
    }
}
