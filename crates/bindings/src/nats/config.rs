//! The nats binding's metadata. Dapr has no NATS binding; names follow Dapr's style and its
//! `pubsub.jetstream` component where one exists there (natsURL, jwt-less credentials,
//! durableName, deliverPolicy, ackWait, maxDeliver, queueGroupName).

use std::time::Duration;

use bindery_core::descriptor::{Field, FieldType};
use bindery_core::{ConfigError, Properties, Sensitive};

pub const NATS_URL: Field = Field::new(
    "natsURL",
    FieldType::String,
    "Server URL(s), comma-separated: nats://host:4222, tls://host:4222.",
)
.aliases(&["url"])
.required()
.sensitive()
.example("nats://localhost:4222");
pub const SUBJECT: Field = Field::new(
    "subject",
    FieldType::String,
    "Subject to publish to (request metadata `subject` overrides it) and to subscribe to (wildcards allowed).",
)
.required()
.example("orders.created");
pub const QUEUE_GROUP: Field = Field::new(
    "queueGroup",
    FieldType::String,
    "Core input only: queue group, so replicas share the messages.",
)
.aliases(&["queueGroupName"])
.input_only();
pub const JETSTREAM: Field = Field::new(
    "jetStream",
    FieldType::Bool,
    "Use JetStream: output waits for the stream's ack; input uses a pull consumer with explicit acks (at-least-once). Otherwise core NATS (at-most-once input).",
)
.default_value("false");
pub const STREAM: Field = Field::new(
    "stream",
    FieldType::String,
    "JetStream stream name. When empty the input finds the stream that captures `subject`.",
)
.aliases(&["streamName"]);
pub const CREATE_STREAM: Field = Field::new(
    "createStream",
    FieldType::Bool,
    "Create the stream `stream` capturing `subject` when it does not exist.",
)
.default_value("false");
pub const DURABLE_NAME: Field = Field::new(
    "durableName",
    FieldType::String,
    "Durable pull consumer name; empty means an ephemeral consumer that exists while the input runs.",
)
.aliases(&["consumerName"])
.input_only();
pub const DELIVER_POLICY: Field = Field::new(
    "deliverPolicy",
    FieldType::String,
    "Where a new consumer starts: all, new or last.",
)
.default_value("all")
.input_only();
pub const ACK_WAIT: Field = Field::new(
    "ackWait",
    FieldType::Duration,
    "How long JetStream waits for an ack before redelivering.",
)
.default_value("30s")
.input_only();
pub const MAX_DELIVER: Field = Field::new(
    "maxDeliver",
    FieldType::Number,
    "Maximum deliveries of one message (0 or -1: unlimited).",
)
.default_value("0")
.input_only();
pub const TOKEN: Field =
    Field::new("token", FieldType::String, "Token authentication.").sensitive();
pub const USER: Field = Field::new(
    "user",
    FieldType::String,
    "User for user/password authentication.",
)
.aliases(&["username"]);
pub const PASSWORD: Field = Field::new(
    "password",
    FieldType::String,
    "Password for user/password authentication.",
)
.sensitive();
pub const NKEY: Field = Field::new(
    "nkey",
    FieldType::String,
    "NKey seed (SU...) authentication.",
)
.aliases(&["nkeySeed", "seedKey"])
.sensitive();
pub const CREDS_FILE: Field = Field::new(
    "credsFile",
    FieldType::String,
    "Path of a .creds file (JWT and NKey seed).",
)
.aliases(&["credentialsFile"]);
pub const NAME: Field = Field::new(
    "name",
    FieldType::String,
    "Connection name shown by the server.",
);
pub const PING_INTERVAL: Field = Field::new(
    "pingInterval",
    FieldType::Duration,
    "How often the client pings the server; after three unanswered pings the connection is dropped and reconnected, so a dead link is noticed within three times this (the NATS clients' default is 2m).",
)
.default_value("5s");

pub const FIELDS: &[Field] = &[
    NATS_URL,
    SUBJECT,
    QUEUE_GROUP,
    JETSTREAM,
    STREAM,
    CREATE_STREAM,
    DURABLE_NAME,
    DELIVER_POLICY,
    ACK_WAIT,
    MAX_DELIVER,
    TOKEN,
    USER,
    PASSWORD,
    NKEY,
    CREDS_FILE,
    NAME,
    PING_INTERVAL,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deliver {
    All,
    New,
    Last,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Token(Sensitive<String>),
    UserPassword(String, Sensitive<String>),
    /// The NKey seed.
    NKey(Sensitive<String>),
    /// A path to the credentials file.
    CredsFile(String),
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Redacted in `Debug`: a server URL may carry a user and password or a token.
    pub url: Sensitive<String>,
    pub subject: String,
    pub queue_group: Option<String>,
    pub jetstream: bool,
    pub stream: Option<String>,
    pub create_stream: bool,
    pub durable_name: Option<String>,
    pub deliver: Deliver,
    pub ack_wait: Duration,
    pub max_deliver: i64,
    pub auth: Auth,
    pub name: Option<String>,
    pub ping_interval: Duration,
}

fn opt(p: &Properties, f: &Field) -> Option<String> {
    p.raw(f).filter(|v| !v.is_empty()).map(str::to_owned)
}

impl bindery_core::BindingConfig for Config {
    fn decode(
        p: &Properties,
        _warnings: &mut Vec<bindery_core::ConfigWarning>,
    ) -> Result<Self, ConfigError> {
        Self::from_properties(p)
    }
}

impl Config {
    pub fn from_properties(p: &Properties) -> Result<Self, ConfigError> {
        let url = p.required_string(&NATS_URL, "missing natsURL")?;
        let subject = p.required_string(&SUBJECT, "missing subject")?;
        let deliver = match p
            .string(&DELIVER_POLICY)
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "" | "all" => Deliver::All,
            "new" => Deliver::New,
            "last" => Deliver::Last,
            other => {
                return Err(ConfigError::new(
                    DELIVER_POLICY.name,
                    format!("invalid deliverPolicy {other:?}: expected all, new or last"),
                ));
            }
        };
        let auth = match (
            opt(p, &TOKEN),
            opt(p, &USER),
            opt(p, &NKEY),
            opt(p, &CREDS_FILE),
        ) {
            (Some(t), None, None, None) => Auth::Token(Sensitive::new(t)),
            (None, Some(u), None, None) => {
                Auth::UserPassword(u, Sensitive::new(opt(p, &PASSWORD).unwrap_or_default()))
            }
            (None, None, Some(k), None) => Auth::NKey(Sensitive::new(k)),
            (None, None, None, Some(f)) => Auth::CredsFile(f),
            (None, None, None, None) => Auth::None,
            _ => {
                return Err(ConfigError::new(
                    "token",
                    "only one of token, user/password, nkey and credsFile may be set",
                ));
            }
        };
        let stream = opt(p, &STREAM);
        let create_stream = p.bool(&CREATE_STREAM);
        if create_stream && stream.is_none() {
            return Err(ConfigError::new(
                STREAM.name,
                "createStream needs a stream name",
            ));
        }
        Ok(Self {
            url: Sensitive::new(url),
            subject,
            queue_group: opt(p, &QUEUE_GROUP),
            jetstream: p.bool(&JETSTREAM),
            stream,
            create_stream,
            durable_name: opt(p, &DURABLE_NAME),
            deliver,
            ack_wait: p.duration(&ACK_WAIT)?.unwrap_or(Duration::from_secs(30)),
            max_deliver: p.number(&MAX_DELIVER)?.unwrap_or(0),
            auth,
            name: opt(p, &NAME),
            ping_interval: p
                .duration(&PING_INTERVAL)?
                .filter(|d| !d.is_zero())
                .unwrap_or(Duration::from_secs(5)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Properties {
        Properties::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn required_fields() {
        let err = Config::from_properties(&props(&[("subject", "s")])).unwrap_err();
        assert_eq!(err.message, "missing natsURL");
        let err = Config::from_properties(&props(&[("url", "nats://h")])).unwrap_err();
        assert_eq!(err.message, "missing subject");
    }

    #[test]
    fn defaults() {
        let c =
            Config::from_properties(&props(&[("natsURL", "nats://h"), ("subject", "s")])).unwrap();
        assert!(!c.jetstream && !c.create_stream);
        assert_eq!(c.deliver, Deliver::All);
        assert_eq!(c.ack_wait, Duration::from_secs(30));
        assert_eq!(c.max_deliver, 0);
        assert!(c.auth == Auth::None && c.queue_group.is_none() && c.durable_name.is_none());
    }

    #[test]
    fn fields_and_aliases() {
        let c = Config::from_properties(&props(&[
            ("url", "nats://h"),
            ("subject", "a.>"),
            ("queueGroupName", "g"),
            ("jetstream", "true"),
            ("streamName", "S"),
            ("createStream", "yes"),
            ("consumerName", "d"),
            ("deliverPolicy", "NEW"),
            ("ackWait", "2s"),
            ("maxDeliver", "5"),
            ("username", "u"),
            ("password", "p"),
        ]))
        .unwrap();
        assert!(c.jetstream && c.create_stream);
        assert_eq!(c.queue_group.as_deref(), Some("g"));
        assert_eq!(c.stream.as_deref(), Some("S"));
        assert_eq!(c.durable_name.as_deref(), Some("d"));
        assert_eq!(c.deliver, Deliver::New);
        assert_eq!(c.ack_wait, Duration::from_secs(2));
        assert_eq!(c.max_deliver, 5);
        assert!(c.auth == Auth::UserPassword("u".into(), Sensitive::new("p".into())));
        assert!(!format!("{c:?}").contains("nats://h"));
    }

    #[test]
    fn invalid_combinations() {
        for extra in [
            ("deliverPolicy", "sometimes"),
            ("createStream", "true"),
            ("maxDeliver", "x"),
        ] {
            assert!(
                Config::from_properties(&props(&[("url", "nats://h"), ("subject", "s"), extra]))
                    .is_err(),
                "{extra:?}"
            );
        }
        assert!(
            Config::from_properties(&props(&[
                ("url", "nats://h"),
                ("subject", "s"),
                ("token", "t"),
                ("user", "u")
            ]))
            .is_err()
        );
    }
}
