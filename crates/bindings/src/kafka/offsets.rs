//! Which records of each assigned partition are still being handled, so that an offset is
//! stored for commit only once every earlier record of its partition is done, even when several
//! records of one partition are in delivery at once.

use std::collections::{BTreeSet, HashMap};

/// One record handed out for delivery; [`Offsets::finish`] takes it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ticket {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The assignment the record was fetched under: a partition revoked and assigned again
    /// starts over from its committed offset, and records of the old assignment no longer count.
    pub assignment: u64,
}

#[derive(Debug, Default)]
struct PartitionState {
    assignment: u64,
    /// Handed out, not yet done (a record interrupted by shutdown stays here: nothing at or past
    /// it is committed, so it comes again).
    in_flight: BTreeSet<i64>,
    /// The first offset handed out under this assignment: nothing before it is ours to store.
    first: Option<i64>,
    /// The highest offset done (accepted, or skipped after a failure, as daprd does).
    highest_done: Option<i64>,
    /// The last offset stored for commit (the commit is that offset + 1).
    stored: Option<i64>,
}

#[derive(Debug, Default)]
pub(super) struct Offsets {
    partitions: HashMap<(String, i32), PartitionState>,
    assignments: u64,
}

impl Offsets {
    /// New partitions (or old ones again, after a rebalance) start with nothing in flight.
    pub fn assigned(&mut self, partitions: impl IntoIterator<Item = (String, i32)>) {
        self.assignments += 1;
        for (topic, partition) in partitions {
            self.partitions.insert(
                (topic, partition),
                PartitionState {
                    assignment: self.assignments,
                    ..PartitionState::default()
                },
            );
        }
    }

    pub fn revoked(&mut self, partitions: impl IntoIterator<Item = (String, i32)>) {
        for (topic, partition) in partitions {
            self.partitions.remove(&(topic, partition));
        }
    }

    /// Records that `offset` was handed out; `None` when the partition is not assigned (a
    /// record fetched just before a revoke: its new owner delivers it).
    pub fn begin(&mut self, topic: &str, partition: i32, offset: i64) -> Option<Ticket> {
        let state = self.partitions.get_mut(&(topic.to_owned(), partition))?;
        state.in_flight.insert(offset);
        state.first.get_or_insert(offset);
        Some(Ticket {
            topic: topic.to_owned(),
            partition,
            offset,
            assignment: state.assignment,
        })
    }

    /// Whether the ticket still belongs to the current assignment of its partition.
    pub fn is_current(&self, ticket: &Ticket) -> bool {
        self.partitions
            .get(&(ticket.topic.clone(), ticket.partition))
            .is_some_and(|s| s.assignment == ticket.assignment)
    }

    /// Marks the record done. Returns the offset to store for commit when the partition's
    /// committable point moved: the last offset before the oldest record still in flight.
    pub fn finish(&mut self, ticket: &Ticket) -> Option<i64> {
        let state = self
            .partitions
            .get_mut(&(ticket.topic.clone(), ticket.partition))
            .filter(|s| s.assignment == ticket.assignment)?;
        state.in_flight.remove(&ticket.offset);
        state.highest_done = state.highest_done.max(Some(ticket.offset));
        let committable = match state.in_flight.first() {
            Some(&oldest) => oldest - 1,
            None => state.highest_done?,
        };
        if state.stored.is_some_and(|s| s >= committable)
            || state.first.is_none_or(|first| committable < first)
        {
            return None;
        }
        state.stored = Some(committable);
        Some(committable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assigned() -> Offsets {
        let mut offsets = Offsets::default();
        offsets.assigned([("t".to_owned(), 0), ("t".to_owned(), 1)]);
        offsets
    }

    #[test]
    fn out_of_order_completion_waits_for_the_first() {
        let mut o = assigned();
        let a = o.begin("t", 0, 0).unwrap();
        let b = o.begin("t", 0, 1).unwrap();
        assert_eq!(o.finish(&b), None, "0 is still in flight");
        assert_eq!(o.finish(&a), Some(1));
        let c = o.begin("t", 0, 2).unwrap();
        assert_eq!(o.finish(&c), Some(2));
    }

    #[test]
    fn sequential_completion_stores_each_offset() {
        let mut o = assigned();
        let a = o.begin("t", 0, 0).unwrap();
        assert_eq!(o.finish(&a), Some(0));
        let b = o.begin("t", 0, 1).unwrap();
        assert_eq!(o.finish(&b), Some(1));
    }

    #[test]
    fn nothing_is_stored_past_an_unfinished_record() {
        let mut o = assigned();
        let tickets: Vec<Ticket> = (10..14).map(|n| o.begin("t", 0, n).unwrap()).collect();
        // 11, 12 and 13 finish first: 10 is still in flight, so nothing moves.
        assert_eq!(o.finish(&tickets[1]), None);
        assert_eq!(o.finish(&tickets[3]), None);
        assert_eq!(o.finish(&tickets[2]), None);
        // 10 finishes: everything through 13 is done.
        assert_eq!(o.finish(&tickets[0]), Some(13));
    }

    #[test]
    fn the_oldest_record_in_flight_bounds_the_commit() {
        let mut o = assigned();
        let t: Vec<Ticket> = (0..4).map(|n| o.begin("t", 0, n).unwrap()).collect();
        assert_eq!(o.finish(&t[0]), Some(0));
        assert_eq!(o.finish(&t[2]), None);
        assert_eq!(o.finish(&t[1]), Some(2), "3 still in flight");
        // An interrupted record (never finished) holds its partition back, not the others.
        let other = o.begin("t", 1, 7).unwrap();
        assert_eq!(o.finish(&other), Some(7));
    }

    #[test]
    fn a_reassigned_partition_ignores_the_old_assignment() {
        let mut o = assigned();
        let old = o.begin("t", 0, 5).unwrap();
        o.revoked([("t".to_owned(), 0)]);
        assert!(o.begin("t", 0, 6).is_none(), "not assigned");
        o.assigned([("t".to_owned(), 0)]);
        assert!(!o.is_current(&old));
        assert_eq!(o.finish(&old), None);
        let new = o.begin("t", 0, 5).unwrap();
        assert!(o.is_current(&new));
        assert_eq!(o.finish(&new), Some(5));
    }
}
