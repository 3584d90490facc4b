#!/usr/bin/env bash
# Regenerates the JWT test material of the authz-jwt scenarios and socket tests (run once; the
# outputs are committed): an RSA and an EC P-256 key, their public JWKS, and signed tokens.
# Needs openssl and python3 (standard library only). Tokens expire in 2100 except expired.jwt.
# The private keys live in a temporary directory and are thrown away: after regenerating, copy
# jwks.json into request-authentication.yaml and the tokens into the scenarios' vars.
set -euo pipefail
out="$(cd "$(dirname "$0")" && pwd)"
keys="$(mktemp -d)"
trap 'rm -rf "$keys"' EXIT
cd "$keys"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.key 2>/dev/null
OUT="$out" python3 - <<'PY'
import os
import base64, json, subprocess

def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def run(*args, data=None): return subprocess.run(args, input=data, capture_output=True, check=True).stdout

def rsa_jwk():
    text = run("openssl", "pkey", "-in", "rsa.key", "-pubout", "-text_pub", "-noout").decode()
    hexs = "".join(l.strip() for l in text.split("Modulus:")[1].split("Exponent:")[0].splitlines())
    n = bytes.fromhex(hexs.replace(":", "")).lstrip(b"\0")
    e = int(text.split("Exponent:")[1].split()[0])
    return {"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig", "n": b64(n),
            "e": b64(e.to_bytes((e.bit_length() + 7) // 8, "big"))}

def ec_jwk():
    text = run("openssl", "pkey", "-in", "ec.key", "-pubout", "-text_pub", "-noout").decode()
    hexs = "".join(l.strip() for l in text.split("pub:")[1].split("ASN1")[0].splitlines())
    pub = bytes.fromhex(hexs.replace(":", ""))
    return {"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": b64(pub[1:33]), "y": b64(pub[33:65])}

def der_to_raw(der):
    # SEQUENCE { INTEGER r, INTEGER s } -> r || s (32 bytes each)
    i = 2 if der[1] < 0x80 else 3
    out = b""
    for _ in range(2):
        assert der[i] == 2
        ln = der[i + 1]
        v = der[i + 2:i + 2 + ln].lstrip(b"\0")
        out += v.rjust(32, b"\0")
        i += 2 + ln
    return out

def sign(header, claims, key, ec=False):
    signing = b64(json.dumps(header, separators=(",", ":")).encode()) + "." + \
        b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = run("openssl", "dgst", "-sha256", "-sign", key, data=signing.encode())
    if ec: sig = der_to_raw(sig)
    return signing + "." + b64(sig)

OUT = os.environ["OUT"]
json.dump({"keys": [rsa_jwk(), ec_jwk()]}, open(os.path.join(OUT, "jwks.json"), "w"),
          separators=(",", ":"))
ISS = "https://issuer.egresslab.test"
base = {"iss": ISS, "sub": "sleep-client", "aud": ["egress.example"], "azp": "sleep-app",
        "groups": ["egress-users"], "scope": "read write", "exp": 4102444800, "iat": 1700000000}
rsa = {"alg": "RS256", "typ": "JWT", "kid": "rsa-1"}
ec = {"alg": "ES256", "typ": "JWT", "kid": "ec-1"}
tokens = {
    "valid-rs256.jwt": sign(rsa, base, "rsa.key"),
    "valid-es256.jwt": sign(ec, base, "ec.key", ec=True),
    "expired.jwt": sign(rsa, dict(base, exp=1000000000), "rsa.key"),
    "not-yet-valid.jwt": sign(rsa, dict(base, nbf=4102444800), "rsa.key"),
    "wrong-audience.jwt": sign(rsa, dict(base, aud="other.example"), "rsa.key"),
    "other-issuer.jwt": sign(rsa, dict(base, iss="https://other.egresslab.test"), "rsa.key"),
    "other-subject.jwt": sign(rsa, dict(base, sub="intruder", groups=["guests"]), "rsa.key"),
}
t = tokens["valid-rs256.jwt"].split(".")
tokens["bad-signature.jwt"] = t[0] + "." + t[1] + "." + t[2][:-6] + ("AAAAAA" if not t[2].endswith("AAAAAA") else "BBBBBB")
for name, tok in tokens.items():
    open(os.path.join(OUT, name), "w").write(tok + "\n")
PY
