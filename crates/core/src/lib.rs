//! The heart of bindery: what a component is, how its metadata decodes, and the two traits every
//! binding implements. Nothing in this crate performs I/O; parsing and validation are pure so
//! that `bindery validate` can run offline and the runtime can check a file before touching the
//! network.
#![forbid(unsafe_code)]

pub mod backoff;
pub mod binding;
pub mod check;
pub mod configuration;
pub mod descriptor;
pub mod duration;
pub mod error;
pub mod field;
pub mod gojson;
pub mod in_flight;
pub mod locate;
pub mod lock;
pub mod manifest;
pub mod properties;
pub mod redact;
pub mod registry;
pub mod resiliency;
pub mod sensitive;
#[cfg(feature = "test-util")]
pub mod testing;

pub use binding::{
    Delivery, DeliveryError, EventSink, InputBinding, InputContext, InputEvent, InvokeRequest,
    InvokeResponse, Metadata, OutputBinding,
};
pub use descriptor::{
    BindingConfig, BindingDescriptor, BuildContext, DecodedConfig, Direction, Field, FieldType,
    decode_as,
};
pub use error::{BindingError, ConfigError, ConfigWarning, ErrorKind};
pub use in_flight::InFlight;
pub use manifest::{Component, MetadataItem};
pub use properties::Properties;
pub use sensitive::Sensitive;
