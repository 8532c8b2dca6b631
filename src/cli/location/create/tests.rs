use super::*;

fn args(line: &[&str]) -> CreateArgs {
    crate::cli::parse_flags(line)
}

#[test]
fn flags_become_velero_spec_fields() {
    let a = args(&[
        "dr",
        "--provider",
        "aws",
        "--bucket",
        "b",
        "--prefix",
        "p",
        "--config",
        "region=eu-west-1,s3Url=https://s3.example:9000",
        "--credential",
        "creds=cloud",
        "--cacert",
        "/tmp/ca.pem",
        "--access-mode",
        "ReadOnly",
        "--default",
        "--validation-frequency",
        "5m",
    ]);
    let spec = serde_json::to_value(build(&a, "velero").unwrap().spec).unwrap();
    assert_eq!(
        spec,
        json!({
            "provider": "aws",
            "objectStorage": {"bucket": "b", "prefix": "p",
                              "caCertRef": {"name": "dr-ca-cert", "key": "ca-bundle.crt"}},
            "credential": {"name": "creds", "key": "cloud"},
            "config": {"region": "eu-west-1", "s3Url": "https://s3.example:9000"},
            "default": true,
            "accessMode": "ReadOnly",
            "validationFrequency": "5m",
        })
    );
}

#[test]
fn the_webhook_s_rules_refuse_with_its_message() {
    let a = args(&[
        "x",
        "--provider",
        "aws",
        "--bucket",
        "b",
        "--config",
        "serverSideEncryption=bogus",
    ]);
    let location = build(&a, "velero").unwrap();
    let expected = LocationConfig::from_spec(&location.spec)
        .unwrap_err()
        .to_string();
    let e = admit(&location).unwrap_err().to_string();
    assert!(e.ends_with(&expected), "{e} / {expected}");
    assert!(e.contains("refused"), "{e}");
}

#[test]
fn one_credential_pair_only() {
    assert!(credential("a=b").is_ok());
    assert!(credential("a=b,c=d").is_err());
    assert!(credential("nokey").is_err());
}
