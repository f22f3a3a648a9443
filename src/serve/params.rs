//! Query parameters: parsed by hand from strings so that every error names the parameter and
//! says what is expected (400 `bad_parameter`), and opaque cursors.

use super::error::ApiError;
use crate::lake::read::TimeRange;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 1000;

/// The query string as `T` (unknown parameters are refused, naming them).
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::try_from_uri(&parts.uri) {
            Ok(axum::extract::Query(value)) => Ok(Params(value)),
            Err(rejection) => {
                let text = rejection.body_text();
                let text = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text)
                    .to_string();
                Err(ApiError::bad_parameter("query", text))
            }
        }
    }
}

/// `limit`: 1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`].
pub fn limit(text: Option<&str>) -> Result<usize, ApiError> {
    let Some(text) = text else {
        return Ok(DEFAULT_LIMIT);
    };
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_parameter(
            "limit",
            format!("{text:?} is not a whole number from 1 to {MAX_LIMIT}"),
        )),
    }
}

/// An RFC 3339 time parameter, in ms.
pub fn time(name: &str, text: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(text) = text else { return Ok(None) };
    crate::decode::parse_rfc3339_ms(text.trim())
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_parameter(
                name,
                format!("{text:?} is not an RFC 3339 time: write it like 2021-01-28T14:00:00Z"),
            )
        })
}

/// `from` and `to` as a range (`from` before `to`).
pub fn range(from: Option<&str>, to: Option<&str>) -> Result<TimeRange, ApiError> {
    let range = TimeRange {
        from_ms: time("from", from)?,
        to_ms: time("to", to)?,
    };
    if range.is_empty() {
        return Err(ApiError::bad_parameter("to", "must be later than from"));
    }
    Ok(range)
}

/// A cursor: `T` as JSON, base64url.
pub fn encode_cursor<T: serde::Serialize>(value: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

pub fn decode_cursor<T: DeserializeOwned>(text: Option<&str>) -> Result<Option<T>, ApiError> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_parameter(
            "cursor",
            "not a cursor of this list: pass the next_cursor of the previous page as it is",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map(Some).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_parameter() {
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(limit(Some("7")).unwrap(), 7);
        for bad in ["0", "-1", "1001", "ten", ""] {
            let error = limit(Some(bad)).unwrap_err();
            assert!(error.message.starts_with("limit:"), "{}", error.message);
        }
        assert_eq!(
            time("from", Some("2021-01-28T14:00:00+01:00")).unwrap(),
            Some(1611838800000)
        );
        let error = time("from", Some("yesterday")).unwrap_err();
        assert!(error.message.starts_with("from:"), "{}", error.message);
        let error = range(Some("2021-01-02T00:00:00Z"), Some("2021-01-01T00:00:00Z")).unwrap_err();
        assert!(error.message.starts_with("to:"), "{}", error.message);
    }

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let cursor = encode_cursor(&(5i64, "GME"));
        assert_eq!(
            decode_cursor::<(i64, String)>(Some(&cursor)).unwrap(),
            Some((5, "GME".to_string()))
        );
        assert!(decode_cursor::<(i64, String)>(Some("!!")).is_err());
        assert!(decode_cursor::<(i64, String)>(Some("e30")).is_err());
    }
}
