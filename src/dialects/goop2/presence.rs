//! Peer presence for `POST /publish` and `GET /events` (field-notes §1): the latest
//! presence message of each online peer, and a broadcast of every change as
//! Server-Sent Events. A stream opened with a peer's credentials also carries that
//! peer's own notices (`event: low_balance`), and no other peer's.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use futures::stream::{self, Stream, StreamExt};
use tokio::sync::{broadcast, watch};

use super::wire::PublishRequest;

/// Interval of the `: ping` comment on the event stream.
pub const PING_INTERVAL: Duration = Duration::from_secs(25);

/// A peer that has not published for this long is no longer listed as online.
pub const PRESENCE_TTL: Duration = Duration::from_secs(10 * 60);

/// Most peers listed as online at once; past it, new peers are refused (503) until
/// others go offline or expire.
pub const MAX_ONLINE: usize = 10_000;

/// The presence table is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceFull;

/// One broadcast frame: presence for every subscriber, or a notice for one peer.
#[derive(Debug, Clone)]
enum Frame {
    Presence(String),
    Notice { peer: String, frame: String },
}

/// Online peers and subscribers.
pub struct Presence {
    peers: Mutex<HashMap<String, (String, Instant)>>,
    changes: broadcast::Sender<Frame>,
    closed: watch::Sender<bool>,
}

impl Default for Presence {
    fn default() -> Self {
        Presence {
            peers: Mutex::new(HashMap::new()),
            changes: broadcast::channel(1024).0,
            closed: watch::Sender::new(false),
        }
    }
}

impl Presence {
    /// Records a presence message and broadcasts it. `offline` removes the peer.
    /// Peers silent for [`PRESENCE_TTL`] are dropped.
    ///
    /// # Errors
    /// [`PresenceFull`] for a new peer while [`MAX_ONLINE`] peers are listed.
    pub fn publish(&self, message: &PublishRequest) -> Result<(), PresenceFull> {
        let json = serde_json::to_string(message).unwrap_or_default();
        if let Ok(mut peers) = self.peers.lock() {
            let now = Instant::now();
            if message.kind == "offline" {
                peers.remove(&message.peer_id);
            } else {
                if !peers.contains_key(&message.peer_id) && peers.len() >= MAX_ONLINE {
                    peers.retain(|_, (_, seen)| now.duration_since(*seen) < PRESENCE_TTL);
                    if peers.len() >= MAX_ONLINE {
                        return Err(PresenceFull);
                    }
                }
                peers.insert(message.peer_id.clone(), (json.clone(), now));
            }
        }
        let _ = self.changes.send(Frame::Presence(json));
        Ok(())
    }

    /// Sends `event: {event}` with `data` (one line of JSON) to the streams that
    /// `peer` opened with its credentials. Not stored: a peer that is not listening
    /// does not get it later.
    pub fn notify(&self, peer: &str, event: &str, data: &serde_json::Value) {
        let _ = self.changes.send(Frame::Notice {
            peer: peer.to_string(),
            frame: format!("event: {event}\ndata: {data}\n\n"),
        });
    }

    /// Ends every event stream, so that a graceful shutdown need not wait for
    /// subscribers that never hang up.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Number of online peers.
    pub fn online(&self) -> usize {
        self.peers.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// The SSE byte stream of one subscriber: a `data:` line per online peer, then one
    /// per change, the notices of `viewer` (the peer that opened the stream, if it
    /// authenticated), and a `: ping` comment every `ping`; it ends at
    /// [`Presence::close`].
    pub fn subscribe(
        &self,
        ping: Duration,
        viewer: Option<String>,
    ) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
        let receiver = self.changes.subscribe();
        let snapshot: Vec<String> = self
            .peers
            .lock()
            .map(|p| {
                let now = Instant::now();
                p.values()
                    .filter(|(_, seen)| now.duration_since(*seen) < PRESENCE_TTL)
                    .map(|(json, _)| json.clone())
                    .collect()
            })
            .unwrap_or_default();
        fn frame(json: String) -> Bytes {
            Bytes::from(format!("data: {json}\n\n"))
        }
        let initial = stream::iter(snapshot.into_iter().map(frame));
        let changes = stream::unfold((receiver, viewer), |(mut rx, viewer)| async move {
            loop {
                match rx.recv().await {
                    Ok(Frame::Presence(json)) => return Some((frame(json), (rx, viewer))),
                    Ok(Frame::Notice { peer, frame }) if viewer.as_ref() == Some(&peer) => {
                        return Some((Bytes::from(frame), (rx, viewer)))
                    }
                    Ok(Frame::Notice { .. }) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        continue
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        let pings = stream::unfold(
            tokio::time::interval_at(tokio::time::Instant::now() + ping, ping),
            |mut iv| async move {
                iv.tick().await;
                Some((Bytes::from_static(b": ping\n\n"), iv))
            },
        );
        let mut closed = self.closed.subscribe();
        initial
            .chain(stream::select(changes, pings))
            .take_until(async move {
                let _ = closed.wait_for(|c| *c).await;
            })
            .map(Ok::<_, actix_web::Error>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: &str, peer: &str) -> PublishRequest {
        PublishRequest {
            kind: kind.into(),
            peer_id: peer.into(),
            content: None,
            email: None,
            avatar_hash: None,
            ts: None,
        }
    }

    #[test]
    fn the_table_is_bounded_and_offline_frees_a_place() {
        let presence = Presence::default();
        for i in 0..MAX_ONLINE {
            presence
                .publish(&message("online", &format!("p{i}")))
                .unwrap();
        }
        assert_eq!(presence.online(), MAX_ONLINE);
        assert_eq!(
            presence.publish(&message("online", "late")),
            Err(PresenceFull)
        );
        // Known peers may still update.
        presence.publish(&message("update", "p0")).unwrap();
        presence.publish(&message("offline", "p1")).unwrap();
        presence.publish(&message("online", "late")).unwrap();
        assert_eq!(presence.online(), MAX_ONLINE);
    }
}
