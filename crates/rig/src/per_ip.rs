//! Concurrent connections per client address (`RIG_MAX_CONNECTIONS_PER_IP`),
//! counted at accept over every listener: one host cannot take all of the
//! gateway's sockets. An IPv6 client counts by its /64 (one host usually has
//! a whole /64 to pick addresses from). Each accepted connection holds a
//! [`Slot`] (a [`crate::limit::PerAddress`] hold) that gives its place back
//! when the socket is dropped.

use std::{
    io,
    net::IpAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, ReadBuf},
    sync::{OwnedSemaphorePermit, Semaphore},
};

use crate::limit::{Every, Held, PerAddress};

/// Refused connections answered (429) at once; beyond this they are just closed.
const MAX_ANSWERING: usize = 64;
/// Least time between two warnings about refused connections.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// One counted connection; dropping it frees the place.
pub type Slot = Held;

pub struct PerIp {
    held: PerAddress,
    refused: AtomicU64,
    answering: Arc<Semaphore>,
    warn_every: Every,
}

impl PerIp {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(PerIp {
            held: PerAddress::new(max),
            refused: AtomicU64::new(0),
            answering: Arc::new(Semaphore::new(MAX_ANSWERING)),
            warn_every: Every::new(WARN_EVERY),
        })
    }

    /// A place for one more connection from `ip`, or `None` (counted) when it has `max`.
    pub fn try_acquire(&self, ip: IpAddr) -> Option<Slot> {
        let slot = self.held.try_hold(key(ip));
        if slot.is_none() {
            self.refused.fetch_add(1, Ordering::Relaxed);
            self.warn(ip);
        }
        slot
    }

    /// Connections refused since start (`rig_connections_refused_per_ip_total`).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Live connections counted for `ip` (its /64 for IPv6).
    pub fn count(&self, ip: IpAddr) -> usize {
        self.held.held_by(key(ip))
    }

    /// Leave to spend a moment answering a refused connection, if few are being answered.
    pub fn answer_permit(&self) -> Option<OwnedSemaphorePermit> {
        self.answering.clone().try_acquire_owned().ok()
    }

    fn warn(&self, ip: IpAddr) {
        if self.warn_every.due() {
            let (max, refused) = (self.held.max(), self.refused());
            tracing::warn!(%ip, max, refused, "Connections refused: the client address has RIG_MAX_CONNECTIONS_PER_IP open.");
        }
    }
}

/// IPv4 (also IPv4-mapped IPv6) as is, other IPv6 by /64.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !(u128::MAX >> 64)).into()),
        },
    }
}

/// A socket that holds its [`Slot`]: wherever the socket goes (a TLS stream, a
/// hyper connection, an upgraded WebSocket), the place is taken until it closes.
pub struct Counted<S> {
    inner: S,
    _slot: Slot,
}

impl<S> Counted<S> {
    pub fn new(inner: S, slot: Slot) -> Self {
        Counted { inner, _slot: slot }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

crate::support::io::write_through!(Counted<S>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_address_and_frees_on_drop() {
        let limit = PerIp::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let (s1, s2) = (limit.try_acquire(a).unwrap(), limit.try_acquire(a).unwrap());
        assert!(limit.try_acquire(a).is_none());
        assert_eq!(limit.refused(), 1);
        let other = limit.try_acquire(b).expect("another address has its own count");
        drop(s1);
        let s3 = limit.try_acquire(a).expect("a freed place is taken again");
        drop((s2, s3, other));
        assert_eq!((limit.count(a), limit.count(b)), (0, 0));
    }

    #[test]
    fn ipv6_counts_by_64_and_mapped_ipv4_as_ipv4() {
        let limit = PerIp::new(1);
        let _x = limit.try_acquire("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(limit.try_acquire("2001:db8:1:2:ffff::9".parse().unwrap()).is_none(), "same /64");
        assert!(limit.try_acquire("2001:db8:1:3::1".parse().unwrap()).is_some());
        let _y = limit.try_acquire("10.1.1.1".parse().unwrap()).unwrap();
        assert!(limit.try_acquire("::ffff:10.1.1.1".parse().unwrap()).is_none());
    }

    #[test]
    fn zero_disables_the_limit() {
        let limit = PerIp::new(0);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let held: Vec<Slot> = (0..10_000).map(|_| limit.try_acquire(ip).unwrap()).collect();
        assert_eq!((held.len(), limit.refused()), (10_000, 0));
    }
}
