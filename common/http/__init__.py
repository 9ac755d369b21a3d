"""The HTTP kit both services build their APIs with: route rows, JSON errors, bearer tokens and the login limiter, body validation, the OpenAPI builder."""
