//! End-to-end tests: the real `posternd` binary on a temporary state directory and an
//! ephemeral port, driven by the real `postern` CLI and by raw socket clients.
//!
//! Build the binaries first (`cargo build --workspace`); `tests/run` does.

mod fixture;
mod postgres;
mod postgres_tls;

mod account;
mod accounts;
mod admin_socket;
mod bench_smoke;
mod browser;
mod browser_journey;
mod check_store;
mod clients;
mod config;
mod consent;
mod device_grant;
mod emailed_code_sign_in;
mod full_disk;
mod invitations;
mod lifecycle;
mod mfa;
mod notices;
mod oidc;
mod operations;
mod pam_door;
mod pam_module;
mod passkey_approval;
mod passkeys;
mod password_reset;
mod reload;
mod session_policy;
mod several_daemons;
mod smtp;
mod sshd;
mod tls;
mod tokens;
mod torture;
mod webdriver;
