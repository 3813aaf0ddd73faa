//! Properties of the spec parser over generated input: it never panics,
//! every error points at a line of the file, and errors name the right key
//! and line wherever the mistake is.

use a2i_fix::spec::{self, SpecError};
use proptest::prelude::*;

fn line_count(text: &str) -> usize {
    text.split('\n').count()
}

/// Parse; on error, check that it names a line of the file and a key.
fn parse_checked(text: &str) -> Result<spec::Spec, (usize, String)> {
    match spec::parse(text, "a2i.toml") {
        Ok(s) => Ok(s),
        Err(SpecError::Invalid {
            file,
            line,
            key,
            message,
        }) => {
            assert_eq!(file, "a2i.toml");
            assert!(
                line >= 1 && line <= line_count(text),
                "line {line} outside the file ({message})"
            );
            assert!(!key.is_empty() && !message.is_empty());
            Err((line, key))
        }
        Err(e) => panic!("parse gave a non-Invalid error: {e:?}"),
    }
}

fn example(name: &str) -> String {
    let path = crate::support::example(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

const EXAMPLES: [&str; 6] = [
    "custom-task.toml",
    "textract.toml",
    "rekognition.toml",
    "kms-output.toml",
    "public-workforce.toml",
    "shared-role.toml",
];

fn flow(i: usize) -> String {
    format!(
        "[[flow_definition]]\nname = \"fd-{i}\"\nrole = \"A2IFlowRole\"\ninput_buckets = [\"acme-a2i-input\"]\noutput = \"s3://acme-a2i-output/fd-{i}/\"\n"
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = parse_checked(&text);
    }

    #[test]
    fn toml_shaped_text_never_panics(
        text in "(\\[\\[?[a-z_]{1,20}\\]\\]?\n|[a-z_]{1,16} = (\"[ -~]{0,40}\"|\\[(\"[a-z0-9.:/*-]{0,30}\", ?){0,3}\\]|true|[0-9]{1,13})\n){0,12}"
    ) {
        let _ = parse_checked(&text);
    }

    #[test]
    fn editing_an_example_never_panics(
        which in 0..EXAMPLES.len(),
        at in any::<prop::sample::Index>(),
        len in 0usize..20,
        insert in "[ -~\n]{0,10}",
    ) {
        let text = example(EXAMPLES[which]);
        let chars: Vec<char> = text.chars().collect();
        let start = at.index(chars.len() + 1);
        let end = (start + len).min(chars.len());
        let edited: String = chars[..start].iter().chain(insert.chars().collect::<Vec<_>>().iter()).chain(chars[end..].iter()).collect();
        let _ = parse_checked(&edited);
    }

    #[test]
    fn an_unknown_key_is_reported_with_its_table_index_and_line(
        n in 1usize..6,
        which in any::<prop::sample::Index>(),
        key in "zz[a-z_]{0,8}",
    ) {
        let target = which.index(n);
        let mut text = String::new();
        let mut line = 0;
        for i in 0..n {
            text.push_str(&flow(i));
            if i == target {
                text.push_str(&format!("{key} = 1\n"));
                line = line_count(&text) - 1;
            }
        }
        let err = parse_checked(&text);
        prop_assert_eq!(err, Err((line, format!("flow_definition[{target}].{key}"))));
    }

    #[test]
    fn a_missing_output_is_reported_on_its_table_header(
        n in 1usize..6,
        which in any::<prop::sample::Index>(),
    ) {
        let target = which.index(n);
        let mut text = String::new();
        let mut line = 0;
        for i in 0..n {
            let mut f = flow(i);
            if i == target {
                line = line_count(&text);
                f = f.lines().filter(|l| !l.starts_with("output")).map(|l| format!("{l}\n")).collect();
            }
            text.push_str(&f);
        }
        let err = parse_checked(&text);
        prop_assert_eq!(err, Err((line, format!("flow_definition[{target}].output"))));
    }

    #[test]
    fn generated_valid_bucket_names_are_accepted(
        name in "[a-z0-9][a-z0-9-]{1,40}(\\.[a-z0-9][a-z0-9-]{0,10}[a-z0-9])?[a-z0-9]"
    ) {
        prop_assume!(!name.starts_with("xn--") && !name.starts_with("sthree-") && !name.starts_with("amzn-s3-demo-"));
        prop_assume!(!name.ends_with("-s3alias") && !name.ends_with("--ol-s3") && !name.ends_with("--x-s3") && !name.ends_with("--table-s3"));
        prop_assume!(!name.contains("-.") && !name.contains(".-"));
        prop_assume!(name.len() <= 63);
        prop_assert_eq!(spec::check_bucket_name(&name), Ok(()));
    }

    #[test]
    fn a_bucket_name_with_an_uppercase_letter_is_refused(
        head in "[a-z0-9]{1,20}",
        upper in "[A-Z]",
        tail in "[a-z0-9]{1,20}",
    ) {
        let name = format!("{head}{upper}{tail}");
        prop_assert!(spec::check_bucket_name(&name).is_err());
    }

    #[test]
    fn a_trailing_slash_does_not_change_the_output_grant(
        segments in prop::collection::vec("[a-zA-Z0-9._-]{1,12}", 0..4),
    ) {
        let prefix = segments.join("/");
        let bare = format!("s3://acme-a2i-output/{prefix}");
        let slashed = format!("{bare}/");
        let a = spec::parse_s3_url(&bare);
        let b = spec::parse_s3_url(&slashed);
        prop_assert_eq!(&a, &b);
        let url = match a {
            Ok(url) => url,
            Err(m) => return Err(TestCaseError::fail(m)),
        };
        let resource = url.write_resource();
        prop_assert!(resource.starts_with("arn:aws:s3:::acme-a2i-output/"));
        prop_assert!(resource.ends_with("/*"));
        prop_assert!(!resource.contains("//"));
        prop_assert!(!resource.trim_end_matches('*').contains('*'), "only the final wildcard: {}", resource);
    }
}
