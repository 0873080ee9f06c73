//! Just enough DER to take the public key out of an X.509 certificate, so
//! `JWT_SECRET_KEY` may hold a certificate as it could in RIG. jsonwebtoken
//! reads certificates too, but it takes the key type from the first key-type
//! OID anywhere in the certificate: a certificate for an RSA or EC key issued
//! by an Ed25519 CA is read as an Ed25519 key and refused. Here the key is
//! read from its place in `subjectPublicKeyInfo` (tests/attack_auth.rs checks
//! both).

use base64::{engine::general_purpose::STANDARD, Engine};

/// The `subjectPublicKey` bits of the first certificate in `pem`: PKCS#1 for
/// RSA, the encoded point for EC, the raw key for Ed25519.
pub fn subject_public_key(pem: &str) -> Result<Vec<u8>, String> {
    let body: String = pem
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)
        .and_then(|rest| rest.split("-----END CERTIFICATE-----").next())
        .ok_or("no CERTIFICATE block")?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = STANDARD.decode(body).map_err(|e| format!("certificate is not base64: {e}"))?;
    spki_key(&der).ok_or_else(|| "certificate is not valid DER X.509".to_string())
}

fn spki_key(der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert, _) = item(der, 0x30)?;
    let (_, mut tbs, _) = item(cert, 0x30)?;
    if tbs.first() == Some(&0xa0) {
        tbs = item(tbs, 0xa0)?.2; // optional explicit version
    }
    // serialNumber, signature, issuer, validity, subject
    for tag in [0x02, 0x30, 0x30, 0x30, 0x30] {
        tbs = item(tbs, tag)?.2;
    }
    let (_, spki, _) = item(tbs, 0x30)?;
    let rest = item(spki, 0x30)?.2; // algorithm
    let (_, bits, _) = item(rest, 0x03)?;
    let (unused, key) = bits.split_first()?;
    (*unused == 0).then(|| key.to_vec())
}

/// One DER element with the expected tag: (tag, content, rest).
fn item(input: &[u8], tag: u8) -> Option<(u8, &[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize), &rest[n..])
    };
    (rest.len() >= len).then(|| (t, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage() {
        assert!(subject_public_key("nothing here").is_err());
        assert!(subject_public_key("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----").is_err());
    }
}
