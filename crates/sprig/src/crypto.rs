//! Hashes (`sha1sum`, `sha256sum`, `sha512sum`, `adler32sum`), `bcrypt`/`htpasswd`,
//! `derivePassword` (Master Password: scrypt + HMAC-SHA256), `randBytes`, `uuidv4`,
//! `encryptAES`/`decryptAES` (AES-256-CBC, PKCS#7, random IV prefix), `genPrivateKey`
//! and the certificate functions (`genCA`, `genSelfSignedCert`, `genSignedCert`, their
//! `WithKey` forms, `buildCustomCert`), which build X.509 v3 DER the way Go's
//! `x509.CreateCertificate` lays it out.

use std::net::IpAddr;
use std::sync::Arc;

use aes::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use base64::Engine;
use crypto_bigint::BoxedUint;
use gotemplate::{FuncError, FuncMap, Map, Object, Param, Value};
use hmac::{Hmac, Mac};
use rand::RngExt;
use sha1::Digest;

use crate::conv::{b, i, reg, regb, s, vstr};

use Param::{Any, Int, List, String as Str};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Go's `pem.EncodeToMemory`.
fn pem_encode(kind: &str, der: &[u8]) -> String {
    let body = b64(der);
    let mut out = format!("-----BEGIN {kind}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {kind}-----\n"));
    out
}

/// First PEM block (type, DER) like Go's `pem.Decode`.
fn pem_decode(text: &str) -> Option<(String, Vec<u8>)> {
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start + 11..];
    let end_type = rest.find("-----")?;
    let kind = rest[..end_type].to_string();
    let body_start = rest[end_type + 5..].trim_start_matches(['\r', '\n']);
    let end_marker = format!("-----END {kind}-----");
    let end = body_start.find(&end_marker)?;
    let body: String = body_start[..end]
        .lines()
        .filter(|l| !l.contains(':'))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    Some((kind, der))
}

fn bcrypt_hash(input: &str) -> String {
    if input.len() > 72 {
        return "failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes"
            .into();
    }
    match bcrypt::hash_with_result(input, 10) {
        Ok(h) => h.format_for_version(bcrypt::Version::TwoA),
        Err(e) => format!("failed to encrypt string with bcrypt: {e}"),
    }
}

const MP_SEED: &str = "com.lyndir.masterpassword";

fn templates(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return None,
    })
}

fn template_chars(c: u8) -> &'static str {
    match c {
        b'V' => "AEIOU",
        b'C' => "BCDFGHJKLMNPQRSTVWXYZ",
        b'v' => "aeiou",
        b'c' => "bcdfghjklmnpqrstvwxyz",
        b'A' => "AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        b'a' => "AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        b'n' => "0123456789",
        b'o' => "@&%?,=[]_:-+*$#!'^~;()/.",
        _ => "AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
    }
}

/// Sprig's `derivePassword` (the Master Password algorithm).
fn derive_password(counter: u32, kind: &str, password: &str, user: &str, site: &str) -> String {
    let Some(tpls) = templates(kind) else {
        return format!("cannot find password template {kind}");
    };
    let mut salt = MP_SEED.as_bytes().to_vec();
    salt.extend_from_slice(&(user.len() as u32).to_be_bytes());
    salt.extend_from_slice(user.as_bytes());
    let mut key = [0u8; 64];
    let params = scrypt::Params::new(15, 8, 2).expect("constant scrypt parameters are valid");
    if let Err(e) = scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key) {
        return format!("failed to derive password: {e}");
    }
    let mut msg = MP_SEED.as_bytes().to_vec();
    msg.extend_from_slice(&(site.len() as u32).to_be_bytes());
    msg.extend_from_slice(site.as_bytes());
    msg.extend_from_slice(&counter.to_be_bytes());
    let mut mac = <Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(&key)
        .expect("HMAC takes any key length");
    mac.update(&msg);
    let seed = mac.finalize().into_bytes();
    let tpl = tpls[seed[0] as usize % tpls.len()];
    tpl.bytes()
        .enumerate()
        .map(|(i, c)| {
            let chars = template_chars(c).as_bytes();
            chars[seed[i + 1] as usize % chars.len()] as char
        })
        .collect()
}

fn aes_key(password: &str) -> aes::Aes256 {
    let mut key = [0u8; 32];
    let p = password.as_bytes();
    let n = p.len().min(32);
    key[..n].copy_from_slice(&p[..n]);
    aes::Aes256::new(&Array::from(key))
}

fn encrypt_aes(password: &str, plaintext: &str) -> String {
    if plaintext.is_empty() {
        return String::new();
    }
    let cipher = aes_key(password);
    let mut content = plaintext.as_bytes().to_vec();
    let pad = 16 - content.len() % 16;
    content.extend(std::iter::repeat_n(pad as u8, pad));
    let mut iv = [0u8; 16];
    rand::rng().fill(&mut iv[..]);
    let mut out = iv.to_vec();
    let mut prev = iv;
    for chunk in content.chunks(16) {
        let mut block = [0u8; 16];
        for k in 0..16 {
            block[k] = chunk[k] ^ prev[k];
        }
        let mut arr = Array::from(block);
        cipher.encrypt_block(&mut arr);
        prev.copy_from_slice(&arr);
        out.extend_from_slice(&arr);
    }
    b64(&out)
}

fn decrypt_aes(password: &str, crypt64: &str) -> Result<String, String> {
    if crypt64.is_empty() {
        return Ok(String::new());
    }
    let crypt = crate::defaults::b64_decode(crypt64)?;
    let cipher = aes_key(password);
    if crypt.len() < 16 {
        return Err(format!(
            "runtime error: slice bounds out of range [:16] with capacity {}",
            crypt.len()
        ));
    }
    let (iv, data) = crypt.split_at(16);
    if data.len() % 16 != 0 {
        return Err("crypto/cipher: input not full blocks".into());
    }
    let mut prev: [u8; 16] = iv.try_into().expect("16-byte IV");
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.chunks(16) {
        let mut arr = Array::from(<[u8; 16]>::try_from(chunk).expect("full block"));
        cipher.decrypt_block(&mut arr);
        for k in 0..16 {
            out.push(arr[k] ^ prev[k]);
        }
        prev.copy_from_slice(chunk);
    }
    let Some(&last) = out.last() else {
        return Err("runtime error: index out of range [-1]".into());
    };
    let keep = out.len() as i64 - last as i64;
    if keep < 0 {
        return Err(format!(
            "runtime error: slice bounds out of range [:{keep}]"
        ));
    }
    out.truncate(keep as usize);
    Ok(String::from_utf8_lossy(&out).into_owned())
}

// ---------------------------------------------------------------- keys

/// A private key of a type Sprig can use.
enum Key {
    Rsa(Box<rsa::PrivateKey>),
    Ec(p256::SecretKey),
    Ed(ed25519_dalek::SigningKey),
    /// A DSA key in its PEM form: Go's x509 can neither sign with DSA nor certify a DSA
    /// public key, so it only ever produces those errors.
    Dsa(String),
}

impl Key {
    /// `pemBlockForKey`.
    fn to_pem(&self) -> String {
        match self {
            Key::Rsa(k) => {
                use rsa::pkcs1::EncodeRsaPrivateKey;
                let der = k.to_pkcs1_der().expect("RSA key encodes");
                pem_encode("RSA PRIVATE KEY", der.as_bytes())
            }
            Key::Ec(k) => {
                let der = k.to_sec1_der().expect("EC key encodes");
                pem_encode("EC PRIVATE KEY", &der)
            }
            Key::Ed(k) => {
                // Go's MarshalPKCS8PrivateKey: version 0, no public key.
                let mut der = vec![
                    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04,
                    0x22, 0x04, 0x20,
                ];
                der.extend_from_slice(&k.to_bytes());
                pem_encode("PRIVATE KEY", &der)
            }
            Key::Dsa(pem) => pem.clone(),
        }
    }

    fn spki_der(&self) -> Vec<u8> {
        use p256::pkcs8::EncodePublicKey;
        match self {
            Key::Rsa(k) => k
                .to_public_key()
                .to_public_key_der()
                .expect("RSA public key encodes")
                .into_vec(),
            Key::Ec(k) => k
                .public_key()
                .to_public_key_der()
                .expect("EC public key encodes")
                .into_vec(),
            Key::Ed(k) => {
                let mut der = vec![
                    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
                ];
                der.extend_from_slice(k.verifying_key().as_bytes());
                der
            }
            Key::Dsa(_) => Vec::new(),
        }
    }

    /// AlgorithmIdentifier DER of the signature this key makes.
    fn sig_alg(&self) -> Vec<u8> {
        match self {
            Key::Rsa(_) => seq(&[oid(&[1, 2, 840, 113549, 1, 1, 11]), vec![0x05, 0x00]]),
            Key::Ec(_) => seq(&[oid(&[1, 2, 840, 10045, 4, 3, 2])]),
            Key::Ed(_) | Key::Dsa(_) => seq(&[oid(&[1, 3, 101, 112])]),
        }
    }

    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        use rsa::signature::{SignatureEncoding, Signer};
        match self {
            Key::Rsa(k) => {
                let sk = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(k.as_ref().clone());
                sk.sign(msg).to_vec()
            }
            Key::Ec(k) => {
                let sk = p256::ecdsa::SigningKey::from(k);
                let sig: p256::ecdsa::Signature = sk.sign(msg);
                sig.to_der().to_bytes().to_vec()
            }
            Key::Ed(k) => k.sign(msg).to_bytes().to_vec(),
            Key::Dsa(_) => Vec::new(),
        }
    }
}

/// A random prime of exactly `bits` bits with its top two bits set (so the product of two
/// is exactly twice as long), as `rsa::PrivateKey::new` and Go's `rand.Prime` draw them:
/// random odd starts, sieved by small primes, then Baillie-PSW. Every available core searches
/// from its own random start and the first prime found wins (the others stop at their next
/// candidate): the wait for one prime is the shortest of the searches, not one search.
fn random_rsa_prime(bits: u32) -> BoxedUint {
    use std::sync::atomic::AtomicBool;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        // A helper thread that cannot be spawned (resource limits) just leaves the search
        // to this one.
        let helpers: Vec<_> = (1..workers)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .spawn_scoped(scope, || search_rsa_prime(bits, &stop))
                    .ok()
            })
            .collect();
        let mine = search_rsa_prime(bits, &stop);
        let theirs = helpers.into_iter().filter_map(|h| h.join().ok().flatten());
        mine.into_iter().chain(theirs).next().unwrap_or_else(|| {
            // Unreachable: the search that set `stop` returned its prime.
            search_rsa_prime(bits, &AtomicBool::new(false)).unwrap_or_default()
        })
    })
}

/// One worker of [`random_rsa_prime`]: searches until it finds a prime (and sets `stop`) or
/// sees `stop` set by another worker (`None`).
fn search_rsa_prime(bits: u32, stop: &std::sync::atomic::AtomicBool) -> Option<BoxedUint> {
    use crypto_bigint::{BitOps, RandomBits};
    use crypto_primes::hazmat::SmallFactorsSieve;
    use std::sync::atomic::Ordering::Relaxed;
    let width = std::num::NonZeroU32::new(bits)?;
    let mut rng = rand::rng();
    loop {
        let mut start = BoxedUint::random_bits(&mut rng, bits);
        start.set_bit_vartime(0, true);
        start.set_bit_vartime(bits - 1, true);
        start.set_bit_vartime(bits - 2, true);
        let Ok(sieve) = SmallFactorsSieve::new(start, width, false) else {
            continue;
        };
        for c in sieve {
            if stop.load(Relaxed) {
                return None;
            }
            // The fast Fermat filter throws away the composites; the full test decides.
            if crate::fermat::base2_probable_prime_words(c.as_words()) != Some(false)
                && crypto_primes::is_prime(crypto_primes::Flavor::Any, &c)
            {
                stop.store(true, Relaxed);
                return Some(c);
            }
        }
    }
}

/// A fresh two-prime RSA key with exponent 65537 (d from Euler's totient, as Go 1.23's
/// `rsa.GenerateKey`). Finding the primes is ~95% of the cost; see [`random_rsa_prime`].
fn gen_rsa(bits: usize) -> Result<Key, String> {
    let p_bits = u32::try_from(bits / 2).map_err(|e| e.to_string())?;
    let q_bits = u32::try_from(bits).map_err(|e| e.to_string())? - p_bits;
    loop {
        let p = random_rsa_prime(p_bits);
        let q = random_rsa_prime(q_bits);
        if p == q {
            continue;
        }
        // Fails when 65537 divides p-1 or q-1 (no inverse): draw again, as rsa and Go do.
        let Ok(key) = rsa::PrivateKey::from_primes(vec![p, q], BoxedUint::from(65_537u64)) else {
            continue;
        };
        if rsa::traits::PublicKeyParts::n(&key).bit_width() as usize == bits {
            return Ok(Key::Rsa(Box::new(key)));
        }
    }
}

fn generate_private_key(kind: &str) -> String {
    let key = match kind {
        "" | "rsa" => gen_rsa(4096),
        "ecdsa" => Ok(Key::Ec(
            <p256::SecretKey as p256::elliptic_curve::Generate>::generate_from_rng(&mut rand::rng()),
        )),
        "ed25519" => Ok(Key::Ed(ed25519_dalek::SigningKey::generate(
            &mut rand::rng(),
        ))),
        "dsa" => return generate_dsa_pem(),
        _ => return format!("Unknown type {kind}"),
    };
    match key {
        Ok(k) => k.to_pem(),
        Err(e) => format!("failed to generate private key: {e}"),
    }
}

/// A DSA key (L=2048, N=256) as Sprig writes it: `DSA PRIVATE KEY` holding the ASN.1
/// sequence {0, P, Q, G, Y, X}.
fn generate_dsa_pem() -> String {
    let mut rng = rand::rng();
    let Ok(components) =
        dsa::Components::try_generate_from_rng_with_key_size(&mut rng, dsa::KeySize::DSA_2048_256);
    let Ok(key) = dsa::SigningKey::try_generate_from_rng_with_components(&mut rng, components);
    let c = key.verifying_key().components();
    let der = seq(&[
        uint(&[0]),
        uint(&c.p().to_be_bytes()),
        uint(&c.q().to_be_bytes()),
        uint(&c.g().to_be_bytes()),
        uint(&key.verifying_key().y().to_be_bytes()),
        uint(&key.x().to_be_bytes()),
    ]);
    pem_encode("DSA PRIVATE KEY", &der)
}

/// Sprig's `parsePrivateKeyPEM`.
fn parse_private_key(text: &str) -> Result<Key, String> {
    use p256::pkcs8::DecodePrivateKey;
    use rsa::pkcs1::DecodeRsaPrivateKey;
    let (kind, der) = pem_decode(text).ok_or("no PEM data in input")?;
    if kind == "PRIVATE KEY" {
        if let Ok(k) = rsa::PrivateKey::from_pkcs8_der(&der) {
            return Ok(Key::Rsa(Box::new(k)));
        }
        if let Ok(k) = p256::SecretKey::from_pkcs8_der(&der) {
            return Ok(Key::Ec(k));
        }
        if let Ok(k) =
            <ed25519_dalek::SigningKey as ed25519_dalek::pkcs8::DecodePrivateKey>::from_pkcs8_der(
                &der,
            )
        {
            return Ok(Key::Ed(k));
        }
        return Err("decoding PEM as PKCS#8: x509: failed to parse private key (use ParsePKCS1PrivateKey instead for this key format)".into());
    }
    let Some(algo) = kind.strip_suffix(" PRIVATE KEY") else {
        return Err(format!("no private key data in PEM block of type {kind}"));
    };
    match algo {
        "RSA" => rsa::PrivateKey::from_pkcs1_der(&der)
            .map(|k| Key::Rsa(Box::new(k)))
            .map_err(|e| format!("parsing RSA private key from PEM: {e}")),
        "EC" => p256::SecretKey::from_sec1_der(&der)
            .map(Key::Ec)
            .map_err(|e| format!("parsing EC private key from PEM: {e}")),
        "DSA" => Ok(Key::Dsa(pem_encode("DSA PRIVATE KEY", &der))),
        _ => Err(format!("invalid private key type {kind}")),
    }
}

// ---------------------------------------------------------------- DER

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &a in &arcs[2..] {
        let mut stack = vec![(a & 0x7f) as u8];
        let mut v = a >> 7;
        while v > 0 {
            stack.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        body.extend(stack.iter().rev());
    }
    tlv(0x06, &body)
}

fn uint(bytes: &[u8]) -> Vec<u8> {
    let mut b: Vec<u8> = bytes.iter().copied().skip_while(|x| *x == 0).collect();
    if b.is_empty() || b[0] & 0x80 != 0 {
        b.insert(0, 0);
    }
    tlv(0x02, &b)
}

/// Go's pkix encoding of a subject with only a CommonName.
fn name_cn(cn: &str) -> Vec<u8> {
    if cn.is_empty() {
        return seq(&[]);
    }
    let printable = cn
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b" '()+,-./:=?*&".contains(&c));
    let value = tlv(if printable { 0x13 } else { 0x0c }, cn.as_bytes());
    seq(&[tlv(0x31, &seq(&[oid(&[2, 5, 4, 3]), value]))])
}

fn der_time(secs: i64) -> Vec<u8> {
    let t = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
    use chrono::Datelike;
    if (1950..2050).contains(&t.year()) {
        tlv(0x17, t.format("%y%m%d%H%M%SZ").to_string().as_bytes())
    } else {
        tlv(0x18, t.format("%Y%m%d%H%M%SZ").to_string().as_bytes())
    }
}

fn ext(id: &[u64], critical: bool, value: Vec<u8>) -> Vec<u8> {
    let mut parts = vec![oid(id)];
    if critical {
        parts.push(vec![0x01, 0x01, 0xff]);
    }
    parts.push(tlv(0x04, &value));
    seq(&parts)
}

/// The public key bits inside a SubjectPublicKeyInfo (for key identifiers).
fn spki_key_bits(spki: &[u8]) -> Vec<u8> {
    use x509_cert::der::Decode;
    x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(spki)
        .map(|s| s.subject_public_key.raw_bytes().to_vec())
        .unwrap_or_default()
}

struct Parent {
    subject: Vec<u8>,
    spki: Vec<u8>,
    ski: Option<Vec<u8>>,
}

fn parse_cert(der: &[u8]) -> Result<Parent, String> {
    use x509_cert::der::{Decode, Encode};
    let c = x509_cert::Certificate::from_der(der)
        .map_err(|e| format!("x509: malformed certificate ({e})"))?;
    let tbs = c.tbs_certificate();
    let subject = tbs.subject().to_der().map_err(|e| e.to_string())?;
    let spki = tbs
        .subject_public_key_info()
        .to_der()
        .map_err(|e| e.to_string())?;
    let ski = tbs.extensions().and_then(|exts| {
        exts.iter()
            .find(|e| e.extn_id.to_string() == "2.5.29.14")
            .and_then(|e| x509_cert::der::asn1::OctetString::from_der(e.extn_value.as_bytes()).ok())
            .map(|o| o.as_bytes().to_vec())
    });
    Ok(Parent { subject, spki, ski })
}

struct Template {
    cn: String,
    ips: Vec<IpAddr>,
    dns: Vec<String>,
    days: i64,
    is_ca: bool,
}

/// Go's `net.ParseIP` + `getNetIPs`.
fn net_ips(v: &Value) -> Result<Vec<IpAddr>, String> {
    let Some(list) = v.as_list() else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|x| match x {
            Value::String(s) => s
                .parse::<IpAddr>()
                .map_err(|_| format!("error parsing ip: {s}")),
            other => Err(format!(
                "error parsing ip: {} is not a string",
                gotemplate::gofmt::sprint(other)
            )),
        })
        .collect()
}

fn dns_names(v: &Value) -> Result<Vec<String>, String> {
    let Some(list) = v.as_list() else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|x| match x {
            Value::String(s) => Ok(s.to_string()),
            other => Err(format!(
                "error processing alternate dns name: {} is not a string",
                gotemplate::gofmt::sprint(other)
            )),
        })
        .collect()
}

/// `getCertAndKey`: builds and signs the certificate, returns (cert PEM, key PEM).
fn cert_and_key(
    t: &Template,
    signee: &Key,
    parent: Option<&Parent>,
    signer: &Key,
) -> Result<(String, String), String> {
    if matches!(signer, Key::Dsa(_)) {
        return Err("error creating certificate: x509: certificate private key does not implement crypto.Signer".into());
    }
    if matches!(signee, Key::Dsa(_)) {
        return Err(
            "error creating certificate: x509: unsupported public key type: *dsa.PublicKey".into(),
        );
    }
    let spki = signee.spki_der();
    let subject = name_cn(&t.cn);
    let issuer = parent.map_or_else(|| subject.clone(), |p| p.subject.clone());
    if parent.is_some_and(|p| p.spki != signer.spki_der()) {
        return Err("error creating certificate: x509: provided PrivateKey doesn't match parent's PublicKey".into());
    }
    let mut serial = [0u8; 16];
    rand::rng().fill(&mut serial[..]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let not_after = now + t.days * 86_400;

    let mut exts = Vec::new();
    let ku: u8 = if t.is_ca { 0xa4 } else { 0xa0 };
    let unused = if t.is_ca { 2 } else { 5 };
    exts.push(ext(&[2, 5, 29, 15], true, vec![0x03, 0x02, unused, ku]));
    exts.push(ext(
        &[2, 5, 29, 37],
        false,
        seq(&[
            oid(&[1, 3, 6, 1, 5, 5, 7, 3, 1]),
            oid(&[1, 3, 6, 1, 5, 5, 7, 3, 2]),
        ]),
    ));
    exts.push(ext(
        &[2, 5, 29, 19],
        true,
        if t.is_ca {
            seq(&[vec![0x01, 0x01, 0xff]])
        } else {
            seq(&[])
        },
    ));
    if t.is_ca {
        let ski = sha1::Sha1::digest(spki_key_bits(&spki)).to_vec();
        exts.push(ext(&[2, 5, 29, 14], false, tlv(0x04, &ski)));
    }
    if let Some(ski) = parent
        .and_then(|p| p.ski.as_ref())
        .filter(|_| issuer != subject)
    {
        exts.push(ext(&[2, 5, 29, 35], false, seq(&[tlv(0x80, ski)])));
    }
    if !t.dns.is_empty() || !t.ips.is_empty() {
        let mut names = Vec::new();
        for d in &t.dns {
            names.push(tlv(0x82, d.as_bytes()));
        }
        for ip in &t.ips {
            let bytes = match ip {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                    Some(v4) => v4.octets().to_vec(),
                    None => v6.octets().to_vec(),
                },
            };
            names.push(tlv(0x87, &bytes));
        }
        exts.push(ext(&[2, 5, 29, 17], t.cn.is_empty(), seq(&names)));
    }

    let sig_alg = signer.sig_alg();
    let tbs = seq(&[
        vec![0xa0, 0x03, 0x02, 0x01, 0x02],
        uint(&serial),
        sig_alg.clone(),
        issuer,
        seq(&[der_time(now), der_time(not_after)]),
        subject,
        spki,
        tlv(0xa3, &seq(&exts)),
    ]);
    let sig = signer.sign(&tbs);
    let mut bits = vec![0u8];
    bits.extend(sig);
    let cert = seq(&[tbs, sig_alg, tlv(0x03, &bits)]);
    Ok((pem_encode("CERTIFICATE", &cert), signee.to_pem()))
}

/// Sprig's `certificate` struct (`.Cert`, `.Key`).
#[derive(Debug)]
struct Certificate {
    cert: String,
    key: String,
}

impl Object for Certificate {
    fn type_name(&self) -> &str {
        "sprig.certificate"
    }
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Cert" => Some(vstr(self.cert.as_str())),
            "Key" => Some(vstr(self.key.as_str())),
            _ => None,
        }
    }
    fn display(&self) -> String {
        format!("{{{} {}}}", self.cert, self.key)
    }
    fn to_data(&self) -> Option<Value> {
        let mut m = Map::new();
        m.insert("Cert".into(), vstr(self.cert.as_str()));
        m.insert("Key".into(), vstr(self.key.as_str()));
        Some(Value::map(m))
    }
}

fn cert_value(r: Result<(String, String), String>) -> Result<Value, FuncError> {
    r.map(|(cert, key)| Value::Object(Arc::new(Certificate { cert, key })))
        .map_err(FuncError)
}

/// The `ca` argument: a `certificate` value (struct or its map form).
fn ca_arg(v: &Value) -> Result<(String, String), FuncError> {
    let get = |k: &str| -> Option<String> {
        match v {
            Value::Object(o) => o.field(k).and_then(|x| x.as_str().map(str::to_string)),
            _ => None,
        }
    };
    match (get("Cert"), get("Key")) {
        (Some(c), Some(k)) => Ok((c, k)),
        _ => Err(FuncError(format!(
            "wrong type for value; expected sprig.certificate; got {}",
            v.type_name()
        ))),
    }
}

fn self_signed(t: &Template, key: &Key) -> Result<(String, String), String> {
    cert_and_key(t, key, None, key)
}

fn signed(t: &Template, key: &Key, ca: &(String, String)) -> Result<(String, String), String> {
    let (_, der) = pem_decode(&ca.0).ok_or("unable to decode certificate")?;
    let parent = parse_cert(&der)
        .map_err(|e| format!("error parsing certificate: decodedSignerCert.Bytes: {e}"))?;
    let signer = parse_private_key(&ca.1).map_err(|e| format!("error parsing private key: {e}"))?;
    cert_and_key(t, key, Some(&parent), &signer)
}

fn template(a: &[Value], is_ca: bool) -> Result<Template, FuncError> {
    if is_ca {
        return Ok(Template {
            cn: s(&a[0]).to_string(),
            ips: Vec::new(),
            dns: Vec::new(),
            days: i(&a[1]),
            is_ca,
        });
    }
    Ok(Template {
        cn: s(&a[0]).to_string(),
        ips: net_ips(&a[1]).map_err(FuncError)?,
        dns: dns_names(&a[2]).map_err(FuncError)?,
        days: i(&a[3]),
        is_ca,
    })
}

fn new_rsa_2048() -> Result<Key, FuncError> {
    gen_rsa(2048).map_err(|e| FuncError(format!("error generating rsa key: {e}")))
}

fn key_arg(v: &Value) -> Result<Key, FuncError> {
    parse_private_key(s(v)).map_err(|e| FuncError(format!("parsing private key: {e}")))
}

fn build_custom_cert(b64cert: &str, b64key: &str) -> Result<Value, FuncError> {
    let dec = |x: &str| base64::engine::general_purpose::STANDARD.decode(x).ok();
    let cert = dec(b64cert).ok_or("unable to decode base64 certificate")?;
    let key = dec(b64key).ok_or("unable to decode base64 private key")?;
    let cert = String::from_utf8_lossy(&cert).into_owned();
    let key = String::from_utf8_lossy(&key).into_owned();
    let (_, der) = pem_decode(&cert).ok_or("unable to decode certificate")?;
    parse_cert(&der)
        .map_err(|e| FuncError(format!("error parsing certificate: decodedCert.Bytes: {e}")))?;
    parse_private_key(&key).map_err(|e| FuncError(format!("error parsing private key: {e}")))?;
    Ok(Value::Object(Arc::new(Certificate { cert, key })))
}

pub(crate) fn register(m: &mut FuncMap) {
    // Hashes read the string's bytes, whatever they are.
    regb(m, "sha1sum", &[Str], None, |a| {
        Ok(vstr(hex(&sha1::Sha1::digest(b(&a[0])))))
    });
    regb(m, "sha256sum", &[Str], None, |a| {
        Ok(vstr(hex(&sha2::Sha256::digest(b(&a[0])))))
    });
    regb(m, "sha512sum", &[Str], None, |a| {
        Ok(vstr(hex(&sha2::Sha512::digest(b(&a[0])))))
    });
    regb(m, "adler32sum", &[Str], None, |a| {
        Ok(vstr(adler2::adler32_slice(b(&a[0])).to_string()))
    });
    reg(m, "bcrypt", &[Str], None, |a| {
        Ok(vstr(bcrypt_hash(s(&a[0]))))
    });
    reg(m, "htpasswd", &[Str, Str], None, |a| {
        let user = s(&a[0]);
        if user.contains(':') {
            return Ok(vstr(format!("invalid username: {user}")));
        }
        Ok(vstr(format!("{user}:{}", bcrypt_hash(s(&a[1])))))
    });
    reg(m, "randBytes", &[Int], None, |a| {
        let n = i(&a[0]);
        if n < 0 {
            return Err("runtime error: makeslice: len out of range".into());
        }
        crate::conv::check_size("randBytes", n as u128 * 4 / 3)?;
        let mut buf = vec![0u8; n as usize];
        rand::rng().fill(&mut buf[..]);
        Ok(vstr(b64(&buf)))
    });
    reg(m, "uuidv4", &[], None, |_| {
        Ok(vstr(uuid::Uuid::new_v4().to_string()))
    });
    reg(m, "derivePassword", &[Int, Str, Str, Str, Str], None, |a| {
        Ok(vstr(derive_password(
            i(&a[0]) as u32,
            s(&a[1]),
            s(&a[2]),
            s(&a[3]),
            s(&a[4]),
        )))
    });
    reg(m, "encryptAES", &[Str, Str], None, |a| {
        Ok(vstr(encrypt_aes(s(&a[0]), s(&a[1]))))
    });
    reg(m, "decryptAES", &[Str, Str], None, |a| {
        decrypt_aes(s(&a[0]), s(&a[1])).map(vstr).map_err(FuncError)
    });
    reg(m, "genPrivateKey", &[Str], None, |a| {
        Ok(vstr(generate_private_key(s(&a[0]))))
    });
    reg(m, "buildCustomCert", &[Str, Str], None, |a| {
        build_custom_cert(s(&a[0]), s(&a[1]))
    });
    reg(m, "genCA", &[Str, Int], None, |a| {
        let key = new_rsa_2048()?;
        cert_value(self_signed(&template(a, true)?, &key))
    });
    reg(m, "genCAWithKey", &[Str, Int, Str], None, |a| {
        let key = key_arg(&a[2])?;
        cert_value(self_signed(&template(a, true)?, &key))
    });
    reg(m, "genSelfSignedCert", &[Str, List, List, Int], None, |a| {
        let t = template(a, false)?;
        let key = new_rsa_2048()?;
        cert_value(self_signed(&t, &key))
    });
    reg(
        m,
        "genSelfSignedCertWithKey",
        &[Str, List, List, Int, Str],
        None,
        |a| {
            let key = key_arg(&a[4])?;
            cert_value(self_signed(&template(a, false)?, &key))
        },
    );
    reg(
        m,
        "genSignedCert",
        &[Str, List, List, Int, Any],
        None,
        |a| {
            let t = template(a, false)?;
            let ca = ca_arg(&a[4])?;
            let key = new_rsa_2048()?;
            cert_value(signed(&t, &key, &ca))
        },
    );
    reg(
        m,
        "genSignedCertWithKey",
        &[Str, List, List, Int, Any, Str],
        None,
        |a| {
            let t = template(a, false)?;
            let ca = ca_arg(&a[4])?;
            let key = key_arg(&a[5])?;
            cert_value(signed(&t, &key, &ca))
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values from helm-template:
    // {{ derivePassword 1 "long" "password" "user" "example.com" }}|{{ derivePassword 2 "maximum" "pw" "u" "s" }}
    // |{{ derivePassword 0 "pin" "x" "" "" }}|{{ derivePassword 1 "basic" "p" "u" "s" }}
    // → ZedaFaxcZaso9*|S2$TYTKe9bU9YXWCqT@%|9905|tGf1NEr0
    #[test]
    fn derive_password_matches_helm() {
        assert_eq!(
            derive_password(1, "long", "password", "user", "example.com"),
            "ZedaFaxcZaso9*"
        );
        assert_eq!(
            derive_password(2, "maximum", "pw", "u", "s"),
            "S2$TYTKe9bU9YXWCqT@%"
        );
        assert_eq!(derive_password(0, "pin", "x", "", ""), "9905");
        assert_eq!(derive_password(1, "basic", "p", "u", "s"), "tGf1NEr0");
        assert_eq!(
            derive_password(1, "bogus", "p", "u", "s"),
            "cannot find password template bogus"
        );
    }

    // helm-template: {{ adler32sum "hello" }}|{{ sha1sum "hello" }} → 103547413|aaf4c61d...
    // {{ bcrypt (repeat 73 "a") }} → failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes
    // {{ htpasswd "a:b" "x" }} → invalid username: a:b; {{ htpasswd "user" "pw" | substr 0 12 }} → user:$2a$10$
    #[test]
    fn hashes_and_bcrypt() {
        assert_eq!(adler2::adler32_slice(b"hello").to_string(), "103547413");
        assert_eq!(
            hex(&sha1::Sha1::digest(b"hello")),
            "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
        );
        assert_eq!(
            bcrypt_hash(&"a".repeat(73)),
            "failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes"
        );
        let h = bcrypt_hash("pw");
        assert!(h.starts_with("$2a$10$"), "{h}");
        assert!(bcrypt::verify("pw", &h).unwrap());
    }

    // helm-template: {{ "hello" | encryptAES "secretkey" | decryptAES "secretkey" }} → hello;
    // {{ decryptAES "k" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" }} → slice bounds out of range [:-19]
    #[test]
    fn aes_round_trip_and_errors() {
        let c = encrypt_aes("secretkey", "hello");
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(&c)
                .unwrap()
                .len(),
            32
        );
        assert_eq!(decrypt_aes("secretkey", &c).unwrap(), "hello");
        assert_eq!(encrypt_aes("k", ""), "");
        assert_eq!(
            decrypt_aes("k", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap_err(),
            "runtime error: slice bounds out of range [:-19]"
        );
    }

    fn parse_pem(pem: &str) -> Vec<u8> {
        let (kind, der) = pem_decode(pem).expect("PEM block");
        assert_eq!(kind, "CERTIFICATE");
        der
    }

    fn tpl(cn: &str, ips: &[&str], dns: &[&str], days: i64, is_ca: bool) -> Template {
        Template {
            cn: cn.into(),
            ips: ips.iter().map(|x| x.parse().unwrap()).collect(),
            dns: dns.iter().map(|x| x.to_string()).collect(),
            days,
            is_ca,
        }
    }

    /// Keys from the two-thread prime search are well-formed, full-size and fresh each time.
    #[test]
    fn rsa_keys_are_full_size_consistent_and_fresh() {
        use rsa::traits::{PrivateKeyParts, PublicKeyParts};
        let mut moduli = Vec::new();
        for _ in 0..2 {
            let Key::Rsa(k) = gen_rsa(2048).unwrap() else {
                panic!("not an RSA key")
            };
            assert_eq!(k.n().bit_width(), 2048);
            assert_eq!(k.e(), &BoxedUint::from(65_537u64));
            let primes = k.primes();
            assert_eq!(primes.len(), 2);
            for p in primes {
                assert_eq!(p.bit_width(), 1024);
                assert!(p.bit(1023).to_bool() && p.bit(1022).to_bool());
            }
            assert!(k.validate().is_ok());
            moduli.push(k.n().as_ref().clone());
        }
        assert_ne!(moduli[0], moduli[1]);
    }

    /// Certificates parse with a maintained X.509 parser, carry the requested CN, SANs,
    /// validity and CA flag, and their signatures verify against the issuer.
    #[test]
    fn certificates_have_the_right_shape() {
        use x509_parser::prelude::*;
        let ca_key = gen_rsa(2048).unwrap();
        let (ca_pem, ca_key_pem) =
            self_signed(&tpl("my-ca", &[], &[], 365, true), &ca_key).unwrap();
        assert!(ca_key_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        let ca_der = parse_pem(&ca_pem);
        let (_, ca) = X509Certificate::from_der(&ca_der).unwrap();
        assert_eq!(ca.subject().to_string(), "CN=my-ca");
        assert!(ca.is_ca());
        assert!(ca.verify_signature(None).is_ok());
        let days =
            (ca.validity().not_after.timestamp() - ca.validity().not_before.timestamp()) / 86_400;
        assert_eq!(days, 365);
        assert!(
            ca.extensions()
                .iter()
                .any(|e| e.oid.to_id_string() == "2.5.29.14")
        );

        let leaf_key = Key::Ec(
            <p256::SecretKey as p256::elliptic_curve::Generate>::generate_from_rng(&mut rand::rng()),
        );
        let t = tpl(
            "svc.example",
            &["10.0.0.1", "::1"],
            &["svc", "svc.ns.svc"],
            30,
            false,
        );
        let (leaf_pem, leaf_key_pem) =
            signed(&t, &leaf_key, &(ca_pem.clone(), ca_key_pem.clone())).unwrap();
        assert!(leaf_key_pem.starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
        let leaf_der = parse_pem(&leaf_pem);
        let (_, leaf) = X509Certificate::from_der(&leaf_der).unwrap();
        assert_eq!(leaf.subject().to_string(), "CN=svc.example");
        assert_eq!(leaf.issuer().to_string(), "CN=my-ca");
        assert!(!leaf.is_ca());
        assert!(leaf.verify_signature(Some(ca.public_key())).is_ok());
        let san = leaf.subject_alternative_name().unwrap().unwrap();
        let names: Vec<String> = san
            .value
            .general_names
            .iter()
            .map(|g| g.to_string())
            .collect();
        assert_eq!(
            names,
            vec![
                "DNSName(svc)",
                "DNSName(svc.ns.svc)",
                "IPAddress(0a:00:00:01)",
                "IPAddress(00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:01)",
            ]
        );
        let eku = leaf.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth);
        let ku = leaf.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature() && ku.key_encipherment() && !ku.key_cert_sign());

        // An Ed25519 key through its PEM form (genSelfSignedCertWithKey path).
        let ed_pem = generate_private_key("ed25519");
        assert!(ed_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let ed = parse_private_key(&ed_pem).unwrap();
        let (self_pem, key_back) =
            self_signed(&tpl("", &[], &["only.dns"], 1, false), &ed).unwrap();
        assert_eq!(key_back, ed_pem);
        let self_der = parse_pem(&self_pem);
        let (_, c) = X509Certificate::from_der(&self_der).unwrap();
        assert!(c.verify_signature(None).is_ok());
        assert!(c.subject_alternative_name().unwrap().unwrap().critical);

        // The signing key must match the CA certificate.
        let other = parse_private_key(&generate_private_key("ecdsa")).unwrap();
        let err = signed(&t, &leaf_key, &(ca_pem, other.to_pem())).unwrap_err();
        assert_eq!(
            err,
            "error creating certificate: x509: provided PrivateKey doesn't match parent's PublicKey"
        );
    }

    // helm-template: {{ buildCustomCert "eA==" "eA==" }} → unable to decode certificate
    #[test]
    fn key_and_cert_parse_errors() {
        assert_eq!(
            build_custom_cert("eA==", "eA==").unwrap_err().0,
            "unable to decode certificate"
        );
        assert_eq!(
            build_custom_cert("!", "eA==").unwrap_err().0,
            "unable to decode base64 certificate"
        );
        assert_eq!(
            parse_private_key("x").err().unwrap(),
            "no PEM data in input"
        );
        assert_eq!(
            parse_private_key("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n")
                .err()
                .unwrap(),
            "no private key data in PEM block of type CERTIFICATE"
        );
        assert_eq!(generate_private_key("bogus"), "Unknown type bogus");
    }
}
