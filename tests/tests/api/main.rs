//! End-to-end tests over real sockets against the relay on port 0 (one test
//! binary, as zero-to-production gathers its API tests). Each test starts its
//! own relay with its own embedded store.

mod accounts;
mod bad_input;
mod intake;
mod intake_abuse;
mod intake_isolation;
mod intake_trends;
mod isolation;
mod languages;
mod limits;
mod metrics;
mod onetext;
mod relink;
mod rest;
mod resume;
mod retries;
mod sessions;
mod shuttle;
mod taken_back;
mod trends;
mod workflow;
