#!/usr/bin/env bash
# Make a development CA and a serving certificate for the admission webhook.
#
#   webhook-certs/gen-dev-certs.sh [-s SERVICE] [-n NAMESPACE] [-o DIR] [--san DNS:x|IP:y ...]
#
# Writes DIR/ca.crt, DIR/ca.key, DIR/tls.crt, DIR/tls.key (DIR defaults to ./webhook-certs/out)
# and prints the caBundle (base64 of ca.crt) for a ValidatingWebhookConfiguration. For
# development only: production installs use the chart's options (see README.md here).
set -euo pipefail

service=veloxide-webhook
namespace=velero
out=webhook-certs/out
days=365
extra_sans=()
while [ $# -gt 0 ]; do
  case "$1" in
    -s|--service) service=$2; shift 2 ;;
    -n|--namespace) namespace=$2; shift 2 ;;
    -o|--out) out=$2; shift 2 ;;
    --days) days=$2; shift 2 ;;
    --san) extra_sans+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
command -v openssl >/dev/null || { echo "openssl is required" >&2; exit 1; }
mkdir -p "$out"
umask 077

sans="DNS:${service},DNS:${service}.${namespace},DNS:${service}.${namespace}.svc,DNS:${service}.${namespace}.svc.cluster.local"
for san in "${extra_sans[@]}"; do sans="${sans},${san}"; done

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
  -subj "/CN=veloxide-webhook-dev-ca" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=${service}.${namespace}.svc" \
  -keyout "$out/tls.key" -out "$out/tls.csr" 2>/dev/null
openssl x509 -req -in "$out/tls.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
  -days "$days" -out "$out/tls.crt" \
  -extfile <(printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' "$sans") \
  2>/dev/null
rm -f "$out/tls.csr" "$out/ca.srl"
chmod 0644 "$out/ca.crt" "$out/tls.crt"

echo "wrote $out/ca.crt $out/ca.key $out/tls.crt $out/tls.key for ${service}.${namespace}.svc" >&2
echo "SANs: ${sans}" >&2
echo "caBundle:" >&2
base64 -w0 "$out/ca.crt"
echo
