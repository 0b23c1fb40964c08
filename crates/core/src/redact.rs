//! Keeps passwords out of messages: `scheme://user:password@host` becomes
//! `scheme://user:***@host`, as daprd prints URLs. Applied to every component error, so a
//! connection string echoed by a driver never reaches a log or an API response.

/// Replaces the password of every URL userinfo in `message` with `***`.
pub fn redact_credentials(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(scheme_end) = rest.find("://") {
        let (head, tail) = rest.split_at(scheme_end + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.split_once(':') {
                    Some((user, _)) => {
                        out.push_str(user);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(
            redact_credentials(r#"Get "http://user:PASS@127.0.0.1:1/path": refused"#),
            r#"Get "http://user:***@127.0.0.1:1/path": refused"#
        );
        assert_eq!(
            redact_credentials("amqp://guest:guest@h:5672/ and tcp://a@b"),
            "amqp://guest:***@h:5672/ and tcp://a@b"
        );
        assert_eq!(redact_credentials("no urls here"), "no urls here");
    }
}
