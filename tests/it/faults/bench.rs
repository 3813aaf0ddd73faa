//! The fault benchmark (placeholder, filled in below).
