//! The input: a coordinator that keeps this sidecar's share of the stream's shards leased, and
//! one reader per leased shard that delivers records in order and checkpoints each one the app
//! accepted.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types::{Record, Shard, ShardIteratorType};
use bindery_core::{BindingError, InputBinding, InputContext, InputEvent, Metadata};
use bytes::Bytes;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::KinesisConfig;
use super::lease::{Lease, LeaseTable, SHARD_END};
use crate::aws::auth::describe;
use crate::common::Backoff;

const COMPONENT: &str = "aws.kinesis";

pub struct KinesisInput {
    shared: Arc<Shared>,
}

/// What the coordinator and the shard readers share.
struct Shared {
    kinesis: Client,
    leases: LeaseTable,
    config: KinesisConfig,
    component: String,
}

struct Reader {
    cancel: CancellationToken,
    handle: JoinHandle<()>,
}

impl KinesisInput {
    pub fn new(sdk: &SdkConfig, config: KinesisConfig, component: String, owner: String) -> Self {
        let leases = LeaseTable::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.consumer_name.clone(),
            owner,
            config.lease_duration,
        );
        Self {
            shared: Arc::new(Shared {
                kinesis: Client::new(sdk),
                leases,
                config,
                component,
            }),
        }
    }
}

#[async_trait]
impl InputBinding for KinesisInput {
    async fn run(self: Box<Self>, cx: InputContext) -> Result<(), BindingError> {
        let shared = self.shared;
        let mut readers: HashMap<String, Reader> = HashMap::new();
        let mut backoff = Backoff::new(Duration::from_secs(30));
        let tick = (shared.config.lease_duration / 3).max(Duration::from_millis(500));
        loop {
            let delay = match shared.sync(&cx, &mut readers).await {
                Ok(()) => {
                    backoff.reset();
                    tick
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(component = COMPONENT, binding = cx.name(), error = %e, "Kinesis shard sync failed; retrying in {delay:?}.");
                    delay
                }
            };
            tokio::select! {
                _ = cx.shutdown().cancelled() => break,
                _ = tokio::time::sleep(delay) => {}
            }
        }
        for reader in readers.values() {
            reader.cancel.cancel();
        }
        for (shard, reader) in readers {
            let _ = reader.handle.await;
            if let Err(e) = shared.leases.release(&shard).await {
                tracing::debug!(component = COMPONENT, shard = %shard, error = %e, "Releasing the lease failed; it expires instead.");
            }
        }
        Ok(())
    }
}

impl Shared {
    async fn list_shards(&self) -> Result<Vec<Shard>, BindingError> {
        let mut shards = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = self.kinesis.list_shards();
            req = match token.take() {
                Some(t) => req.next_token(t),
                None => req.stream_name(&self.config.stream_name),
            };
            let out = req.send().await.map_err(|e| {
                let prefix = "kinesis: listing shards failed: ";
                if crate::aws::missing::is_missing(&e, &["ResourceNotFoundException"]) {
                    let name = &self.config.stream_name;
                    return crate::aws::missing::missing_error(prefix, "stream", name, &e);
                }
                crate::aws::auth::sdk_error(
                    &self.component,
                    self.config.auth.endpoint.as_deref(),
                    prefix,
                    &e,
                )
            })?;
            shards.extend(out.shards().iter().cloned());
            match out.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(shards),
            }
        }
    }

    /// One coordination round: new shards get a lease row, our leases are renewed (readers of
    /// lost ones stop), and free or surplus leases are taken until this sidecar holds its share.
    async fn sync(
        self: &Arc<Self>,
        cx: &InputContext,
        readers: &mut HashMap<String, Reader>,
    ) -> Result<(), BindingError> {
        self.leases.ensure().await?;
        let shards = self.list_shards().await?;
        let mut leases = self.leases.scan().await?;
        let known: HashSet<String> = leases.iter().map(|l| l.shard_id.clone()).collect();
        for shard in shards.iter().filter(|s| !known.contains(s.shard_id())) {
            self.leases
                .create(shard.shard_id(), shard.parent_shard_id())
                .await?;
        }
        if shards.iter().any(|s| !known.contains(s.shard_id())) {
            leases = self.leases.scan().await?;
        }
        readers.retain(|_, r| !r.handle.is_finished());
        let mut lost = Vec::new();
        for shard in readers.keys() {
            if !self.leases.renew(shard).await? {
                lost.push(shard.clone());
            }
        }
        for shard in lost {
            tracing::info!(component = COMPONENT, binding = cx.name(), shard = %shard, "Lost the lease of a shard to another sidecar.");
            if let Some(r) = readers.remove(&shard) {
                r.cancel.cancel();
            }
        }
        for lease in self.to_take(&leases, readers) {
            if self.leases.take(&lease).await? {
                tracing::info!(component = COMPONENT, binding = cx.name(), shard = %lease.shard_id, "Took the lease of a shard.");
                readers.insert(lease.shard_id.clone(), self.start_reader(cx, lease));
            }
        }
        Ok(())
    }

    /// The leases to try this round: free ones first, then one from the busiest other owner
    /// when this sidecar holds less than its share.
    fn to_take(&self, leases: &[Lease], readers: &HashMap<String, Reader>) -> Vec<Lease> {
        let now = SystemTime::now();
        let finished: HashSet<&str> = leases
            .iter()
            .filter(|l| l.is_finished())
            .map(|l| l.shard_id.as_str())
            .collect();
        let all: HashSet<&str> = leases.iter().map(|l| l.shard_id.as_str()).collect();
        let ready = |l: &&Lease| {
            !l.is_finished()
                && l.parent
                    .as_deref()
                    .is_none_or(|p| finished.contains(p) || !all.contains(p))
        };
        let active: Vec<&Lease> = leases.iter().filter(ready).collect();
        let me = &self.leases.owner;
        let mut owners: HashMap<&str, usize> = HashMap::new();
        for l in active.iter().filter(|l| !l.is_free(now)) {
            *owners
                .entry(l.owner.as_deref().unwrap_or_default())
                .or_default() += 1;
        }
        owners.remove(me.as_str());
        let workers = owners.len() + 1;
        let target = active.len().div_ceil(workers);
        let mine = readers.len();
        if mine >= target {
            return Vec::new();
        }
        let mut take: Vec<Lease> = active
            .iter()
            .filter(|l| l.is_free(now) && !readers.contains_key(&l.shard_id))
            .take(target - mine)
            .map(|l| (*l).clone())
            .collect();
        if take.is_empty() {
            let busiest = owners
                .iter()
                .filter(|(_, n)| **n > target)
                .max_by_key(|(_, n)| **n);
            if let Some((owner, _)) = busiest {
                take.extend(
                    active
                        .iter()
                        .find(|l| l.owner.as_deref() == Some(owner))
                        .map(|l| (*l).clone()),
                );
            }
        }
        take
    }

    fn start_reader(self: &Arc<Self>, cx: &InputContext, lease: Lease) -> Reader {
        let cancel = CancellationToken::new();
        let shared = self.clone();
        let cx = cx.clone();
        let token = cancel.clone();
        let handle = tokio::spawn(async move {
            shared
                .read_shard(&cx, &lease.shard_id, lease.checkpoint, &token)
                .await;
        });
        Reader { cancel, handle }
    }

    async fn iterator(
        &self,
        shard: &str,
        after: Option<&str>,
    ) -> Result<Option<String>, BindingError> {
        let mut req = self
            .kinesis
            .get_shard_iterator()
            .stream_name(&self.config.stream_name)
            .shard_id(shard);
        req = match after {
            Some(seq) => req
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(seq),
            None if self.config.from_trim_horizon => {
                req.shard_iterator_type(ShardIteratorType::TrimHorizon)
            }
            None => req.shard_iterator_type(ShardIteratorType::Latest),
        };
        let out = req.send().await.map_err(|e| {
            BindingError::unavailable(format!("kinesis: shard iterator: {}", describe(&e)))
        })?;
        Ok(out.shard_iterator().map(str::to_owned))
    }

    /// Reads one shard until its end, a lost lease, or shutdown.
    async fn read_shard(
        &self,
        cx: &InputContext,
        shard: &str,
        checkpoint: Option<String>,
        cancel: &CancellationToken,
    ) {
        if checkpoint.as_deref() == Some(SHARD_END) {
            return;
        }
        let mut last = checkpoint;
        let mut backoff = Backoff::new(Duration::from_secs(30));
        let mut iterator: Option<String> = None;
        while !cancel.is_cancelled() {
            let current = match iterator.take() {
                Some(it) => it,
                None => match self.iterator(shard, last.as_deref()).await {
                    Ok(Some(it)) => it,
                    Ok(None) => return,
                    Err(e) => {
                        tracing::warn!(component = COMPONENT, binding = cx.name(), shard, error = %e, "Kinesis read failed; retrying.");
                        if sleep_or_cancel(cancel, backoff.next_delay()).await {
                            return;
                        }
                        continue;
                    }
                },
            };
            let page = tokio::select! {
                _ = cancel.cancelled() => return,
                p = self.kinesis.get_records().shard_iterator(current).limit(1000).send() => p,
            };
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(component = COMPONENT, binding = cx.name(), shard, error = %describe(&e), "Kinesis GetRecords failed; retrying.");
                    if sleep_or_cancel(cancel, backoff.next_delay()).await {
                        return;
                    }
                    continue;
                }
            };
            backoff.reset();
            for record in page.records() {
                match self.process(cx, shard, record, cancel).await {
                    Some(seq) => last = Some(seq),
                    None => return,
                }
            }
            match page.next_shard_iterator() {
                Some(next) => iterator = Some(next.to_owned()),
                None => {
                    let _ = self.leases.checkpoint(shard, SHARD_END).await;
                    return;
                }
            }
            if page.records().is_empty()
                && sleep_or_cancel(cancel, Duration::from_millis(500)).await
            {
                return;
            }
        }
    }

    /// Delivers one record until the app accepts it (or, with `onAppFailure: skip`, once), then
    /// checkpoints it. `None` when the reader must stop: shutdown or a lost lease.
    async fn process(
        &self,
        cx: &InputContext,
        shard: &str,
        record: &Record,
        cancel: &CancellationToken,
    ) -> Option<String> {
        let seq = record.sequence_number().to_owned();
        let event = InputEvent {
            data: Bytes::copy_from_slice(record.data().as_ref()),
            metadata: Metadata::from([
                ("sequenceNumber".to_owned(), seq.clone()),
                (
                    "partitionKey".to_owned(),
                    record.partition_key().unwrap_or_default().to_owned(),
                ),
                ("shardId".to_owned(), shard.to_owned()),
            ]),
        };
        let mut backoff = Backoff::new(Duration::from_secs(30));
        loop {
            match cx.deliver(event.clone()).await {
                Ok(_) => break,
                Err(e) if self.config.checkpoint_on_failure => {
                    tracing::debug!(component = COMPONENT, shard, error = %e, "App refused a record; checkpointing it anyway (onAppFailure: skip).");
                    break;
                }
                Err(e) => {
                    tracing::debug!(component = COMPONENT, shard, error = %e, "App refused a record; delivering it again.");
                    if sleep_or_cancel(cancel, backoff.next_delay()).await {
                        return None;
                    }
                }
            }
        }
        match self.leases.checkpoint(shard, &seq).await {
            Ok(true) => Some(seq),
            Ok(false) => None,
            Err(e) => {
                tracing::warn!(component = COMPONENT, shard, error = %e, "Checkpointing failed; the record may be delivered again.");
                Some(seq)
            }
        }
    }
}

/// Sleeps; `true` when cancelled first.
async fn sleep_or_cancel(cancel: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}
