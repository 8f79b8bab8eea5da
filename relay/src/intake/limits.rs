//! How many conversations may be started on this node: per client address
//! per hour, and by everyone together per minute. Fixed windows, in memory
//! only; an address is forgotten once its window has ended.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

const ADDRESS_WINDOW: Duration = Duration::from_secs(3600);
const TOTAL_WINDOW: Duration = Duration::from_secs(60);

pub struct Limits {
    per_address: u32,
    total: u32,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    by_address: HashMap<IpAddr, (Instant, u32)>,
    total: Option<(Instant, u32)>,
}

/// Counts one more in a window starting at `start`, if it has room.
fn take(window: &mut Option<(Instant, u32)>, len: Duration, max: u32, now: Instant) -> Result<()> {
    let (start, n) = match *window {
        Some((start, n)) if now.duration_since(start) < len => (start, n),
        _ => (now, 0),
    };
    if n >= max {
        return Err(Error::IntakeLimited(len - now.duration_since(start)));
    }
    *window = Some((start, n + 1));
    Ok(())
}

impl Limits {
    pub fn new(per_address: u32, total: u32) -> Self {
        Limits {
            per_address,
            total,
            state: Mutex::new(State::default()),
        }
    }

    /// One creation from `from`, or `rate_limited` with how long to wait.
    pub fn take(&self, from: IpAddr, now: Instant) -> Result<()> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.by_address
            .retain(|_, (start, _)| now.duration_since(*start) < ADDRESS_WINDOW);
        let mut mine = s.by_address.get(&from).copied();
        take(&mut mine, ADDRESS_WINDOW, self.per_address, now)?;
        let mut total = s.total;
        take(&mut total, TOTAL_WINDOW, self.total, now)?;
        s.total = total;
        if let Some(m) = mine {
            s.by_address.insert(from, m);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_and_everyone_together_are_limited_separately() {
        let limits = Limits::new(2, 3);
        let t0 = Instant::now();
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        limits.take(a, t0).unwrap();
        limits.take(a, t0).unwrap();
        let Err(Error::IntakeLimited(wait)) = limits.take(a, t0) else {
            panic!("a third from one address")
        };
        assert!(wait > Duration::from_secs(3000));
        limits.take(b, t0).unwrap();
        let Err(Error::IntakeLimited(wait)) = limits.take(b, t0) else {
            panic!("a fourth in all")
        };
        assert!(wait <= TOTAL_WINDOW);
        // A minute later everyone may start again, but `a` still may not.
        let later = t0 + TOTAL_WINDOW;
        limits.take(b, later).unwrap();
        assert!(limits.take(a, later).is_err());
        assert!(limits.take(a, t0 + ADDRESS_WINDOW).is_ok());
    }
}
