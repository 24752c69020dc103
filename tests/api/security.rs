//! Cross-tenant isolation, role checks and bad credentials.
