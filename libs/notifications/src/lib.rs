//! The notification centre's domain: each user's in-app notifications in an organization and
//! their exact unread count ([`Inbox`]), preferences, sending to members ([`Sender`], the send
//! route), delivering what the notifications queue carries ([`Dispatcher`]), sending what the
//! email queue carries ([`EmailSender`]), the delivery log ([`deliveries`]) and one-click
//! unsubscribe links ([`unsubscribe`]).
//!
//! **The count, exact without counting.** Each user has a counter item holding the last
//! sequence issued (`seq`), a read-all watermark (`watermark`: every notification with a sequence
//! up to it is read), the unread count (`unread`) and a `version` that rises with every change.
//! A notification is unread when it has no `read_at` and its sequence is above the watermark.
//! Every change writes the counter in the same transaction, conditioned on the version it read,
//! so the count moves exactly when a notification's unread state does, whatever runs
//! concurrently (a loser re-reads and tries again):
//!
//! - an insert takes the next sequence and adds one;
//! - marking one read, or deleting it, subtracts one only if it was unread and above the
//!   watermark (one already covered by mark-all-read changes no count);
//! - mark-all-read moves the watermark to the last sequence and sets the count to zero, touching
//!   no notification: the read time of those it covers comes from the counter until they are
//!   stamped afterwards, in pages ([`Inbox::stamp_covered`]).
//!
//! Unread notifications are also in GSI1 under the user, sorted by sequence, until they are read
//! or deleted, so the unread list is the key range above the watermark. Read notifications
//! expire after [`READ_RETENTION`]; unread ones never expire by TTL (that would corrupt the count):
//! those older than [`UNREAD_RETENTION`] are deleted by the application, counted down like any
//! delete ([`Inbox::expire_old_unread`], which the dispatcher runs for a user now and then).

pub mod deliveries;
mod dispatch;
pub mod email;
mod inbox;
pub mod live;
pub mod preferences;
mod record;
mod send;
pub mod unsubscribe;

pub use deliveries::{Channel, Delivery, DeliveryStatus};
pub use dispatch::{CHUNK, Dispatched, Dispatcher, QueuedMessage};
pub use email::{EmailOutcome, EmailSender};
pub use inbox::{Covered, Delivered, Inbox, InboxError, Marked, ReadAll, Status, UnreadCount};
pub use live::{Live, Refused, ServerFrame};
pub use preferences::{Channels, ChannelsChange, Preferences, PreferencesChange};
pub use record::{NewNotification, Notification, notification_id};
pub use send::{MAX_DATA_BYTES, MAX_USER_IDS, SendAccepted, SendError, SendNotification, Sender};
pub use unsubscribe::{BadToken, Unsubscribe, UnsubscribeLinks};

/// How long a read notification is kept (by TTL).
pub const READ_RETENTION: clock::Duration = clock::Duration::days(90);

/// How long an unread notification is kept (by the application, see [`Inbox::expire_old_unread`]).
pub const UNREAD_RETENTION: clock::Duration = clock::Duration::days(180);
