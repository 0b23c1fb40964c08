//! One SSH connection with an SFTP session on it, checked against the configured host key,
//! and re-dialled when an operation fails at the transport level (as daprd's client does:
//! reconnect once, then retry the operation once).

use std::sync::Arc;
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh_sftp::client::SftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::StatusCode;
use tokio::sync::{Mutex, RwLock};

/// How the server's host key is checked.
#[derive(Debug, Clone)]
pub enum HostKeyPolicy {
    /// `insecureIgnoreHostKey`: any key.
    Ignore,
    /// `knownHostsFile`: the key recorded for `[host]:port` in that file.
    KnownHosts(std::path::PathBuf),
    /// `hostPublicKey`: exactly this key.
    Fixed(PublicKey),
}

/// What to dial and how to log in.
pub struct Dialer {
    pub address: String,
    pub username: String,
    pub password: Option<String>,
    pub key: Option<Arc<PrivateKey>>,
    pub host_key: HostKeyPolicy,
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialer")
            .field("address", &self.address)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one SFTP request may wait for its answer.
const REQUEST_TIMEOUT_SECS: u64 = 30;

/// Splits `host:port` (`[v6]:port` too); port 22 when absent.
fn host_port(address: &str) -> (String, u16) {
    if let Some(rest) = address.strip_prefix('[')
        && let Some((host, tail)) = rest.split_once(']')
    {
        let port = tail
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(22);
        return (host.to_owned(), port);
    }
    match address.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host.to_owned(), port.parse().unwrap_or(22)),
        _ => (address.to_owned(), 22),
    }
}

struct HostCheck {
    policy: HostKeyPolicy,
    host: String,
    port: u16,
    /// Why the key was refused, for the error message.
    refusal: Arc<std::sync::Mutex<Option<String>>>,
}

impl HostCheck {
    fn verdict(&self, key: &PublicKey) -> Result<(), String> {
        match &self.policy {
            HostKeyPolicy::Ignore => Ok(()),
            HostKeyPolicy::Fixed(expected) => (expected.key_data() == key.key_data())
                .then_some(())
                .ok_or_else(|| "ssh: host key mismatch".to_owned()),
            HostKeyPolicy::KnownHosts(path) => {
                let known =
                    russh::keys::known_hosts::known_host_keys_path(&self.host, self.port, path)
                        .map_err(|e| format!("knownhosts: {e}"))?;
                if known.iter().any(|(_, k)| k.key_data() == key.key_data()) {
                    Ok(())
                } else if known.iter().any(|(_, k)| k.algorithm() == key.algorithm()) {
                    Err("knownhosts: key mismatch".to_owned())
                } else {
                    Err("knownhosts: key is unknown".to_owned())
                }
            }
        }
    }
}

impl client::Handler for HostCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let result = match server_public_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => self.verdict(key),
            PublicKeyOrCertificate::Certificate(_) => {
                Err("ssh: host certificates are not supported".to_owned())
            }
        };
        match result {
            Ok(()) => Ok(true),
            Err(reason) => {
                *self.refusal.lock().expect("refusal lock") = Some(reason);
                Ok(false)
            }
        }
    }
}

/// A logged-in connection and its SFTP session.
pub struct Connection {
    ssh: Handle<HostCheck>,
    pub sftp: SftpSession,
}

impl Connection {
    pub fn is_closed(&self) -> bool {
        self.ssh.is_closed()
    }
}

fn dial_error(cause: impl std::fmt::Display) -> String {
    format!("sftp binding error: error dialing ssh server: {cause}")
}

impl Dialer {
    /// Dials, checks the host key, authenticates (public key first, then password, as Go's
    /// client tries them) and opens the SFTP subsystem.
    pub async fn connect(&self) -> Result<Connection, String> {
        let (host, port) = host_port(&self.address);
        let refusal = Arc::new(std::sync::Mutex::new(None));
        let handler = HostCheck {
            policy: self.host_key.clone(),
            host: host.clone(),
            port,
            refusal: refusal.clone(),
        };
        let config = Arc::new(client::Config {
            keepalive_interval: Some(Duration::from_secs(30)),
            ..client::Config::default()
        });
        let dial = client::connect(config, (host.as_str(), port), handler);
        let mut ssh = match tokio::time::timeout(CONNECT_TIMEOUT, dial).await {
            Err(_) => {
                return Err(dial_error(format!(
                    "dial tcp {}: i/o timeout",
                    self.address
                )));
            }
            Ok(Err(e)) => {
                let refused = refusal.lock().expect("refusal lock").take();
                return Err(dial_error(match refused {
                    Some(reason) => format!("ssh: handshake failed: {reason}"),
                    None => format!("dial tcp {}: {e}", self.address),
                }));
            }
            Ok(Ok(ssh)) => ssh,
        };
        self.authenticate(&mut ssh).await?;
        let channel = ssh
            .channel_open_session()
            .await
            .map_err(|e| format!("sftp binding error: error create sftp client: {e}"))?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|e| format!("sftp binding error: error create sftp client: {e}"))?;
        let sftp = SftpSession::new(channel.into_stream())
            .await
            .map_err(|e| format!("sftp binding error: error create sftp client: {e}"))?;
        sftp.set_timeout(REQUEST_TIMEOUT_SECS);
        Ok(Connection { ssh, sftp })
    }

    async fn authenticate(&self, ssh: &mut Handle<HostCheck>) -> Result<(), String> {
        let failed = |e: russh::Error| dial_error(format!("ssh: handshake failed: {e}"));
        if let Some(key) = &self.key {
            let hash = ssh
                .best_supported_rsa_hash()
                .await
                .map_err(failed)?
                .flatten();
            let with_alg = PrivateKeyWithHashAlg::new(key.clone(), hash);
            let result = ssh
                .authenticate_publickey(&self.username, with_alg)
                .await
                .map_err(failed)?;
            if result.success() {
                return Ok(());
            }
        }
        if let Some(password) = &self.password {
            let result = ssh
                .authenticate_password(&self.username, password)
                .await
                .map_err(failed)?;
            if result.success() {
                return Ok(());
            }
        }
        let tried = match (&self.key, &self.password) {
            (Some(_), Some(_)) => "[none publickey password]",
            (Some(_), None) => "[none publickey]",
            (None, Some(_)) => "[none password]",
            (None, None) => "[none]",
        };
        Err(dial_error(format!(
            "ssh: handshake failed: ssh: unable to authenticate, attempted methods {tried}, no supported methods remain"
        )))
    }
}

/// daprd's `shouldReconnect`: a status answer from the server means the connection works.
pub fn is_transport_error(e: &SftpError) -> bool {
    !matches!(e, SftpError::Status(_) | SftpError::Limited(_))
}

/// The text pkg/sftp gives for an error: `file does not exist`, `permission denied`, or
/// `sftp: "<message>" (SSH_FX_…)`.
pub fn error_text(e: &SftpError) -> String {
    match e {
        SftpError::Status(s) => match s.status_code {
            StatusCode::NoSuchFile => "file does not exist".to_owned(),
            StatusCode::PermissionDenied => "permission denied".to_owned(),
            code => {
                let name = match code {
                    StatusCode::Failure => "SSH_FX_FAILURE",
                    StatusCode::BadMessage => "SSH_FX_BAD_MESSAGE",
                    StatusCode::OpUnsupported => "SSH_FX_OP_UNSUPPORTED",
                    StatusCode::Eof => "SSH_FX_EOF",
                    StatusCode::NoConnection => "SSH_FX_NO_CONNECTION",
                    StatusCode::ConnectionLost => "SSH_FX_CONNECTION_LOST",
                    _ => "SSH_FX_OK",
                };
                format!("sftp: {:?} ({name})", s.error_message)
            }
        },
        other => other.to_string(),
    }
}

/// The shared connection: operations run concurrently (or one at a time in
/// `sequentialMode`); a transport failure re-dials once and retries the operation once.
pub struct Client {
    dialer: Dialer,
    current: RwLock<Option<Arc<Connection>>>,
    sequential: Option<Mutex<()>>,
}

/// An operation's failure: the SFTP error, or a failed re-dial joined to it.
#[derive(Debug)]
pub enum OpError {
    Sftp(SftpError),
    Reconnect { cause: String, dial: String },
}

impl OpError {
    pub fn text(&self) -> String {
        match self {
            OpError::Sftp(e) => error_text(e),
            OpError::Reconnect { cause, dial } => format!("{cause}\n{dial}"),
        }
    }

    pub fn is_transport(&self) -> bool {
        match self {
            OpError::Sftp(e) => is_transport_error(e),
            OpError::Reconnect { .. } => true,
        }
    }
}

impl Client {
    pub fn new(dialer: Dialer, first: Connection, sequential: bool) -> Self {
        Self {
            dialer,
            current: RwLock::new(Some(Arc::new(first))),
            sequential: sequential.then(|| Mutex::new(())),
        }
    }

    /// The live connection, dialling a new one when there is none or it is closed.
    async fn connection(&self) -> Result<Arc<Connection>, String> {
        if let Some(c) = self
            .current
            .read()
            .await
            .as_ref()
            .filter(|c| !c.is_closed())
        {
            return Ok(c.clone());
        }
        self.redial(None).await
    }

    /// Replaces `failed` (or a closed connection) with a new one; a connection another task
    /// already replaced is reused.
    async fn redial(&self, failed: Option<&Arc<Connection>>) -> Result<Arc<Connection>, String> {
        let mut current = self.current.write().await;
        if let Some(c) = current.as_ref()
            && !c.is_closed()
            && failed.is_none_or(|f| !Arc::ptr_eq(f, c))
        {
            return Ok(c.clone());
        }
        tracing::debug!(address = %self.dialer.address, "sftp binding: reconnecting");
        let fresh = Arc::new(self.dialer.connect().await?);
        *current = Some(fresh.clone());
        Ok(fresh)
    }

    /// Runs `op` on the connection; on a transport error re-dials once and runs it again.
    pub async fn run<T, F, Fut>(&self, op: F) -> Result<T, OpError>
    where
        F: Fn(Arc<Connection>) -> Fut,
        Fut: std::future::Future<Output = Result<T, SftpError>>,
    {
        let _turn = match &self.sequential {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        let first = match self.connection().await {
            Ok(c) => c,
            Err(dial) => {
                return Err(OpError::Reconnect {
                    cause: "ssh: connection lost".to_owned(),
                    dial,
                });
            }
        };
        let err = match op(first.clone()).await {
            Ok(v) => return Ok(v),
            Err(e) if !is_transport_error(&e) => return Err(OpError::Sftp(e)),
            Err(e) => e,
        };
        tracing::debug!(error = %err, "sftp binding: operation failed at the transport level; reconnecting");
        let fresh = self
            .redial(Some(&first))
            .await
            .map_err(|dial| OpError::Reconnect {
                cause: error_text(&err),
                dial,
            })?;
        op(fresh).await.map_err(OpError::Sftp)
    }

    pub async fn close(&self) {
        if let Some(c) = self.current.write().await.take() {
            let _ = c.sftp.close().await;
            let _ = c
                .ssh
                .disconnect(russh::Disconnect::ByApplication, "", "en")
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(host_port("127.0.0.1:2222"), ("127.0.0.1".to_owned(), 2222));
        assert_eq!(
            host_port("sftp.example.com"),
            ("sftp.example.com".to_owned(), 22)
        );
        assert_eq!(host_port("[::1]:2022"), ("::1".to_owned(), 2022));
    }
}
