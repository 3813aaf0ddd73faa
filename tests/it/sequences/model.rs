//! The model of one sequence: the seeded random source, the names of its
//! resources (small pools, so that spec entries share roles, buckets and
//! keys), the spec as a value that grows and shrinks, its `a2i.toml` text,
//! and the needs (R1..R9) it implies, written out independently of the
//! library's `requirements`.

use proptest::prelude::Rng as _;
use proptest::test_runner::{RngAlgorithm, TestRng};

use crate::support::{ACCOUNT_ID, FULL_ACCESS, INTEGRATED_API, MECHANICAL_TURK};

// ---------------------------------------------------------------------------
// The random source.

/// proptest's ChaCha generator, seeded from one `u64`: the same seed gives
/// the same sequence on every machine and proptest version.
pub struct Dice(TestRng);

impl Dice {
    pub fn new(seed: u64) -> Dice {
        let mut bytes = [0u8; 32];
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let word = seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        Dice(TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        (self.0.next_u64() % n as u64) as usize
    }

    /// True `num` times in `den`.
    pub fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An index drawn with the given weights.
    pub fn weighted(&mut self, weights: &[usize]) -> usize {
        let mut roll = self.below(weights.iter().sum());
        for (i, w) in weights.iter().enumerate() {
            if roll < *w {
                return i;
            }
            roll -= w;
        }
        unreachable!("the roll is below the sum of the weights")
    }

    /// Up to `max` distinct items of `0..n`, in increasing order.
    pub fn subset(&mut self, n: usize, max: usize) -> Vec<usize> {
        let count = self.below(max + 1);
        let mut chosen: Vec<usize> = (0..n).collect();
        for i in (1..chosen.len()).rev() {
            chosen.swap(i, self.below(i + 1));
        }
        chosen.truncate(count);
        chosen.sort_unstable();
        chosen
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
}

// ---------------------------------------------------------------------------
// Names.

pub const BUCKETS: usize = 4;
pub const ROLES: usize = 3;
pub const KEYS: usize = 2;
/// Output prefixes (`None`: the whole bucket).
pub const PREFIXES: [Option<&str>; 3] = [Some("reviews"), Some("out/claims"), None];

/// The names of one sequence's resources, distinct from every other
/// sequence's on the same server (`q<N>` in every name).
#[derive(Clone)]
pub struct Names {
    pub n: usize,
    /// `(key_id, key_arn)` per key, once created.
    pub keys: Vec<(String, String)>,
}

impl Names {
    pub fn bucket(&self, i: usize) -> String {
        format!("q{}-bucket-{i}", self.n)
    }
    pub fn role(&self, i: usize) -> String {
        format!("Q{}Role{i}", self.n)
    }
    /// Roles 0 and 1 exist from the start at `/`; role 2 is created by the
    /// tool, at the path its ARN gives.
    pub fn role_path(&self, i: usize) -> &'static str {
        if i == 2 { "/a2i/" } else { "/" }
    }
    pub fn role_arn(&self, i: usize) -> String {
        format!(
            "arn:aws:iam::{ACCOUNT_ID}:role{}{}",
            self.role_path(i),
            self.role(i)
        )
    }
    /// Someone else's role, named by foreign statements.
    pub fn auditor(&self) -> String {
        format!("Q{}Auditor", self.n)
    }
    pub fn auditor_arn(&self) -> String {
        format!("arn:aws:iam::{ACCOUNT_ID}:role/{}", self.auditor())
    }
    pub fn caller_role(&self) -> String {
        format!("Q{}Caller", self.n)
    }
    pub fn caller_user(&self) -> String {
        format!("q{}-bot", self.n)
    }
    pub fn alias(&self, i: usize) -> String {
        format!("alias/q{}-key-{i}", self.n)
    }
    pub fn key_id(&self, i: usize) -> &str {
        &self.keys[i].0
    }
}

// ---------------------------------------------------------------------------
// The spec as a value.

#[derive(Clone, Debug)]
pub struct Flow {
    pub id: usize,
    pub role: usize,
    /// Roles 0 and 1 may be spelled as their ARN; role 2 always is.
    pub role_as_arn: bool,
    pub inputs: Vec<usize>,
    pub out_bucket: usize,
    pub prefix: Option<&'static str>,
    pub trailing_slash: bool,
    /// `(key index, spelled as the key ARN rather than the alias)`
    pub kms: Option<(usize, bool)>,
}

#[derive(Clone, Debug)]
pub struct Preview {
    /// Only roles 0 and 1: a preview role is never created by the tool.
    pub role: usize,
    pub inputs: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Caller {
    pub user: bool,
    pub uses: Vec<&'static str>,
    pub public: bool,
}

#[derive(Clone, Debug, Default)]
pub struct SpecModel {
    pub flows: Vec<Flow>,
    pub previews: Vec<Preview>,
    pub callers: Vec<Caller>,
    pub next_id: usize,
}

impl SpecModel {
    pub fn entries(&self) -> usize {
        self.flows.len() + self.previews.len() + self.callers.len()
    }

    pub fn new_flow(&mut self, d: &mut Dice) -> Flow {
        let role = d.below(ROLES);
        let mut inputs = d.subset(BUCKETS, 2);
        if inputs.is_empty() && d.chance(3, 4) {
            inputs.push(d.below(BUCKETS));
        }
        let id = self.next_id;
        self.next_id += 1;
        Flow {
            id,
            role,
            role_as_arn: role == 2 || d.chance(1, 3),
            inputs,
            out_bucket: d.below(BUCKETS),
            prefix: *d.pick(&PREFIXES),
            trailing_slash: d.chance(1, 2),
            kms: d.chance(2, 3).then(|| (d.below(KEYS), d.chance(1, 4))),
        }
    }

    pub fn new_preview(d: &mut Dice) -> Preview {
        let mut inputs = d.subset(BUCKETS, 2);
        if inputs.is_empty() {
            inputs.push(d.below(BUCKETS));
        }
        Preview {
            role: d.below(2),
            inputs,
        }
    }

    pub fn new_caller(user: bool, d: &mut Dice) -> Caller {
        let all = ["custom", "textract", "rekognition"];
        let mut uses: Vec<&'static str> = d.subset(3, 3).into_iter().map(|i| all[i]).collect();
        if uses.is_empty() {
            uses.push(*d.pick(&all));
        }
        Caller {
            user,
            uses,
            public: d.chance(1, 4),
        }
    }

    /// The `a2i.toml` text.
    pub fn toml(&self, names: &Names) -> String {
        let quoted = |items: Vec<String>| {
            items
                .iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut s = format!("account_id = \"{ACCOUNT_ID}\"\n");
        for f in &self.flows {
            let role = if f.role_as_arn {
                names.role_arn(f.role)
            } else {
                names.role(f.role)
            };
            let mut output = format!("s3://{}", names.bucket(f.out_bucket));
            if let Some(p) = f.prefix {
                output.push('/');
                output.push_str(p);
            }
            if f.trailing_slash {
                output.push('/');
            }
            s.push_str(&format!(
                "\n[[flow_definition]]\nname = \"fd-{}\"\nrole = {role:?}\ninput_buckets = [{}]\noutput = {output:?}\n",
                f.id,
                quoted(f.inputs.iter().map(|b| names.bucket(*b)).collect()),
            ));
            if let Some((k, as_arn)) = f.kms {
                let key = if as_arn {
                    names.keys[k].1.clone()
                } else {
                    names.alias(k)
                };
                s.push_str(&format!("kms_key = {key:?}\n"));
            }
        }
        for c in &self.callers {
            let principal = if c.user {
                format!("arn:aws:iam::{ACCOUNT_ID}:user/{}", names.caller_user())
            } else {
                format!("arn:aws:iam::{ACCOUNT_ID}:role/{}", names.caller_role())
            };
            s.push_str(&format!(
                "\n[[human_loop_caller]]\nprincipal = {principal:?}\nuses = [{}]\npublic_workforce = {}\n",
                quoted(c.uses.iter().map(|u| u.to_string()).collect()),
                c.public
            ));
        }
        for p in &self.previews {
            s.push_str(&format!(
                "\n[[template_preview]]\nrole = {:?}\ninput_buckets = [{}]\n",
                names.role(p.role),
                quoted(p.inputs.iter().map(|b| names.bucket(*b)).collect()),
            ));
        }
        s
    }

    /// One line per entry, for the step log.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for f in &self.flows {
            parts.push(format!(
                "fd-{}(role{}{}, in {:?}, out b{}/{}{})",
                f.id,
                f.role,
                if f.role_as_arn { " by ARN" } else { "" },
                f.inputs,
                f.out_bucket,
                f.prefix.unwrap_or(""),
                match f.kms {
                    Some((k, arn)) => format!(", key{k}{}", if arn { " by ARN" } else { "" }),
                    None => String::new(),
                }
            ));
        }
        for p in &self.previews {
            parts.push(format!("preview(role{}, in {:?})", p.role, p.inputs));
        }
        for c in &self.callers {
            parts.push(format!(
                "caller({}, {:?}{})",
                if c.user { "user" } else { "role" },
                c.uses,
                if c.public { ", public" } else { "" }
            ));
        }
        parts.join("; ")
    }

    /// Grow or shrink the spec by one random edit; returns what it did.
    pub fn change(&mut self, d: &mut Dice) -> String {
        loop {
            match d.below(9) {
                0 if self.flows.len() < 4 => {
                    let f = self.new_flow(d);
                    let what = format!("add flow fd-{}", f.id);
                    self.flows.push(f);
                    return what;
                }
                1 if !self.flows.is_empty() && self.entries() > 1 => {
                    let f = self.flows.remove(d.below(self.flows.len()));
                    return format!("remove flow fd-{}", f.id);
                }
                2 if !self.flows.is_empty() => {
                    let i = d.below(self.flows.len());
                    let fresh = self.new_flow(d);
                    self.flows[i].inputs = fresh.inputs;
                    return format!("change inputs of fd-{}", self.flows[i].id);
                }
                3 if !self.flows.is_empty() => {
                    let i = d.below(self.flows.len());
                    let fresh = self.new_flow(d);
                    let f = &mut self.flows[i];
                    f.out_bucket = fresh.out_bucket;
                    f.prefix = fresh.prefix;
                    f.trailing_slash = fresh.trailing_slash;
                    return format!("change output of fd-{}", f.id);
                }
                4 if !self.flows.is_empty() => {
                    let i = d.below(self.flows.len());
                    let f = &mut self.flows[i];
                    f.kms = match f.kms {
                        Some((k, _)) if d.chance(1, 2) => Some(((k + 1) % KEYS, d.chance(1, 4))),
                        Some(_) => None,
                        None => Some((d.below(KEYS), d.chance(1, 4))),
                    };
                    return format!("change kms_key of fd-{}", f.id);
                }
                5 if !self.flows.is_empty() => {
                    let i = d.below(self.flows.len());
                    let fresh = self.new_flow(d);
                    let f = &mut self.flows[i];
                    f.role = fresh.role;
                    f.role_as_arn = fresh.role_as_arn;
                    return format!("change role of fd-{}", f.id);
                }
                6 if self.previews.len() < 2 => {
                    self.previews.push(SpecModel::new_preview(d));
                    return "add template preview".into();
                }
                7 if !self.previews.is_empty() && self.entries() > 1 => {
                    self.previews.remove(d.below(self.previews.len()));
                    return "remove template preview".into();
                }
                8 => {
                    if !self.callers.is_empty() && self.entries() > 1 && d.chance(1, 2) {
                        self.callers.remove(d.below(self.callers.len()));
                        return "remove human loop caller".into();
                    }
                    let have_user = self.callers.iter().any(|c| c.user);
                    let have_role = self.callers.iter().any(|c| !c.user);
                    if have_user && have_role {
                        continue;
                    }
                    let user = if have_user || have_role {
                        !have_user
                    } else {
                        d.chance(1, 2)
                    };
                    self.callers.push(SpecModel::new_caller(user, d));
                    return "add human loop caller".into();
                }
                _ => continue,
            }
        }
    }
}

// ---------------------------------------------------------------------------
// What the spec needs, independently of the library.

/// One requirement of the spec, as the oracle checks it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    /// R1: a CORS rule GET from `*` on the bucket.
    Cors { bucket: String },
    /// R2, R3, R9: an unconditional Allow of `action` on exactly `resource`
    /// in an inline policy of the role.
    S3 {
        req: &'static str,
        role: String,
        action: &'static str,
        resource: String,
    },
    /// R4: the role trusts SageMaker.
    Trust { role: String },
    /// R5: the key policy lets the role use the key.
    Kms { key_id: String, role_arn: String },
    /// R6, R7, R8: a managed policy attached to the caller.
    Attached {
        req: &'static str,
        user: bool,
        name: String,
        policy_arn: &'static str,
    },
}

pub fn needs(spec: &SpecModel, names: &Names) -> Vec<Need> {
    let mut v = Vec::new();
    let read = |v: &mut Vec<Need>, req, role: &str, inputs: &[usize]| {
        for b in inputs {
            v.push(Need::Cors {
                bucket: names.bucket(*b),
            });
            v.push(Need::S3 {
                req,
                role: role.to_string(),
                action: "s3:GetObject",
                resource: format!("arn:aws:s3:::{}/*", names.bucket(*b)),
            });
        }
    };
    for f in &spec.flows {
        let role = names.role(f.role);
        read(&mut v, "R2", &role, &f.inputs);
        let resource = match f.prefix {
            Some(p) => format!("arn:aws:s3:::{}/{p}/*", names.bucket(f.out_bucket)),
            None => format!("arn:aws:s3:::{}/*", names.bucket(f.out_bucket)),
        };
        v.push(Need::S3 {
            req: "R3",
            role: role.clone(),
            action: "s3:PutObject",
            resource,
        });
        v.push(Need::Trust { role: role.clone() });
        if let Some((k, _)) = f.kms {
            v.push(Need::Kms {
                key_id: names.key_id(k).to_string(),
                role_arn: names.role_arn(f.role),
            });
        }
    }
    for p in &spec.previews {
        let role = names.role(p.role);
        read(&mut v, "R9", &role, &p.inputs);
        v.push(Need::Trust { role });
    }
    for c in &spec.callers {
        let name = if c.user {
            names.caller_user()
        } else {
            names.caller_role()
        };
        let mut attach = |req, policy_arn| {
            v.push(Need::Attached {
                req,
                user: c.user,
                name: name.clone(),
                policy_arn,
            })
        };
        if c.uses.contains(&"custom") || c.public {
            attach("R6", FULL_ACCESS);
        }
        if c.uses.contains(&"textract") || c.uses.contains(&"rekognition") {
            attach("R7", INTEGRATED_API);
        }
        if c.public {
            attach("R8", MECHANICAL_TURK);
        }
    }
    v.sort();
    v.dedup();
    v
}
