//! Cutting off clients that start a request and stop, without closing idle keep-alive
//! connections: daprd's (Go's) rules. Go's server waits for the first bytes of the next request
//! with no deadline (daprd sets neither `IdleTimeout` nor `ReadTimeout`), then gives the head
//! `ReadHeaderTimeout` (10 s) from those bytes; the first request's head counts from the accept.
//! hyper's own header timer starts as soon as it waits for a head, idle time included, so it
//! would close a pooled connection after 10 s idle. Here its timer is ours: [`HeadTimer`] arms a
//! head's deadline only once bytes of that head arrive, which [`WatchedIo`] reports. A body that
//! stops sending is cut off by [`StallGuard`] (daprd has no bound there).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;

/// What one connection has done so far, shared by its I/O, its head timer and its bodies.
pub(super) struct Activity {
    accepted: Instant,
    head_timeout: Duration,
    /// Reads that returned at least one byte.
    reads: AtomicU64,
    /// Set once hyper waits for a head or the server writes: the accept deadline then ends.
    handed_over: AtomicBool,
    /// Heads hyper has started to wait for (the first one counts from the accept).
    heads: AtomicU64,
    /// Fired when a request body stalls: the connection is closed.
    cut: CancellationToken,
}

impl Activity {
    pub(super) fn new(head_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            accepted: Instant::now(),
            head_timeout,
            reads: AtomicU64::new(0),
            handed_over: AtomicBool::new(false),
            heads: AtomicU64::new(0),
            cut: CancellationToken::new(),
        })
    }

    /// Fires when one of the connection's request bodies stalled.
    pub(super) fn cut(&self) -> &CancellationToken {
        &self.cut
    }
}

/// The connection's stream, counting reads. Until hyper starts on the first head, a client gets
/// `head_timeout` from the accept to send anything (hyper-util reads the first bytes itself, to
/// tell HTTP/1 from HTTP/2, with no deadline).
pub(super) struct WatchedIo<T> {
    inner: T,
    activity: Arc<Activity>,
    accept_deadline: Option<Pin<Box<Sleep>>>,
}

impl<T> WatchedIo<T> {
    pub(super) fn new(inner: T, activity: Arc<Activity>) -> Self {
        Self {
            inner,
            activity,
            accept_deadline: None,
        }
    }

    fn accept_deadline_passed(&mut self, cx: &mut Context<'_>) -> bool {
        if self.activity.handed_over.load(Ordering::Relaxed) {
            self.accept_deadline = None;
            return false;
        }
        let activity = &self.activity;
        self.accept_deadline
            .get_or_insert_with(|| {
                let at = activity.accepted + activity.head_timeout;
                Box::pin(tokio::time::sleep_until(at.into()))
            })
            .as_mut()
            .poll(cx)
            .is_ready()
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WatchedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.activity.reads.fetch_add(1, Ordering::Relaxed);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if self.accept_deadline_passed(cx) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no request within the header timeout of the accept",
            ))),
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WatchedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.activity.handed_over.store(true, Ordering::Relaxed);
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.activity.handed_over.store(true, Ordering::Relaxed);
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// hyper's HTTP/1 header-read timer for one connection. hyper asks for a sleep each time it
/// starts waiting for a request head; only the header read timeout uses this timer.
#[derive(Clone)]
pub(super) struct HeadTimer(pub(super) Arc<Activity>);

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HeadSleep::new(self.0.clone(), duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let duration = deadline.saturating_duration_since(Instant::now());
        Box::pin(HeadSleep::new(self.0.clone(), duration))
    }
}

/// Counts `timeout` from the first byte of the head it guards: an idle keep-alive connection
/// waits without a deadline. The first head of a connection counts from the accept, as Go's.
struct HeadSleep {
    activity: Arc<Activity>,
    timeout: Duration,
    reads_at_start: u64,
    armed: Option<Pin<Box<Sleep>>>,
}

impl HeadSleep {
    fn new(activity: Arc<Activity>, timeout: Duration) -> Self {
        activity.handed_over.store(true, Ordering::Relaxed);
        let first = activity.heads.fetch_add(1, Ordering::Relaxed) == 0;
        let armed = first.then(|| {
            Box::pin(tokio::time::sleep_until(
                (activity.accepted + timeout).into(),
            ))
        });
        Self {
            reads_at_start: activity.reads.load(Ordering::Relaxed),
            activity,
            timeout,
            armed,
        }
    }
}

impl Future for HeadSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // hyper polls this right after each read that left the head incomplete, so the first
        // poll that sees a new read is within moments of the head's first bytes.
        if self.armed.is_none() {
            if self.activity.reads.load(Ordering::Relaxed) == self.reads_at_start {
                return Poll::Pending;
            }
            let timeout = self.timeout;
            self.armed = Some(Box::pin(tokio::time::sleep(timeout)));
        }
        match &mut self.armed {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }
}

impl hyper::rt::Sleep for HeadSleep {}

/// A request body whose client sends nothing for `timeout` while the handler waits for more:
/// an HTTP/1 connection is closed (`cut`); an HTTP/2 stream fails alone.
pub(super) struct StallGuard<B> {
    inner: B,
    timeout: Duration,
    /// Allocated only when a body does not arrive with its head; reset, not rebuilt, after.
    stalled: Option<Pin<Box<Sleep>>>,
    /// Whether `stalled` counts the current wait (false after each frame).
    waiting: bool,
    cut: Option<CancellationToken>,
}

impl<B> StallGuard<B> {
    pub(super) fn new(inner: B, timeout: Duration, cut: Option<CancellationToken>) -> Self {
        Self {
            inner,
            timeout,
            stalled: None,
            waiting: false,
            cut,
        }
    }
}

/// The error a stalled body ends with.
#[derive(Debug, thiserror::Error)]
#[error("the client sent no request body bytes for {0:?}")]
struct BodyStalled(Duration);

impl<B> Body for StallGuard<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            self.waiting = false;
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let this = &mut *self;
        let stalled = match (&mut this.stalled, this.waiting) {
            (Some(sleep), true) => sleep,
            (Some(sleep), false) => {
                sleep
                    .as_mut()
                    .reset(tokio::time::Instant::now() + this.timeout);
                sleep
            }
            (slot @ None, _) => slot.insert(Box::pin(tokio::time::sleep(this.timeout))),
        };
        this.waiting = true;
        ready!(stalled.as_mut().poll(cx));
        if let Some(cut) = &this.cut {
            // The connection task drops the connection next: no answer is written, where an
            // error here would let the handler answer first.
            cut.cancel();
            return Poll::Pending;
        }
        Poll::Ready(Some(Err(BodyStalled(this.timeout).into())))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
