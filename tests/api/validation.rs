//! Bad input gets VALIDATION or CONFLICT and writes nothing.
