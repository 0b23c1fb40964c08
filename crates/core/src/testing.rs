//! Test support shared by the components' unit tests (inside `bindery-bindings`) and the test kit
//! (`bindery-testkit` re-exports it): Dapr's own conformance and certification component files.
//! Only compiled with the `test-util` feature, which only dev-dependencies turn on.

use std::path::{Path, PathBuf};

use crate::descriptor::BindingDescriptor;
use crate::manifest::{Component, parse_documents};
use crate::properties::Properties;

/// The components-contrib corpus's `tests` folder: under `$DAPR_DATA_DIR`, else `shared/dapr-data`
/// beside the repository (as CI lays it out), else the development machine's
/// `/work/shared/dapr-data`. `None` when none of them is there.
pub fn corpus_dir() -> Option<PathBuf> {
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/dapr-data");
    std::env::var_os("DAPR_DATA_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain([beside, PathBuf::from("/work/shared/dapr-data")])
        .map(|d| d.join("corpus/components-contrib/tests"))
        .find(|d| d.is_dir())
}

/// One component of the corpus, with the file it came from.
#[derive(Debug, Clone)]
pub struct CorpusComponent {
    pub file: PathBuf,
    pub component: Component,
}

impl CorpusComponent {
    /// The plain metadata values (secret and environment references left out), as the
    /// component would see them.
    pub fn properties(&self) -> Properties {
        self.properties_mapped(|_, value| value.to_owned())
    }

    /// Like [`CorpusComponent::properties`], with each value passed through `map(name, value)`
    /// first (the conformance runner substitutes its `${{...}}` placeholders this way).
    pub fn properties_mapped(&self, map: impl Fn(&str, &str) -> String) -> Properties {
        let values = self
            .component
            .metadata
            .iter()
            .filter(|item| item.secret_key_ref.is_none() && item.env_ref.is_none())
            .map(|item| (item.name.clone(), map(&item.name, &item.value)))
            .collect();
        Properties::new(values).unwrap_or_else(|e| panic!("{}: {}", self.file.display(), e.message))
    }

    /// The file, relative to the corpus's `tests` folder.
    pub fn relative(&self) -> String {
        let root = corpus_dir().unwrap_or_default();
        self.file
            .strip_prefix(&root)
            .unwrap_or(&self.file)
            .display()
            .to_string()
    }
}

/// Every component of type `descriptor` (its name or an alias, any case) in the corpus files
/// and folders `paths` (relative to [`corpus_dir`]; folders are walked, `.yaml`/`.yml` files
/// read, in name order). A path that does not exist adds nothing; a document that does not
/// parse panics. `None`, after printing `SKIP:`, when the corpus is not on this machine.
pub fn corpus_components(
    descriptor: &BindingDescriptor,
    paths: &[&str],
) -> Option<Vec<CorpusComponent>> {
    let Some(root) = corpus_dir() else {
        eprintln!("SKIP: the components-contrib corpus is not present");
        return None;
    };
    let mut files = Vec::new();
    for path in paths {
        collect(&root.join(path), &mut files);
    }
    let mut out = Vec::new();
    for file in files {
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for doc in parse_documents(&file.display().to_string(), &text) {
            let doc = doc.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let component = Component::from_document(&doc)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            if let Some(component) = component
                && descriptor.matches(&component.spec_type.to_lowercase())
            {
                out.push(CorpusComponent {
                    file: file.clone(),
                    component,
                });
            }
        }
    }
    Some(out)
}

/// The `.yaml`/`.yml` files under `dir` (or `dir` itself when it is a file), in name order.
pub fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    collect(dir, &mut out);
    out
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        out.push(path.to_owned());
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect(&entry, out);
        } else if entry.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(entry);
        }
    }
}
