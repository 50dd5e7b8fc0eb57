//! What the server of each `https` origin chose by ALPN: HTTP/2 or
//! HTTP/1.1. The first request to an origin opens a connection and finds
//! out (it *probes*); requests that come meanwhile wait for the answer
//! instead of each opening a connection of their own, so that an HTTP/2
//! origin gets one multiplexed connection, not one per early request.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use percore_runtime::time::timeout_at;

use crate::error::{Error, TimeoutKind};
use crate::h2::Room;
use crate::pool::{Origin, OriginMap};

/// A protocol ALPN chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    H1,
    H2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A request is finding out.
    Probing,
    Known(Proto),
}

/// How a request goes to an `https` origin.
pub(crate) enum Route {
    Known(Proto),
    /// Unknown: this request finds out (the guard ends the probe).
    Probe(ProbeGuard),
}

/// The choices per origin; clones share them.
#[derive(Clone, Default)]
pub(crate) struct AlpnMemo {
    origins: Rc<RefCell<OriginMap<State>>>,
    changed: Rc<Room>,
}

impl AlpnMemo {
    /// What `origin` speaks, waiting (until `wait_until`: the pool-wait
    /// timeout) while another request finds out.
    pub(crate) async fn route(
        &self,
        origin: &Origin,
        wait_until: Option<Instant>,
    ) -> Result<Route, Error> {
        loop {
            let state = self.origins.borrow().get(origin).copied();
            match state {
                Some(State::Known(p)) => return Ok(Route::Known(p)),
                None => {
                    self.origins
                        .borrow_mut()
                        .insert(origin.clone(), State::Probing);
                    return Ok(Route::Probe(ProbeGuard {
                        memo: self.clone(),
                        origin: origin.clone(),
                    }));
                }
                Some(State::Probing) => match wait_until {
                    Some(at) => timeout_at(at, self.changed.changed())
                        .await
                        .map_err(|_| Error::timeout(TimeoutKind::PoolWait))?,
                    None => self.changed.changed().await,
                },
            }
        }
    }

    /// The server of `origin` chose `proto` (cheap when already known).
    pub(crate) fn set(&self, origin: &Origin, proto: Proto) {
        let known = State::Known(proto);
        if self.origins.borrow().get(origin) == Some(&known) {
            return;
        }
        self.origins.borrow_mut().insert(origin.clone(), known);
        self.changed.notify();
    }

    /// What `origin` chose, if that is known (no waiting).
    pub(crate) fn known(&self, origin: &Origin) -> Option<Proto> {
        match self.origins.borrow().get(origin) {
            Some(State::Known(p)) => Some(*p),
            _ => None,
        }
    }

    /// Forgets what `origin` chose (its server changed its mind).
    pub(crate) fn forget(&self, origin: &Origin) {
        self.origins.borrow_mut().remove(origin);
        self.changed.notify();
    }
}

/// Ends a probe that found nothing out (its connection failed, or its
/// request was dropped): the next waiting request probes instead.
pub(crate) struct ProbeGuard {
    memo: AlpnMemo,
    origin: Origin,
}

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        let probing = self.memo.origins.borrow().get(&self.origin) == Some(&State::Probing);
        if probing {
            self.memo.forget(&self.origin);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn origin() -> Origin {
        Origin {
            scheme: "https",
            host: "h".into(),
            port: 443,
        }
    }

    #[test]
    fn one_probe_at_a_time_then_the_answer_for_all() {
        percore_runtime::Runtime::new().unwrap().block_on(async {
            let memo = AlpnMemo::default();
            let o = origin();
            let Ok(Route::Probe(guard)) = memo.route(&o, None).await else {
                panic!("the first request probes")
            };
            // A second one waits, until the pool-wait deadline.
            let soon = Instant::now() + Duration::from_millis(30);
            let waited = memo.route(&o, Some(soon)).await;
            assert!(matches!(waited, Err(e) if e.is_timeout()));
            let (m, o2) = (memo.clone(), o.clone());
            let waiter = percore_runtime::spawn_local(async move {
                matches!(m.route(&o2, None).await, Ok(Route::Known(Proto::H2)))
            });
            percore_runtime::yield_now().await;
            memo.set(&o, Proto::H2);
            drop(guard); // known now: the guard changes nothing
            assert!(waiter.await.unwrap());
            let again = memo.route(&o, None).await;
            assert!(matches!(again, Ok(Route::Known(Proto::H2))));
        });
    }

    #[test]
    fn a_failed_probe_hands_over_to_the_next_request() {
        percore_runtime::Runtime::new().unwrap().block_on(async {
            let memo = AlpnMemo::default();
            let o = origin();
            let first = memo.route(&o, None).await.ok();
            let (m, o2) = (memo.clone(), o.clone());
            let next = percore_runtime::spawn_local(async move {
                matches!(m.route(&o2, None).await, Ok(Route::Probe(_)))
            });
            percore_runtime::yield_now().await;
            drop(first); // the probe's connection failed
            assert!(next.await.unwrap());
        });
    }
}
