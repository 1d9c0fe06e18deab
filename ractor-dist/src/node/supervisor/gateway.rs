//! A peer's supervisor as this node reaches it: the actor (ractor_cluster's proxy over the
//! session to that peer, or a relay of the in-memory transport) and the session token that
//! peer issued to this node, which travels on everything sent to it.

use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{ActorRef, MessagingErr, RpcReplyPort};

use super::SupervisorMsg;

pub(crate) use crate::core::tokens::{Token, NO_TOKEN};

/// A random token (never `NO_TOKEN`).
pub(crate) fn fresh_token() -> Token {
    loop {
        let token: Token = rand::random();
        if token != NO_TOKEN {
            return token;
        }
    }
}

/// See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Gateway {
    actor: ActorRef<SupervisorMsg>,
    token: Token,
}

impl Gateway {
    pub(crate) fn new(actor: ActorRef<SupervisorMsg>, token: Token) -> Self {
        Self { actor, token }
    }

    /// The actor itself (tests send it what a peer could).
    #[cfg(test)]
    pub(crate) fn actor(&self) -> &ActorRef<SupervisorMsg> {
        &self.actor
    }

    /// The peer supervisor's proxy this gateway sends to (one per session).
    pub(crate) fn id(&self) -> ractor::ActorId {
        self.actor.get_id()
    }

    /// The same proxy with the same session token (a token confirmed again makes a new
    /// gateway to the same proxy).
    pub(crate) fn same(&self, other: &Gateway) -> bool {
        self.id() == other.id() && self.token == other.token
    }

    /// Sends a one-way envelope.
    ///
    /// # Errors
    ///
    /// When the session closed.
    pub(crate) fn frame(&self, bytes: Vec<u8>) -> Result<(), MessagingErr<SupervisorMsg>> {
        self.actor.cast(SupervisorMsg::Frame(bytes, self.token))
    }

    /// Sends a request envelope whose answer goes to `reply`.
    ///
    /// # Errors
    ///
    /// When the session closed.
    pub(crate) fn send_request(
        &self,
        bytes: Vec<u8>,
        reply: RpcReplyPort<Vec<u8>>,
    ) -> Result<(), MessagingErr<SupervisorMsg>> {
        self.actor
            .send_message(SupervisorMsg::Request(bytes, self.token, reply))
    }

    /// Sends a request envelope and waits up to `timeout` for the answer.
    ///
    /// # Errors
    ///
    /// When the session closed.
    pub(crate) async fn request(
        &self,
        bytes: Vec<u8>,
        timeout: Duration,
    ) -> Result<CallResult<Vec<u8>>, MessagingErr<SupervisorMsg>> {
        let token = self.token;
        self.actor
            .call(
                |port| SupervisorMsg::Request(bytes, token, port),
                Some(timeout),
            )
            .await
    }
}
