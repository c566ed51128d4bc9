//! `posternd`: Postern's identity provider daemon.
//!
//! One daemon owns the database and opens three doors onto one login engine: the web (OIDC and
//! the sign-in pages), the PAM socket, and the admin socket used by the `postern` CLI. See
//! DESIGN.md in the repository for the architecture.

pub mod admin_door;
pub mod args;
pub mod audit;
pub mod check_store;
pub mod clock;
pub mod config;
pub mod context;
pub mod engine;
pub mod factors;
pub mod layers;
pub mod limits;
pub mod logging;
pub mod mail;
pub mod metrics;
pub mod migrate_store;
pub mod model;
pub mod notices;
pub mod pam_door;
pub mod reload;
pub mod restore;
pub mod secrets;
pub mod serve;
pub mod socket_frames;
pub mod store;
pub mod systemd;
pub mod tokens;
pub mod unix_socket;
pub mod web;
