//! Reading the current IAM, S3 and KMS state. The only module with SDK read
//! calls. Documents are kept as the raw (URL-decoded) text AWS returned, so
//! fingerprints see every byte; parsing is the planner's job.
//!
//! Decisions:
//! - Exactly the reads the needs call for, each once (see DOMAIN.md section 5):
//!   STS GetCallerIdentity; per input bucket GetBucketCors and
//!   GetBucketEncryption; per output bucket (that is not also an input bucket)
//!   GetBucketEncryption only, which also proves it exists; per role GetRole,
//!   ListRolePolicies + one GetRolePolicy per inline policy,
//!   ListAttachedRolePolicies; per distinct managed policy attached to a role
//!   with S3 needs, GetPolicy + GetPolicyVersion (read once even when
//!   attached to several roles); per distinct key ref DescribeKey, then per
//!   distinct key id one GetKeyPolicy (`default`); per caller one
//!   ListAttached{Role,User}Policies — unless the caller is a role already
//!   read as a flow or preview role, whose attachments are reused.
//! - Every call goes through one semaphore of [`MAX_IN_FLIGHT`] permits, so
//!   the reads run concurrently but never more than that many at once.
//! - A missing role is not an error (`roles[name] = None`: the planner may
//!   create it). A missing bucket, key or caller is an error here, naming it.
//!   Whether a key is AWS-managed is recorded; refusing it is the planner's
//!   call.
//! - The text form of every document is the one [`current_from_state`] and
//!   [`read_current`] return, so a fingerprint taken at plan time matches a
//!   re-read at apply time byte for byte. A CORS configuration's text is
//!   [`cors_text`] (compact serde JSON of the rules as converted from the SDK).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_smithy_runtime_api::client::result::SdkError;
use futures::future::try_join_all;
use tokio::sync::Semaphore;

use crate::aws::{CREDENTIALS_HELP, Clients};
use crate::model::PrincipalKind;
use crate::model::Target;
use crate::policy::{CorsConfiguration, CorsRule};
use crate::requirements::Needs;

/// How many API calls may be in flight at once.
pub const MAX_IN_FLIGHT: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketEncryption {
    /// `AES256`, `aws:kms`, `aws:kms:dsse`.
    pub algorithm: String,
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketState {
    pub name: String,
    /// `None`: the bucket has no CORS configuration (`NoSuchCORSConfiguration`).
    pub cors: Option<CorsConfiguration>,
    /// `None`: no default encryption configured (or not read).
    pub encryption: Option<BucketEncryption>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedPolicy {
    pub name: String,
    pub arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleState {
    pub name: String,
    pub arn: String,
    pub path: String,
    /// URL-decoded trust policy text.
    pub trust_policy: String,
    /// Inline policy name -> URL-decoded document text, in ListRolePolicies order.
    pub inline_policies: Vec<(String, String)>,
    pub attached_policies: Vec<AttachedPolicy>,
    pub permissions_boundary: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedPolicy {
    pub arn: String,
    pub version_id: String,
    /// URL-decoded document text of the default version.
    pub document: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    /// As written in the spec.
    pub key_ref: String,
    pub key_id: String,
    pub arn: String,
    /// `KeyManager == AWS`.
    pub aws_managed: bool,
    /// `Enabled`, `Disabled`, `PendingDeletion`, ...
    pub key_state: String,
    /// The `default` key policy text.
    pub policy: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerState {
    pub arn: String,
    pub kind: PrincipalKind,
    pub name: String,
    pub attached_policies: Vec<AttachedPolicy>,
}

/// Everything `plan` needs to know about the account, as plain data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountState {
    pub account_id: String,
    pub region: String,
    /// The caller's identity ARN (GetCallerIdentity), for the lockout check.
    pub caller_arn: String,
    pub buckets: BTreeMap<String, BucketState>,
    /// By role name; `None`: the role does not exist.
    pub roles: BTreeMap<String, Option<RoleState>>,
    /// Default versions of managed policies attached to the roles, by ARN.
    pub managed_policies: BTreeMap<String, ManagedPolicy>,
    /// By key ref as written in the spec.
    pub keys: BTreeMap<String, KeyState>,
    /// By principal ARN.
    pub callers: BTreeMap<String, CallerState>,
    /// Number of API calls made, by operation (`iam:GetRole`, ...).
    pub api_calls: BTreeMap<String, u64>,
}

/// Why the state could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The credentials may not make this call.
    #[error("access denied calling `{call}` on {resource}: a2i-fix needs `{action}`")]
    AccessDenied {
        call: String,
        /// What it was called on, e.g. ``bucket `acme-a2i-input` ``.
        resource: String,
        /// The IAM action to grant, e.g. `s3:GetBucketCORS`.
        action: String,
    },
    /// AWS rejected the credentials themselves.
    #[error("AWS rejected the credentials calling `{call}`: {message}; {help}", help = CREDENTIALS_HELP)]
    Credentials { call: String, message: String },
    #[error(
        "bucket `{bucket}` does not exist or is not visible to these credentials: check the bucket names in the spec"
    )]
    BucketNotFound { bucket: String },
    #[error(
        "KMS key `{key_ref}` not found in region `{region}`: check `kms_key` in the spec (a key id, key ARN or `alias/NAME`) and the region"
    )]
    KeyNotFound { key_ref: String, region: String },
    #[error(
        "caller `{arn}` does not exist: check `principal` of the `human_loop_caller` in the spec"
    )]
    CallerNotFound { arn: String },
    /// Any other failure of a call.
    #[error("calling `{call}` on {resource} failed: {message}")]
    Aws {
        call: String,
        resource: String,
        message: String,
    },
    /// A document AWS returned could not be URL-decoded.
    #[error("cannot decode {what}: {message}")]
    Decode { what: String, message: String },
}

/// The IAM action that allows an API call, for AccessDenied messages.
/// Mostly `service:Call`; S3 has a few names of its own.
pub fn iam_action(service: &str, call: &str) -> String {
    let action = match (service, call) {
        ("s3", "GetBucketCors") => "GetBucketCORS",
        ("s3", "PutBucketCors") => "PutBucketCORS",
        ("s3", "DeleteBucketCors") => "PutBucketCORS",
        ("s3", "GetBucketEncryption") => "GetEncryptionConfiguration",
        _ => call,
    };
    format!("{service}:{action}")
}

/// Error codes that mean "the caller may not do this".
const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
];
/// Error codes that mean "these credentials are not valid".
const BAD_CREDENTIALS_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
];

/// The error code of a failed call, if AWS sent one.
fn code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// Turn a failed call into a [`StateError`] naming the call and the resource.
fn call_error<E, R>(
    service: &str,
    call: &str,
    resource: String,
    error: SdkError<E, R>,
) -> StateError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    // Some emulators (moto's STS) wrap error bodies in `<Errors>`, which the
    // SDK does not parse: then the code is taken from the raw body, so that
    // whichever concurrent read fails first is reported the same way.
    let code = code(&error)
        .map(str::to_string)
        .or_else(|| code_from_raw(&format!("{error:?}")));
    let code = code.as_deref();
    if code.is_some_and(|c| ACCESS_DENIED_CODES.contains(&c)) {
        return StateError::AccessDenied {
            call: call.to_string(),
            resource,
            action: iam_action(service, call),
        };
    }
    let message = DisplayErrorContext(&error).to_string();
    if code.is_some_and(|c| BAD_CREDENTIALS_CODES.contains(&c)) {
        return StateError::Credentials {
            call: call.to_string(),
            message,
        };
    }
    StateError::Aws {
        call: call.to_string(),
        resource,
        message,
    }
}

/// The `<Code>...</Code>` of an XML error body found in a debug rendering
/// of an SDK error.
fn code_from_raw(debug: &str) -> Option<String> {
    let start = debug.find("<Code>")? + "<Code>".len();
    let len = debug[start..].find("</Code>")?;
    let code = &debug[start..start + len];
    (!code.is_empty() && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'))
        .then(|| code.to_string())
}

/// URL-decode (RFC 3986) a document IAM returned.
fn decode(text: &str, what: impl FnOnce() -> String) -> Result<String, StateError> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|e| StateError::Decode {
            what: what(),
            message: e.to_string(),
        })
}

/// The text form of a CORS configuration used for fingerprints: compact JSON
/// of the serde derive of [`CorsConfiguration`].
pub fn cors_text(config: &CorsConfiguration) -> String {
    // Serialising plain strings, lists and integers cannot fail.
    serde_json::to_string(config).unwrap_or_default()
}

fn cors_rule(rule: &aws_sdk_s3::types::CorsRule) -> CorsRule {
    CorsRule {
        id: rule.id.clone(),
        allowed_headers: rule.allowed_headers.clone().unwrap_or_default(),
        allowed_methods: rule.allowed_methods.clone(),
        allowed_origins: rule.allowed_origins.clone(),
        expose_headers: rule.expose_headers.clone().unwrap_or_default(),
        max_age_seconds: rule.max_age_seconds,
    }
}

fn attached(policy: &aws_sdk_iam::types::AttachedPolicy) -> AttachedPolicy {
    AttachedPolicy {
        name: policy.policy_name.clone().unwrap_or_default(),
        arn: policy.policy_arn.clone().unwrap_or_default(),
    }
}

/// Issues calls through one bounded semaphore.
struct Reader<'a> {
    clients: &'a Clients,
    permits: Semaphore,
}

impl<'a> Reader<'a> {
    fn new(clients: &'a Clients) -> Self {
        Reader {
            clients,
            permits: Semaphore::new(MAX_IN_FLIGHT),
        }
    }

    /// Run one API call while holding a permit.
    async fn call<F: Future>(&self, call: F) -> F::Output {
        // The semaphore is never closed, so `acquire` cannot fail; were it
        // to, the call would simply run unbounded.
        let _permit = self.permits.acquire().await.ok();
        call.await
    }

    async fn caller_identity(&self) -> Result<(String, String), StateError> {
        let out = self
            .call(self.clients.sts.get_caller_identity().send())
            .await
            .map_err(|e| call_error("sts", "GetCallerIdentity", "the caller".into(), e))?;
        let account = out.account().unwrap_or_default().to_string();
        let arn = out.arn().unwrap_or_default().to_string();
        Ok((account, arn))
    }

    /// `None`: the bucket has no CORS configuration.
    async fn bucket_cors(&self, bucket: &str) -> Result<Option<CorsConfiguration>, StateError> {
        match self
            .call(self.clients.s3.get_bucket_cors().bucket(bucket).send())
            .await
        {
            Ok(out) => Ok(Some(CorsConfiguration {
                rules: out.cors_rules().iter().map(cors_rule).collect(),
            })),
            Err(e) => match code(&e) {
                Some("NoSuchCORSConfiguration") => Ok(None),
                Some("NoSuchBucket") => Err(StateError::BucketNotFound {
                    bucket: bucket.to_string(),
                }),
                _ => Err(call_error(
                    "s3",
                    "GetBucketCors",
                    format!("bucket `{bucket}`"),
                    e,
                )),
            },
        }
    }

    /// `None`: no default encryption configured.
    async fn bucket_encryption(
        &self,
        bucket: &str,
    ) -> Result<Option<BucketEncryption>, StateError> {
        match self
            .call(
                self.clients
                    .s3
                    .get_bucket_encryption()
                    .bucket(bucket)
                    .send(),
            )
            .await
        {
            Ok(out) => Ok(out
                .server_side_encryption_configuration()
                .and_then(|c| {
                    c.rules()
                        .iter()
                        .find_map(|r| r.apply_server_side_encryption_by_default.as_ref())
                })
                .map(|d| BucketEncryption {
                    algorithm: d.sse_algorithm.as_str().to_string(),
                    kms_key_id: d.kms_master_key_id.clone(),
                })),
            Err(e) => match code(&e) {
                Some("ServerSideEncryptionConfigurationNotFoundError") => Ok(None),
                Some("NoSuchBucket") => Err(StateError::BucketNotFound {
                    bucket: bucket.to_string(),
                }),
                _ => Err(call_error(
                    "s3",
                    "GetBucketEncryption",
                    format!("bucket `{bucket}`"),
                    e,
                )),
            },
        }
    }

    async fn bucket(&self, bucket: &str, input: bool) -> Result<BucketState, StateError> {
        let (cors, encryption) = if input {
            futures::try_join!(self.bucket_cors(bucket), self.bucket_encryption(bucket))?
        } else {
            (None, self.bucket_encryption(bucket).await?)
        };
        Ok(BucketState {
            name: bucket.to_string(),
            cors,
            encryption,
        })
    }

    /// GetRole; `None` when the role does not exist.
    async fn get_role(&self, name: &str) -> Result<Option<aws_sdk_iam::types::Role>, StateError> {
        match self
            .call(self.clients.iam.get_role().role_name(name).send())
            .await
        {
            Ok(out) => Ok(out.role),
            Err(e) if code(&e) == Some("NoSuchEntity") => Ok(None),
            Err(e) => Err(call_error("iam", "GetRole", format!("role `{name}`"), e)),
        }
    }

    fn trust_policy(role: &aws_sdk_iam::types::Role) -> Result<String, StateError> {
        let name = &role.role_name;
        let text = role
            .assume_role_policy_document
            .as_deref()
            .ok_or_else(|| StateError::Aws {
                call: "GetRole".into(),
                resource: format!("role `{name}`"),
                message: "the response has no trust policy".into(),
            })?;
        decode(text, || format!("the trust policy of role `{name}`"))
    }

    async fn inline_policy_names(&self, role: &str) -> Result<Vec<String>, StateError> {
        let mut names = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let request = self
                .clients
                .iam
                .list_role_policies()
                .role_name(role)
                .set_marker(marker.take());
            let out = self
                .call(request.send())
                .await
                .map_err(|e| call_error("iam", "ListRolePolicies", format!("role `{role}`"), e))?;
            names.extend(out.policy_names().iter().cloned());
            match out.marker() {
                Some(next) if out.is_truncated() => marker = Some(next.to_string()),
                _ => return Ok(names),
            }
        }
    }

    /// One inline policy; `None` when it (or its role) does not exist.
    async fn inline_policy(
        &self,
        role: &str,
        policy_name: &str,
    ) -> Result<Option<String>, StateError> {
        let request = self
            .clients
            .iam
            .get_role_policy()
            .role_name(role)
            .policy_name(policy_name);
        match self.call(request.send()).await {
            Ok(out) => decode(out.policy_document(), || {
                format!("inline policy `{policy_name}` of role `{role}`")
            })
            .map(Some),
            Err(e) if code(&e) == Some("NoSuchEntity") => Ok(None),
            Err(e) => Err(call_error(
                "iam",
                "GetRolePolicy",
                format!("inline policy `{policy_name}` of role `{role}`"),
                e,
            )),
        }
    }

    /// Attached managed policies of a role or user; `None` when the
    /// principal does not exist.
    async fn attachments(
        &self,
        kind: PrincipalKind,
        name: &str,
    ) -> Result<Option<Vec<AttachedPolicy>>, StateError> {
        let mut policies = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let (page, next) = match kind {
                PrincipalKind::Role => {
                    let request = self
                        .clients
                        .iam
                        .list_attached_role_policies()
                        .role_name(name)
                        .set_marker(marker.take());
                    match self.call(request.send()).await {
                        Ok(out) => (
                            out.attached_policies()
                                .iter()
                                .map(attached)
                                .collect::<Vec<_>>(),
                            out.marker()
                                .filter(|_| out.is_truncated())
                                .map(str::to_string),
                        ),
                        Err(e) if code(&e) == Some("NoSuchEntity") => return Ok(None),
                        Err(e) => {
                            return Err(call_error(
                                "iam",
                                "ListAttachedRolePolicies",
                                format!("role `{name}`"),
                                e,
                            ));
                        }
                    }
                }
                PrincipalKind::User => {
                    let request = self
                        .clients
                        .iam
                        .list_attached_user_policies()
                        .user_name(name)
                        .set_marker(marker.take());
                    match self.call(request.send()).await {
                        Ok(out) => (
                            out.attached_policies()
                                .iter()
                                .map(attached)
                                .collect::<Vec<_>>(),
                            out.marker()
                                .filter(|_| out.is_truncated())
                                .map(str::to_string),
                        ),
                        Err(e) if code(&e) == Some("NoSuchEntity") => return Ok(None),
                        Err(e) => {
                            return Err(call_error(
                                "iam",
                                "ListAttachedUserPolicies",
                                format!("user `{name}`"),
                                e,
                            ));
                        }
                    }
                }
            };
            policies.extend(page);
            match next {
                Some(next) => marker = Some(next),
                None => return Ok(Some(policies)),
            }
        }
    }

    /// Everything about one role; `None` when it does not exist.
    async fn role(&self, name: &str) -> Result<Option<RoleState>, StateError> {
        let Some(role) = self.get_role(name).await? else {
            return Ok(None);
        };
        let trust_policy = Self::trust_policy(&role)?;
        let (names, attached) = futures::try_join!(
            self.inline_policy_names(name),
            self.attachments(PrincipalKind::Role, name)
        )?;
        let documents =
            try_join_all(names.iter().map(|policy| self.inline_policy(name, policy))).await?;
        // A policy deleted between the listing and the read is simply gone.
        let inline_policies = names
            .into_iter()
            .zip(documents)
            .filter_map(|(n, d)| d.map(|d| (n, d)))
            .collect();
        Ok(Some(RoleState {
            name: role.role_name.clone(),
            arn: role.arn.clone(),
            path: role.path.clone(),
            trust_policy,
            inline_policies,
            // Deleted between GetRole and the listing: no attachments.
            attached_policies: attached.unwrap_or_default(),
            permissions_boundary: role
                .permissions_boundary
                .as_ref()
                .and_then(|b| b.permissions_boundary_arn.clone()),
        }))
    }

    async fn managed_policy(&self, arn: &str) -> Result<ManagedPolicy, StateError> {
        let resource = || format!("managed policy `{arn}`");
        let policy = self
            .call(self.clients.iam.get_policy().policy_arn(arn).send())
            .await
            .map_err(|e| call_error("iam", "GetPolicy", resource(), e))?;
        let version_id = policy
            .policy()
            .and_then(|p| p.default_version_id())
            .ok_or_else(|| StateError::Aws {
                call: "GetPolicy".into(),
                resource: resource(),
                message: "the response has no default version id".into(),
            })?;
        let version = self
            .call(
                self.clients
                    .iam
                    .get_policy_version()
                    .policy_arn(arn)
                    .version_id(version_id)
                    .send(),
            )
            .await
            .map_err(|e| call_error("iam", "GetPolicyVersion", resource(), e))?;
        let text = version
            .policy_version()
            .and_then(|v| v.document())
            .ok_or_else(|| StateError::Aws {
                call: "GetPolicyVersion".into(),
                resource: resource(),
                message: "the response has no document".into(),
            })?;
        Ok(ManagedPolicy {
            arn: arn.to_string(),
            version_id: version_id.to_string(),
            document: decode(text, || {
                format!("version `{version_id}` of managed policy `{arn}`")
            })?,
        })
    }

    async fn describe_key(
        &self,
        key_ref: &str,
    ) -> Result<aws_sdk_kms::types::KeyMetadata, StateError> {
        let not_found = || StateError::KeyNotFound {
            key_ref: key_ref.to_string(),
            region: self.clients.region.clone(),
        };
        match self
            .call(self.clients.kms.describe_key().key_id(key_ref).send())
            .await
        {
            Ok(out) => out.key_metadata.ok_or_else(not_found),
            Err(e) if code(&e) == Some("NotFoundException") => Err(not_found()),
            Err(e) => Err(call_error(
                "kms",
                "DescribeKey",
                format!("key `{key_ref}`"),
                e,
            )),
        }
    }

    /// The `default` key policy; `None` when the key does not exist.
    async fn key_policy(&self, key_id: &str) -> Result<Option<String>, StateError> {
        let request = self
            .clients
            .kms
            .get_key_policy()
            .key_id(key_id)
            .policy_name("default");
        match self.call(request.send()).await {
            Ok(out) => Ok(Some(out.policy().unwrap_or_default().to_string())),
            Err(e) if code(&e) == Some("NotFoundException") => Ok(None),
            Err(e) => Err(call_error(
                "kms",
                "GetKeyPolicy",
                format!("key `{key_id}`"),
                e,
            )),
        }
    }

    /// Describe each key ref, then read each distinct key's policy once.
    async fn keys<'k>(
        &self,
        key_refs: impl Iterator<Item = &'k String>,
    ) -> Result<BTreeMap<String, KeyState>, StateError> {
        let refs: Vec<&String> = key_refs.collect();
        let metadata = try_join_all(refs.iter().map(|r| self.describe_key(r))).await?;
        let key_ids: BTreeSet<&str> = metadata.iter().map(|m| m.key_id.as_str()).collect();
        let policies = try_join_all(
            key_ids
                .iter()
                .map(|id| async move { Ok::<_, StateError>((*id, self.key_policy(id).await?)) }),
        )
        .await?
        .into_iter()
        .collect::<BTreeMap<_, _>>();
        let mut keys = BTreeMap::new();
        for (key_ref, meta) in refs.into_iter().zip(&metadata) {
            let policy = policies
                .get(meta.key_id.as_str())
                .cloned()
                .flatten()
                .ok_or_else(|| StateError::KeyNotFound {
                    key_ref: key_ref.clone(),
                    region: self.clients.region.clone(),
                })?;
            keys.insert(
                key_ref.clone(),
                KeyState {
                    key_ref: key_ref.clone(),
                    key_id: meta.key_id.clone(),
                    arn: meta.arn.clone().unwrap_or_default(),
                    aws_managed: meta.key_manager == Some(aws_sdk_kms::types::KeyManagerType::Aws),
                    key_state: meta
                        .key_state
                        .as_ref()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    policy,
                },
            );
        }
        Ok(keys)
    }

    async fn caller(
        &self,
        arn: &str,
        kind: PrincipalKind,
        name: &str,
    ) -> Result<CallerState, StateError> {
        let attached_policies =
            self.attachments(kind, name)
                .await?
                .ok_or_else(|| StateError::CallerNotFound {
                    arn: arn.to_string(),
                })?;
        Ok(CallerState {
            arn: arn.to_string(),
            kind,
            name: name.to_string(),
            attached_policies,
        })
    }
}

/// Read exactly the state `needs` calls for, concurrently (bounded).
pub async fn read_state(clients: &Clients, needs: &Needs) -> Result<AccountState, StateError> {
    let reader = Reader::new(clients);

    let buckets: BTreeSet<&String> = needs.cors.keys().chain(&needs.output_buckets).collect();
    let buckets = try_join_all(
        buckets
            .into_iter()
            .map(|b| reader.bucket(b, needs.cors.contains_key(b))),
    );
    let roles = try_join_all(needs.roles.values().map(|role| async {
        let state = reader.role(&role.name).await?;
        Ok::<_, StateError>((role.name.clone(), state))
    }));
    // A caller that is also a flow or preview role: its attachments come
    // from the role read, not from a second ListAttachedRolePolicies.
    let is_read_as_role = |kind: PrincipalKind, name: &str| {
        kind == PrincipalKind::Role && needs.roles.contains_key(name)
    };
    let callers = try_join_all(
        needs
            .callers
            .values()
            .filter(|c| !is_read_as_role(c.kind, &c.name))
            .map(|c| reader.caller(&c.arn, c.kind, &c.name)),
    );
    let keys = reader.keys(needs.keys.values().map(|k| &k.key_ref));

    let ((account_id, caller_arn), buckets, roles, keys, callers) =
        futures::try_join!(reader.caller_identity(), buckets, roles, keys, callers)?;

    let roles: BTreeMap<String, Option<RoleState>> = roles.into_iter().collect();
    let mut callers: BTreeMap<String, CallerState> =
        callers.into_iter().map(|c| (c.arn.clone(), c)).collect();
    for need in needs
        .callers
        .values()
        .filter(|c| is_read_as_role(c.kind, &c.name))
    {
        let attached_policies = match roles.get(&need.name).and_then(Option::as_ref) {
            Some(role) => role.attached_policies.clone(),
            // A missing flow role is planned as a create: as a caller it
            // then starts with nothing attached. A role a2i-fix will not
            // create is a missing caller.
            None if needs
                .roles
                .get(&need.name)
                .is_some_and(|r| r.create_if_missing) =>
            {
                Vec::new()
            }
            None => {
                return Err(StateError::CallerNotFound {
                    arn: need.arn.clone(),
                });
            }
        };
        callers.insert(
            need.arn.clone(),
            CallerState {
                arn: need.arn.clone(),
                kind: PrincipalKind::Role,
                name: need.name.clone(),
                attached_policies,
            },
        );
    }

    // Managed policies that could grant a role its S3 needs, each read once.
    let managed: BTreeSet<&str> = needs
        .roles
        .values()
        .filter(|n| !n.read.is_empty() || !n.write.is_empty())
        .filter_map(|n| roles.get(&n.name).and_then(Option::as_ref))
        .flat_map(|r| r.attached_policies.iter().map(|p| p.arn.as_str()))
        .collect();
    let managed_policies = try_join_all(managed.into_iter().map(|arn| reader.managed_policy(arn)))
        .await?
        .into_iter()
        .map(|p| (p.arn.clone(), p))
        .collect();

    Ok(AccountState {
        account_id,
        region: clients.region.clone(),
        caller_arn,
        buckets: buckets.into_iter().map(|b| (b.name.clone(), b)).collect(),
        roles,
        managed_policies,
        keys,
        callers,
        api_calls: clients.counter.snapshot(),
    })
}

/// Re-read one target's current document, in the text form `read_state`
/// stores (see [`current_from_state`]); `None` when there is none.
pub async fn read_current(
    clients: &Clients,
    target: &Target,
) -> Result<Option<String>, StateError> {
    let reader = Reader::new(clients);
    match target {
        Target::BucketCors { bucket } => {
            Ok(reader.bucket_cors(bucket).await?.as_ref().map(cors_text))
        }
        Target::Role { name, .. } | Target::TrustPolicy { role: name } => {
            match reader.get_role(name).await? {
                Some(role) => Reader::trust_policy(&role).map(Some),
                None => Ok(None),
            }
        }
        Target::InlinePolicy { role, policy_name } => reader.inline_policy(role, policy_name).await,
        Target::KeyPolicy { key_id, .. } => reader.key_policy(key_id).await,
        Target::Attachment {
            kind,
            name,
            policy_arn,
        } => Ok(reader.attachments(*kind, name).await?.and_then(|list| {
            list.iter()
                .any(|p| &p.arn == policy_arn)
                .then(|| policy_arn.clone())
        })),
    }
}

/// The current document of a target as recorded in `state`, in the same text
/// form [`read_current`] returns; `None` when there is none (or it was not
/// read).
pub fn current_from_state(state: &AccountState, target: &Target) -> Option<String> {
    let role = |name: &str| state.roles.get(name).and_then(Option::as_ref);
    match target {
        Target::BucketCors { bucket } => state.buckets.get(bucket)?.cors.as_ref().map(cors_text),
        Target::Role { name, .. } | Target::TrustPolicy { role: name } => {
            Some(role(name)?.trust_policy.clone())
        }
        Target::InlinePolicy {
            role: name,
            policy_name,
        } => role(name)?
            .inline_policies
            .iter()
            .find(|(n, _)| n == policy_name)
            .map(|(_, d)| d.clone()),
        Target::KeyPolicy { key_id, .. } => state
            .keys
            .values()
            .find(|k| &k.key_id == key_id)
            .map(|k| k.policy.clone()),
        Target::Attachment {
            kind,
            name,
            policy_arn,
        } => {
            let from_caller = state
                .callers
                .values()
                .find(|c| c.kind == *kind && &c.name == name)
                .map(|c| &c.attached_policies);
            let from_role = match kind {
                PrincipalKind::Role => role(name).map(|r| &r.attached_policies),
                PrincipalKind::User => None,
            };
            let list = from_caller.or(from_role)?;
            list.iter()
                .any(|p| &p.arn == policy_arn)
                .then(|| policy_arn.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_code_is_found_in_an_unparsed_xml_body() {
        let debug = r#"raw: Response { body: b"<?xml version=\"1.0\"?>\n<ErrorResponse><Errors><Error><Code>InvalidClientTokenId</Code><Message>x</Message></Error></Errors></ErrorResponse>" }"#;
        assert_eq!(
            super::code_from_raw(debug).as_deref(),
            Some("InvalidClientTokenId")
        );
        assert_eq!(super::code_from_raw("no body"), None);
        assert_eq!(super::code_from_raw("<Code></Code>"), None);
    }

    use super::*;
    use aws_sdk_s3::error::ErrorMetadata;
    use aws_sdk_s3::operation::get_bucket_cors::GetBucketCorsError;
    use aws_sdk_s3::primitives::SdkBody;
    use aws_smithy_runtime_api::http::{Response, StatusCode};

    fn service_error(code: &str, status: u16) -> SdkError<GetBucketCorsError, Response> {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("from the test")
            .build();
        let status = StatusCode::try_from(status).expect("a valid status code");
        SdkError::service_error(
            GetBucketCorsError::generic(meta),
            Response::new(status, SdkBody::empty()),
        )
    }

    #[test]
    fn access_denied_names_the_call_the_resource_and_the_iam_action() {
        let error = call_error(
            "s3",
            "GetBucketCors",
            "bucket `x`".into(),
            service_error("AccessDenied", 403),
        );
        assert_eq!(
            error,
            StateError::AccessDenied {
                call: "GetBucketCors".into(),
                resource: "bucket `x`".into(),
                action: "s3:GetBucketCORS".into(),
            }
        );
        assert_eq!(
            error.to_string(),
            "access denied calling `GetBucketCors` on bucket `x`: a2i-fix needs `s3:GetBucketCORS`"
        );
    }

    #[test]
    fn kms_access_denied_exception_is_access_denied_too() {
        let error = call_error(
            "kms",
            "GetKeyPolicy",
            "key `k`".into(),
            service_error("AccessDeniedException", 400),
        );
        assert!(
            matches!(&error, StateError::AccessDenied { action, .. } if action == "kms:GetKeyPolicy"),
            "{error:?}"
        );
    }

    #[test]
    fn rejected_credentials_say_how_to_configure_them() {
        let error = call_error(
            "sts",
            "GetCallerIdentity",
            "the caller".into(),
            service_error("InvalidClientTokenId", 403),
        );
        assert!(matches!(error, StateError::Credentials { .. }), "{error:?}");
        assert!(error.to_string().contains("aws configure"), "{error}");
    }

    #[test]
    fn other_errors_name_the_call_and_keep_the_aws_message() {
        let error = call_error(
            "s3",
            "GetBucketCors",
            "bucket `x`".into(),
            service_error("InternalError", 500),
        );
        let text = error.to_string();
        assert!(
            text.starts_with("calling `GetBucketCors` on bucket `x` failed: "),
            "{text}"
        );
        assert!(text.contains("InternalError"), "{text}");
    }

    #[test]
    fn iam_actions_use_the_s3_names_where_they_differ_from_the_call() {
        assert_eq!(
            iam_action("s3", "GetBucketEncryption"),
            "s3:GetEncryptionConfiguration"
        );
        assert_eq!(
            iam_action("iam", "ListAttachedRolePolicies"),
            "iam:ListAttachedRolePolicies"
        );
    }

    #[test]
    fn documents_are_url_decoded_per_rfc_3986() {
        let decoded =
            decode("%7B%22a%22%3A%22b+c%20d%25%22%7D", || "test".into()).expect("decodes");
        // `+` stays a plus sign: IAM encodes a space as %20.
        assert_eq!(decoded, r#"{"a":"b+c d%"}"#);
        assert!(matches!(
            decode("%FF", || "doc".into()),
            Err(StateError::Decode { .. })
        ));
    }

    #[test]
    fn current_from_state_of_unread_things_is_none() {
        let state = AccountState::default();
        let targets = [
            Target::BucketCors { bucket: "b".into() },
            Target::Role {
                name: "r".into(),
                path: "/".into(),
            },
            Target::TrustPolicy { role: "r".into() },
            Target::InlinePolicy {
                role: "r".into(),
                policy_name: "p".into(),
            },
            Target::KeyPolicy {
                key_id: "k".into(),
                key_arn: "arn".into(),
            },
            Target::Attachment {
                kind: PrincipalKind::User,
                name: "u".into(),
                policy_arn: "arn".into(),
            },
        ];
        for target in targets {
            assert_eq!(current_from_state(&state, &target), None, "{target:?}");
        }
    }
}
