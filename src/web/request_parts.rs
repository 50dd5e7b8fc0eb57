//! Where a [`Request`](super::Request) keeps its parts: one box per
//! request, taken from and given back to a per-core pool, so a request
//! costs no allocation and no free once the core has served a few.
//!
//! A request moves through the middleware chain and into its handler's
//! future as one pointer. Its rarely used parts (a raw head's `Uri`,
//! `HeaderMap` and extensions, nested apps' states, cookies, session) are
//! in a second box made on first use: the parts filled per request stay
//! small, and a request that used none of them drops one empty cell.

use std::cell::OnceCell;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;

use cookie::CookieJar;
use http::{HeaderMap, Uri};
use percore_http::h1::RawHead;
use percore_http::RequestBody;
use percore_runtime::local_pool::{replace_empty, LocalPool};

use super::app::AppState;
use super::Session;

/// Most boxes one core keeps: as many as it had requests in flight at
/// once, up to this (~300 bytes each; beyond it a box is freed).
const MAX_POOLED: usize = 64;

thread_local! {
    static POOL: LocalPool<Box<Parts>> = const { LocalPool::new(MAX_POOLED) };
}

/// A request's parts.
pub(super) struct Parts {
    pub(super) head: Head,
    pub(super) body: RequestBody,
    pub(super) params: Vec<(String, String)>,
    pub(super) state: Option<Rc<AppState>>,
    pub(super) body_read: bool,
    /// What most requests never use, made on first use.
    pub(super) more: OnceCell<Box<More>>,
}

/// A request's rarely used parts (see `Parts::more`).
#[derive(Default)]
pub(super) struct More {
    /// A raw head's `Uri`, built on first use.
    pub(super) uri: OnceCell<Uri>,
    /// A raw head's `HeaderMap`, built on first use.
    pub(super) headers: OnceCell<HeaderMap>,
    /// A raw head's extensions (an `http` head keeps its own).
    pub(super) extensions: http::Extensions,
    /// Nested apps' states, innermost last (empty outside nested apps).
    pub(super) nested: Vec<Rc<AppState>>,
    pub(super) cookies: OnceCell<CookieJar>,
    pub(super) session: Option<Session>,
}

/// `more`'s parts for changing, made when the request had none yet.
pub(super) fn more_mut(more: &mut OnceCell<Box<More>>) -> &mut More {
    if more.get().is_none() {
        *more = OnceCell::from(Box::<More>::default());
    }
    match more.get_mut() {
        Some(m) => m,
        None => unreachable!("set just above"),
    }
}

/// A request's head: `http` types, or an HTTP/1.1 head as it was read
/// (bytes plus offsets: the method, path, query and field lookups come
/// from it; its `Uri` and `HeaderMap` are built in `More` on first use).
pub(super) enum Head {
    /// Boxed: a `Head` is then 16 bytes and moves without a `memcpy`
    /// call (the raw head, a pooled handle, is the common one).
    Http(Box<http::request::Parts>),
    Raw(RawHead),
    /// A pooled box's head: it owns nothing (a raw head would keep its
    /// connection's read buffer shared). No live request has it.
    Vacant,
}

/// The box of a live request's parts; given back to the core's pool,
/// emptied, when the request is dropped.
pub(super) struct PartsBox(Option<Box<Parts>>);

impl PartsBox {
    /// A request's parts in a pooled box, or a new one. Written field by
    /// field into a pooled box, which owns nothing: the head is moved once,
    /// straight into it, and the values overwritten are empty.
    #[inline(always)]
    pub(super) fn new(head: Head, body: RequestBody, state: Option<Rc<AppState>>) -> PartsBox {
        match POOL.try_with(LocalPool::pop).ok().flatten() {
            Some(mut slot) => {
                // The values replaced own nothing (see `Drop`): forgotten,
                // not dropped, so the new ones are written in place.
                replace_empty(&mut slot.head, head);
                replace_empty(&mut slot.body, body);
                replace_empty(&mut slot.state, state);
                slot.body_read = false;
                PartsBox(Some(slot))
            }
            None => PartsBox(Some(Box::write(
                Box::new_uninit(),
                Parts {
                    head,
                    body,
                    params: Vec::new(),
                    state,
                    body_read: false,
                    more: OnceCell::new(),
                },
            ))),
        }
    }
}

impl Deref for PartsBox {
    type Target = Parts;

    #[inline]
    fn deref(&self) -> &Parts {
        match &self.0 {
            Some(parts) => parts,
            None => unreachable!("taken only by drop"),
        }
    }
}

impl DerefMut for PartsBox {
    #[inline]
    fn deref_mut(&mut self) -> &mut Parts {
        match &mut self.0 {
            Some(parts) => parts,
            None => unreachable!("taken only by drop"),
        }
    }
}

impl Drop for PartsBox {
    #[inline]
    fn drop(&mut self) {
        let Some(mut parts) = self.0.take() else {
            return;
        };
        parts.head = Head::Vacant;
        parts.body = RequestBody::empty();
        // Most requests had no route parameters and used none of the rare
        // parts: nothing to drop there.
        if parts.params.capacity() != 0 {
            parts.params = Vec::new();
        }
        parts.state = None;
        if parts.more.get().is_some() {
            parts.more = OnceCell::new();
        }
        let _ = POOL.try_with(|pool| pool.push(parts));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> PartsBox {
        let mut parts = PartsBox::new(
            Head::Vacant,
            RequestBody::from_bytes("body"),
            Some(Rc::new(AppState::default())),
        );
        parts.params.push(("a".into(), "b".into()));
        parts.body_read = true;
        more_mut(&mut parts.more)
            .nested
            .push(Rc::new(AppState::default()));
        parts
    }

    #[test]
    fn a_head_moves_without_a_memcpy_call() {
        // A raw head is a pooled handle and `http` parts are boxed: a
        // `Head` moves in two registers.
        assert_eq!(std::mem::size_of::<Head>(), 16);
    }

    #[test]
    fn a_dropped_box_comes_back_empty_and_is_reused() {
        let first = parts();
        let state = first.state.clone().expect("set");
        let at: *const Parts = &*first;
        drop(first);
        // The state's other holder is gone: the pooled box keeps nothing.
        assert_eq!(Rc::strong_count(&state), 1);
        let pooled = POOL.with(|p| p.pop()).expect("kept");
        assert!(std::ptr::eq(&*pooled, at));
        assert!(matches!(pooled.head, Head::Vacant));
        assert!(pooled.params.is_empty() && pooled.state.is_none());
        assert!(pooled.more.get().is_none());
        POOL.with(|p| p.push(pooled));
        let again = PartsBox::new(Head::Vacant, RequestBody::empty(), None);
        assert!(std::ptr::eq(&*again, at), "the pooled box is used first");
        assert!(again.params.is_empty() && again.state.is_none() && !again.body_read);
        assert!(again.more.get().is_none());
    }
}
