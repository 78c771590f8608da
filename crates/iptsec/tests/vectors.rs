//! The published digest vectors: RFC 2617 §3.5 and RFC 7616 §3.9.1.

use sofia_iptsec::digest::{DigestParams, response};
use sofia_iptsec::{Algorithm, HashFamily, Qop, ha1};
use sofia_msg::headers::{Authorization, TypedHeader};

#[test]
fn rfc2617_mufasa() {
    // RFC 2617 §3.5: the Authorization the client sends.
    let header = "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
        nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", \
        qop=auth, nc=00000001, cnonce=\"0a4f113b\", \
        response=\"6629fae49393a05397450978507c4ef1\", \
        opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
    let a = Authorization::parse(header).unwrap();
    let base = ha1(
        HashFamily::Md5,
        a.username().unwrap(),
        a.realm().unwrap(),
        "Circle Of Life",
    );
    let got = response(
        &base,
        &DigestParams {
            algorithm: Algorithm::Md5,
            nonce: a.nonce().unwrap(),
            cnonce: a.cnonce().unwrap(),
            nc: a.nc_str().unwrap(),
            qop: Some(Qop::Auth),
            method: "GET",
            uri: a.uri().unwrap(),
            body: b"",
        },
    );
    assert_eq!(got, "6629fae49393a05397450978507c4ef1");
    assert_eq!(got, a.response().unwrap());
}

fn rfc7616(algorithm: Algorithm) -> String {
    // RFC 7616 §3.9.1.
    let base = ha1(
        algorithm.family(),
        "Mufasa",
        "http-auth@example.org",
        "Circle of Life",
    );
    response(
        &base,
        &DigestParams {
            algorithm,
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            nc: "00000001",
            qop: Some(Qop::Auth),
            method: "GET",
            uri: "/dir/index.html",
            body: b"",
        },
    )
}

#[test]
fn rfc7616_md5() {
    assert_eq!(rfc7616(Algorithm::Md5), "8ca523f5e9506fed4657c9700eebdbec");
}

#[test]
fn rfc7616_sha256() {
    assert_eq!(
        rfc7616(Algorithm::Sha256),
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
}

#[test]
fn rfc2069_digest_without_qop() {
    // Without a qop: KD(HA1, nonce ":" HA2), computed step by step.
    let base = ha1(
        HashFamily::Md5,
        "Mufasa",
        "testrealm@host.com",
        "CircleOfLife",
    );
    let ha2 = HashFamily::Md5.hex(&[b"GET", b"/dir/index.html"]);
    let expected = HashFamily::Md5.hex(&[
        base.as_bytes(),
        b"dcd98b7102dd2f0e8b11d0f600bfb0c093",
        ha2.as_bytes(),
    ]);
    let got = response(
        &base,
        &DigestParams {
            algorithm: Algorithm::Md5,
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            cnonce: "",
            nc: "",
            qop: None,
            method: "GET",
            uri: "/dir/index.html",
            body: b"",
        },
    );
    assert_eq!(got, expected);
    // RFC 2069 §2.4's example value.
    assert_eq!(got, "1949323746fe6a43ef61f9606e7febea");
}

#[test]
fn sess_and_auth_int_follow_rfc2617() {
    let base = ha1(HashFamily::Sha256, "u", "r", "p");
    let sess_key = HashFamily::Sha256.hex(&[base.as_bytes(), b"n", b"c"]);
    let body_hash = HashFamily::Sha256.hex(&[b"v=0\r\n"]);
    let ha2 = HashFamily::Sha256.hex(&[b"INVITE", b"sip:b@h", body_hash.as_bytes()]);
    let expected = HashFamily::Sha256.hex(&[
        sess_key.as_bytes(),
        b"n",
        b"00000002",
        b"c",
        b"auth-int",
        ha2.as_bytes(),
    ]);
    let got = response(
        &base,
        &DigestParams {
            algorithm: Algorithm::Sha256Sess,
            nonce: "n",
            cnonce: "c",
            nc: "00000002",
            qop: Some(Qop::AuthInt),
            method: "INVITE",
            uri: "sip:b@h",
            body: b"v=0\r\n",
        },
    );
    assert_eq!(got, expected);
}
