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
            "tokens",
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
            "tokens",
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
        &[
            "engine",
            "web",
            "tokens",
            "pam_door",
            "admin_door",
            "context",
        ],
    ),
    // The token core takes its own handles; no door, no sign-in policy, no service locator.
    (
        "tokens",
        &["engine", "web", "pam_door", "admin_door", "context", "mail"],
    ),
    // The mailer takes its own handles.
    (
        "mail",
        &["engine", "web", "pam_door", "admin_door", "context"],
    ),
    // Notices take their own handles, like the mailer they use.
    (
        "notices",
        &["engine", "web", "pam_door", "admin_door", "context"],
    ),
    // The engine decides; doors only render what it decides.
    ("engine", &["web", "pam_door", "admin_door"]),
];

#[cfg(test)]
mod tests {
    use super::FORBIDDEN;
    use std::collections::BTreeSet;
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

    /// Every top-level module of `src/` (a folder or a file), with the modules it names.
    fn module_graph(src: &Path) -> std::collections::BTreeMap<String, BTreeSet<String>> {
        let mut modules = std::collections::BTreeMap::new();
        for entry in std::fs::read_dir(src).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if name != "lib" && name != "main" {
                modules.insert(name, path);
            }
        }
        let mut graph = std::collections::BTreeMap::new();
        for (name, path) in &modules {
            let mut files = Vec::new();
            rust_files(path, &mut files);
            let mut named = BTreeSet::new();
            for file in files {
                let text = std::fs::read_to_string(&file).unwrap();
                for line in text.lines() {
                    let code = line.split("//").next().unwrap_or_default();
                    for (at, _) in code.match_indices("crate::") {
                        let rest = &code[at + "crate::".len()..];
                        let module: String = rest
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        if modules.contains_key(&module) && module != *name {
                            named.insert(module);
                        }
                    }
                }
            }
            graph.insert(name.clone(), named);
        }
        graph
    }

    /// A path from `from` back to `target` through the graph, if there is one.
    fn path_back(
        graph: &std::collections::BTreeMap<String, BTreeSet<String>>,
        from: &str,
        target: &str,
        seen: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        for next in &graph[from] {
            if next == target {
                return Some(vec![next.clone()]);
            }
            if seen.insert(next.clone()) {
                if let Some(mut rest) = path_back(graph, next, target, seen) {
                    rest.insert(0, next.clone());
                    return Some(rest);
                }
            }
        }
        None
    }

    #[test]
    fn no_two_modules_import_each_other_even_through_others() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let graph = module_graph(&src);
        assert!(graph.len() > 10, "found only {graph:?}");
        let circles: Vec<String> = graph
            .keys()
            .filter_map(|module| {
                path_back(&graph, module, module, &mut BTreeSet::new())
                    .map(|path| format!("{module} -> {}", path.join(" -> ")))
            })
            .collect();
        assert!(
            circles.is_empty(),
            "import circles:\n{}",
            circles.join("\n")
        );
    }
}
