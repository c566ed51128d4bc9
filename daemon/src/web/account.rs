//! The account page (`/account`): a signed-in user's second factor, recovery codes, remembered
//! browsers and password. Every form is CSRF-protected; every rule is the engine's.

use super::{PageError, Web, client_addr, csrf, pages, see_other, session, with_cookies};
use crate::engine::account;
use crate::engine::email_code::{self, Sent};
use crate::engine::{self, EngineError, PasswordAttempt, devices, sessions};
use crate::model::grants::{Authentication, CodePurpose};
use crate::model::{MfaMethod, User};
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

pub async fn show(State(web): State<Arc<Web>>, headers: HeaderMap) -> Result<Response, PageError> {
    let Some(live) = session::current(&web, &headers).await? else {
        return Ok(see_other("/login"));
    };
    if live.needs_second_factor {
        return super::login::step_up(&web, &headers, None, live).await;
    }
    let guard = csrf::guard(&web, &headers);
    Ok(with_cookies(
        page(&web, &guard.token, &live, &live.user, Note::default()).await,
        guard.set_cookie,
    ))
}

#[derive(Deserialize)]
pub struct AccountForm {
    csrf: Option<String>,
    action: Option<String>,
    code: Option<String>,
    device: Option<String>,
    client: Option<String>,
    current: Option<String>,
    new: Option<String>,
    repeat: Option<String>,
    /// Adding a passkey: the challenge answered, the browser's answer, and its name.
    passkey_challenge: Option<String>,
    passkey_answer: Option<String>,
    passkey_name: Option<String>,
    /// Renaming or removing a passkey: its credential id.
    passkey: Option<String>,
}

// Hand-written so passwords and codes never reach a log line.
impl std::fmt::Debug for AccountForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountForm")
            .field("action", &self.action)
            .finish_non_exhaustive()
    }
}

pub async fn submit(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Result<Response, PageError> {
    if csrf::check(&web, &headers, form.csrf.as_deref()).is_none() {
        return Err(PageError::shown(
            StatusCode::FORBIDDEN,
            "Please try again",
            "This form has expired or was not sent from this site. Go back, reload the page and try again.",
        ));
    }
    let live = match session::current(&web, &headers).await? {
        // The page itself takes the user through what policy now asks first.
        Some(live) if live.needs_second_factor => return Ok(see_other("/account")),
        Some(live) => live,
        None => return Ok(see_other("/login")),
    };
    let token = csrf::guard(&web, &headers).token;
    let address = client_addr(&web.ctx.config, peer, &headers);
    let request = Request {
        web: &web,
        token: &token,
        user: &live.user,
        live: &live,
        attempt: PasswordAttempt {
            username: &live.user.username,
            name_match: engine::NameMatch::Exact,
            password: "",
            address: Some(address),
            source: format!("account page {address}"),
            door: crate::audit::AuditDoor::Web,
            batch: crate::store::batch::Batch::now(),
        },
    };
    request.handle(form).await
}

struct Request<'a> {
    web: &'a Web,
    token: &'a str,
    user: &'a User,
    live: &'a session::LiveSession,
    attempt: PasswordAttempt<'a>,
}

impl Request<'_> {
    async fn handle(&self, form: AccountForm) -> Result<Response, PageError> {
        let ctx = &self.web.ctx;
        let offered = ctx.store.site_settings().await?.mfa_methods;
        let note = match form.action.as_deref().unwrap_or_default() {
            "enrol_totp" if offered.contains(&MfaMethod::Totp) => {
                let seed = account::new_totp_seed(ctx, self.user).await;
                session::set_pending_totp_seed(self.web, self.live, Some(seed.clone())).await?;
                return self.enrol_page("totp", Some(&seed), Note::default()).await;
            }
            "confirm_totp" => {
                // The seed offered is kept with the session; the form carries none.
                let Some(seed) = self.live.session.pending_totp_seed.clone() else {
                    return self
                        .main(Note::error("That enrolment expired. Start again."))
                        .await;
                };
                let code = form.code.unwrap_or_default();
                let enrolled = engine::confirm_totp_enrolment(
                    ctx,
                    &self.authentication(),
                    &seed,
                    &code,
                    &self.attempt,
                )
                .await?;
                let Some((_, codes)) = enrolled else {
                    let note = Note::error("That code is not right. Try the newest code.");
                    return self.enrol_page("totp", Some(&seed), note).await;
                };
                session::set_pending_totp_seed(self.web, self.live, None).await?;
                Note::codes(
                    "Two-step verification is on, with your authenticator app.",
                    codes,
                )
            }
            "enrol_email" if offered.contains(&MfaMethod::Email) => {
                match email_code::send(ctx, self.user, CodePurpose::Enrolment).await? {
                    Sent::To(_) => return self.enrol_page("email", None, Note::default()).await,
                    Sent::TooSoon(seconds) => {
                        let note = Note::notice(&format!(
                            "A code was sent less than a minute ago; a new one can go out in {seconds} seconds."
                        ));
                        return self.enrol_page("email", None, note).await;
                    }
                    Sent::Failed => Note::error("The email could not be sent. Try again later."),
                }
            }
            "confirm_email" => {
                let code = form.code.unwrap_or_default();
                let enrolled = engine::confirm_email_enrolment(
                    ctx,
                    &self.authentication(),
                    &code,
                    &self.attempt,
                )
                .await?;
                let Some((_, codes)) = enrolled else {
                    let note = Note::error("That code is not right, or has expired.");
                    return self.enrol_page("email", None, note).await;
                };
                Note::codes("Two-step verification is on, with email codes.", codes)
            }
            "disable" => match account::disable_mfa(ctx, self.user, &self.attempt).await {
                Ok(()) => Note::notice("Two-step verification is off."),
                Err(EngineError::Refused(reason)) => Note::error(&reason),
                Err(e) => return Err(e.into()),
            },
            "recovery_codes" => {
                match account::renew_recovery_codes(ctx, self.user, &self.attempt).await? {
                    Some(codes) => Note::codes("New recovery codes are ready.", codes),
                    None => Note::error("Turn on two-step verification first."),
                }
            }
            "passkey_add" => {
                let added = engine::passkeys::finish_registration(
                    ctx,
                    self.user.id,
                    form.passkey_challenge.as_deref().unwrap_or_default(),
                    form.passkey_name.as_deref().unwrap_or_default(),
                    form.passkey_answer.as_deref().unwrap_or_default(),
                    self.actor(),
                )
                .await;
                match added {
                    Ok(added) => {
                        let text = format!("Passkey “{}” added.", added.credential.name);
                        match added.recovery_codes {
                            Some(codes) => Note::codes(&text, codes),
                            None => Note::notice(&text),
                        }
                    }
                    Err(EngineError::Refused(reason)) => Note::error(&reason),
                    Err(e) => return Err(e.into()),
                }
            }
            "passkey_rename" => {
                let id = form.passkey.as_deref().unwrap_or_default();
                let name = form.passkey_name.as_deref().unwrap_or_default();
                match engine::passkeys::rename(ctx, self.user.id, id, name).await {
                    Ok(()) => Note::notice("Passkey renamed."),
                    Err(EngineError::Refused(reason)) => Note::error(&reason),
                    Err(e) => return Err(e.into()),
                }
            }
            "passkey_remove" => {
                let id = form.passkey.as_deref().unwrap_or_default();
                match engine::passkeys::remove(
                    ctx,
                    self.user.id,
                    id,
                    engine::passkeys::RemovedBy::User(self.actor()),
                )
                .await
                {
                    Ok(removed) => Note::notice(&format!("Passkey “{}” removed.", removed.name)),
                    Err(EngineError::Refused(reason)) => Note::error(&reason),
                    Err(e) => return Err(e.into()),
                }
            }
            "sign_out_elsewhere" => {
                let source = &self.attempt.source;
                let ended = sessions::end_elsewhere(ctx, self.user, &self.live.key, source).await?;
                Note::notice(&format!(
                    "Signed out everywhere else: {ended} other session{} ended, and applications \
                     signed in as you must sign in again.",
                    if ended == 1 { "" } else { "s" }
                ))
            }
            "forget_device" => {
                let device = form.device.as_deref().unwrap_or_default();
                if devices::forget_one(ctx, self.user.id, device).await? {
                    Note::notice("That browser will be asked for the second step again.")
                } else {
                    Note::error("That browser was already forgotten.")
                }
            }
            "revoke_consent" => {
                let client = form.client.as_deref().unwrap_or_default();
                let source = &self.attempt.source;
                if engine::consent::revoke(ctx, self.user, client, source).await? {
                    Note::notice(
                        "That application no longer has your permission, and its access was ended.",
                    )
                } else {
                    Note::error("That application had no permission left.")
                }
            }
            "password" => {
                let (current, new) = (
                    form.current.unwrap_or_default(),
                    form.new.unwrap_or_default(),
                );
                if new != form.repeat.unwrap_or_default() {
                    Note::error("The two new passwords differ.")
                } else {
                    match account::change_password(ctx, self.user, &current, &new, &self.attempt)
                        .await
                    {
                        Ok(()) => {
                            session::saw_password_change(self.web, self.live).await?;
                            Note::notice(
                                "Your password is changed. You were signed out everywhere else, and remembered browsers were forgotten.",
                            )
                        }
                        Err(EngineError::Refused(reason)) => Note::error(&reason),
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            _ => Note::error("That action is not available."),
        };
        self.main(note).await
    }

    fn actor(&self) -> engine::passkeys::Actor<'_> {
        engine::passkeys::Actor {
            name: &self.user.username,
            door: crate::audit::AuditDoor::Web,
            source: &self.attempt.source,
        }
    }

    /// The session's authentication, for enrolments made while signed in.
    fn authentication(&self) -> Authentication {
        self.live.session.authentication.clone()
    }

    async fn main(&self, note: Note) -> Result<Response, PageError> {
        // Re-read the user: the action may have changed them.
        Ok(match self.web.ctx.store.user(self.user.id).await? {
            Some(user) => page(self.web, self.token, self.live, &user, note).await,
            None => see_other("/login"),
        })
    }

    async fn enrol_page(
        &self,
        method: &str,
        sealed_seed: Option<&[u8]>,
        note: Note,
    ) -> Result<Response, PageError> {
        let mut context = tera::Context::new();
        context.insert("csrf", self.token);
        context.insert("method", method);
        context.insert("sent_to", &crate::mail::mask_address(&self.user.email));
        context.insert("error", &note.error);
        context.insert("notice", &note.notice);
        if let Some(seed) = sealed_seed {
            let (manual_key, qr_svg) =
                engine::enrolment_material(&self.web.ctx, self.user, seed).await?;
            context.insert("manual_key", &manual_key);
            context.insert("qr_svg", &qr_svg);
        }
        Ok(self
            .web
            .page(StatusCode::OK, "account_enrol.html", &context))
    }
}

/// What to tell the user at the top of the page.
#[derive(Debug, Default)]
struct Note {
    error: Option<String>,
    notice: Option<String>,
    codes: Vec<String>,
}

impl Note {
    fn error(text: &str) -> Self {
        Self {
            error: Some(text.into()),
            ..Self::default()
        }
    }

    fn notice(text: &str) -> Self {
        Self {
            notice: Some(text.into()),
            ..Self::default()
        }
    }

    fn codes(text: &str, codes: Vec<String>) -> Self {
        Self {
            notice: Some(text.into()),
            codes,
            ..Self::default()
        }
    }
}

#[derive(serde::Serialize)]
struct MethodOption {
    id: &'static str,
    label: &'static str,
}

#[derive(serde::Serialize)]
struct ConsentRow {
    client_id: String,
    client_name: String,
    scopes: String,
    granted: String,
}

#[derive(serde::Serialize)]
struct DeviceRow {
    id: String,
    label: String,
    first_remembered: String,
    remembered_from: Option<String>,
    last_used: String,
}

async fn page(
    web: &Web,
    token: &str,
    live: &session::LiveSession,
    user: &User,
    note: Note,
) -> Response {
    let ctx = &web.ctx;
    let settings = ctx.store.site_settings().await.unwrap_or_default();
    let roles = ctx.store.roles_of(user).await.unwrap_or_default();
    let current = user.mfa.as_ref().filter(|m| m.is_usable(&settings));
    let offered: Vec<MethodOption> = settings
        .mfa_methods
        .iter()
        .filter(|m| current.is_none_or(|c| c.method != **m))
        .filter_map(|m| match m {
            MfaMethod::Totp => Some(MethodOption {
                id: "totp",
                label: "an authenticator app",
            }),
            MfaMethod::Email => Some(MethodOption {
                id: "email",
                label: "email codes",
            }),
            // Passkeys have a section of their own.
            MfaMethod::Webauthn => None,
        })
        .collect();
    let devices: Vec<DeviceRow> = devices::list(ctx, user.id)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|(id, device)| DeviceRow {
            id,
            label: device.label,
            first_remembered: crate::clock::format_for_people(device.created_at),
            remembered_from: device.remembered_from,
            last_used: crate::clock::format_for_people(device.last_used_at),
        })
        .collect();
    let mut consents: Vec<ConsentRow> = Vec::new();
    for grant in ctx.store.consents_of(user.id).await.unwrap_or_default() {
        let client = ctx.store.client(&grant.client_id).await.ok().flatten();
        consents.push(ConsentRow {
            client_name: client.map_or_else(|| grant.client_id.clone(), |c| c.name),
            scopes: grant.scopes.iter().cloned().collect::<Vec<_>>().join(" "),
            granted: crate::clock::format_for_people(grant.granted_at),
            client_id: grant.client_id,
        });
    }
    let mut context = tera::Context::new();
    context.insert("csrf", token);
    context.insert("username", &user.username);
    context.insert("consents", &consents);
    context.insert("mfa_enabled", &current.is_some());
    context.insert(
        "mfa_method_label",
        &current.map(|m| match m.method {
            MfaMethod::Totp => "an authenticator app",
            MfaMethod::Email => "email codes",
            MfaMethod::Webauthn => "passkeys",
        }),
    );
    context.insert("mfa_required", &crate::model::mfa::mfa_required(&roles));
    context.insert(
        "recovery_codes_left",
        &current.map_or(0, |m| m.recovery_codes.len()),
    );
    context.insert("offered", &offered);
    context.insert("devices", &devices);
    context.insert(
        "remember_window",
        &crate::clock::describe_duration(settings.remember_device_seconds),
    );
    context.insert("error", &note.error);
    context.insert("notice", &note.notice);
    context.insert("new_codes", &note.codes);
    if let Err(e) = passkeys_section(web, user, &settings, &mut context).await {
        return axum::response::IntoResponse::into_response(PageError::from(e));
    }
    context.insert("activity", &recent_activity(web, user).await);
    context.insert("sessions", &session_rows(web, live).await);
    web.page(StatusCode::OK, "account.html", &context)
}

#[derive(serde::Serialize)]
struct SessionRow {
    browser: String,
    source: String,
    started: String,
    this_browser: bool,
}

/// The user's live sessions, this browser's first.
async fn session_rows(web: &Web, live: &session::LiveSession) -> Vec<SessionRow> {
    let mut rows: Vec<SessionRow> = sessions::list(&web.ctx, live.user.id)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|(key, session)| SessionRow {
            browser: if session.browser.is_empty() {
                "A browser".into()
            } else {
                session.browser
            },
            source: session.source,
            started: crate::clock::format_for_people(session.created_at),
            this_browser: key == live.key,
        })
        .collect();
    rows.sort_by_key(|row| !row.this_browser);
    rows
}

/// How many of the user's own security events the account page lists, and how far back.
const ACTIVITY_ROWS: usize = 20;
const ACTIVITY_DAYS: u64 = 90;

#[derive(serde::Serialize)]
struct ActivityRow {
    when: String,
    what: String,
    door: &'static str,
    source: String,
    factor: Option<&'static str>,
    failed: bool,
}

/// The user's last sign-ins and security events, from the audit trail: what happened to their
/// account, when, through which door, from where, with which factor, and whether it failed.
async fn recent_activity(web: &Web, user: &User) -> Vec<ActivityRow> {
    let since = web
        .ctx
        .clock
        .unix_now()
        .saturating_sub(ACTIVITY_DAYS * 24 * 3600);
    let username = user.username.clone();
    let mine =
        move |event: &crate::audit::AuditEvent| event.subject.as_deref() == Some(username.as_str());
    let events = match web
        .ctx
        .store
        .audit_log()
        .newest(since, ACTIVITY_ROWS, &mine)
        .await
    {
        Ok(events) => events,
        Err(e) => {
            tracing::warn!(error = %e, "the account page's activity could not be read");
            Vec::new()
        }
    };
    events
        .into_iter()
        .map(|event| ActivityRow {
            when: crate::clock::format_for_people(event.at),
            what: event.action.as_str().replace('_', " "),
            door: event.door.as_str(),
            source: event.source,
            factor: event.factor.map(|f| f.as_str()),
            failed: event.outcome == crate::audit::Outcome::Failure,
        })
        .collect()
}

#[derive(serde::Serialize)]
struct PasskeyRow {
    id: String,
    name: String,
    added: String,
    last_used: String,
}

/// The passkeys section: the user's passkeys, and (when the site offers them and the user
/// has room) a challenge for adding one, made afresh with each showing of the page.
async fn passkeys_section(
    web: &Web,
    user: &User,
    settings: &crate::model::SiteSettings,
    context: &mut tera::Context,
) -> Result<(), EngineError> {
    let ctx = &web.ctx;
    let offered = engine::passkeys::offered(ctx, settings);
    let passkeys: Vec<PasskeyRow> = user
        .mfa
        .iter()
        .flat_map(|m| &m.passkeys)
        .map(|p| PasskeyRow {
            id: p.id.clone(),
            name: p.name.clone(),
            added: crate::clock::format_for_people(p.created_at),
            last_used: p
                .last_used_at
                .map_or_else(|| "never".into(), crate::clock::format_for_people),
        })
        .collect();
    let room = passkeys.len() < engine::passkeys::MAX_PASSKEYS;
    let started = match offered && room {
        true => Some(engine::passkeys::start_registration(ctx, user).await?),
        false => None,
    };
    context.insert("passkeys_offered", &offered);
    context.insert("passkeys", &passkeys);
    pages::offer_passkey(context, started.as_ref());
    Ok(())
}
