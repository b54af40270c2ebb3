//! Reference implementations of the ways programs persist state in files, each with the
//! deliberately broken variants of `shared/CATALOGUE.md`, all generic over [`faultline_core::Fs`].
//!
//! One module per family. Every broken variant lives in a file named after its bug, and its doc
//! comment gives its catalogue ID and the detector that must catch it. This crate only
//! implements; judging is the runner's job. The [`registry`] lists what is here.

pub mod atomic_write;
pub mod info;
pub mod lock;
pub mod model;
pub mod queue;
pub mod registry;
pub mod store;
pub mod sync;
pub mod tasks;

pub use info::{Detector, FamilyInfo, VariantInfo};
