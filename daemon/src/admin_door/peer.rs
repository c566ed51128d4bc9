//! Who is on the other end of the admin socket, and whether they may administer Postern:
//! root, the daemon's own user, or a member of the configured admin group.

use nix::unistd::{Gid, Group, Uid, User};
use std::fmt;

/// An authorised administrator, identified by the kernel (SO_PEERCRED), not by anything
/// they sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub name: Option<String>,
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name} (uid {})", self.uid),
            None => write!(f, "uid {}", self.uid),
        }
    }
}

/// Decides from the peer's uid and primary gid. `admin_group` empty means no group.
pub fn authorize(uid: u32, gid: u32, admin_group: &str) -> Result<Caller, String> {
    let account = User::from_uid(Uid::from_raw(uid)).ok().flatten();
    let caller = Caller {
        uid,
        name: account.as_ref().map(|a| a.name.clone()),
    };
    if uid == 0 || Uid::from_raw(uid) == Uid::effective() {
        return Ok(caller);
    }
    if !admin_group.is_empty() {
        if let Some(group) = Group::from_name(admin_group).ok().flatten() {
            let primary = Gid::from_raw(gid) == group.gid
                || account.as_ref().is_some_and(|a| a.gid == group.gid);
            let listed = caller.name.as_ref().is_some_and(|n| group.mem.contains(n));
            if primary || listed {
                return Ok(caller);
            }
        }
    }
    let allowed = if admin_group.is_empty() {
        "only root and the daemon's own user may".to_owned()
    } else {
        format!("only root, the daemon's own user and members of group `{admin_group}` may")
    };
    Err(format!(
        "permission denied: {caller} may not administer Postern; {allowed}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_an_administrator() {
        let caller = authorize(0, 0, "").unwrap();
        assert_eq!(caller.uid, 0);
    }

    #[test]
    fn the_daemons_own_user_is_an_administrator() {
        let me = Uid::effective().as_raw();
        assert!(authorize(me, 0, "").is_ok());
    }

    #[test]
    fn another_user_is_refused_with_the_rule() {
        let nobody = 65534;
        if Uid::effective().as_raw() == nobody {
            return;
        }
        let err = authorize(nobody, nobody, "").unwrap_err();
        assert!(
            err.contains("may not administer") && err.contains("only root"),
            "{err}"
        );
    }
}
