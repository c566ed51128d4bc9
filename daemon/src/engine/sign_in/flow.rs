//! A sign-in in progress, kept in the store between answers, so that the next answer may come
//! in another request (or to another daemon sharing the database). The door keeps only the
//! flow's id (a cookie-bound URL parameter on the web); the flow remembers where the sign-in
//! stands, the relying party's request, and the browser it belongs to.

use super::{Door, Outcome};
use crate::context::Context;
use crate::engine::EngineError;
use crate::model::User;
use crate::model::grants::{AuthorizationRequest, LoginFlow, LoginStep};
use crate::secrets::{constant_time_eq, random_token, token_hash};
use crate::store::batch::{Batch, Put, Remove};
use crate::store::{RecordKey, StoreError};

/// A sign-in must be finished within this time after it starts: longer than an emailed code
/// lives (15 minutes by default), so a slow email does not also expire the page.
pub const FLOW_LIFETIME: u64 = 30 * 60;

/// A new sign-in at the password step, for `request` (or for Postern's own pages), bound to
/// the browser whose CSRF cookie hashes to `browser`.
pub fn new(ctx: &Context, request: Option<AuthorizationRequest>, browser: [u8; 32]) -> LoginFlow {
    let now = ctx.clock.unix_now();
    LoginFlow {
        request,
        then_approve: None,
        step: LoginStep::Password,
        browser,
        created_at: now,
        expires_at: now + FLOW_LIFETIME,
    }
}

/// Stores a new flow; returns its id (the only place it exists in clear).
pub async fn start(ctx: &Context, flow: &LoginFlow) -> Result<String, StoreError> {
    let id = random_token();
    ctx.store.login_flows().put(&key(&id), flow).await?;
    Ok(id)
}

/// A stored flow, with the user its step is about as read with it (where the step names one,
/// the user still exists, and the store could read them together).
#[derive(Debug)]
pub struct Stored {
    pub flow: LoginFlow,
    /// For [`advance`]: the step need not read them again.
    pub user: Option<User>,
}

/// The flow with this id, if it exists, has not expired, and belongs to this browser.
pub async fn load(
    ctx: &Context,
    id: &str,
    browser: &[u8; 32],
) -> Result<Option<Stored>, StoreError> {
    let found = ctx
        .store
        .flow_and_user(&key(id), ctx.clock.unix_now())
        .await?;
    Ok(found
        .filter(|(flow, _)| constant_time_eq(&flow.browser, browser))
        .map(|(flow, user)| Stored { flow, user }))
}

/// What an answer led to.
#[derive(Debug)]
pub struct Advanced {
    pub outcome: Outcome,
    /// The user the sign-in is about, where the answer read them (see
    /// [`super::answer_about`]).
    pub user: Option<User>,
}

/// Applies `answer` to the flow (see [`super::answer`]) and keeps what follows: the next step
/// is stored, and a finished sign-in spends the flow, so its id cannot finish another. `read`
/// is the user as [`load`] read them with the flow, if it did.
pub async fn advance(
    ctx: &Context,
    door: &Door,
    id: &str,
    flow: &mut LoginFlow,
    read: Option<User>,
    answer: super::Answer,
) -> Result<Advanced, EngineError> {
    let (outcome, user) = super::answer_about(ctx, door, &flow.step, read, answer).await?;
    match &outcome {
        Outcome::Next(step) | Outcome::Enrolled { step, .. } => {
            move_to(ctx, &door.batch, id, flow, step.clone()).await?;
        }
        Outcome::Done(_) => end(ctx, &door.batch, id).await?,
        Outcome::Resent(_) | Outcome::Refused(_) => {}
    }
    Ok(Advanced { outcome, user })
}

/// Moves the flow to `step` (the consent page after a finished sign-in, for one).
pub async fn move_to(
    ctx: &Context,
    batch: &Batch,
    id: &str,
    flow: &mut LoginFlow,
    step: LoginStep,
) -> Result<(), StoreError> {
    flow.step = step;
    let put = Put::LoginFlow(key(id), flow.clone());
    batch.put(&*ctx.store, put).await
}

/// Spends a flow.
pub async fn end(ctx: &Context, batch: &Batch, id: &str) -> Result<(), StoreError> {
    batch.remove(&*ctx.store, Remove::LoginFlow(key(id))).await
}

fn key(id: &str) -> RecordKey {
    RecordKey::bearer(token_hash(id))
}
