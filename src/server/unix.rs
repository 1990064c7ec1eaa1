//! The unix-socket listener (`--listen unix:/path`, HAProxy's `server waf unix@/path`).
//!
//! Owns binding the socket (a stale socket file nobody listens on is replaced; a live one is
//! refused), its mode and owner, the accept loop on shard 0 handing connections round robin
//! to every shard (AF_UNIX has no SO_REUSEPORT spreading), and removing the file at shutdown.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::PathBuf;
use std::rc::Rc;

use glommio::channels::shared_channel::SharedSender;
use glommio::net::{AcceptedUnixStream, UnixListener};

use super::log::{log, Level};
use super::shard::{race, Either, Shard};
use super::StartError;
use crate::inspect::Inspector;

/// A unix socket to listen on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixSocket {
    /// Its path.
    pub path: PathBuf,
    /// Permission bits (e.g. `0o660`).
    pub mode: u32,
    /// Owner and group to give it (needs the privilege to chown).
    pub owner: Option<(Option<u32>, Option<u32>)>,
}

fn config_err(sock: &UnixSocket, why: impl std::fmt::Display) -> StartError {
    StartError::Config(format!("unix socket {}: {why}", sock.path.display()))
}

/// Binds the socket (on shard 0's executor) and applies mode and owner.
pub(crate) fn bind(sock: &UnixSocket) -> Result<UnixListener, StartError> {
    if let Ok(m) = std::fs::symlink_metadata(&sock.path) {
        if !m.file_type().is_socket() {
            return Err(config_err(
                sock,
                "exists and is not a socket; remove it or pick another path",
            ));
        }
        if std::os::unix::net::UnixStream::connect(&sock.path).is_ok() {
            return Err(config_err(sock, "another process listens on it"));
        }
        // Left by a previous run that did not shut down cleanly.
        std::fs::remove_file(&sock.path).map_err(|e| config_err(sock, e))?;
    }
    let l = UnixListener::bind(&sock.path).map_err(|e| config_err(sock, e))?;
    std::fs::set_permissions(&sock.path, std::fs::Permissions::from_mode(sock.mode))
        .map_err(|e| config_err(sock, format!("chmod {:o}: {e}", sock.mode)))?;
    if let Some((uid, gid)) = sock.owner {
        std::os::unix::fs::chown(&sock.path, uid, gid)
            .map_err(|e| config_err(sock, format!("chown: {e} (needs CAP_CHOWN)")))?;
    }
    Ok(l)
}

/// Shard 0's accept loop: hands each connection to the next shard; removes the socket file
/// when the shard stops.
pub(crate) async fn accept_loop<I: Inspector>(
    listener: UnixListener,
    sock: UnixSocket,
    peers: Vec<SharedSender<AcceptedUnixStream>>,
    shard: Rc<Shard<I>>,
) {
    let mut senders = Vec::with_capacity(peers.len());
    for p in peers {
        senders.push(p.connect().await);
    }
    let mut next = 0usize;
    loop {
        let accepted = match race(listener.shared_accept(), shard.stopped()).await {
            Either::Left(r) => r,
            Either::Right(()) => break,
        };
        match accepted {
            Ok(a) => {
                if senders[next % senders.len()].send(a).await.is_err() {
                    log!(Level::Warn, "a shard stopped taking unix connections");
                }
                next = next.wrapping_add(1);
            }
            Err(e) => {
                log!(Level::Warn, "accept on {} failed: {e}", sock.path.display());
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
    drop(senders);
    let _ = std::fs::remove_file(&sock.path);
}
