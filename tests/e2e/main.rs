//! End-to-end tests (filled in the next commit).
