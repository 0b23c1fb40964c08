//! Amazon Web Services bindings on the official AWS SDK for Rust, one submodule per service,
//! each behind its own Cargo feature (`aws-s3`, `aws-sqs`, ...; `aws` enables all of them).
//! This module registers nothing itself: `crate::registry()` lists each binding's descriptor.
//!
//! [`auth`] holds what the six share: region, endpoint, static keys or the SDK's default
//! credential chain, an assumed role, and the error texts for an unreachable endpoint.

pub mod auth;
#[cfg(feature = "aws-dynamodb")]
pub mod dynamodb;
#[cfg(feature = "aws-sns")]
mod gofmt;
#[cfg(feature = "aws-kinesis")]
pub mod kinesis;
#[cfg(feature = "aws-s3")]
pub mod s3;
#[cfg(feature = "aws-ses")]
pub mod ses;
#[cfg(feature = "aws-sns")]
pub mod sns;
#[cfg(feature = "aws-sqs")]
pub mod sqs;

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};

    use bindery_core::Properties;
    use bindery_core::manifest::{Component, parse_documents};

    /// Every `bindings.aws.*` component of Dapr's corpus decodes with the binding compiled in.
    #[test]
    fn every_aws_corpus_file_decodes() {
        let Some(dir) = crate::common::corpus_tests_dir() else {
            eprintln!("SKIP: the components-contrib corpus is not present");
            return;
        };
        let registry = crate::registry();
        let mut decoded = 0;
        for file in component_files(&dir, "aws") {
            for (ty, map) in components(&file) {
                let Some(d) = registry.iter().find(|d| d.matches(&ty)) else {
                    continue;
                };
                let props = Properties::new(map).unwrap();
                d.validate(&props)
                    .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                decoded += 1;
            }
        }
        eprintln!("{decoded} AWS component files decoded");
    }

    /// Every YAML file of the corpus under `config/bindings/<sub>` and
    /// `certification/bindings/<sub>`.
    pub fn component_files(tests_dir: &Path, sub: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for dir in ["config/bindings", "certification/bindings"] {
            collect(&tests_dir.join(dir).join(sub), &mut out);
        }
        out
    }

    fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                collect(&path, out);
            } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                out.push(path);
            }
        }
    }

    /// The components of a file: (type, plain-value metadata; secret references left out).
    pub fn components(file: &Path) -> Vec<(String, HashMap<String, String>)> {
        let text = std::fs::read_to_string(file).unwrap();
        parse_documents(&file.to_string_lossy(), &text)
            .into_iter()
            .filter_map(|doc| Component::from_document(&doc.ok()?).ok().flatten())
            .map(|c| {
                let map = c
                    .metadata
                    .iter()
                    .filter(|i| i.secret_key_ref.is_none() && i.env_ref.is_none())
                    .map(|i| (i.name.clone(), i.value.clone()))
                    .collect();
                (c.spec_type.to_lowercase(), map)
            })
            .collect()
    }
}
