//! Executing the session-token protocol ([`crate::core::tokens`] decides everything): the
//! peers' supervisor actors (`raw_gateways`), `Token` frames cast to them, confirmations
//! asked over them, and the answers fed back.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ractor::rpc::CallResult;
use ractor::{ActorId, ActorRef};

use super::gateway::{fresh_token, Gateway, Token, NO_TOKEN};
use super::{SupervisorMsg, SupervisorState};
use crate::core::tokens::{Answer, Checked, SessionPlan, TokenCommand};
use crate::core::wire::{self, FrameBody, Req, Request, Response};
use crate::core::NodeName;
use crate::node::shared::Counters;

impl SupervisorState {
    /// The transport's peer supervisors (`present`) of the peers with a session
    /// (`connected`): tokens go to new ones, and frames go to those whose token this node
    /// holds (`supervisors`). Returns which of them are new and the hellos now answerable.
    pub(super) fn gateways(
        &mut self,
        present: &HashMap<NodeName, ActorRef<SupervisorMsg>>,
        connected: &[(NodeName, String)],
    ) -> SessionPlan<ActorId> {
        let ids: BTreeMap<NodeName, ActorId> = present
            .iter()
            .map(|(peer, actor)| (peer.clone(), actor.get_id()))
            .collect();
        let names: BTreeSet<NodeName> = connected.iter().map(|(n, _)| n.clone()).collect();
        let plan = self.tokens.handle_sessions(&ids, &names, &mut fresh_token);
        self.raw_gateways = present.clone();
        self.run_tokens();
        self.supervisors = plan
            .usable
            .iter()
            .filter_map(|(peer, (_, token))| {
                let actor = self.raw_gateways.get(peer)?;
                Some((peer.clone(), Gateway::new(actor.clone(), *token)))
            })
            .collect();
        plan
    }

    /// Carries out what the tokens decided: `Token` frames to hand out, confirmations to
    /// ask.
    pub(super) fn run_tokens(&mut self) {
        while let Some(command) = self.tokens.poll_command() {
            match command {
                TokenCommand::HandOut { to, token } => {
                    if let Some(actor) = self.raw_gateways.get(&to) {
                        tracing::debug!(peer = %to, "session token handed out");
                        let frame = self.frame(FrameBody::Token { token });
                        let _ = actor.cast(SupervisorMsg::Frame(frame, NO_TOKEN));
                    }
                }
                TokenCommand::Confirm {
                    peer,
                    gateway,
                    token,
                } => self.confirm_token(peer, gateway, token),
            }
        }
    }

    /// Asks `peer`, over its own session (`gateway`), to whom it issued `token`; the answer
    /// comes back as `SupervisorMsg::TokenChecked`.
    fn confirm_token(&mut self, peer: NodeName, gateway: ActorId, token: Token) {
        let (Some(actor), Ok(myself)) = (
            self.raw_gateways.get(&peer).cloned(),
            self.shared.supervisor().cloned(),
        ) else {
            self.tokens
                .handle_answer(peer, gateway, token, Answer::Lost);
            return;
        };
        let bytes = wire::encode(&Req {
            from: self.shared.me.clone(),
            body: Request::Confirm { token },
        });
        let timeout = self.engine.timing().confirm();
        tokio::spawn(async move {
            let answer = actor
                .call(
                    |port| SupervisorMsg::Request(bytes, NO_TOKEN, port),
                    Some(timeout),
                )
                .await;
            let answer = match answer {
                Ok(CallResult::Success(bytes)) => {
                    Answer::Owner(match wire::decode::<Response>(&bytes, u64::MAX) {
                        Ok(Response::TokenOwner(owner)) => owner,
                        _ => None,
                    })
                }
                _ => Answer::Lost,
            };
            let _ = myself.cast(SupervisorMsg::TokenChecked {
                peer,
                gateway,
                token,
                answer,
            });
        });
    }

    /// `peer` answered (or not) whether it issued `token` to this node for its supervisor
    /// `gateway`.
    pub(super) async fn token_checked(
        &mut self,
        peer: NodeName,
        gateway: ActorId,
        token: Token,
        answer: Answer,
    ) {
        match self
            .tokens
            .handle_answer(peer.clone(), gateway, token, answer)
        {
            Checked::Confirmed => self.reconcile().await,
            Checked::Refused => {
                let n = Counters::bump(&self.shared.counters.frames_refused);
                tracing::warn!(%peer, count = n, "refused a session token that peer did not issue to this node");
            }
            Checked::Lost => {}
        }
    }

    /// Answers a `Request::Confirm`: to whom this node issued `token`.
    pub(super) fn token_owner(&self, token: Token) -> Response {
        Response::TokenOwner(self.tokens.session_of(token).cloned())
    }
}

#[cfg(test)]
mod tests;
