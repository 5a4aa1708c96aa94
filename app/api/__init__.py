"""The HTTP API: intake for integrators, admin for tenant users, health, OpenAPI."""
