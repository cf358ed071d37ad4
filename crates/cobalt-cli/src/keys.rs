//! `cobalt keys`: the key cobalt signs its SMART client assertions with.
//!
//! `cobalt keys new --out FILE` writes a new EC P-384 private key (ES384) in PKCS#8 PEM, readable
//! by its owner only; `cobalt keys jwks FILE...` prints the public JWK Set to register with an
//! EHR (each key's `kid` is its RFC 7638 thumbprint, as cobalt's assertions name it). An RSA key
//! (RS384) made elsewhere, such as with `openssl genpkey -algorithm RSA -pkeyopt
//! rsa_keygen_bits:3072`, is read the same way.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum KeysCommand {
    /// Write a new EC P-384 private key (for ES384), PKCS#8 PEM, mode 0600. Refuses to
    /// overwrite a file.
    New {
        /// Where to write the private key.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the public JWK Set of one or more private keys: what an EHR registers for cobalt
    /// (the service also publishes it at /.well-known/jwks.json).
    Jwks {
        /// PEM private keys (EC P-384 PKCS#8, or RSA).
        #[arg(required = true)]
        keys: Vec<PathBuf>,
    },
}

/// Reads a PEM private key file.
pub fn read_key(path: &Path) -> Result<cobalt_smart::SigningKey> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    cobalt_smart::SigningKey::from_pem(&pem).with_context(|| format!("{}", path.display()))
}

pub fn run(command: KeysCommand) -> Result<ExitCode> {
    match command {
        KeysCommand::New { out } => {
            let pem = cobalt_smart::keys::generate_es384_pem()?;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = match opts.open(&out) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    eprintln!("cobalt: {} exists; not overwritten", out.display());
                    return Ok(ExitCode::from(2));
                }
                Err(e) => return Err(e).with_context(|| format!("creating {}", out.display())),
            };
            f.write_all(pem.as_bytes())?;
            f.sync_all()?;
            let key = cobalt_smart::SigningKey::from_pem(pem.as_bytes())?;
            eprintln!(
                "cobalt: wrote an ES384 key to {} (kid {})",
                out.display(),
                key.kid()
            );
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Jwks { keys } => {
            let mut loaded = Vec::new();
            for path in &keys {
                match read_key(path) {
                    Ok(k) => loaded.push(k),
                    Err(e) => {
                        eprintln!("cobalt: {e:#}");
                        return Ok(ExitCode::from(2));
                    }
                }
            }
            let set = cobalt_smart::keys::jwks(&loaded);
            println!("{}", serde_json::to_string_pretty(&set)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
