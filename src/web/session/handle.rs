//! `Session`: one request's session values, read and changed by handlers.

use std::cell::RefCell;
use std::rc::Rc;

use cookie::CookieJar;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::store::SessionData;
use crate::web::HttpError;

/// The session of the current request (`req.session()`): typed values by
/// key, kept by the [`Sessions`](super::Sessions) middleware's store once
/// the handler has answered. Cheap to clone (all clones are the same session).
///
/// ```
/// use percore::web::Session;
/// let session = Session::default();
/// session.insert("cart", vec![3, 5]).unwrap();
/// assert_eq!(session.get::<Vec<u32>>("cart"), Some(vec![3, 5]));
/// assert_eq!(session.remove("cart"), Some(serde_json::json!([3, 5])));
/// assert!(session.is_empty());
/// ```
#[derive(Clone, Default)]
pub struct Session(Rc<RefCell<State>>);

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

/// Opens a session from the request's cookies, on its first use: a store
/// that needs no I/O to load ([`CookieStore`](super::CookieStore)) costs
/// nothing on the requests whose handler never looks at the session.
pub(crate) trait LazyLoad {
    /// The session the cookies carry, with its id; `None` for none (or
    /// one that is not genuine).
    fn load(&self, cookies: &CookieJar) -> Option<(String, SessionData)>;
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) data: SessionData,
    /// The id the request's cookie carried, if the store knew it.
    pub(crate) id: Option<String>,
    pub(crate) changed: bool,
    pub(crate) renew: bool,
    /// Not loaded yet: how to load it from the request's cookies.
    pending: Option<Rc<dyn LazyLoad>>,
}

impl Session {
    pub(crate) fn loaded(id: String, data: SessionData) -> Session {
        Session(Rc::new(RefCell::new(State {
            data,
            id: Some(id),
            ..State::default()
        })))
    }

    /// A session loaded by `loader` when the handler first asks for it.
    pub(crate) fn lazy(loader: Rc<dyn LazyLoad>) -> Session {
        Session(Rc::new(RefCell::new(State {
            pending: Some(loader),
            ..State::default()
        })))
    }

    /// Loads a lazy session (once) from the request's `cookies`.
    pub(crate) fn resolve<'a>(&self, cookies: impl FnOnce() -> &'a CookieJar) {
        let Some(loader) = self.0.borrow_mut().pending.take() else {
            return;
        };
        if let Some((id, data)) = loader.load(cookies()) {
            let mut state = self.0.borrow_mut();
            state.id = Some(id);
            state.data = data;
        }
    }

    pub(crate) fn take_state(&self) -> State {
        std::mem::take(&mut self.0.borrow_mut())
    }

    /// The value under `key`, if there is one of type `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let state = self.0.borrow();
        T::deserialize(state.data.get(key)?).ok()
    }

    /// Sets `key` to `value` (a value that cannot be serialised is a 500).
    pub fn insert(&self, key: &str, value: impl Serialize) -> Result<(), HttpError> {
        let value = serde_json::to_value(value)
            .map_err(|e| HttpError::internal(format!("session value {key:?}: {e}")))?;
        let mut state = self.0.borrow_mut();
        state.data.insert(key.to_string(), value);
        state.changed = true;
        Ok(())
    }

    /// Removes `key`, returning its value.
    pub fn remove(&self, key: &str) -> Option<serde_json::Value> {
        let mut state = self.0.borrow_mut();
        let old = state.data.remove(key);
        state.changed |= old.is_some();
        old
    }

    /// Removes every value; an empty session's cookie is deleted (logout).
    pub fn clear(&self) {
        let mut state = self.0.borrow_mut();
        state.changed |= !state.data.is_empty() || state.id.is_some();
        state.data.clear();
    }

    /// Gives the session a new id when it is saved, and forgets the old
    /// one: call it when the user logs in (or gains rights), so an id an
    /// attacker planted before the login is worth nothing after it.
    pub fn renew(&self) {
        self.0.borrow_mut().renew = true;
    }

    /// Whether the session holds no value.
    pub fn is_empty(&self) -> bool {
        self.0.borrow().data.is_empty()
    }
}
