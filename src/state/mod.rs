//! Reading the current IAM, S3 and KMS state. The only module with SDK read
//! calls. Documents are kept as the raw (URL-decoded) text AWS returned, so
//! fingerprints see every byte; parsing is the planner's job.
//!
//! Files: this one holds the plain-data types, the bounded [`Reader`] and the
//! three entry points ([`read_state`], [`read_current`],
//! [`current_from_state`]); `iam`, `s3` and `kms` hold the reads of each
//! service; `bulk` the bulk IAM read; `errors` maps SDK errors to
//! [`StateError`].
//!
//! Decisions:
//! - Exactly the reads the needs call for, each once (how each API behaves:
//!   `docs/requirements.md`, "How the AWS APIs behave"):
//!   STS GetCallerIdentity; per input bucket GetBucketCors,
//!   GetBucketEncryption and GetBucketPolicy; per output bucket (that is not
//!   also an input bucket) GetBucketEncryption, which also proves it exists,
//!   and GetBucketPolicy; per role GetRole, ListRolePolicies and
//!   ListAttachedRolePolicies sent together (a missing role answers
//!   NoSuchEntity to all three: two calls spent to save a round trip on
//!   every role that exists), one GetRolePolicy per inline policy; per
//!   distinct managed policy attached to a role with S3 or KMS needs, and
//!   per distinct permissions boundary of such a role, GetPolicy +
//!   GetPolicyVersion (read once even when shared, started as soon as the
//!   first role naming it is listed); per distinct key ref DescribeKey, then per
//!   distinct key id one GetKeyPolicy (`default`); DescribeKey for a bucket's
//!   default key the spec does not name (not for `alias/aws/...`); per
//!   caller one ListAttached{Role,User}Policies (and GetRole for a caller
//!   role, for its tags), unless the caller is a role already read as a
//!   flow or preview role, whose attachments and tags are reused;
//!   and only for a caller lacking a managed policy it needs, its inline
//!   policies and the documents of its attached and lacking policies; per
//!   input bucket GetBucketTagging and per distinct key id ListResourceTags
//!   (`tags`: who owns what the plan may change; a role's tags come with
//!   GetRole). A listing costs one call per page.
//! - **In bulk**, from [`BULK_THRESHOLD`] distinct roles to read (flow,
//!   preview and caller roles) or with `--iam-reads bulk` (see `bulk`):
//!   GetAccountAuthorizationDetails (filters `Role`, `LocalManagedPolicy`;
//!   one call per page) replaces every GetRole, ListRolePolicies,
//!   ListAttachedRolePolicies and GetRolePolicy above, and GetPolicy +
//!   GetPolicyVersion of customer managed policies; AWS managed policies
//!   are still read with GetPolicy + GetPolicyVersion, users one by one.
//!   Denied (`AccessDenied`): the per-role reads above, noted once on
//!   stderr.
//! - Every call goes through its service's semaphore ([`crate::aws::Concurrency`]: IAM
//!   narrower, since its control plane throttles first; S3 and KMS wider), so
//!   the reads run concurrently but never more than that many at once; IAM
//!   calls are also paced per API ([`crate::aws::Pace`]), so that a large
//!   spec runs at IAM's rate instead of into its throttling.
//! - A missing role is not an error (`roles[name] = None`: the planner may
//!   create it). A missing bucket, key or caller is an error here, naming it.
//!   Whether a key is AWS-managed is recorded; refusing it is the planner's
//!   call.
//! - The text form of every document is the one [`current_from_state`] and
//!   [`read_current`] return, so a fingerprint taken at plan time matches a
//!   re-read at apply time byte for byte. A CORS configuration's text is
//!   [`cors_text`] (compact serde JSON of the rules as converted from the SDK).

mod bulk;
mod errors;
mod iam;
mod kms;
mod s3;
mod tags;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use futures::future::try_join_all;
use tokio::sync::Semaphore;

use crate::aws::Clients;
use crate::model::{PrincipalKind, Target};
use crate::policy::CorsConfiguration;
use crate::requirements::Needs;

pub use bulk::BULK_THRESHOLD;
use errors::call_error;
pub use errors::{StateError, describe_fault, iam_action, outcome_uncertain};
pub use kms::is_aws_managed_alias;
pub use s3::cors_text;

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
    /// The bucket policy's text; `None`: the bucket has no policy.
    pub policy: Option<String>,
}

/// A KMS key a bucket's default encryption names, as DescribeKey told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketKey {
    pub key_id: String,
    pub arn: String,
    /// `KeyManager == AWS` (e.g. `aws/s3`).
    pub aws_managed: bool,
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
    pub description: Option<String>,
    pub max_session_duration: Option<i32>,
    /// The role's tags (key, value), as GetRole returned them.
    pub tags: Vec<(String, String)>,
}

/// The tags of a bucket or key the plan may change, read to tell whether
/// infrastructure as code manages it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tags {
    /// The tags (key, value), as AWS returned them; empty when none.
    Read(Vec<(String, String)>),
    /// The credentials may not read them: ownership is unknown. `action`
    /// is the permission to grant, e.g. `s3:GetBucketTagging`.
    Denied { action: String },
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
    /// Inline policy name -> document text; read only when some managed
    /// policy the caller needs is not attached (to judge whether its own
    /// policies already allow what that policy grants), else empty.
    pub inline_policies: Vec<(String, String)>,
    /// A role's tags (from GetRole); empty for a user (not read).
    pub tags: Vec<(String, String)>,
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
    /// Default versions of managed policies, by ARN: those attached to the
    /// roles, the roles' permissions boundaries, and, for a caller that
    /// lacks a managed policy it needs, its attached policies and the
    /// needed ones.
    pub managed_policies: BTreeMap<String, ManagedPolicy>,
    /// By key ref as written in the spec.
    pub keys: BTreeMap<String, KeyState>,
    /// By principal ARN.
    pub callers: BTreeMap<String, CallerState>,
    /// The keys bucket default encryptions name that the spec does not,
    /// by the key id or ARN as the bucket names it (`alias/aws/...` names
    /// are known to be AWS managed without a call and are not here).
    pub bucket_keys: BTreeMap<String, BucketKey>,
    /// Tags of each input bucket (the only buckets a plan changes), by name.
    pub bucket_tags: BTreeMap<String, Tags>,
    /// Tags of each key the spec names, by key id.
    pub key_tags: BTreeMap<String, Tags>,
    /// Number of API calls made, by operation (`iam:GetRole`, ...).
    pub api_calls: BTreeMap<String, u64>,
}

/// Issues calls through one bounded semaphore per service.
struct Reader<'a> {
    clients: &'a Clients,
    iam: Semaphore,
    s3: Semaphore,
    kms: Semaphore,
    /// Managed policies read (or being read) by this reader, by ARN.
    managed:
        std::sync::Mutex<BTreeMap<String, std::sync::Arc<tokio::sync::OnceCell<ManagedPolicy>>>>,
    /// The roles to read in bulk (`bulk`); `None`: read role by role.
    bulk_roles: Option<BTreeSet<String>>,
    /// The bulk answer, once read (`None` inside: the read was denied).
    bulk: tokio::sync::OnceCell<Option<bulk::Bulk>>,
}

impl<'a> Reader<'a> {
    fn new(clients: &'a Clients) -> Self {
        let limits = clients.concurrency;
        Reader {
            clients,
            iam: Semaphore::new(limits.iam.max(1)),
            s3: Semaphore::new(limits.s3.max(1)),
            kms: Semaphore::new(limits.kms.max(1)),
            managed: std::sync::Mutex::default(),
            bulk_roles: None,
            bulk: tokio::sync::OnceCell::new(),
        }
    }

    /// Run one API call while holding a permit of `permits`. The call's
    /// future is made, and boxed, only once the permit is held: a read
    /// waiting for its turn holds no SDK future (each is large), so the
    /// hundreds of reads a large spec starts at once cost little memory,
    /// and moving them around costs little time.
    async fn limited<F: Future>(permits: &Semaphore, make: impl FnOnce() -> F) -> F::Output {
        // The semaphore is never closed, so `acquire` cannot fail; were it
        // to, the call would simply run unbounded.
        let _permit = permits.acquire().await.ok();
        Box::pin(make()).await
    }

    /// An IAM call: paced per operation (see [`crate::aws::Pace`]), then
    /// bounded by the IAM permits. The pace is waited for first, so a call
    /// waiting for its operation's next token holds no permit.
    async fn call_iam<F: Future>(
        &self,
        operation: &'static str,
        make: impl FnOnce() -> F,
    ) -> F::Output {
        self.clients.iam_pace.ready(operation).await;
        Self::limited(&self.iam, make).await
    }

    /// STS's one call, under the IAM permits (IAM's control plane) but not
    /// paced: STS's rates are far higher.
    async fn call_sts<F: Future>(&self, make: impl FnOnce() -> F) -> F::Output {
        Self::limited(&self.iam, make).await
    }

    async fn call_s3<F: Future>(&self, make: impl FnOnce() -> F) -> F::Output {
        Self::limited(&self.s3, make).await
    }

    async fn call_kms<F: Future>(&self, make: impl FnOnce() -> F) -> F::Output {
        Self::limited(&self.kms, make).await
    }

    async fn caller_identity(&self) -> Result<(String, String), StateError> {
        let out = self
            .call_sts(|| self.clients.sts.get_caller_identity().send())
            .await
            .map_err(|e| call_error("sts", "GetCallerIdentity", "the caller".into(), e))?;
        let account = out.account().unwrap_or_default().to_string();
        let arn = out.arn().unwrap_or_default().to_string();
        Ok((account, arn))
    }
}

/// Read exactly the state `needs` calls for, concurrently (bounded).
pub async fn read_state(clients: &Clients, needs: &Needs) -> Result<AccountState, StateError> {
    let mut reader = Reader::new(clients);
    let roles_to_read = bulk::roles_to_read(needs);
    if bulk::use_bulk(clients.iam_reads, &roles_to_read) {
        reader.bulk_roles = Some(roles_to_read);
    }

    let buckets: BTreeSet<&String> = needs.cors.keys().chain(&needs.output_buckets).collect();
    let buckets = try_join_all(
        buckets
            .into_iter()
            .map(|b| reader.bucket(b, needs.cors.contains_key(b))),
    );
    // A role's managed policies (and boundary) are read as soon as its
    // listing names them, each once however many roles share it, when they
    // could grant the role its S3 or KMS needs.
    let roles = try_join_all(needs.roles.values().map(|need| async {
        let state = reader.role(&need.name).await?;
        let uses_key = needs
            .keys
            .values()
            .any(|k| k.roles.contains_key(&need.name));
        if let Some(role) = &state
            && (!need.read.is_empty() || !need.write.is_empty() || uses_key)
        {
            let arns = role
                .attached_policies
                .iter()
                .map(|p| p.arn.as_str())
                .chain(role.permissions_boundary.as_deref());
            try_join_all(arns.map(|arn| reader.managed_policy_once(arn))).await?;
        }
        Ok::<_, StateError>((need.name.clone(), state))
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
        let (attached_policies, inline_policies, tags) =
            match roles.get(&need.name).and_then(Option::as_ref) {
                Some(role) => (
                    role.attached_policies.clone(),
                    role.inline_policies.clone(),
                    role.tags.clone(),
                ),
                // A missing flow role is planned as a create: as a caller it
                // then starts with nothing attached. A role a2i-fix will not
                // create is a missing caller.
                None if needs
                    .roles
                    .get(&need.name)
                    .is_some_and(|r| r.create_if_missing) =>
                {
                    (Vec::new(), Vec::new(), Vec::new())
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
                inline_policies,
                tags,
            },
        );
    }

    // Callers lacking a managed policy they need: their own inline policies
    // (a caller read as a flow role has them already), to judge whether
    // what they have already allows what the missing policy grants.
    let lacking: Vec<&CallerState> = callers
        .values()
        .filter(|c| lacks_needed_policy(c, needs))
        .collect();
    let inline = try_join_all(
        lacking
            .iter()
            .filter(|c| !is_read_as_role(c.kind, &c.name))
            .map(|c| async {
                let policies = reader.principal_inline_policies(c.kind, &c.name).await?;
                Ok::<_, StateError>((c.arn.clone(), policies))
            }),
    );

    // For a lacking caller, its attached policies and the ones it lacks
    // (those the roles already read are not read again).
    let mut managed: BTreeSet<&str> = BTreeSet::new();
    for caller in &lacking {
        managed.extend(caller.attached_policies.iter().map(|p| p.arn.as_str()));
        if let Some(need) = needs.callers.get(&caller.arn) {
            managed.extend(need.policies.keys().map(String::as_str));
        }
    }
    let managed = try_join_all(
        managed
            .into_iter()
            .map(|arn| reader.managed_policy_once(arn)),
    );
    let bucket_keys = reader.bucket_keys(&buckets, &keys);
    let reader = &reader;
    let bucket_tags =
        try_join_all(needs.cors.keys().map(|b| async move {
            Ok::<_, StateError>((b.clone(), reader.bucket_tags(b).await?))
        }));
    let key_ids: BTreeSet<&str> = keys.values().map(|k| k.key_id.as_str()).collect();
    let key_tags = try_join_all(key_ids.into_iter().map(|id| async move {
        Ok::<_, StateError>((id.to_string(), reader.key_tags(id).await?))
    }));
    let (_, inline, bucket_keys, bucket_tags, key_tags) =
        futures::try_join!(managed, inline, bucket_keys, bucket_tags, key_tags)?;
    let managed_policies: BTreeMap<String, ManagedPolicy> = reader
        .managed
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .values()
        .filter_map(|cell| cell.get().cloned())
        .map(|p| (p.arn.clone(), p))
        .collect();
    for (arn, policies) in inline {
        if let Some(caller) = callers.get_mut(&arn) {
            caller.inline_policies = policies;
        }
    }

    Ok(AccountState {
        account_id,
        region: clients.region.clone(),
        caller_arn,
        buckets: buckets.into_iter().map(|b| (b.name.clone(), b)).collect(),
        roles,
        managed_policies,
        keys,
        callers,
        bucket_keys,
        bucket_tags: bucket_tags.into_iter().collect(),
        key_tags: key_tags.into_iter().collect(),
        api_calls: clients.counter.snapshot(),
    })
}

/// Whether a caller lacks a managed policy it needs (by attachment).
fn lacks_needed_policy(caller: &CallerState, needs: &Needs) -> bool {
    needs.callers.get(&caller.arn).is_some_and(|need| {
        need.policies
            .keys()
            .any(|arn| !caller.attached_policies.iter().any(|p| &p.arn == arn))
    })
}

/// Who the credentials belong to: the account id and the caller's ARN
/// (STS GetCallerIdentity), with a failure worded like every other read.
pub async fn caller_identity(clients: &Clients) -> Result<(String, String), StateError> {
    Reader::new(clients).caller_identity().await
}

/// What GetRole tells about a role besides its policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAttributes {
    pub path: String,
    pub description: Option<String>,
    pub max_session_duration: Option<i32>,
    pub permissions_boundary: Option<String>,
    pub tags: Vec<(String, String)>,
}

/// GetRole for each role named (concurrently, bounded): their attributes,
/// by name; a role that does not exist is left out.
pub async fn role_attributes(
    clients: &Clients,
    names: impl IntoIterator<Item = &str>,
) -> Result<BTreeMap<String, RoleAttributes>, StateError> {
    let reader = Reader::new(clients);
    let reader = &reader;
    let roles = try_join_all(names.into_iter().map(|name| async move {
        let role = reader.get_role(name).await?;
        Ok::<_, StateError>(role.map(|r| {
            (
                name.to_string(),
                RoleAttributes {
                    path: r.path.clone(),
                    description: r.description.clone(),
                    max_session_duration: r.max_session_duration,
                    permissions_boundary: r
                        .permissions_boundary
                        .as_ref()
                        .and_then(|b| b.permissions_boundary_arn.clone()),
                    tags: r
                        .tags()
                        .iter()
                        .map(|t| (t.key.clone(), t.value.clone()))
                        .collect(),
                },
            )
        }))
    }))
    .await?;
    Ok(roles.into_iter().flatten().collect())
}

/// What hangs on a role and would make DeleteRole fail (`DeleteConflict`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoleDependents {
    pub inline_policies: Vec<String>,
    pub attached_policies: Vec<String>,
    pub instance_profiles: Vec<String>,
}

/// The inline policies, attached policies and instance profiles of a role;
/// `None` when the role does not exist.
pub async fn role_dependents(
    clients: &Clients,
    role: &str,
) -> Result<Option<RoleDependents>, StateError> {
    let reader = Reader::new(clients);
    let Some(attached) = reader.attachments(PrincipalKind::Role, role).await? else {
        return Ok(None);
    };
    let (inline_policies, instance_profiles) = futures::try_join!(
        reader.inline_policy_names(role),
        reader.instance_profiles(role)
    )?;
    Ok(Some(RoleDependents {
        inline_policies,
        attached_policies: attached.into_iter().map(|p| p.arn).collect(),
        instance_profiles,
    }))
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
