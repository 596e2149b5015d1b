#!/usr/bin/env bash
# README's walkthrough as one script: with `make run` going in another terminal, run
#   ADMIN=<admin token printed by make run> scripts/walkthrough.sh
# It creates an organization, a key, a local git repository and a project, deploys twice, rolls back,
# and shows the production URL switching. Needs curl, git and python3; talks to $API (default :8000).
set -euo pipefail
API=${API:-http://127.0.0.1:8000}
: "${ADMIN:?set ADMIN to the admin token that make run printed}"
ORG=${ORG:-acme-$RANDOM}
WORK=$(mktemp -d)
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d' + sys.argv[1]))" "$1"; }
wait_status() {  # wait_status PROJECT DEPLOYMENT STATUS...
  for _ in $(seq 300); do
    s=$(curl -s "$API/api/v1/public/projects/$1/deployments/$2" -H "Authorization: Bearer $KEY" | json '["data"]["status"]')
    for want in "${@:3}"; do [ "$s" = "$want" ] && { echo "deployment $2: $s"; return 0; }; done
    sleep 0.2
  done
  echo "deployment $2 stuck in $s" >&2; return 1
}

echo "== 1. an organization and its API key (admin token)"
curl -s -X POST "$API/api/v1/admin/orgs" -H "Authorization: Bearer $ADMIN" \
     -H 'Content-Type: application/json' -d "{\"slug\": \"$ORG\", \"plan\": \"pro\"}"; echo
KEY=$(curl -s -X POST "$API/api/v1/admin/orgs/$ORG/keys" -H "Authorization: Bearer $ADMIN" \
     -H 'Content-Type: application/json' -d '{"name": "walkthrough"}' | json '["data"]["token"]')
echo "key: $KEY"

echo "== 2. a git repository on this machine, and a project that builds it"
git -C "$WORK" init -q -b main site
cd "$WORK/site"
echo '<h1>Hello from v1</h1>' > index.html
git add -A && git -c user.name=Walker -c user.email=w@example.com commit -qm "First version"
PROJECT=$(curl -s -X POST "$API/api/v1/public/projects" -H "Authorization: Bearer $KEY" \
     -H 'Content-Type: application/json' \
     -d "{\"name\": \"Walkthrough Site\", \"repo_url\": \"file://$WORK/site\", \"build_command\": \"mkdir -p dist && cp index.html dist/\", \"output_dir\": \"dist\"}")
echo "$PROJECT"; echo
PID=$(echo "$PROJECT" | json '["data"]["id"]')
PROD=$(echo "$PROJECT" | json '["data"]["production_url"]')

echo "== 3. deploy, watch, read the log, open the site"
D1=$(curl -s -X POST "$API/api/v1/public/projects/$PID/deployments" -H "Authorization: Bearer $KEY" \
     -H 'Content-Type: application/json' -d '{"branch": "main"}' | json '["data"]["id"]')
wait_status "$PID" "$D1" deployed
curl -s "$API/api/v1/public/projects/$PID/deployments/$D1/logs" -H "Authorization: Bearer $KEY" | json '["data"]["build_logs"]'
echo "production ($PROD): $(curl -s "$PROD")"

echo "== 4. a second version takes over production"
echo '<h1>Hello from v2</h1>' > index.html
git -c user.name=Walker -c user.email=w@example.com commit -qam "Second version"
D2=$(curl -s -X POST "$API/api/v1/public/projects/$PID/deployments" -H "Authorization: Bearer $KEY" | json '["data"]["id"]')
wait_status "$PID" "$D2" deployed
echo "production: $(curl -s "$PROD")"

echo "== 5. instant rollback to the first build (no rebuild)"
curl -s -X POST "$API/api/v1/public/projects/$PID/deployments/$D1/rollback" -H "Authorization: Bearer $KEY"; echo
echo "production: $(curl -s "$PROD")"

echo "== 6. the deployments, newest first"
curl -s "$API/api/v1/public/projects/$PID/deployments?page=1&per_page=5" -H "Authorization: Bearer $KEY"; echo
