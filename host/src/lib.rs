//! holds

pub mod component;
