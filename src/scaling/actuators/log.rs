//! The `log` kind: a dry run by definition. It only records (in the log and the audit trail)
//! what would be done.

use serde_json::Value;

use super::{ActuatorError, Written};
use crate::scaling::targets::Target;

pub fn write(t: &Target, desired: &Value) -> (Written, Result<(), ActuatorError>) {
    tracing::info!(target_name = %t.name, series = %t.series, %desired, "would scale (log target)");
    (Written::default(), Ok(()))
}
