//! The GraphQL request parameters (`query`, `operationName`, `variables`, `extensions`), read
//! from a `POST` body or a `GET` query string into one request. A malformed request is
//! refused here, with HTTP 400, a `VALIDATION` code and `extensions.field` naming the
//! parameter, before anything is parsed as GraphQL.
use axum::extract::Query;
use axum::http::Uri;
use serde_json::{Map, Value};

/// Why the parameters are refused.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed {
    pub message: String,
    pub field: Option<&'static str>,
}

fn malformed(message: impl Into<String>, field: Option<&'static str>) -> Malformed {
    Malformed {
        message: message.into(),
        field,
    }
}

/// Parameters read from the transport, `query` not yet required (a browser's `GET` has none).
#[derive(Debug, Default)]
pub struct Params {
    pub query: Option<String>,
    pub operation_name: Option<String>,
    pub variables: Option<Map<String, Value>>,
    pub extensions: Option<Map<String, Value>>,
}

impl Params {
    /// The request to execute; refused when it has no `query`.
    pub fn into_request(self) -> Result<async_graphql::Request, Malformed> {
        let query = self.query.ok_or_else(|| {
            malformed(
                "the request has no 'query': send the GraphQL document as a string",
                Some("query"),
            )
        })?;
        let mut request = async_graphql::Request::new(query);
        if let Some(name) = self.operation_name {
            request = request.operation_name(name);
        }
        if let Some(vars) = self.variables {
            request = request.variables(async_graphql::Variables::from_json(Value::Object(vars)));
        }
        for (key, value) in self.extensions.unwrap_or_default() {
            let value = async_graphql::Value::from_json(value).map_err(|e| {
                malformed(
                    format!("'extensions' is not valid: {e}"),
                    Some("extensions"),
                )
            })?;
            request.extensions.insert(key, value);
        }
        Ok(request)
    }
}

/// Reads a `POST` body: one JSON object. An array is a batch, which this server does not run.
pub fn from_body(bytes: &[u8]) -> Result<Params, Malformed> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(malformed(
            "the request body is empty: send a JSON object with a 'query'",
            None,
        ));
    }
    let body: Value = serde_json::from_slice(bytes)
        .map_err(|e| malformed(format!("the body is not valid JSON: {e}"), None))?;
    let object = match body {
        Value::Object(o) => o,
        Value::Array(_) => {
            return Err(malformed(
                "batched requests are not supported: send one JSON object per request",
                None,
            ));
        }
        _ => {
            return Err(malformed(
                "the body must be a JSON object with a 'query'",
                None,
            ));
        }
    };
    let text = |key: &'static str| match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(malformed(format!("'{key}' must be a string"), Some(key))),
    };
    let map = |key: &'static str| match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(_) => Err(malformed(
            format!("'{key}' must be a JSON object"),
            Some(key),
        )),
    };
    Ok(Params {
        query: text("query")?,
        operation_name: text("operationName")?,
        variables: map("variables")?,
        extensions: map("extensions")?,
    })
}

/// Reads a `GET` query string: `variables` and `extensions` are JSON objects, URL-encoded.
/// A parameter given twice is refused rather than one of them picked.
pub fn from_uri(uri: &Uri) -> Result<Params, Malformed> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|e| malformed(format!("the query string is not valid: {e}"), None))?;
    let mut params = Params::default();
    let mut seen: Vec<&'static str> = Vec::new();
    for (key, value) in pairs {
        let key: &'static str = match key.as_str() {
            "query" => "query",
            "operationName" => "operationName",
            "variables" => "variables",
            "extensions" => "extensions",
            _ => continue,
        };
        if seen.contains(&key) {
            return Err(malformed(format!("'{key}' is given twice"), Some(key)));
        }
        seen.push(key);
        // An empty value is the same as none: forms send `variables=` for "no variables".
        if value.is_empty() {
            continue;
        }
        match key {
            "query" => params.query = Some(value),
            "operationName" => params.operation_name = Some(value),
            _ => {
                let parsed = match serde_json::from_str::<Value>(&value) {
                    Ok(Value::Object(m)) => Some(m),
                    Ok(Value::Null) => None,
                    _ => {
                        return Err(malformed(
                            format!("'{key}' must be a URL-encoded JSON object"),
                            Some(key),
                        ));
                    }
                };
                if key == "variables" {
                    params.variables = parsed;
                } else {
                    params.extensions = parsed;
                }
            }
        }
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(body: &str) -> Option<&'static str> {
        from_body(body.as_bytes()).expect_err("refused").field
    }

    #[test]
    fn a_body_is_one_json_object_with_a_string_query() {
        let p = from_body(br#"{"query":"{ me { role } }","variables":null,"operationName":null,"extensions":{"a":1}}"#)
            .expect("valid");
        assert_eq!(p.query.as_deref(), Some("{ me { role } }"));
        assert!(p.into_request().is_ok());

        let batch = from_body(br#"[{"query":"{ a }"}]"#).expect_err("batch");
        assert!(batch.message.contains("batched requests are not supported"));
        assert!(from_body(b"").is_err());
        assert!(from_body(b"  \n").is_err());
        assert!(from_body(b"{ \"not a JSON").is_err());
        assert!(from_body(b"42").is_err());
        assert_eq!(field_of(r#"{"query":{"obj":"ect"}}"#), Some("query"));
        assert_eq!(
            field_of(r#"{"query":"{ a }","operationName":0}"#),
            Some("operationName")
        );
        assert_eq!(
            field_of(r#"{"query":"{ a }","variables":"x"}"#),
            Some("variables")
        );
        assert_eq!(
            field_of(r#"{"query":"{ a }","variables":["x"]}"#),
            Some("variables")
        );
        assert_eq!(
            field_of(r#"{"query":"{ a }","extensions":false}"#),
            Some("extensions")
        );
        let missing = from_body(br#"{"qeury":"{ a }"}"#).expect("an object");
        assert_eq!(
            missing.into_request().expect_err("no query").field,
            Some("query")
        );
    }

    #[test]
    fn a_query_string_carries_json_variables_and_refuses_repeats() {
        let uri: Uri = "/graphql?query=query%20Q(%24n%3AString!)%7B__type(name%3A%24n)%7Bname%7D%7D&variables=%7B%22n%22%3A%22x%22%7D&operationName=Q"
            .parse()
            .expect("uri");
        let p = from_uri(&uri).expect("valid");
        assert_eq!(p.operation_name.as_deref(), Some("Q"));
        assert_eq!(
            p.variables.as_ref().and_then(|v| v.get("n")),
            Some(&Value::from("x"))
        );

        let none: Uri = "/graphql".parse().expect("uri");
        assert!(from_uri(&none).expect("valid").query.is_none());
        let twice: Uri = "/graphql?query=%7Ba%7D&query=%7Bb%7D".parse().expect("uri");
        assert_eq!(from_uri(&twice).expect_err("twice").field, Some("query"));
        let bad: Uri = "/graphql?query=%7Ba%7D&variables=%5B1%5D"
            .parse()
            .expect("uri");
        assert_eq!(from_uri(&bad).expect_err("array").field, Some("variables"));
        let empty: Uri = "/graphql?query=%7Ba%7D&variables=".parse().expect("uri");
        assert!(from_uri(&empty).expect("valid").variables.is_none());
    }
}
