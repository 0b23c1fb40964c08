//! Keep-alive clients against the real binary, on raw sockets so that "the same connection" is
//! certain: an idle pooled connection stays usable past the 10 s that used to close it (Go's
//! client pools keep connections 90 s), and a client that starts a request and stops sending
//! (slowloris: part of the head, part of a body, or nothing at all) is cut off after 10 s.

use std::time::{Duration, Instant};

use bindery_testkit::{Sidecar, resources};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_bindery");

/// The head and body-stall timeouts (daprd's `ReadHeaderTimeout`).
const TIMEOUT: Duration = Duration::from_secs(10);
/// A cut-off must come after `TIMEOUT - EARLY` and before `TIMEOUT + LATE` (a busy 2-core CI).
const EARLY: Duration = Duration::from_secs(1);
const LATE: Duration = Duration::from_secs(4);

const HEALTH: &[u8] = b"GET /v1.0/healthz/outbound HTTP/1.1\r\nHost: x\r\n\r\n";

async fn sidecar() -> (Sidecar, tempfile::TempDir) {
    let dir = resources(&[]);
    let sidecar = Sidecar::builder(BIN).resources(dir.path()).spawn().await;
    (sidecar, dir)
}

async fn connect(sidecar: &Sidecar) -> TcpStream {
    TcpStream::connect(("127.0.0.1", sidecar.http_port))
        .await
        .expect("connect to the HTTP API")
}

/// Sends `request` on `stream` and reads one whole response; its status, or why there is none.
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> Result<u16, String> {
    stream.write_all(request).await.map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
            Ok(Ok(0)) => return Err("the server closed the connection".into()),
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("no response within 5 s".into()),
        }
    };
    let head = String::from_utf8_lossy(&answer[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while answer.len() < head_end + length {
        let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the server closed the connection mid-body".into());
        }
        answer.extend_from_slice(&buf[..n]);
    }
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok());
    status.ok_or_else(|| format!("no status line: {head}"))
}

/// Waits (at most `TIMEOUT + LATE + 5 s`) for the server to close `stream`; how long it took
/// from `since`, and the status of anything it answered first.
async fn closed_after(mut stream: TcpStream, since: Instant) -> (Duration, Option<u16>) {
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    let waited = tokio::time::timeout(TIMEOUT + LATE + Duration::from_secs(5), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(waited.is_ok(), "still open after {:?}", since.elapsed());
    let status = String::from_utf8_lossy(&answer)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok());
    (since.elapsed(), status)
}

fn assert_cut_off(what: &str, (took, status): (Duration, Option<u16>)) {
    eprintln!("KEEPALIVE {what}: closed after {took:.1?}, answer {status:?}");
    assert!(
        took >= TIMEOUT - EARLY && took <= TIMEOUT + LATE,
        "{what}: closed after {took:?}, not about {TIMEOUT:?}"
    );
    assert!(
        status.is_none() || status == Some(408),
        "{what}: answered {status:?}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_stays_usable_and_its_next_head_is_timed_from_its_first_byte()
{
    let (sidecar, _dir) = sidecar().await;
    let mut stream = connect(&sidecar).await;
    assert_eq!(exchange(&mut stream, HEALTH).await, Ok(204));
    // Longer than the 10 s that hyper's header timer used to allow an idle connection.
    tokio::time::sleep(TIMEOUT + Duration::from_secs(2)).await;
    assert_eq!(
        exchange(&mut stream, HEALTH).await,
        Ok(204),
        "the idle connection was closed:\n{}",
        sidecar.output()
    );
    // Idle a little, then start a head and stop: its 10 s count from its first byte.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stream
        .write_all(b"GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let since = Instant::now();
    assert_cut_off(
        "half a head on a kept-alive connection",
        closed_after(stream, since).await,
    );
    assert!(sidecar.is_running());
}

#[tokio::test]
async fn clients_that_stop_mid_request_are_cut_off_after_the_timeout() {
    let (sidecar, _dir) = sidecar().await;
    let start = Instant::now();

    let mut half_head = connect(&sidecar).await;
    half_head
        .write_all(b"POST /v1.0/bindings/files HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();

    let silent = connect(&sidecar).await;

    let mut trickle = connect(&sidecar).await;
    // Bounded: gives up (and fails below) after twice the timeout.
    let trickling = tokio::spawn(async move {
        let head = b"POST /v1.0/bindings/files HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        for byte in head.iter().chain(std::iter::repeat(&b'a')).take(100) {
            if trickle.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        start.elapsed()
    });

    // A whole head, then 5 of the 100 body bytes it promised. The body is read before the
    // binding is looked up, so no binding is needed.
    let mut half_body = connect(&sidecar).await;
    half_body
        .write_all(
            b"POST /v1.0/bindings/files HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"ope",
        )
        .await
        .unwrap();
    let body_since = Instant::now();

    let (head, silent, body) = tokio::join!(
        closed_after(half_head, start),
        closed_after(silent, start),
        closed_after(half_body, body_since),
    );
    assert_cut_off("half a head on a new connection", head);
    assert_cut_off("a new connection that sends nothing", silent);
    assert_cut_off("half a body", body);
    // The client notices a closed socket a write or two later (the reset of the next byte).
    let trickled = trickling.await.unwrap();
    eprintln!("KEEPALIVE a head trickled at 5 bytes/s: writes failed after {trickled:.1?}");
    assert!(
        trickled <= TIMEOUT + LATE,
        "a head sent one byte per 200 ms was not cut off: {trickled:?}"
    );

    // Everyone else is still served.
    let mut fresh = connect(&sidecar).await;
    assert_eq!(exchange(&mut fresh, HEALTH).await, Ok(204));
}
