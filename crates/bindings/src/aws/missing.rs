//! A call to a queue, topic, bucket, table or stream that does not exist: the service says so at
//! once (a client error the SDK does not retry), but its own text rarely names the resource and
//! the generic path classifies it as retriable. These helpers answer an `InvalidRequest` error
//! that names the resource, keeping daprd's prefix and the service's message after it.

use aws_smithy_runtime_api::client::result::SdkError;
use bindery_core::BindingError;

use crate::aws::auth::describe;

/// Whether the service answered one of `codes` (such as `NoSuchBucket`). SQS needs no code
/// check: its missing-queue error has a variant of its own.
#[cfg(any(
    feature = "aws-s3",
    feature = "aws-sns",
    feature = "aws-dynamodb",
    feature = "aws-kinesis"
))]
pub fn is_missing<E, R>(err: &SdkError<E, R>, codes: &[&str]) -> bool
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| codes.contains(&code))
}

/// `{prefix}{what} {name:?} does not exist: {the service's error}`, not retriable.
pub fn missing_error<E, R>(
    prefix: &str,
    what: &str,
    name: &str,
    err: &SdkError<E, R>,
) -> BindingError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    BindingError::invalid(format!(
        "{prefix}{what} {name:?} does not exist: {}",
        describe(err)
    ))
}
