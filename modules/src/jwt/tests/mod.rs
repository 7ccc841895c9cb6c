//! Tests for the JWT module. Tokens are signed here with the RustCrypto
//! signers, independently of the verification code.

mod extract_tests;
mod jwks_tests;
mod keys_tests;
mod support;
mod verify_tests;
