//! The deliveries of one input binding that wait for the app's verdict at the same time.
//!
//! A component reads an event, starts its delivery here and goes on reading while there is
//! room. Each delivery is one task that hands its event to the app and then settles it with
//! the source itself (ack, nack, delete, leave for redelivery), so every event is settled by
//! its own verdict, never by a neighbour's. The limit is `maxConcurrentDeliveries`
//! ([`InputContext::in_flight`](crate::InputContext::in_flight)); without it a component
//! delivers one event at a time, as daprd's does.
//!
//! No I/O happens here: the tasks are the component's own futures.

use std::future::Future;

use tokio::task::JoinSet;

/// A bounded set of deliveries in flight, each settling its own event.
///
/// ```ignore
/// let mut in_flight = cx.in_flight();
/// loop {
///     tokio::select! {
///         _ = cx.shutdown().cancelled() => break,
///         () = in_flight.settled() => {}
///         event = source.next(), if in_flight.has_room() => in_flight.start(deliver_and_ack(cx.clone(), event)),
///     }
/// }
/// in_flight.finish().await; // graceful shutdown: every started delivery settles
/// ```
///
/// Dropping the set without [`finish`](Self::finish) (the binding's task was aborted) aborts
/// the deliveries, leaving their events unsettled for the source to redeliver.
pub struct InFlight {
    tasks: JoinSet<()>,
    limit: usize,
}

impl InFlight {
    /// At most `limit` deliveries at once (0 counts as 1).
    pub fn new(limit: usize) -> Self {
        Self {
            tasks: JoinSet::new(),
            limit: limit.max(1),
        }
    }

    /// The most deliveries this set runs at once.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Deliveries started and not yet settled.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Whether another delivery may start now.
    pub fn has_room(&self) -> bool {
        self.tasks.len() < self.limit
    }

    /// How many more deliveries may start now (for sources that read in batches).
    pub fn room(&self) -> usize {
        self.limit.saturating_sub(self.tasks.len())
    }

    /// Starts one delivery: `delivery` hands its event to the app and settles it. The caller
    /// checks [`has_room`](Self::has_room) first; starting past the limit is allowed (a source
    /// that cannot hold an event back, such as an MQTT session, is never blocked here) but
    /// then [`wait_for_room`](Self::wait_for_room) waits longer.
    pub fn start(&mut self, delivery: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(delivery);
    }

    /// Waits for one delivery to settle; never returns while none is in flight, so it can sit
    /// in a `select!` beside the source.
    pub async fn settled(&mut self) {
        match self.tasks.join_next().await {
            Some(joined) => report(joined),
            None => std::future::pending().await,
        }
    }

    /// Waits until another delivery may start.
    pub async fn wait_for_room(&mut self) {
        while !self.has_room() {
            self.settled().await;
        }
    }

    /// Waits until every started delivery has settled (graceful shutdown, or before
    /// reconnecting so that no event is delivered twice at the same time).
    pub async fn finish(&mut self) {
        while let Some(joined) = self.tasks.join_next().await {
            report(joined);
        }
    }
}

fn report(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined
        && e.is_panic()
    {
        // A panicking delivery leaves its event unsettled: the source redelivers it.
        std::panic::resume_unwind(e.into_panic());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// A delivery that counts itself in flight for `hold`, recording the most seen at once.
    async fn delivery(
        now: Arc<AtomicUsize>,
        max: Arc<AtomicUsize>,
        done: Arc<AtomicUsize>,
        hold: Duration,
    ) {
        let current = now.fetch_add(1, Ordering::SeqCst) + 1;
        max.fetch_max(current, Ordering::SeqCst);
        tokio::time::sleep(hold).await;
        now.fetch_sub(1, Ordering::SeqCst);
        done.fetch_add(1, Ordering::SeqCst);
    }

    async fn run(limit: usize, count: usize) -> (usize, usize) {
        let [now, max, done] = [0, 0, 0].map(|_| Arc::new(AtomicUsize::new(0)));
        let mut in_flight = InFlight::new(limit);
        for _ in 0..count {
            in_flight.wait_for_room().await;
            assert!(in_flight.len() < in_flight.limit());
            in_flight.start(delivery(
                now.clone(),
                max.clone(),
                done.clone(),
                Duration::from_millis(20),
            ));
        }
        in_flight.finish().await;
        assert!(in_flight.is_empty());
        (max.load(Ordering::SeqCst), done.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn bounds_deliveries_and_finishes_all() {
        assert_eq!(run(1, 10).await, (1, 10), "one at a time");
        assert_eq!(run(0, 3).await, (1, 3), "0 means one at a time");
        assert_eq!(run(4, 20).await, (4, 20), "four at once, every one settled");
    }

    #[tokio::test]
    async fn room_counts_free_slots() {
        let mut in_flight = InFlight::new(3);
        assert_eq!(in_flight.room(), 3);
        in_flight.start(tokio::time::sleep(Duration::from_millis(10)));
        assert_eq!((in_flight.room(), in_flight.has_room()), (2, true));
        in_flight.start(async {});
        in_flight.start(async {});
        assert_eq!((in_flight.room(), in_flight.has_room()), (0, false));
        in_flight.start(async {});
        assert_eq!(in_flight.room(), 0, "past the limit there is no room");
        in_flight.wait_for_room().await;
        assert!(in_flight.len() < 3);
    }

    #[tokio::test]
    async fn settled_waits_while_empty() {
        let mut in_flight = InFlight::new(2);
        let waited = tokio::time::timeout(Duration::from_millis(30), in_flight.settled()).await;
        assert!(waited.is_err(), "nothing in flight: settled never returns");
    }
}
