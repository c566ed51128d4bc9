//! Records replaced only if they are still what was read, one after another, and the audit
//! events that say what they did, stored only if every one held ([`Store::swap_and_record`]).
//!
//! A code's exchange is the user: the code marked used, then its token family given its first
//! refresh token, then `tokens_issued` recorded. Made in one statement where the backend can,
//! the exchange pays one round trip for them, not three; made one by one, they keep the same
//! order and the same conditions.

use super::codec::{Record, encode};
use super::{Change, RecordKey, ShortLived, Store, StoreError};
use crate::clock::UnixSeconds;
use crate::model::grants::{AuthorizationCode, TokenFamily};

/// `seen` replaced by `next`, if the record under `key` is still `seen`.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "two or three live per request: boxing would only add allocations"
)]
pub enum Swap {
    AuthorizationCode {
        key: RecordKey,
        seen: AuthorizationCode,
        next: AuthorizationCode,
    },
    TokenFamily {
        key: RecordKey,
        seen: TokenFamily,
        next: TokenFamily,
    },
}

/// A swap as bytes: what the row must hold, and what it will.
#[derive(Debug)]
pub struct Encoded {
    pub kind: &'static str,
    pub key: Vec<u8>,
    pub seen: Vec<u8>,
    pub next: Vec<u8>,
    pub next_expires_at: UnixSeconds,
}

impl Swap {
    pub fn encoded(&self) -> Result<Encoded, StoreError> {
        use crate::model::grants::Expiring;
        let (kind, key, seen, next, expires_at) = match self {
            Swap::AuthorizationCode { key, seen, next } => (
                "authorization_codes",
                key,
                encode(seen)?,
                encode(next)?,
                next.expires_at(),
            ),
            Swap::TokenFamily { key, seen, next } => (
                "token_families",
                key,
                encode(seen)?,
                encode(next)?,
                next.expires_at(),
            ),
        };
        Ok(Encoded {
            kind,
            key: key.to_bytes(),
            seen,
            next,
            next_expires_at: expires_at,
        })
    }

    /// Makes this swap through the store's own calls; whether it held.
    pub async fn apply<S: Store + ?Sized>(
        self,
        store: &S,
        now: UnixSeconds,
    ) -> Result<bool, StoreError> {
        match self {
            Swap::AuthorizationCode { key, seen, next } => {
                swap_in(store.authorization_codes(), &key, &seen, next, now).await
            }
            Swap::TokenFamily { key, seen, next } => {
                swap_in(store.token_families(), &key, &seen, next, now).await
            }
        }
    }
}

/// `seen` replaced by `next` in `records`, atomically. A record encodes to the same bytes every
/// time, so equal bytes mean nobody changed it since it was read.
async fn swap_in<T: Record + Clone + Send + Sync>(
    records: &dyn ShortLived<T>,
    key: &RecordKey,
    seen: &T,
    next: T,
    now: UnixSeconds,
) -> Result<bool, StoreError> {
    let seen = encode(seen)?;
    let mut held = false;
    records
        .update(key, now, &mut |current| {
            held = encode(current).is_ok_and(|bytes| bytes == seen);
            if held {
                Change::Replace(next.clone())
            } else {
                Change::Keep
            }
        })
        .await?;
    Ok(held)
}

/// What every backend must do with swaps: run by each backend's tests.
#[cfg(test)]
pub(crate) mod checks {
    use super::Swap;
    use crate::model::SigningAlg;
    use crate::model::audit::{AuditAction, AuditDoor, AuditEvent, Outcome};
    use crate::model::grants::{
        Authentication, AuthorizationCode, AuthorizationRequest, TokenFamily,
    };
    use crate::model::{User, UserId};
    use crate::store::{RecordKey, Store};

    /// An unused code of `user`'s, in the family "the family", live until 60.
    pub fn code(user: UserId) -> AuthorizationCode {
        AuthorizationCode {
            request: AuthorizationRequest::for_tests("app"),
            authentication: Authentication {
                user_id: user,
                auth_time: 1,
                amr: vec!["pwd".into()],
            },
            family: "the family".into(),
            signing_alg: SigningAlg::EdDSA,
            used: false,
            expires_at: 60,
        }
    }

    /// A code spent and its family extended, each only if the one before held, and the event
    /// stored only if both did.
    pub async fn swaps_hold_in_order_and_events_only_after_all(store: &dyn Store) {
        let noor = User::for_tests("noor");
        let family = TokenFamily {
            client_id: "app".into(),
            user_id: noor.id,
            revoked: false,
            expires_at: 100,
            generation: 0,
            refresh: None,
            revoked_access: Vec::new(),
        };
        let (code_key, family_key) = (RecordKey::bearer([7; 32]), RecordKey::bearer([8; 32]));
        let unused = code(noor.id);
        let used = AuthorizationCode {
            used: true,
            ..unused.clone()
        };
        let extended = TokenFamily {
            expires_at: 200,
            ..family.clone()
        };
        let spend = || Swap::AuthorizationCode {
            key: code_key,
            seen: unused.clone(),
            next: used.clone(),
        };
        let extend = |seen: &TokenFamily| Swap::TokenFamily {
            key: family_key,
            seen: seen.clone(),
            next: extended.clone(),
        };
        let event = || {
            AuditEvent::new(
                50,
                "noor",
                AuditAction::TokensIssued,
                AuditDoor::Oidc,
                "oidc",
                Outcome::Success,
            )
        };
        let events = store.audit_log();
        let codes = store.authorization_codes();
        let families = store.token_families();
        codes.put(&code_key, &unused).await.unwrap();
        families.put(&family_key, &family).await.unwrap();
        let before = events.count().await.unwrap();

        // The family is no longer as read: the code is spent, the event not stored.
        let stale = TokenFamily {
            generation: 9,
            ..family.clone()
        };
        let held = store
            .swap_and_record(50, vec![spend(), extend(&stale)], vec![event()])
            .await
            .unwrap();
        assert_eq!(held, 1);
        assert_eq!(codes.get(&code_key, 50).await.unwrap(), Some(used.clone()));
        assert_eq!(
            families.get(&family_key, 50).await.unwrap(),
            Some(family.clone())
        );
        assert_eq!(events.count().await.unwrap(), before);

        // The code is no longer as read: nothing after it is made.
        let held = store
            .swap_and_record(50, vec![spend(), extend(&family)], vec![event()])
            .await
            .unwrap();
        assert_eq!(held, 0);
        assert_eq!(
            families.get(&family_key, 50).await.unwrap(),
            Some(family.clone())
        );
        assert_eq!(events.count().await.unwrap(), before);

        // Both as read: both made, and the event stored.
        codes.put(&code_key, &unused).await.unwrap();
        let held = store
            .swap_and_record(50, vec![spend(), extend(&family)], vec![event()])
            .await
            .unwrap();
        assert_eq!(held, 2);
        assert_eq!(codes.get(&code_key, 50).await.unwrap(), Some(used));
        assert_eq!(families.get(&family_key, 50).await.unwrap(), Some(extended));
        assert_eq!(events.count().await.unwrap(), before + 1);
    }

    #[tokio::test]
    async fn on_sled() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sled_backend::SledStore::open(dir.path()).unwrap();
        swaps_hold_in_order_and_events_only_after_all(&store).await;
    }
}
