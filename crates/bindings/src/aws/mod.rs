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
#[cfg(any(
    feature = "aws-s3",
    feature = "aws-sqs",
    feature = "aws-sns",
    feature = "aws-dynamodb",
    feature = "aws-kinesis"
))]
mod missing;
#[cfg(feature = "aws-s3")]
pub mod s3;
#[cfg(feature = "aws-ses")]
pub mod ses;
#[cfg(feature = "aws-sns")]
pub mod sns;
#[cfg(feature = "aws-sqs")]
pub mod sqs;

#[cfg(test)]
mod tests {
    /// Every `bindings.aws.*` component of Dapr's corpus decodes with the binding compiled in,
    /// and so does every AWS binding's own example (`bindery components example`).
    #[test]
    fn corpus_files_and_examples_decode() {
        let aws: Vec<_> = crate::registry()
            .into_iter()
            .filter(|d| d.type_name.starts_with("bindings.aws."))
            .collect();
        let types: Vec<&str> = aws.iter().map(|d| d.type_name).collect();
        let corpus = crate::common::corpus_components(&types);
        if corpus.is_empty() {
            eprintln!("SKIP: the components-contrib corpus is not present");
        }
        for (file, props) in &corpus {
            let decoded = aws.iter().any(|d| d.validate(props).is_ok());
            assert!(decoded, "{file} does not decode");
        }
        for d in &aws {
            let p = crate::common::example_properties(d);
            d.validate(&p)
                .unwrap_or_else(|e| panic!("{}: example: {e}", d.type_name));
        }
    }
}
