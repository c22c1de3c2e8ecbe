//! Field rules of the accounts requests: the shared rules for user-visible text (`libs/text`).

pub use text::{display_name, email_address, https_url, job_title};
