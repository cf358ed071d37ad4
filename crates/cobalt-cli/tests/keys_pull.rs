//! `cobalt keys` and the flags of `cobalt pull` at the process boundary: exit codes and the
//! messages that name the problem.

use std::process::{Command, Output};

fn cobalt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cobalt"))
        .args(args)
        .output()
        .unwrap()
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("cobalt-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn keys_new_writes_a_private_key_once_and_jwks_prints_only_the_public_part() {
    let d = tempdir("keys");
    let key = d.join("k.pem");
    let k = key.to_str().unwrap();
    let o = cobalt(&["keys", "new", "--out", k]);
    assert!(o.status.success(), "{}", stderr(&o));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the private key is readable by its owner only");
    }
    let again = cobalt(&["keys", "new", "--out", k]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("not overwritten"));
    let o = cobalt(&["keys", "jwks", k]);
    assert!(o.status.success());
    let set: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let jwk = &set["keys"][0];
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["alg"], "ES384");
    assert!(jwk.get("d").is_none());
    let bad = d.join("bad.pem");
    std::fs::write(&bad, "not a key").unwrap();
    let o = cobalt(&["keys", "jwks", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bad.pem"), "{}", stderr(&o));
}

#[test]
fn pull_flags_that_cannot_work_exit_2_naming_the_flag() {
    let d = tempdir("pull");
    let out = d.join("out");
    let out = out.to_str().unwrap();
    let key = d.join("k.pem");
    assert!(cobalt(&["keys", "new", "--out", key.to_str().unwrap()])
        .status
        .success());
    let key = key.to_str().unwrap();
    let base = ["pull", "--client-id", "c", "--key", key, "--out", out];
    let o = cobalt(&base);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--fhir-server is required"),
        "{}",
        stderr(&o)
    );
    let with = |extra: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(&["--fhir-server", "http://127.0.0.1:9/fhir"]);
        a.extend_from_slice(extra);
        cobalt(&a)
    };
    let o = with(&["--since", "last month"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--since last month: not a FHIR instant"),
        "{}",
        stderr(&o)
    );
    let o = with(&["--since-export", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--since-export"), "{}", stderr(&o));
    let o = with(&["--group", "a/b"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--group a/b: not a FHIR id"),
        "{}",
        stderr(&o)
    );
    // A server that cannot be reached is not the flags' fault: exit 1, and no manifest.
    let o = with(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("could not be reached"),
        "{}",
        stderr(&o)
    );
    assert!(!std::path::Path::new(out).join("manifest.json").exists());
}
