//! Analytics: tracked events travel through SQS to the aggregator, which keeps raw events and
//! daily counters per organization and per agent; reports read those counters back.
//!
//! - [`event`]: what the track route accepts, and the queue message it becomes;
//! - [`queue`]: packing events into `SendMessageBatch` calls;
//! - [`aggregator`]: exactly-once, pre-aggregated writes of a batch;
//! - [`reports`]: overview, agents, usage, raw events, event counts;
//! - [`usage`]: the monthly billing usage that billing reads.

pub mod aggregator;
mod error;
pub mod event;
pub mod histogram;
pub mod metrics;
pub mod period;
pub mod queue;
pub mod reports;
pub mod usage;

pub use aggregator::{Aggregator, BatchOutcome, Message};
pub use error::AnalyticsError;
pub use event::{Source, TrackedEvent, parse_track};
pub use period::Period;
pub use queue::{EventBatch, EventQueue, NotQueued};
pub use reports::{EventFilter, RankBy, Reports};
