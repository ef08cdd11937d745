//! A visitor's server-side session: shared by all of its connections (tabs, transports).
//!
//! Owns: the visitor's open conversation as this process knows it, and which connections
//! to tell when that conversation is opened from one of them. Knows nothing of transports.

use std::sync::{Arc, Mutex};

use super::signal::Signal;
use crate::ids::{SessionId, SiteId};
use crate::store::ConvInfo;

pub(crate) struct VisitorSession {
    pub id: SessionId,
    pub site: SiteId,
    /// The visitor's bearer token (never sent to other clients).
    pub token: String,
    /// Loaded once from the store when the session is first used.
    pub(crate) loaded: tokio::sync::OnceCell<()>,
    /// The open conversation, once there is one.
    conv: Mutex<Option<ConvInfo>>,
    /// Connections of this visitor, to wake when the conversation opens.
    conns: Mutex<Vec<Arc<Signal>>>,
}

impl VisitorSession {
    pub(crate) fn new(site: SiteId, token: String) -> VisitorSession {
        VisitorSession {
            id: SessionId::random(),
            site,
            token,
            loaded: tokio::sync::OnceCell::new(),
            conv: Mutex::new(None),
            conns: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn conv(&self) -> Option<ConvInfo> {
        *self.conv.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record the open conversation; wakes the other connections if it is new.
    pub(crate) fn set_conv(&self, info: ConvInfo, except: Option<&Arc<Signal>>) {
        let changed = {
            let mut c = self.conv.lock().unwrap_or_else(|p| p.into_inner());
            let changed = c.map(|c| c.id) != Some(info.id);
            *c = Some(info);
            changed
        };
        if changed {
            for s in self.conns.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                if except.is_none_or(|e| !Arc::ptr_eq(e, s)) {
                    s.mark_session();
                }
            }
        }
    }

    pub(crate) fn attach(&self, s: &Arc<Signal>) {
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(s.clone());
    }

    /// Detach a connection; returns how many remain.
    pub(crate) fn detach(&self, s: &Arc<Signal>) -> usize {
        let mut c = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        c.retain(|x| !Arc::ptr_eq(x, s));
        c.len()
    }

    pub(crate) fn connection_count(&self) -> usize {
        self.conns.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}
