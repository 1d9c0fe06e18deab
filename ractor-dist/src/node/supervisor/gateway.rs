//! A peer's supervisor as this node reaches it: the actor (ractor_cluster's proxy over the
//! session to that peer, or a relay of the in-memory transport) and the session token that
//! peer issued to this node, which travels on everything sent to it.

use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{ActorId, ActorRef, MessagingErr, RpcReplyPort};

use super::SupervisorMsg;

/// A session token: a random number a node issues to one peer over that peer's session.
/// Frames and requests carrying it came from that peer (see `tokens`).
pub(crate) type Token = u128;

/// No token: only a token's own handout and its confirmation are sent without one.
pub(crate) const NO_TOKEN: Token = 0;

/// A random token (never `NO_TOKEN`).
pub(crate) fn fresh_token() -> Token {
    loop {
        let token: Token = rand::random();
        if token != NO_TOKEN {
            return token;
        }
    }
}

/// The token in a message's metadata (`NO_TOKEN` when there is none or it is malformed).
pub(super) fn token_of(metadata: Option<Vec<u8>>) -> Token {
    metadata
        .and_then(|m| <[u8; 16]>::try_from(m.as_slice()).ok())
        .map_or(NO_TOKEN, Token::from_be_bytes)
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

    /// The peer's supervisor actor (its proxy here).
    pub(crate) fn get_id(&self) -> ActorId {
        self.actor.get_id()
    }

    /// The actor itself (tests send it what a peer could).
    #[cfg(test)]
    pub(crate) fn actor(&self) -> &ActorRef<SupervisorMsg> {
        &self.actor
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
