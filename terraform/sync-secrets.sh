#!/usr/bin/env bash
# Copies kscribe's secrets from Secret Manager into the cluster's namespace as Kubernetes
# Secrets (kscribe-redis: url + ca.pem; kscribe-callback: secret; kscribe-link: secret (the
# api's result-link key); kscribe-kafka: the Knative Kafka broker's client certificate for
# Managed Kafka (mTLS), which Knative's Kafka controller and data plane
# read from this namespace). Values pass through pipes only, never files. Run after `terraform apply` and after rotating a secret.
# Needs: terraform (state initialised here), gcloud, kubectl pointed at the cluster.
set -euo pipefail
cd "$(dirname "$0")"

out() { terraform output -json "$1" | python3 -c "import json,sys; v=json.load(sys.stdin); print(v if isinstance(v,str) else v[sys.argv[1]])" "${2:-}"; }
secret() { gcloud secrets versions access latest --secret "$1"; }

namespace=$(terraform output -json cluster | python3 -c "import json,sys; print(json.load(sys.stdin)['namespace'])")
redis_host=$(out redis_host)
auth=$(secret "$(out secrets redis_auth)")

url="rediss://:${auth}@${redis_host}/0?ssl_ca_certs=/etc/kscribe/redis-ca/ca.pem"
kubectl -n "$namespace" create secret generic kscribe-redis \
  --from-literal=url="$url" --from-file=ca.pem=<(secret "$(out secrets redis_ca)") \
  --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$namespace" create secret generic kscribe-callback \
  --from-file=secret=<(secret "$(out secrets callback)") \
  --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$namespace" create secret generic kscribe-link \
  --from-file=secret=<(secret "$(out secrets link)") \
  --dry-run=client -o yaml | kubectl apply -f -
# The Kafka broker's client certificate (mTLS, terraform/kafka.tf): a fresh P-256 key, held
# only in this shell, and a 30-day certificate for it from the private CA pool. Run it at least
# every three weeks: past its 30 days the broker cannot reach Kafka (docs/operations.md, "The broker").
kafka_pool=$(out kafka ca_pool) kafka_region=$(out kafka region) kafka_cn=$(out kafka client_name)
kafka_key=$(openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256)
kafka_cert=$(gcloud privateca certificates create --issuer-pool "$kafka_pool" --issuer-location "$kafka_region" \
  --csr <(openssl req -new -key <(printf '%s\n' "$kafka_key") -subj "/CN=${kafka_cn}") \
  --validity P30D --cert-output-file /dev/stdout --quiet)
kubectl -n "$namespace" create secret generic kscribe-kafka \
  --from-literal=protocol=SSL \
  --from-file=user.crt=<(printf '%s\n' "$kafka_cert") --from-file=user.key=<(printf '%s\n' "$kafka_key") \
  --dry-run=client -o yaml | kubectl apply -f -
unset kafka_key
echo "secrets kscribe-redis, kscribe-callback, kscribe-link and kscribe-kafka updated in namespace $namespace"
