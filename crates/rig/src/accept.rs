//! Accepting TCP connections without spinning. When `accept` fails for lack
//! of resources (no file descriptor left, EMFILE/ENFILE, or no memory), the
//! connection stays queued and the listener stays readable, so an immediate
//! retry fails again at once and burns a core until descriptors free up.
//! Every accept loop (public, internal, cluster) goes through [`Acceptor`]: it
//! pauses after such a failure and logs at a bounded rate.

use std::{io, net::SocketAddr, time::Duration};

use tokio::net::{TcpListener, TcpStream};

use crate::limit::Every;

/// Pause after a failed accept. Short enough that service resumes promptly
/// once descriptors are free; long enough that a full table costs nothing.
const PAUSE: Duration = Duration::from_millis(50);
/// At most one warning per listener in this time.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// A listener whose [`accept`](Acceptor::accept) only returns connections.
pub struct Acceptor {
    listener: TcpListener,
    /// Names the listener in log lines ("public", "cluster", ...).
    name: &'static str,
    warn_every: Every,
    /// Failures since the last warning.
    unreported: u64,
}

impl Acceptor {
    pub fn new(listener: TcpListener, name: &'static str) -> Self {
        Acceptor { listener, name, warn_every: Every::new(WARN_EVERY), unreported: 0 }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The next connection. A connection reset before we took it is skipped;
    /// any other failure pauses for [`PAUSE`] and tries again.
    pub async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            match self.listener.accept().await {
                Ok(conn) => return conn,
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(error) => {
                    self.unreported += 1;
                    if self.warn_every.due() {
                        let failures = std::mem::take(&mut self.unreported);
                        tracing::warn!(listener = self.name, %error, failures, "Accept failed (out of file descriptors?); pausing between attempts.");
                    }
                    tokio::time::sleep(PAUSE).await;
                }
            }
        }
    }
}
