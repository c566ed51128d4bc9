//! A second factor spent on the stored user, so that it never works again: the TOTP step it
//! used (no code of that step or an earlier one counts after it), the recovery code it matched,
//! or, for an emailed code (spent already), the proof of the address. Checked again inside the
//! store's atomic change: of two requests that both saw the code unspent, only one spends it.

use crate::clock::UnixSeconds;
use crate::context::Context;
use crate::limits;
use crate::model::User;
use crate::store::{Edit, RecordKey, StoreError, UnlessFailures};

/// What a right code used.
#[derive(Debug, Clone, Copy)]
pub(super) enum Used {
    TotpStep(u64),
    /// The stored hash of the recovery code that matched.
    RecoveryCode([u8; 32]),
    EmailCode,
}

/// What spending came to.
#[derive(Debug)]
pub(super) enum Spent {
    /// The user after.
    Now(Box<User>),
    /// Another request spent it first.
    Already,
    /// The attempt's failure windows lock it: nothing was spent.
    Locked,
}

/// Spends `used` on `user` (as the caller read them); `signed_in_at`, when the code completes
/// a sign-in, becomes the user's last sign-in in the same write. `limits`, the attempt's
/// failure windows ([`limits::window_keys`]), are read in the same step, for a code checked
/// in memory before its limits were read.
pub(super) async fn spend(
    ctx: &Context,
    user: &User,
    used: Used,
    signed_in_at: Option<UnixSeconds>,
    limits: Option<(&RecordKey, &RecordKey)>,
) -> Result<Spent, StoreError> {
    let now = ctx.clock.unix_now();
    let spent = match limits {
        None => {
            ctx.store
                .update_seen_user(user, change_of(used, signed_in_at))
                .await
        }
        Some(windows) => {
            let change = change_of(used, signed_in_at);
            let store = &ctx.store;
            match store
                .update_seen_user_unless_failures(user, change, windows, now)
                .await
            {
                Ok(UnlessFailures::Changed(after)) => Ok(*after),
                Ok(UnlessFailures::Failures(found)) if limits::locks(&found, now) => {
                    return Ok(Spent::Locked);
                }
                // Failures that do not lock: spent as it would be without them.
                Ok(UnlessFailures::Failures(_)) => {
                    store
                        .update_seen_user(user, change_of(used, signed_in_at))
                        .await
                }
                Err(e) => Err(e),
            }
        }
    };
    match spent {
        Ok(after) => Ok(Spent::Now(Box::new(after))),
        Err(StoreError::Conflict(reason)) if reason == ALREADY_SPENT => Ok(Spent::Already),
        Err(e) => Err(e),
    }
}

/// The change that spends `used`; a conflict when the stored user has spent it already.
fn change_of(used: Used, signed_in_at: Option<UnixSeconds>) -> Edit<'static, User> {
    Box::new(move |u| {
        if signed_in_at.is_some() {
            u.last_login_at = signed_in_at;
        }
        // A code mailed to the address and typed back proves the address.
        if matches!(used, Used::EmailCode) {
            u.email_verified = true;
        }
        let Some(mfa) = u.mfa.as_mut() else {
            // Reset meanwhile: only an emailed code (spent already) still counts.
            return match used {
                Used::EmailCode => Ok(()),
                _ => Err(StoreError::Conflict(ALREADY_SPENT.into())),
            };
        };
        let fresh = match used {
            Used::TotpStep(step) => match mfa.totp.as_mut() {
                Some(seed) if seed.last_step.is_none_or(|last| last < step) => {
                    seed.last_step = Some(step);
                    true
                }
                _ => false,
            },
            Used::RecoveryCode(hash) => match mfa.recovery_codes.iter().position(|h| *h == hash) {
                Some(index) => {
                    mfa.recovery_codes.remove(index);
                    true
                }
                None => false,
            },
            // Spent already, atomically, by `email_code::verify`.
            Used::EmailCode => true,
        };
        if fresh {
            Ok(())
        } else {
            Err(StoreError::Conflict(ALREADY_SPENT.into()))
        }
    })
}

const ALREADY_SPENT: &str = "the code was already spent";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::factors::recovery;
    use crate::model::MfaMethod;
    use crate::model::mfa::{MfaEnrolment, TotpSeed};

    fn enrolled(ctx: &Context, codes: &[&str]) -> User {
        User {
            mfa: Some(MfaEnrolment {
                method: MfaMethod::Totp,
                totp: Some(TotpSeed {
                    sealed: Vec::new(),
                    last_step: Some(10),
                }),
                recovery_codes: codes
                    .iter()
                    .map(|code| recovery::hash(&ctx.master_key, code))
                    .collect(),
                enrolled_at: 1,
                passkeys: Vec::new(),
            }),
            ..User::for_tests("ines")
        }
    }

    #[tokio::test]
    async fn a_code_is_spent_once_even_by_two_requests_that_both_saw_it_unspent() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::for_tests(dir.path()).await;
        let user = enrolled(&ctx, &["RIGHT-CODE", "OTHER-CODE"]);
        let (hash, other) = (
            recovery::hash(&ctx.master_key, "RIGHT-CODE"),
            recovery::hash(&ctx.master_key, "OTHER-CODE"),
        );
        ctx.store.insert_user(&user).await.unwrap();

        // Both requests read the user before either wrote: the store decides.
        let (ctx, user) = (&ctx, &user);
        let spends = |used| async move {
            let spent = spend(ctx, user, used, None, None).await.unwrap();
            matches!(spent, Spent::Now(_))
        };
        assert!(spends(Used::TotpStep(11)).await);
        assert!(!spends(Used::TotpStep(11)).await);
        assert!(!spends(Used::TotpStep(9)).await);
        assert!(spends(Used::RecoveryCode(hash)).await);
        assert!(!spends(Used::RecoveryCode(hash)).await);
        let stored = ctx.store.user(user.id).await.unwrap().unwrap();
        let mfa = stored.mfa.unwrap();
        assert_eq!(mfa.totp.unwrap().last_step, Some(11));
        assert_eq!(
            mfa.recovery_codes,
            vec![other],
            "the second use removed no other code"
        );
    }

    /// A code checked in memory is spent only if its limits, read in the same step, do not
    /// lock it; failures that do not lock do not stop it.
    #[tokio::test]
    async fn a_code_is_not_spent_while_its_limits_lock_it() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::for_tests(dir.path()).await;
        let user = enrolled(&ctx, &[]);
        ctx.store.insert_user(&user).await.unwrap();
        let address = Some("192.0.2.9".parse().unwrap());
        let windows = limits::window_keys("ines", address);
        let limits = Some((&windows.0, &windows.1));
        let now = ctx.clock.unix_now();
        let last_step = |user: User| user.mfa.unwrap().totp.unwrap().last_step;

        let spent = spend(&ctx, &user, Used::TotpStep(11), None, limits).await;
        let Spent::Now(after) = spent.unwrap() else {
            panic!("no failures: spent");
        };
        assert_eq!(last_step(*after.clone()), Some(11));

        ctx.limiter
            .record_failure("ines", address, now)
            .await
            .unwrap();
        let spent = spend(&ctx, &after, Used::TotpStep(12), None, limits).await;
        let Spent::Now(after) = spent.unwrap() else {
            panic!("one failure does not lock: spent");
        };

        while !ctx.limiter.is_locked("ines", address, now).await.unwrap() {
            ctx.limiter
                .record_failure("ines", address, now)
                .await
                .unwrap();
        }
        let spent = spend(&ctx, &after, Used::TotpStep(13), None, limits).await;
        assert!(matches!(spent.unwrap(), Spent::Locked));
        let stored = ctx.store.user(user.id).await.unwrap().unwrap();
        assert_eq!(last_step(stored), Some(12), "nothing spent while locked");
    }
}
