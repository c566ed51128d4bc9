//! Whether a live single sign-on session still satisfies the user's policy. A session records
//! what was proved when it began; policy can change after that (a role that now requires MFA,
//! an administrator's reset, a disabled account, a password changed elsewhere). Every
//! authorization and every account page request asks here again, so a change takes effect at
//! once for sessions that already exist.

use crate::context::Context;
use crate::model::User;
use crate::model::grants::{Authentication, Session};
use crate::model::mfa::{mfa_required, phishing_resistant_required};
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// The session may no longer be used: the user is gone or disabled, or their password
    /// was changed after the session began.
    Ended(&'static str),
    /// The session may be used, with what still counts of its authentication.
    Valid(Authentication),
    /// The session proves less than the user's policy now requires: a second factor (or an
    /// enrolment) must be completed before it is used again.
    NeedsSecondFactor(Authentication),
}

/// What a session keeps to notice a password change: a digest of the user's (salted) password
/// hash, which changes with every new password, even twice in one second.
pub fn password_fingerprint(user: &User) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("session:{}", user.password_hash).as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Judges `session` against the current state of its `user` (`None`: deleted).
pub async fn standing(
    ctx: &Context,
    user: Option<&User>,
    session: &Session,
) -> Result<Standing, StoreError> {
    let Some(user) = user.filter(|u| u.id == session.authentication.user_id) else {
        return Ok(Standing::Ended("the user no longer exists"));
    };
    if user.disabled {
        return Ok(Standing::Ended("the account is disabled"));
    }
    if user.session_generation != session.generation {
        return Ok(Standing::Ended(
            "an administrator ended the user's sessions",
        ));
    }
    let password_changed = match &session.password_fingerprint {
        Some(seen) => !crate::secrets::constant_time_eq(
            seen.as_bytes(),
            password_fingerprint(user).as_bytes(),
        ),
        None => user.password_changed_at > session.created_at,
    };
    if password_changed {
        return Ok(Standing::Ended(
            "the password changed after the session began",
        ));
    }
    let mut authentication = session.authentication.clone();
    // A second factor proved with an enrolment that is gone (an administrator's reset, or a
    // method the site no longer offers) no longer counts.
    let settings = ctx.store.site_settings().await?;
    if !user.mfa.as_ref().is_some_and(|m| m.is_usable(&settings)) {
        authentication.amr.retain(|m| m != "otp" && m != "mfa");
    }
    // Likewise a passkey proof, once the user has no passkey that can still sign in.
    if crate::engine::passkeys::usable(ctx, &settings, user).is_empty() {
        authentication
            .amr
            .retain(|m| !matches!(m.as_str(), "hwk" | "swk" | "user"));
    }
    let roles = ctx.store.roles_of(user).await?;
    let phishing_resistant = phishing_resistant_required(&roles);
    if (mfa_required(&roles) && !authentication.has_mfa())
        || (phishing_resistant && !authentication.is_phishing_resistant())
    {
        return Ok(Standing::NeedsSecondFactor(authentication));
    }
    Ok(Standing::Valid(authentication))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::mfa::MfaEnrolment;
    use crate::model::{MfaMethod, Role};

    async fn user(ctx: &Context) -> User {
        let user = User {
            created_at: 10,
            password_changed_at: 10,
            mfa: Some(MfaEnrolment {
                method: MfaMethod::Email,
                totp: None,
                recovery_codes: Vec::new(),
                enrolled_at: 10,
                passkeys: Vec::new(),
            }),
            ..User::for_tests("kai")
        };
        ctx.store.insert_user(&user).await.unwrap();
        user
    }

    fn session(user: &User, amr: &[&str]) -> Session {
        Session {
            authentication: Authentication {
                user_id: user.id,
                auth_time: 20,
                amr: amr.iter().map(|m| m.to_string()).collect(),
            },
            created_at: 20,
            password_fingerprint: Some(password_fingerprint(user)),
            generation: 0,
            pending_totp_seed: None,
            expires_at: 1_000,
            browser: String::new(),
            source: String::new(),
        }
    }

    async fn require_mfa(ctx: &Context, user: &mut User) {
        ctx.store
            .insert_role(&Role {
                name: "staff".into(),
                require_mfa: true,
                api_access: false,
                require_phishing_resistant: false,
            })
            .await
            .unwrap();
        user.roles.insert("staff".into());
    }

    #[tokio::test]
    async fn a_new_mfa_requirement_reaches_a_password_session() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::for_tests(dir.path()).await;
        let mut kai = user(&ctx).await;
        let password_only = session(&kai, &["pwd"]);
        assert!(matches!(
            standing(&ctx, Some(&kai), &password_only).await.unwrap(),
            Standing::Valid(_)
        ));
        require_mfa(&ctx, &mut kai).await;
        assert!(matches!(
            standing(&ctx, Some(&kai), &password_only).await.unwrap(),
            Standing::NeedsSecondFactor(_)
        ));
        let with_mfa = session(&kai, &["pwd", "otp", "mfa"]);
        assert!(matches!(
            standing(&ctx, Some(&kai), &with_mfa).await.unwrap(),
            Standing::Valid(_)
        ));
    }

    #[tokio::test]
    async fn a_reset_voids_the_second_factor_a_session_proved() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::for_tests(dir.path()).await;
        let mut kai = user(&ctx).await;
        let with_mfa = session(&kai, &["pwd", "otp", "mfa"]);
        kai.mfa = None;
        let Standing::Valid(authentication) = standing(&ctx, Some(&kai), &with_mfa).await.unwrap()
        else {
            panic!("a session without a requirement stays valid");
        };
        assert_eq!(authentication.amr, vec!["pwd".to_owned()]);
        require_mfa(&ctx, &mut kai).await;
        assert!(matches!(
            standing(&ctx, Some(&kai), &with_mfa).await.unwrap(),
            Standing::NeedsSecondFactor(_)
        ));
    }

    #[tokio::test]
    async fn a_disabled_user_a_deleted_user_and_a_new_password_end_the_session() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::for_tests(dir.path()).await;
        let mut kai = user(&ctx).await;
        let live = session(&kai, &["pwd"]);
        assert!(matches!(
            standing(&ctx, None, &live).await.unwrap(),
            Standing::Ended(_)
        ));
        kai.password_hash = "$argon2id$another".into();
        assert!(matches!(
            standing(&ctx, Some(&kai), &live).await.unwrap(),
            Standing::Ended(_)
        ));
        kai.password_hash = String::new();
        assert!(matches!(
            standing(&ctx, Some(&kai), &live).await.unwrap(),
            Standing::Valid(_)
        ));
        kai.disabled = true;
        assert!(matches!(
            standing(&ctx, Some(&kai), &live).await.unwrap(),
            Standing::Ended(_)
        ));
        kai.disabled = false;
        kai.session_generation = 1;
        assert!(matches!(
            standing(&ctx, Some(&kai), &live).await.unwrap(),
            Standing::Ended(_)
        ));
    }

    #[tokio::test]
    async fn a_passkey_requirement_stops_a_session_a_code_made() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::for_tests(dir.path()).await;
        let mut kai = user(&ctx).await;
        let with_code = session(&kai, &["pwd", "otp", "mfa"]);
        ctx.store
            .insert_role(&Role {
                name: "keyholders".into(),
                require_mfa: false,
                api_access: false,
                require_phishing_resistant: true,
            })
            .await
            .unwrap();
        kai.roles.insert("keyholders".into());
        assert!(matches!(
            standing(&ctx, Some(&kai), &with_code).await.unwrap(),
            Standing::NeedsSecondFactor(_)
        ));
        // A passkey proof counts only while the user still has that passkey.
        let with_passkey = session(&kai, &["pwd", "mfa", "hwk", "user"]);
        let Standing::NeedsSecondFactor(authentication) =
            standing(&ctx, Some(&kai), &with_passkey).await.unwrap()
        else {
            panic!("kai has no passkey, so the proof is void");
        };
        assert!(!authentication.amr.iter().any(|m| m == "hwk"));
    }
}
