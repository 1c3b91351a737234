//! Peer presence for `POST /publish` and `GET /events` (field-notes §1): the latest
//! presence message of each online peer, and a broadcast of every change as
//! Server-Sent Events.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::web::Bytes;
use futures::stream::{self, Stream, StreamExt};
use tokio::sync::{broadcast, watch};

use super::wire::PublishRequest;

/// Interval of the `: ping` comment on the event stream.
pub const PING_INTERVAL: Duration = Duration::from_secs(25);

/// Online peers and subscribers.
pub struct Presence {
    peers: Mutex<HashMap<String, String>>,
    changes: broadcast::Sender<String>,
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
    pub fn publish(&self, message: &PublishRequest) {
        let json = serde_json::to_string(message).unwrap_or_default();
        if let Ok(mut peers) = self.peers.lock() {
            if message.kind == "offline" {
                peers.remove(&message.peer_id);
            } else {
                peers.insert(message.peer_id.clone(), json.clone());
            }
        }
        let _ = self.changes.send(json);
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
    /// per change, and a `: ping` comment every `ping`; it ends at [`Presence::close`].
    pub fn subscribe(&self, ping: Duration) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
        let receiver = self.changes.subscribe();
        let snapshot: Vec<String> = self
            .peers
            .lock()
            .map(|p| p.values().cloned().collect())
            .unwrap_or_default();
        let frame = |json: String| Bytes::from(format!("data: {json}\n\n"));
        let initial = stream::iter(snapshot.into_iter().map(frame));
        let changes = stream::unfold(receiver, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(json) => return Some((json, rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .map(frame);
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
