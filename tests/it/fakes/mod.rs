//! Local servers that follow the contracts of ACTUATORS.md, for the actuator tests.

pub(crate) mod google;
pub(crate) mod kube;
pub(crate) mod webhook;
