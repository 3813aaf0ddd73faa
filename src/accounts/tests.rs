use std::path::{Path, PathBuf};

use super::organization::{FileDefaults, OrgAccount, accounts_file};
use super::*;

fn parse_at(text: &str) -> Result<AccountsFile, AccountsError> {
    parse(text, Path::new("conf/accounts.toml"))
}

fn error(text: &str) -> String {
    parse_at(text).expect_err("should be refused").to_string()
}

const TWO: &str = r#"
[defaults]
role = "A2IFixRole"
regions = ["us-east-1"]
spec = "a2i.toml"

[[account]]
account_id = "111111111111"
name = "dev"
tags = ["dev", "ok"]

[[account]]
account_id = "222222222222"
name = "prod"
profile = "prod-admin"
regions = ["us-east-1", "eu-west-1"]
spec = "specs/prod.toml"
tags = ["prod", "ok"]
"#;

#[test]
fn defaults_apply_and_an_account_replaces_them() {
    let file = parse_at(TWO).unwrap();
    let dev = &file.accounts[0];
    assert_eq!(dev.account_id, "111111111111");
    assert_eq!(
        dev.access,
        Access::AssumeRole(crate::aws::AssumeRole {
            role_arn: "arn:aws:iam::111111111111:role/A2IFixRole".into(),
            external_id: None,
        })
    );
    assert_eq!(dev.regions, ["us-east-1"]);
    assert_eq!(dev.spec, SpecSource::File(PathBuf::from("conf/a2i.toml")));
    let prod = &file.accounts[1];
    // A profile on the account: the defaults' role is not inherited.
    assert_eq!(prod.access, Access::Profile("prod-admin".into()));
    assert_eq!(prod.regions, ["us-east-1", "eu-west-1"]);
    assert_eq!(
        prod.spec,
        SpecSource::File(PathBuf::from("conf/specs/prod.toml"))
    );
    assert_eq!(prod.label(), "prod (222222222222)");
}

#[test]
fn targets_are_every_region_of_the_selection_in_file_order() {
    let file = parse_at(TWO).unwrap();
    let keys = |only: &[&str]| -> Vec<String> {
        let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
        file.targets(&only)
            .unwrap()
            .iter()
            .map(Target::key)
            .collect()
    };
    assert_eq!(
        keys(&[]),
        [
            "111111111111-us-east-1",
            "222222222222-us-east-1",
            "222222222222-eu-west-1"
        ]
    );
    assert_eq!(keys(&["dev"]), ["111111111111-us-east-1"]);
    assert_eq!(keys(&["prod"]).len(), 2);
    // A tag picks every account carrying it; a name and a tag together
    // pick each account once.
    assert_eq!(keys(&["ok"]).len(), 3);
    assert_eq!(keys(&["dev", "ok"]).len(), 3);
}

#[test]
fn an_unknown_selection_names_the_accounts_and_tags() {
    let file = parse_at(TWO).unwrap();
    let e = file
        .select(&["staging".to_string()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("`--only staging`"), "{e}");
    assert!(e.contains("`dev`, `prod`"), "{e}");
    assert!(e.contains("`ok`"), "{e}");
}

#[test]
fn a_role_arn_and_a_path_and_an_external_id() {
    let file = parse_at(
        r#"
[[account]]
account_id = "111111111111"
name = "a"
role = "arn:aws:iam::111111111111:role/ops/A2IFixRole"
external_id = "a2i-fix-ext"
regions = ["eu-central-2"]
discover = true

[[account]]
account_id = "222222222222"
name = "b"
role = "ops/A2IFixRole"
regions = ["us-gov-west-1"]
spec = "/abs/a2i.toml"
"#,
    )
    .unwrap();
    assert_eq!(
        file.accounts[0].access,
        Access::AssumeRole(crate::aws::AssumeRole {
            role_arn: "arn:aws:iam::111111111111:role/ops/A2IFixRole".into(),
            external_id: Some("a2i-fix-ext".into()),
        })
    );
    assert_eq!(file.accounts[0].spec, SpecSource::Discover);
    assert_eq!(
        file.accounts[1].access,
        Access::AssumeRole(crate::aws::AssumeRole {
            role_arn: "arn:aws:iam::222222222222:role/ops/A2IFixRole".into(),
            external_id: None,
        })
    );
    assert_eq!(
        file.accounts[1].spec,
        SpecSource::File(PathBuf::from("/abs/a2i.toml"))
    );
}

#[test]
fn no_way_given_means_the_run_s_own_credentials() {
    let file = parse_at(
        "[[account]]\naccount_id = \"111111111111\"\nname = \"mgmt\"\nregions = [\"us-east-1\"]\nspec = \"a.toml\"\n",
    )
    .unwrap();
    assert_eq!(file.accounts[0].access, Access::Ambient);
}

#[test]
fn discover_false_on_an_account_takes_the_defaults_spec() {
    let file = parse_at(
        "[defaults]\nspec = \"a.toml\"\nregions = [\"us-east-1\"]\n[[account]]\naccount_id = \"111111111111\"\nname = \"a\"\ndiscover = false\n",
    )
    .unwrap();
    assert_eq!(
        file.accounts[0].spec,
        SpecSource::File(PathBuf::from("conf/a.toml"))
    );
    let file = parse_at(
        "[defaults]\ndiscover = true\nregions = [\"us-east-1\"]\n[[account]]\naccount_id = \"111111111111\"\nname = \"a\"\n",
    )
    .unwrap();
    assert_eq!(file.accounts[0].spec, SpecSource::Discover);
}

/// Each refusal names the file, the line of the account's table and what
/// to write instead.
#[test]
fn bad_files_are_refused_with_file_line_and_what_to_do() {
    let account = |body: &str| {
        format!("# comment\n[[account]]\naccount_id = \"111111111111\"\nname = \"a\"\n{body}\n")
    };
    let cases: &[(String, &[&str])] = &[
        (
            account("regions = [\"us-east-1\"]\nspec = \"a.toml\"\nregoins = [\"x\"]"),
            &["accounts.toml", "unknown field `regoins`"],
        ),
        (
            "[[account]]\naccount_id = 111111111111\nname = \"a\"\nregions = [\"us-east-1\"]\nspec = \"a\"\n".into(),
            &["line 1", "in quotes", "\"111111111111\""],
        ),
        (
            "[[account]]\naccount_id = \"1111\"\nname = \"a\"\nregions = [\"us-east-1\"]\nspec = \"a\"\n".into(),
            &["not an AWS account id: 12 digits"],
        ),
        (
            account("spec = \"a.toml\""),
            &["line 2", "account[0] (`a`)", "no `regions`"],
        ),
        (
            account("regions = []\nspec = \"a.toml\""),
            &["`regions` is empty"],
        ),
        (
            account("regions = [\"us-east-1\", \"us-east-1\"]\nspec = \"a.toml\""),
            &["listed twice"],
        ),
        (
            account("regions = [\"Virginia\"]\nspec = \"a.toml\""),
            &["`Virginia` is not an AWS region name"],
        ),
        (
            account("regions = [\"us-east-1\"]"),
            &["no spec", "discover = true"],
        ),
        (
            account("regions = [\"us-east-1\"]\nspec = \"a\"\ndiscover = true"),
            &["`spec` or `discover = true`, not both"],
        ),
        (
            account("regions = [\"us-east-1\"]\nspec = \"a\"\nrole = \"R\"\nprofile = \"p\""),
            &["`role` or `profile`, not both"],
        ),
        (
            account("regions = [\"us-east-1\"]\nspec = \"a\"\nrole = \"arn:aws:iam::222222222222:role/R\""),
            &["in account `222222222222`, not in this account `111111111111`"],
        ),
        (
            account("regions = [\"us-east-1\"]\nspec = \"a\"\nrole = \"arn:aws:s3:::bucket\""),
            &["not an IAM role ARN"],
        ),
        (
            account("regions = [\"us-east-1\"]\nspec = \"a\"\nrole = \"has space\""),
            &["not a role name"],
        ),
        (
            account("regions = [\"us-east-1\"]\nspec = \"a\"\nexternal_id = \"abc\""),
            &["no `role` to assume with it"],
        ),
        (
            account("regions = [\"us-east-1\"]\nspec = \"a\"\nrole = \"R\"\nexternal_id = \"a b\""),
            &["not a valid external id"],
        ),
        ("# nothing\n".into(), &["lists no account"]),
        (
            format!(
                "{}{}",
                account("regions = [\"us-east-1\"]\nspec = \"a\""),
                "[[account]]\naccount_id = \"222222222222\"\nname = \"a\"\nregions = [\"us-east-1\"]\nspec = \"a\"\n"
            ),
            &["line 7", "names must be unique"],
        ),
        (
            format!(
                "{}{}",
                account("regions = [\"us-east-1\"]\nspec = \"a\""),
                "[[account]]\naccount_id = \"111111111111\"\nname = \"b\"\nregions = [\"us-east-1\"]\nspec = \"a\"\n"
            ),
            &["already listed as `a`", "several `regions`"],
        ),
        (
            "[defaults]\nrole = \"R\"\nprofile = \"p\"\n[[account]]\naccount_id = \"111111111111\"\nname = \"a\"\n".into(),
            &["[defaults]", "not both"],
        ),
    ];
    for (text, wanted) in cases {
        let e = error(text);
        assert!(e.contains("conf/accounts.toml"), "{e}");
        for w in *wanted {
            assert!(e.contains(w), "`{w}` missing from: {e}\nfor:\n{text}");
        }
    }
}

#[test]
fn a_missing_file_is_named() {
    let e = load(Path::new("/nonexistent/accounts.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot read accounts file `/nonexistent/accounts.toml`"),
        "{e}"
    );
}

#[test]
fn the_organization_file_lists_active_accounts_and_parses_back() {
    let listed = vec![
        OrgAccount {
            id: "123456789012".into(),
            name: "management".into(),
            status: "ACTIVE".into(),
        },
        OrgAccount {
            id: "111111111111".into(),
            name: "sandbox".into(),
            status: "ACTIVE".into(),
        },
        OrgAccount {
            id: "222222222222".into(),
            name: "sandbox".into(),
            status: "ACTIVE".into(),
        },
        OrgAccount {
            id: "333333333333".into(),
            name: "old \"quoted\"".into(),
            status: "SUSPENDED".into(),
        },
    ];
    let text = accounts_file(
        &listed,
        &FileDefaults {
            role: "A2IFixRole".into(),
            external_id: Some("ext-1".into()),
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            spec: "a2i.toml".into(),
        },
    );
    assert!(
        text.contains("1 account(s) that are not ACTIVE were left out"),
        "{text}"
    );
    let file = parse(&text, Path::new("accounts.toml")).unwrap();
    let names: Vec<(&str, &str)> = file
        .accounts
        .iter()
        .map(|a| (a.account_id.as_str(), a.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("123456789012", "management"),
            ("111111111111", "sandbox-111111111111"),
            ("222222222222", "sandbox-222222222222"),
        ]
    );
    assert_eq!(
        file.accounts[1].access,
        Access::AssumeRole(crate::aws::AssumeRole {
            role_arn: "arn:aws:iam::111111111111:role/A2IFixRole".into(),
            external_id: Some("ext-1".into()),
        })
    );
    assert_eq!(file.accounts[2].regions, ["us-east-1", "eu-west-1"]);
}
