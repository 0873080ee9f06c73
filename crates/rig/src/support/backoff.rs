//! Reconnect delays for the broker loops: doubling from a floor to a ceiling,
//! reset after a success, so a flapping broker is not hammered and a returning
//! one is picked up quickly.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    floor: Duration,
    ceiling: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(floor: Duration, ceiling: Duration) -> Self {
        let ceiling = ceiling.max(floor);
        Backoff { floor, ceiling, next: floor }
    }

    /// The delay to wait now; the following one doubles up to the ceiling.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.ceiling);
        d
    }

    pub fn reset(&mut self) {
        self.next = self.floor;
    }

    /// Sleeps for [`Backoff::next_delay`].
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_ceiling_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let got: Vec<u128> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(got, [100, 200, 350, 350]);
        b.reset();
        assert_eq!(b.next_delay().as_millis(), 100);
    }
}
