#!/usr/bin/env bash
# Copies kscribe's secrets from Secret Manager into the cluster's namespace as Kubernetes
# Secrets (kscribe-redis: url + ca.pem; kscribe-callback: secret; kscribe-link: secret (the
# api's result-link key); kscribe-kafka: the Knative
# Kafka broker's SASL login to Managed Kafka, which Knative's Kafka controller and data plane
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
kafka_user=$(out kafka service_account)
kubectl -n "$namespace" create secret generic kscribe-kafka \
  --from-literal=protocol=SASL_SSL --from-literal=sasl.mechanism=PLAIN \
  --from-literal=user="$kafka_user" --from-file=password=<(secret "$(out secrets kafka_key)") \
  --dry-run=client -o yaml | kubectl apply -f -
echo "secrets kscribe-redis, kscribe-callback, kscribe-link and kscribe-kafka updated in namespace $namespace"
