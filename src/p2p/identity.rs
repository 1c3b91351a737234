//! The node's identity: its libp2p key on disk and its current listen addresses.

use std::path::Path;
use std::sync::{Arc, RwLock};

use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};

/// The node's libp2p identity and its current listen addresses.
#[derive(Clone)]
pub struct NodeInfo {
    /// The node's PeerId.
    pub peer_id: PeerId,
    addrs: Arc<RwLock<Vec<Multiaddr>>>,
}

impl NodeInfo {
    /// A node with no known addresses yet.
    pub fn new(peer_id: PeerId) -> NodeInfo {
        NodeInfo {
            peer_id,
            addrs: Arc::default(),
        }
    }

    /// Replaces the listen addresses.
    pub fn set_listen_addrs(&self, addrs: Vec<Multiaddr>) {
        if let Ok(mut a) = self.addrs.write() {
            *a = addrs;
        }
    }

    /// The listen addresses as multiaddr strings ending in `/p2p/<peer id>`.
    pub fn listen_addrs(&self) -> Vec<String> {
        self.addrs
            .read()
            .map(|a| {
                a.iter()
                    .map(|m| format!("{m}/p2p/{}", self.peer_id))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A key file that could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("node key {path}: {message}")]
pub struct KeyError {
    /// The key file.
    pub path: String,
    /// What failed.
    pub message: String,
}

/// Reads the node's libp2p key from `path`, or creates an Ed25519 key there (mode
/// 0600 on Unix).
///
/// # Errors
/// [`KeyError`] when the file is unreadable, not a key, or cannot be written.
pub fn load_or_create_key(path: &Path) -> Result<Keypair, KeyError> {
    let err = |message: String| KeyError {
        path: path.display().to_string(),
        message,
    };
    if path.exists() {
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        return Keypair::from_protobuf_encoding(&bytes)
            .map_err(|e| err(format!("not a libp2p private key: {e}")));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    }
    let key = Keypair::generate_ed25519();
    let bytes = key.to_protobuf_encoding().map_err(|e| err(e.to_string()))?;
    write_private(path, &bytes).map_err(|e| err(e.to_string()))?;
    Ok(key)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
