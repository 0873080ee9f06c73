//! Where the process is in its life: listening yet, draining after SIGTERM,
//! how many requests are being answered. Readiness (`/readyz`) and graceful
//! shutdown read it; every listener counts its requests here.

use std::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Arc,
};

#[derive(Debug, Default)]
pub struct Lifecycle {
    listening: AtomicBool,
    draining: AtomicBool,
    in_flight: AtomicUsize,
}

impl Lifecycle {
    /// Every listener is bound and accepting.
    pub fn set_listening(&self) {
        self.listening.store(true, Ordering::Release);
    }

    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    /// SIGTERM: from now on not ready, so balancers stop sending new work.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Requests whose handler has not answered yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Counts one request until the guard is dropped.
    pub fn request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }
}

/// One request being answered.
pub struct InFlight(Arc<Lifecycle>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_until_answered() {
        let l = Arc::new(Lifecycle::default());
        let (a, b) = (l.request(), l.request());
        assert_eq!(l.in_flight(), 2);
        drop(a);
        drop(b);
        assert_eq!(l.in_flight(), 0);
        assert!(!l.listening() && !l.draining());
        l.set_listening();
        l.drain();
        assert!(l.listening() && l.draining());
    }
}
