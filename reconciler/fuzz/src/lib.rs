//! The reconciler's `secrets` module (its secret formats: the secrets
//! file, the Compose env file and its dialects), compiled on its own for
//! fuzzing: the module depends on nothing of the reconciler but `sha2`,
//! `getrandom` and `tracing`, and building the whole reconciler (git2 with OpenSSL and
//! libssh2, bollard, tokio) with the fuzzer's instrumentation would take
//! most of CI's fuzz smoke time. The file is the reconciler's own, not a
//! copy.

#[path = "../../src/secrets/mod.rs"]
pub mod secrets;
