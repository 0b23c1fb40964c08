//! One SMTP session per message, in gomail's order: connect (TLS first on port 465), EHLO,
//! STARTTLS when offered, AUTH when credentials are set and the server offers it, then the
//! message and QUIT.

use lettre::Message;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;

use super::message::SmtpError;
use super::{DIAL_TIMEOUT, IMPLICIT_TLS_PORT, SmtpConfig};

fn tls_parameters(config: &SmtpConfig) -> Result<TlsParameters, SmtpError> {
    TlsParameters::builder(config.host.clone())
        .dangerous_accept_invalid_certs(config.skip_tls_verify)
        .dangerous_accept_invalid_hostnames(config.skip_tls_verify)
        .build_rustls()
        .map_err(|e| SmtpError::Refused(e.to_string()))
}

/// Sorts lettre's failures: the network or a transient (4xx) answer may pass; a refusal
/// (5xx, TLS, credentials) will not.
fn classify(e: lettre::transport::smtp::Error) -> SmtpError {
    let text = e.to_string();
    if e.is_transient() || e.is_timeout() || !(e.is_permanent() || e.is_tls() || e.is_client()) {
        SmtpError::Connection(text)
    } else {
        SmtpError::Refused(text)
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub(super) async fn send(config: &SmtpConfig, email: &Message) -> Result<(), SmtpError> {
    let tls = tls_parameters(config)?;
    let implicit = config.port == IMPLICIT_TLS_PORT;
    let hello = ClientId::default();
    let mut conn = AsyncSmtpConnection::connect_tokio1(
        (config.host.as_str(), config.port),
        Some(DIAL_TIMEOUT),
        &hello,
        implicit.then(|| tls.clone()),
        None,
    )
    .await
    .map_err(classify)?;
    converse(config, &mut conn, tls, &hello, email).await?;
    // On failure the connection is only dropped (closed), as gomail does: after a failed TLS
    // upgrade lettre's stream is gone and writing QUIT to it would panic.
    let _ = conn.quit().await;
    Ok(())
}

async fn converse(
    config: &SmtpConfig,
    conn: &mut AsyncSmtpConnection,
    tls: TlsParameters,
    hello: &ClientId,
    email: &Message,
) -> Result<(), SmtpError> {
    if !conn.is_encrypted() && conn.can_starttls() {
        conn.starttls(tls, hello).await.map_err(classify)?;
    }
    if let Some((user, password)) = &config.credentials {
        authenticate(config, conn, user, password.expose()).await?;
    }
    conn.send(email.envelope(), &email.formatted())
        .await
        .map_err(classify)?;
    Ok(())
}

/// gomail authenticates only when the server advertises AUTH: PLAIN when offered, else LOGIN.
async fn authenticate(
    config: &SmtpConfig,
    conn: &mut AsyncSmtpConnection,
    user: &str,
    password: &str,
) -> Result<(), SmtpError> {
    let info = conn.server_info();
    let mechanism = [Mechanism::Plain, Mechanism::Login]
        .into_iter()
        .find(|m| info.supports_auth_mechanism(*m));
    let Some(mechanism) = mechanism else {
        if info.supports_auth_mechanism(Mechanism::Xoauth2) {
            return Err(SmtpError::Refused(
                "no supported authentication mechanism (PLAIN or LOGIN) offered".to_owned(),
            ));
        }
        tracing::debug!(host = %config.host, "SMTP server offers no AUTH; sending without authentication.");
        return Ok(());
    };
    if !conn.is_encrypted() && !is_loopback(&config.host) {
        return Err(SmtpError::Refused("unencrypted connection".to_owned()));
    }
    let credentials = Credentials::new(user.to_owned(), password.to_owned());
    conn.auth(&[mechanism], &credentials)
        .await
        .map_err(classify)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("localhost"));
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("[::1]"));
        assert!(!is_loopback("smtp.example.com"));
        assert!(!is_loopback("10.0.0.1"));
    }
}
