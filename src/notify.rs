//! systemd's service notification protocol (`Type=notify`): `READY=1` once every shard listens,
//! `RELOADING=1` … `READY=1` around a reload, `STATUS=` with what is loaded.
//!
//! Owns the messages and when they are sent; the transport is the `sd-notify` crate (one
//! datagram to `$NOTIFY_SOCKET`, no libsystemd). Without `$NOTIFY_SOCKET` (not under systemd,
//! or `Type=simple`) every call is a no-op. A failed send is logged once and never stops the
//! agent: readiness is advice to the supervisor, not a precondition of serving. Refuses to
//! decide anything else (watchdog pings, socket activation).

use std::sync::atomic::{AtomicBool, Ordering};

use sd_notify::NotifyState;

use crate::server::log::{log, Level};

static WARNED: AtomicBool = AtomicBool::new(false);

fn send(states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    // `false`: keep $NOTIFY_SOCKET, so reloads can notify too.
    if let Err(e) = sd_notify::notify(false, states) {
        if !WARNED.swap(true, Ordering::Relaxed) {
            log!(Level::Warn, "cannot notify systemd ($NOTIFY_SOCKET): {e}");
        }
    }
}

/// Every shard listens: `READY=1` with `STATUS=<status>`.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload begins: `RELOADING=1` (with the monotonic time systemd ≥ 253 asks for); follow it
/// with [`ready`] when the new rules serve, or when the old ones are kept.
pub fn reloading(status: &str) {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now, NotifyState::Status(status)]),
        Err(_) => send(&[NotifyState::Reloading, NotifyState::Status(status)]),
    }
}

/// Free-form `STATUS=` (shown by `systemctl status`).
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixDatagram;
    use std::time::Duration;

    #[test]
    fn ready_reaches_the_notify_socket() {
        let dir = std::env::temp_dir().join(format!("spoa-waf-notify-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // The only test in this binary that sets NOTIFY_SOCKET.
        std::env::set_var("NOTIFY_SOCKET", &path);
        super::ready("rules /etc/spoa-waf/spoa-waf.conf");
        super::reloading("reloading");
        std::env::remove_var("NOTIFY_SOCKET");
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).unwrap();
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(msg.contains("READY=1\n"), "{msg:?}");
        assert!(
            msg.contains("STATUS=rules /etc/spoa-waf/spoa-waf.conf"),
            "{msg:?}"
        );
        let n = sock.recv(&mut buf).unwrap();
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(
            msg.contains("RELOADING=1\n") && msg.contains("MONOTONIC_USEC="),
            "{msg:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
