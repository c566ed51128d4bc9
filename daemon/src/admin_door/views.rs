//! Turns stored records into what an administrator sees: no hashes, no secrets.

use crate::audit::AuditEvent;
use crate::model::{Client, Role, User};
use crate::tokens::keys::SigningKeyRecord;
use postern_proto::admin::{AuditView, ClientView, KeyView, MfaView, RoleView, UserView};

pub fn user(user: User, locked_until: Option<u64>, mfa: MfaView) -> UserView {
    UserView {
        locked_until,
        mfa,
        id: user.id.to_string(),
        username: user.username,
        email: user.email,
        email_verified: user.email_verified,
        display_name: user.display_name,
        roles: user.roles.into_iter().collect(),
        disabled: user.disabled,
        created_at: user.created_at,
        last_login_at: user.last_login_at,
        invited_at: user.invited_at,
    }
}

pub fn role(role: Role, members: u64) -> RoleView {
    RoleView {
        name: role.name,
        require_mfa: role.require_mfa,
        api_access: role.api_access,
        require_phishing_resistant: role.require_phishing_resistant,
        members,
    }
}

pub fn audit(event: AuditEvent) -> AuditView {
    AuditView {
        at: event.at,
        actor: event.actor,
        action: event.action.as_str().to_owned(),
        subject: event.subject,
        source: event.source,
        outcome: event.outcome.as_str().to_owned(),
        detail: event.detail,
    }
}

pub fn client(client: Client) -> ClientView {
    ClientView {
        public: client.is_public(),
        require_pkce: client.requires_pkce(),
        consent: client.consent,
        device_flow: client.device_flow,
        client_id: client.id,
        name: client.name,
        redirect_uris: client.redirect_uris,
        post_logout_redirect_uris: client.post_logout_redirect_uris,
        signing_alg: client.signing_alg.as_str().to_owned(),
        created_at: client.created_at,
    }
}

pub fn key(record: SigningKeyRecord) -> KeyView {
    KeyView {
        kid: record.kid,
        alg: record.alg.as_str().to_owned(),
        created_at: record.created_at,
        retired_at: record.retired_at,
    }
}
