//! Production token verification: RS256 and ES256 tokens checked against keys fetched from an
//! identity provider's JWKS URL. A local HTTP server stands in for the identity provider.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use carebill_platform::auth::{Algorithm, Authenticator, Claims, Role, mint_hs256};
use jsonwebtoken::{EncodingKey, Header};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

const JWKS: &str = include_str!("fixtures/jwks.json");
const RSA_KEY: &[u8] = include_bytes!("fixtures/rsa-test-key.pem");
const RSA_OTHER: &[u8] = include_bytes!("fixtures/rsa-other-key.pem");
const EC_KEY: &[u8] = include_bytes!("fixtures/ec-test-key.p8.pem");

/// Serves the JWKS document on every request and counts the requests.
async fn identity_provider() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/certs", listener.local_addr().expect("addr"));
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{JWKS}",
                JWKS.len()
            );
            let _ = sock.write_all(response.as_bytes()).await;
        }
    });
    (url, hits)
}

fn claims(aud: &str) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: "nurse-7".into(),
        iss: "https://idp.test".into(),
        aud: aud.into(),
        exp: now + 300,
        iat: now,
        roles: vec!["biller".into()],
        locations: Some(vec!["H1".into()]),
        payer: None,
        patient: None,
        carer: None,
    }
}

fn sign(alg: Algorithm, kid: &str, key: &EncodingKey, aud: &str) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, &claims(aud), key).expect("sign")
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_against_the_identity_providers_keys() {
    let (url, hits) = identity_provider().await;
    let auth = Authenticator::jwks(
        &url,
        vec![Algorithm::RS256, Algorithm::ES256],
        "https://idp.test",
        "carebill",
    )
    .expect("auth");
    let rsa = EncodingKey::from_rsa_pem(RSA_KEY).expect("rsa key");
    let ec = EncodingKey::from_ec_pem(EC_KEY).expect("ec key");

    let p = auth
        .verify(&sign(Algorithm::RS256, "rsa-1", &rsa, "carebill"))
        .await
        .expect("RS256 token");
    assert_eq!(
        (p.subject.as_str(), p.roles.as_slice()),
        ("nurse-7", &[Role::Biller][..])
    );
    assert!(p.sees_location("H1") && !p.sees_location("H2"));
    auth.verify(&sign(Algorithm::ES256, "ec-1", &ec, "carebill"))
        .await
        .expect("ES256 token");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "keys are fetched once and cached"
    );

    let stranger = EncodingKey::from_rsa_pem(RSA_OTHER).expect("other key");
    let rejected = [
        sign(Algorithm::RS256, "rsa-1", &stranger, "carebill"), // not the provider's key
        sign(Algorithm::RS256, "rsa-1", &rsa, "another-app"),   // wrong audience
        sign(Algorithm::RS256, "ec-1", &rsa, "carebill"),       // kid of another algorithm
        sign(Algorithm::RS256, "rsa-9", &rsa, "carebill"),      // unknown kid
        mint_hs256(b"any-shared-secret-of-enough-length", &claims("carebill")).expect("hs256"), // symmetric alg
    ];
    for token in rejected {
        let err = auth.verify(&token).await.expect_err("must be rejected");
        assert_eq!(err.problem().status, 401, "{token}");
    }
    assert!(
        Authenticator::jwks(&url, vec![Algorithm::HS256], "i", "a").is_err(),
        "HS256 is refused with a JWKS: anyone holding the public key could sign"
    );
}
