//! axum's extractors, with their rejections in our JSON error format.

use axum::extract::{FromRequest, FromRequestParts};

use super::error::ApiError;

/// A JSON body; a bad one is a 400 (syntax) or 422 (shape) with axum's explanation.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(super) struct AppJson<T>(pub T);

/// Path parameters.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(super) struct AppPath<T>(pub T);

/// Query parameters.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(super) struct AppQuery<T>(pub T);
