//! The parts of `postern` that other tools reuse: its argument definitions.

pub mod args;
