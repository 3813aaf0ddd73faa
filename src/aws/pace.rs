//! Client-side pacing of IAM calls ([`Pace`]) and the rates it paces at.

use std::sync::Arc;

/// IAM requests a second per API and account that a2i-fix sends at most.
/// AWS does not publish IAM's rates; throttling starts at roughly this for
/// GetRole, ListRolePolicies and ListAttachedRolePolicies (higher for
/// GetPolicy and GetPolicyVersion), so pacing every IAM API at it keeps a
/// run from being throttled while the APIs run side by side.
pub const IAM_RATE: u32 = 15;

/// Requests a second a2i-fix sends at most to GetAccountAuthorizationDetails
/// (each a page of up to 1,000 roles and policies). AWS publishes no rate
/// for it; this is an assumption, lower than [`IAM_RATE`] since every
/// answer is large (the AWS-like benchmark's proxy allows the same).
pub const BULK_RATE: u32 = 2;

/// The IAM operation paced at [`BULK_RATE`] instead of the per-API rate.
const BULK_OPERATION: &str = "GetAccountAuthorizationDetails";

/// Client-side pacing of IAM calls: a token bucket per operation (a full
/// second's worth to start with, then `rate` a second), shared by every
/// read made through one set of clients; GetAccountAuthorizationDetails
/// has a bucket of its own at [`BULK_RATE`] (or `rate`, when lower).
/// Waiting for a token happens before a call takes one of the service's
/// concurrency permits, so a paced operation never holds up another.
#[derive(Clone)]
pub struct Pace {
    per_api: Arc<governor::DefaultKeyedRateLimiter<&'static str>>,
    bulk: Arc<governor::DefaultDirectRateLimiter>,
}

impl Pace {
    pub fn per_second(rate: u32) -> Pace {
        let quota = |rate: u32| {
            governor::Quota::per_second(
                std::num::NonZeroU32::new(rate).unwrap_or(std::num::NonZeroU32::MIN),
            )
        };
        Pace {
            per_api: Arc::new(governor::RateLimiter::keyed(quota(rate))),
            bulk: Arc::new(governor::RateLimiter::direct(quota(rate.min(BULK_RATE)))),
        }
    }

    /// Wait until `operation` may be sent.
    pub async fn ready(&self, operation: &'static str) {
        if operation == BULK_OPERATION {
            self.bulk.until_ready().await;
        } else {
            self.per_api.until_key_ready(&operation).await;
        }
    }
}

impl std::fmt::Debug for Pace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pace")
    }
}
