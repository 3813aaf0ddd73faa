//! Building the SDK clients: profile, region, endpoint (S3 path-style with a
//! custom endpoint), credentials that fail fast, and an API call counter.
//!
//! Decisions:
//! - Region and credentials are resolved *before* the clients are built,
//!   with an instance-metadata (IMDS) client whose timeouts are short: the
//!   default chains would otherwise spend seconds probing IMDS on a machine
//!   that is not an EC2 instance (on EC2 the probe answers in
//!   milliseconds). The region search has a deadline
//!   ([`RESOLVE_DEADLINE`]). The credentials have none: they are resolved
//!   once, however long a provider takes (SSO, `credential_process`, an
//!   assume-role chain with MFA), and the provider is named on stderr when
//!   it is slow; the clients then use those credentials without running
//!   the chain a second time. (See `docs/requirements.md#speed-and-scale`.)
//! - **Retries.** The SDK's own retries stay on. The user's settings win:
//!   `AWS_RETRY_MODE` / `AWS_MAX_ATTEMPTS`, or `retry_mode` / `max_attempts`
//!   in the profile. When none is set (the loaded settings are the SDK's
//!   defaults), a2i-fix uses its own, built for IAM's low per-account rate
//!   limits: IAM in adaptive mode (client-side rate limiting once throttled)
//!   with [`IAM_MAX_ATTEMPTS`] attempts and backoff up to 20 s; S3, KMS and
//!   STS (and SageMaker, read by `discover`) in standard mode with
//!   [`OTHER_MAX_ATTEMPTS`] attempts.
//! - **Retry partitions.** Each [`connect`] gets retry partitions of its own,
//!   one per service, so the retry budget and rate limiter one connection
//!   (one account) drains never slows another in the same process.
//! - **Timeouts.** Every attempt and every operation (all its attempts) has
//!   a deadline ([`AwsOptions::attempt_timeout`],
//!   [`AwsOptions::operation_timeout`]; defaults [`ATTEMPT_TIMEOUT`],
//!   [`OPERATION_TIMEOUT`]), so a stalled connection ends with an error
//!   naming the call instead of waiting forever.
//! - **Start-up.** Credentials in the environment (the first source of the
//!   default chain) are used without building the chain, whose web
//!   identity provider builds an STS client and so loads the platform's
//!   root certificates. With an `http://` endpoint (an emulator, the benchmark's
//!   proxy) and no per-service endpoint variable, the clients share a plain
//!   HTTP client: the default HTTPS client would load and parse the
//!   platform's root certificates before the first request (most of the
//!   time from process start to the first request), with nothing to verify.
//!   Against AWS (`https://`) the default client is used unchanged.
//! - [`ApiCounter`] counts **operations**, not attempts: an interceptor records
//!   each operation once when it starts (`read_before_serialization`: once per
//!   execution, after the operation's metadata is known; `read_before_execution`
//!   runs too early for client interceptors), whatever
//!   its outcome and however many times the SDK retried it. Each page of a
//!   paginated listing is its own operation. This is what the plan reports.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow};
use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_iam::config::retry::RetryPartition;
use aws_sdk_s3::config::{
    ConfigBag, Intercept, ProvideCredentials, RuntimeComponents, SharedCredentialsProvider,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

mod pace;
pub use pace::{BULK_RATE, IAM_RATE, Pace};

/// How long finding the region may take.
pub const RESOLVE_DEADLINE: Duration = Duration::from_millis(1800);

/// Attempts per IAM call when the user configured none.
pub const IAM_MAX_ATTEMPTS: u32 = 10;
/// Attempts per S3, KMS or STS call when the user configured none.
pub const OTHER_MAX_ATTEMPTS: u32 = 6;
/// Default deadline of one attempt of a call.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
/// Default deadline of a call, all its attempts and backoffs included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(120);

/// What to tell a user who has no credentials configured.
pub const CREDENTIALS_HELP: &str = "configure credentials with `AWS_ACCESS_KEY_ID` and \
`AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), with `aws configure` or `aws sso login`, \
or choose a configured profile with `--profile NAME` or `AWS_PROFILE`";

/// What to tell a user who has no region configured.
pub const REGION_HELP: &str =
    "pass `--region`, set `AWS_REGION`, or set `region` in your profile (`aws configure`)";

/// Where to connect; `None` fields fall back to the standard AWS environment
/// variables and config files.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// Deadline of one attempt of a call; [`ATTEMPT_TIMEOUT`] when `None`.
    pub attempt_timeout: Option<Duration>,
    /// Deadline of a call with all its retries; [`OPERATION_TIMEOUT`] when
    /// `None`.
    pub operation_timeout: Option<Duration>,
    /// How many reads may be in flight per service;
    /// [`Concurrency::default`] when `None`.
    pub concurrency: Option<Concurrency>,
    /// Requests a second per IAM API; [`IAM_RATE`] when `None`.
    pub iam_rate: Option<u32>,
    /// How roles and customer managed policies are read;
    /// [`IamReads::Auto`] when `None`.
    pub iam_reads: Option<IamReads>,
}

/// How `plan` reads roles and customer managed policies: one role at a time
/// (GetRole, ListRolePolicies, ListAttachedRolePolicies, GetRolePolicy,
/// GetPolicy, GetPolicyVersion), or the whole account's at once
/// (GetAccountAuthorizationDetails, paginated). `Auto` picks by how many
/// roles the spec needs read (see `state::BULK_THRESHOLD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum IamReads {
    /// In bulk from 30 distinct roles to read (flow, preview and caller
    /// roles; `state::BULK_THRESHOLD`), else role by role.
    #[default]
    Auto,
    /// GetRole, ListRolePolicies, ListAttachedRolePolicies and GetRolePolicy
    /// for each role.
    PerRole,
    /// GetAccountAuthorizationDetails (role by role when denied).
    Bulk,
}

/// How many reads may be in flight at once, per service. IAM's control
/// plane throttles first (roughly 15 requests a second per account and
/// API), so it is kept narrow; S3 and KMS reads have far higher limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concurrency {
    pub iam: usize,
    pub s3: usize,
    pub kms: usize,
}

impl Default for Concurrency {
    fn default() -> Self {
        Concurrency {
            iam: 8,
            s3: 16,
            kms: 16,
        }
    }
}

/// Counts API calls by operation name (`s3:GetBucketCors`, ...).
#[derive(Debug, Clone, Default)]
pub struct ApiCounter(Arc<Mutex<BTreeMap<String, u64>>>);

impl ApiCounter {
    pub fn record(&self, operation: &str) {
        if let Ok(mut map) = self.0.lock() {
            *map.entry(operation.to_string()).or_insert(0) += 1;
        }
    }
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// The SDK clients a2i-fix uses, sharing one configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    pub iam: aws_sdk_iam::Client,
    pub s3: aws_sdk_s3::Client,
    pub kms: aws_sdk_kms::Client,
    pub sts: aws_sdk_sts::Client,
    /// SageMaker's control plane, for `discover` (flow definitions). Its
    /// endpoint follows `AWS_ENDPOINT_URL_SAGEMAKER` when set.
    #[cfg(feature = "discover")]
    pub sagemaker: aws_sdk_sagemaker::Client,
    /// AWS Organizations (`accounts --from-organization`); its one endpoint
    /// is in `us-east-1`, whatever the region of the other clients.
    pub organizations: aws_sdk_organizations::Client,
    pub region: String,
    pub counter: ApiCounter,
    /// Reads in flight per service (see [`Concurrency`]).
    pub concurrency: Concurrency,
    /// Client-side pacing of IAM calls (see [`Pace`]).
    pub iam_pace: Pace,
    /// How `plan` reads roles and customer managed policies.
    pub iam_reads: IamReads,
    /// The credentials the clients sign with: the base of a role assumed
    /// from them ([`assume_role`]).
    pub credentials: SharedCredentialsProvider,
}

/// Build the clients. Fails fast, with a message on how to configure
/// credentials, when none are configured.
pub async fn connect(options: &AwsOptions) -> anyhow::Result<Clients> {
    let deadline = tokio::time::Instant::now() + RESOLVE_DEADLINE;
    let imds = fast_imds_client();

    let region = resolve_region(options, imds.clone(), deadline).await?;

    // The environment comes first in the default chain; when it holds
    // credentials, the chain is not built: building it builds an STS
    // client for web identity, which loads the platform's root
    // certificates (most of the time from start to the first request).
    let environment = aws_config::environment::EnvironmentVariableCredentialsProvider::new();
    if environment.provide_credentials().await.is_ok() {
        return build(options, region, SharedCredentialsProvider::new(environment)).await;
    }

    let mut chain = aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
        .region(region.clone())
        .imds_client(imds);
    if let Some(profile) = &options.profile {
        chain = chain.profile_name(profile);
    }
    let chain = chain.build().await;
    // Resolved once, however long the provider takes (SSO, a
    // credential_process, an assume-role chain with MFA): no wall-clock
    // guess. With nothing configured the chain still fails fast, since its
    // last resort, the instance-metadata probe, has short timeouts. A slow
    // provider is named after a few seconds, so nobody waits in silence.
    let first = {
        let resolving = chain.provide_credentials();
        tokio::pin!(resolving);
        tokio::select! {
            done = &mut resolving => done,
            () = tokio::time::sleep(SLOW_CREDENTIALS) => {
                eprintln!(
                    "a2i-fix: still waiting for AWS credentials from {}...",
                    credential_source(options)
                );
                resolving.await
            }
        }
    };
    let first = first.map_err(|error| {
        anyhow::Error::new(error).context(format!(
            "no usable AWS credentials found: {CREDENTIALS_HELP}"
        ))
    })?;
    // The SDK asks its provider again through its identity cache: it gets
    // these credentials first (no second SSO or MFA prompt), and the chain
    // again only once they expire during a long apply.
    let provider = ResolvedOnce {
        provider: chain,
        first: Mutex::new(Some(first)),
    };
    build(options, region, SharedCredentialsProvider::new(provider)).await
}

/// After how long a credential provider is named as slow.
const SLOW_CREDENTIALS: Duration = Duration::from_secs(3);

/// Which source the credential chain is most likely waiting for.
fn credential_source(options: &AwsOptions) -> String {
    let env_set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if env_set("AWS_WEB_IDENTITY_TOKEN_FILE") {
        "web identity (`AWS_WEB_IDENTITY_TOKEN_FILE`)".to_string()
    } else if let Some(profile) = &options.profile {
        format!(
            "profile `{profile}` (SSO, `credential_process` or an assume-role chain can take a while)"
        )
    } else if let Ok(profile) = std::env::var("AWS_PROFILE") {
        format!(
            "profile `{profile}` (SSO, `credential_process` or an assume-role chain can take a while)"
        )
    } else {
        "the default credential chain (environment, profile, SSO, container or instance role)"
            .to_string()
    }
}

/// The credentials resolved at connect time, handed out once, then the
/// provider itself (the SDK's identity cache asks again only when they
/// expire).
#[derive(Debug)]
struct ResolvedOnce<P> {
    provider: P,
    first: Mutex<Option<aws_sdk_s3::config::Credentials>>,
}

impl<P: ProvideCredentials> ProvideCredentials for ResolvedOnce<P> {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let first = self.first.lock().ok().and_then(|mut f| f.take());
        match first {
            Some(credentials) => {
                aws_credential_types::provider::future::ProvideCredentials::ready(Ok(credentials))
            }
            None => self.provider.provide_credentials(),
        }
    }
}

/// Build the clients with fixed credentials and no credential chain (for
/// tests and emulators). The region must be given.
pub async fn connect_with_credentials(
    options: &AwsOptions,
    access_key_id: &str,
    secret_access_key: &str,
) -> anyhow::Result<Clients> {
    let region = options
        .region
        .clone()
        .ok_or_else(|| anyhow!("no AWS region given: {REGION_HELP}"))?;
    let credentials = aws_sdk_s3::config::Credentials::new(
        access_key_id,
        secret_access_key,
        None,
        None,
        "a2i-fix-static",
    );
    build(
        options,
        Region::new(region),
        SharedCredentialsProvider::new(credentials),
    )
    .await
}

/// An IMDS client that gives up quickly: one attempt, sub-second timeouts.
fn fast_imds_client() -> aws_config::imds::Client {
    aws_config::imds::Client::builder()
        .max_attempts(1)
        .connect_timeout(Duration::from_millis(500))
        .read_timeout(Duration::from_millis(500))
        .operation_attempt_timeout(Duration::from_millis(700))
        .operation_timeout(Duration::from_millis(700))
        .build()
}

async fn resolve_region(
    options: &AwsOptions,
    imds: aws_config::imds::Client,
    deadline: tokio::time::Instant,
) -> anyhow::Result<Region> {
    if let Some(region) = &options.region {
        return Ok(Region::new(region.clone()));
    }
    let mut profile = aws_config::profile::ProfileFileRegionProvider::builder();
    if let Some(name) = &options.profile {
        profile = profile.profile_name(name);
    }
    let chain = RegionProviderChain::first_try(
        aws_config::environment::EnvironmentVariableRegionProvider::new(),
    )
    .or_else(profile.build())
    .or_else(
        aws_config::imds::region::ImdsRegionProvider::builder()
            .imds_client(imds)
            .build(),
    );
    match tokio::time::timeout_at(deadline, chain.region()).await {
        Ok(Some(region)) => Ok(region),
        // A mistyped profile name also ends here: name it, or the user looks
        // for a missing region in a profile that does not exist.
        _ => match &options.profile {
            Some(profile) => Err(anyhow!(
                "no AWS region configured for profile `{profile}`: check that the profile exists in your AWS config file, or {REGION_HELP}"
            )),
            None => Err(anyhow!("no AWS region configured: {REGION_HELP}")),
        },
    }
}

/// Whether an endpoint URL for S3 is in effect (option, `AWS_ENDPOINT_URL`,
/// `AWS_ENDPOINT_URL_S3`, or a profile's `endpoint_url`).
fn custom_s3_endpoint(options: &AwsOptions, config: &SdkConfig) -> bool {
    let env_set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    options.endpoint_url.is_some()
        || config.endpoint_url().is_some()
        || env_set("AWS_ENDPOINT_URL_S3")
}

/// Whether every service is reached over plain `http://`: the endpoint
/// option, or else `AWS_ENDPOINT_URL`, is `http://...`, and no
/// `AWS_ENDPOINT_URL_<SERVICE>` variable points a service elsewhere (nor
/// does `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` turn the variable off). A
/// profile's `endpoint_url` is not consulted: the default client is kept.
fn plain_http_endpoint(options: &AwsOptions) -> bool {
    let ignore_env = std::env::var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    let global = options.endpoint_url.clone().or_else(|| {
        (!ignore_env)
            .then(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .flatten()
    });
    let per_service = std::env::vars_os().any(|(name, value)| {
        name.to_string_lossy().starts_with("AWS_ENDPOINT_URL_") && !value.is_empty()
    });
    global.is_some_and(|url| url.to_ascii_lowercase().starts_with("http://")) && !per_service
}

async fn build(
    options: &AwsOptions,
    region: Region,
    credentials: SharedCredentialsProvider,
) -> anyhow::Result<Clients> {
    let timeouts = timeouts(options);
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(region.clone())
        .credentials_provider(credentials)
        .timeout_config(timeouts);
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if plain_http_endpoint(options) {
        loader = loader.http_client(aws_smithy_http_client::Builder::new().build_http());
    }
    let config = loader.load().await;
    let counter = ApiCounter::default();
    let interceptor = CountOperations(counter.clone());
    let retries = Retries::for_config(&config);
    let partition = next_partition();
    let part = |service: &str| RetryPartition::new(format!("a2i-fix-{partition}-{service}"));

    let s3_config = aws_sdk_s3::config::Builder::from(&config)
        .force_path_style(custom_s3_endpoint(options, &config))
        .retry_config(retries.other.clone())
        .retry_partition(part("s3"))
        .interceptor(interceptor.clone())
        .build();
    let iam_config = aws_sdk_iam::config::Builder::from(&config)
        .retry_config(retries.iam)
        .retry_partition(part("iam"))
        .interceptor(interceptor.clone())
        .build();
    let kms_config = aws_sdk_kms::config::Builder::from(&config)
        .retry_config(retries.other.clone())
        .retry_partition(part("kms"))
        .interceptor(interceptor.clone())
        .build();
    let sts_config = aws_sdk_sts::config::Builder::from(&config)
        .retry_config(retries.other.clone())
        .retry_partition(part("sts"))
        .interceptor(interceptor.clone())
        .build();
    let organizations_config = aws_sdk_organizations::config::Builder::from(&config)
        .region(Region::from_static("us-east-1"))
        .retry_config(retries.other.clone())
        .retry_partition(part("organizations"))
        .interceptor(interceptor.clone())
        .build();
    #[cfg(feature = "discover")]
    let sagemaker_config = aws_sdk_sagemaker::config::Builder::from(&config)
        .retry_config(retries.other)
        .retry_partition(part("sagemaker"))
        .interceptor(interceptor)
        .build();
    let region = config
        .region()
        .map(|r| r.to_string())
        .context("no AWS region configured")?;
    Ok(Clients {
        iam: aws_sdk_iam::Client::from_conf(iam_config),
        s3: aws_sdk_s3::Client::from_conf(s3_config),
        kms: aws_sdk_kms::Client::from_conf(kms_config),
        sts: aws_sdk_sts::Client::from_conf(sts_config),
        #[cfg(feature = "discover")]
        sagemaker: aws_sdk_sagemaker::Client::from_conf(sagemaker_config),
        organizations: aws_sdk_organizations::Client::from_conf(organizations_config),
        region,
        counter,
        concurrency: options.concurrency.unwrap_or_default(),
        iam_pace: Pace::per_second(options.iam_rate.unwrap_or(IAM_RATE)),
        iam_reads: options.iam_reads.unwrap_or_default(),
        credentials: config
            .credentials_provider()
            .context("no AWS credentials configured")?,
    })
}

/// Clients with the credentials of `base`, in `options`' region (another
/// region of the same account, without resolving the credentials again).
pub async fn in_region(base: &Clients, options: &AwsOptions) -> anyhow::Result<Clients> {
    let region = Region::new(options.region.clone().unwrap_or(base.region.clone()));
    build(options, region, base.credentials.clone()).await
}

/// A role to assume in another account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRole {
    pub role_arn: String,
    pub external_id: Option<String>,
}

/// The session name a2i-fix's assumed-role sessions carry, so that
/// CloudTrail shows who made the calls.
pub const SESSION_NAME: &str = "a2i-fix";

/// Clients for `role`, assumed with the credentials of `base` (through STS
/// at `options`' endpoint, in `options`' region or `base`'s). The role is
/// assumed here, once: a denial, a missing role or a wrong external id is
/// an error now, naming the role, before any other call. The session is
/// renewed through the same provider when it expires during a long run.
pub async fn assume_role(
    base: &Clients,
    options: &AwsOptions,
    role: &AssumeRole,
) -> anyhow::Result<Clients> {
    let region = Region::new(options.region.clone().unwrap_or(base.region.clone()));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(region.clone())
        .credentials_provider(base.credentials.clone())
        .timeout_config(timeouts(options))
        .retry_config(RetryConfig::standard().with_max_attempts(OTHER_MAX_ATTEMPTS));
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    let mut builder = aws_config::sts::AssumeRoleProvider::builder(&role.role_arn)
        .session_name(SESSION_NAME)
        .configure(&config);
    if let Some(id) = &role.external_id {
        builder = builder.external_id(id);
    }
    let provider = builder.build().await;
    let first = provider.provide_credentials().await.map_err(|e| {
        anyhow!(
            "cannot assume role `{}`: {}: check that the role exists, that its trust policy lets your credentials assume it{}, and that they may call sts:AssumeRole",
            role.role_arn,
            assume_role_error(&e),
            if role.external_id.is_some() {
                " with this external id"
            } else {
                ""
            }
        )
    })?;
    let provider = ResolvedOnce {
        provider,
        first: Mutex::new(Some(first)),
    };
    let options = AwsOptions {
        region: Some(region.to_string()),
        // The profile gave the base credentials; its settings must not
        // replace the assumed ones.
        profile: None,
        ..options.clone()
    };
    build(&options, region, SharedCredentialsProvider::new(provider)).await
}

/// Why AssumeRole failed, in one line: STS's code and message when it
/// answered (`AccessDenied: User: ... is not authorized ...`), else the
/// chain of causes (a timeout, a connection refused).
fn assume_role_error(error: &aws_credential_types::provider::error::CredentialsError) -> String {
    use aws_sdk_sts::error::ProvideErrorMetadata;
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;
    let mut causes = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = next {
        if let Some(sts) = cause.downcast_ref::<AssumeRoleError>() {
            return format!(
                "{}: {}",
                sts.code().unwrap_or("error"),
                sts.message().unwrap_or("no message")
            );
        }
        causes.push(cause.to_string());
        next = cause.source();
    }
    causes.join(": ")
}

fn timeouts(options: &AwsOptions) -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(options.attempt_timeout.unwrap_or(ATTEMPT_TIMEOUT))
        .operation_timeout(options.operation_timeout.unwrap_or(OPERATION_TIMEOUT))
        .build()
}

/// The retry settings of each client.
#[derive(Debug, Clone, PartialEq)]
pub struct Retries {
    pub iam: RetryConfig,
    pub other: RetryConfig,
}

impl Retries {
    /// The user's settings when there are any (environment or profile, as
    /// loaded into `config`), else a2i-fix's defaults.
    pub fn for_config(config: &SdkConfig) -> Retries {
        let env_set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        let loaded = config.retry_config().cloned();
        let user_set = env_set("AWS_RETRY_MODE")
            || env_set("AWS_MAX_ATTEMPTS")
            || loaded
                .as_ref()
                .is_some_and(|r| *r != RetryConfig::standard());
        match loaded {
            Some(user) if user_set => Retries {
                iam: user.clone(),
                other: user,
            },
            _ => Retries::defaults(),
        }
    }

    /// a2i-fix's own: IAM adaptive with more attempts, the rest standard.
    pub fn defaults() -> Retries {
        Retries {
            iam: RetryConfig::adaptive()
                .with_max_attempts(IAM_MAX_ATTEMPTS)
                .with_max_backoff(Duration::from_secs(20)),
            other: RetryConfig::standard().with_max_attempts(OTHER_MAX_ATTEMPTS),
        }
    }
}

/// A number of its own for each connection's retry partitions.
fn next_partition() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Records `service:Operation` once per operation (not per retry attempt).
#[derive(Debug, Clone)]
struct CountOperations(ApiCounter);

impl Intercept for CountOperations {
    fn name(&self) -> &'static str {
        "a2i-fix-count-operations"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            self.0.record(&format!(
                "{}:{}",
                metadata.service().to_ascii_lowercase(),
                metadata.name()
            ));
        }
        Ok(())
    }
}
