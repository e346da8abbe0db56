//! `GET /openapi.json` and `GET /docs`: each API's OpenAPI description,
//! assembled from the handlers' `#[utoipa::path]` and the request and response
//! types' schemas, and the interactive Swagger UI page FastAPI served at `/docs`.

use axum::response::Html;
use utoipa::OpenApi;
use utoipa::openapi::{InfoBuilder, OpenApi as Document};

use super::Api;

/// The OpenAPI tag grouping the operations in the docs.
pub(super) const TAG: &str = "wine classifier";

#[derive(OpenApi)]
#[openapi(paths(super::greet, super::no_batch::predict_one, super::metrics_text))]
struct NoBatchApi;

#[derive(OpenApi)]
#[openapi(paths(super::greet, super::with_batch::predict_batch, super::metrics_text))]
struct WithBatchApi;

/// The OpenAPI description of one API; `metrics` says whether it serves
/// `GET /metrics` (a server started with `--no-metrics` does not).
pub fn spec(api: Api, metrics: bool) -> Document {
    let (mut document, description) = match api {
        Api::NoBatch => (
            NoBatchApi::openapi(),
            "Classifies one wine, given its 13 chemical measurements as named fields, into cultivar 0, 1 or 2.",
        ),
        Api::WithBatch => (
            WithBatchApi::openapi(),
            "Classifies a batch of wines, each a row of 13 chemical measurements, into cultivars 0, 1 or 2.",
        ),
    };
    document.info = InfoBuilder::new()
        .title(format!("Wine classifier ({})", api.name()))
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(description))
        .build();
    if !metrics {
        document.paths.paths.retain(|path, _| path != "/metrics");
    }
    document
}

/// [`spec`] as JSON bytes.
pub fn document(api: Api, metrics: bool) -> Vec<u8> {
    serde_json::to_vec(&spec(api, metrics)).unwrap_or_default()
}

/// `GET /docs`: Swagger UI for `/openapi.json`, loaded from the same CDN FastAPI uses.
pub async fn swagger_ui() -> Html<&'static str> {
    Html(SWAGGER_UI)
}

const SWAGGER_UI: &str = r#"<!DOCTYPE html>
<html>
<head>
<link type="text/css" rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
<title>Wine classifier - Swagger UI</title>
</head>
<body>
<div id="swagger-ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>
const ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    layout: 'BaseLayout',
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
})
</script>
</body>
</html>
"#;
